"""Throughput of tokenizer training, tokenization and the packed dataloader (issue 9).

Corpus: real text replicated to ``--mb`` MB of Parquet shards in the pipeline's output
layout: English = trafilatura output of ``shared/testdata/extraction_en`` (181 news pages),
Chinese = trafilatura output of the Chinese pages of ``shared/testdata/warc`` plus the
OpenCC US-constitution text and the lingua zh sentences. Each document is 4–24 paragraphs
drawn at random from its language's pool, tagged with a copy number, so documents differ
but the vocabulary is that of the small source (BPE training sees fewer distinct words
than on a real crawl, which flatters its speed).

Each phase runs in its own process (peak RSS per phase), ``--repeat`` times; the median
is reported. Run under ``flock /tmp/bench.lock`` on the shared VM:

    flock /tmp/bench.lock python benchmarks/bench_tokenizer.py --mb 200 --repeat 3
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTDATA = ROOT.parent / "shared" / "testdata"
sys.path.insert(0, str(ROOT))


def _paragraphs(text: str | None) -> list[str]:
    return [p.strip() for p in (text or "").split("\n") if len(p.strip()) > 20]


def source_pools() -> dict[str, list[str]]:
    import trafilatura

    from webrefinery.pipeline.io.charset import decode_html
    from webrefinery.pipeline.io.warc import iter_responses

    en = []
    for f in sorted((TESTDATA / "extraction_en" / "html").glob("*.html.gz")):
        en += _paragraphs(trafilatura.extract(gzip.decompress(f.read_bytes()).decode("utf-8", "replace")))
    zh = _paragraphs((TESTDATA / "opencc" / "golden" / "us_constitution_zhs.txt").read_text(encoding="utf-8"))
    zh += [json.loads(line)["text"] for line in (TESTDATA / "langid" / "sentences.jsonl").open()
           if json.loads(line)["lang"] == "zh"]
    with open(TESTDATA / "warc" / "CC-MAIN-2020-34-fragment.warc.gz", "rb") as f:
        for r in iter_responses(f, True, lambda *a: None, {}):
            html, _, _ = decode_html(r.payload, r.charset)
            paras = _paragraphs(trafilatura.extract(html))
            if sum(0x4E00 <= ord(c) <= 0x9FFF for p in paras for c in p) > 100:
                zh += paras
    return {"en": en, "zh": zh}


def build_corpus(out: Path, mb: int, shard_mb: int = 25, seed: int = 0) -> dict:
    """``out/data/part-NNNNN.parquet`` with ~mb MB of text, zh:en ≈ 1:1 by bytes."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    marker = out / "corpus.json"
    if marker.exists() and json.loads(marker.read_text())["mb"] == mb:
        return json.loads(marker.read_text())
    pools = source_pools()
    rng = random.Random(seed)
    (out / "data").mkdir(parents=True, exist_ok=True)
    target, total, shard, k = mb * 1_000_000, 0, 0, 0
    by_lang = {"en": 0, "zh": 0}
    while total < target:
        ids, texts, langs, size = [], [], [], 0
        while size < shard_mb * 1_000_000 and total + size < target:
            lang = min(by_lang, key=by_lang.get)
            text = f"{k}\n" + "\n".join(rng.choices(pools[lang], k=rng.randint(4, 24)))
            n = len(text.encode("utf-8"))
            ids.append(f"bench-{k}"), texts.append(text), langs.append(lang)
            by_lang[lang] += n
            size += n
            k += 1
        pq.write_table(pa.table({"id": ids, "text": texts, "language": langs}),
                       out / "data" / f"part-{shard:05d}.parquet", compression="zstd")
        total += size
        shard += 1
    info = {"mb": mb, "bytes": total, "docs": k, "shards": shard, "by_language": by_lang,
            "pool_paragraphs": {lang: len(p) for lang, p in pools.items()},
            "pool_bytes": {lang: sum(len(x.encode()) for x in p) for lang, p in pools.items()}}
    marker.write_text(json.dumps(info))
    return info


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def phase_train(a: argparse.Namespace) -> dict:
    from webrefinery.tokenizer_training.train import train_tokenizer

    t0 = time.perf_counter()
    rep = train_tokenizer([a.corpus], a.work + "/tok", vocab_size=a.vocab, languages="zh=0.5,en=0.5",
                          max_bytes=a.train_mb * 1_000_000 if a.train_mb else None, quiet=True)
    wall = time.perf_counter() - t0
    mb = rep["training"]["bytes"] / 1e6
    return {"train_mb": round(mb, 1), "train_s": rep["time_s"]["train"], "wall_s": round(wall, 2),
            "mb_per_s_train": round(mb / rep["time_s"]["train"], 2), "mb_per_s_wall": round(mb / wall, 2),
            "heldout_bytes_per_token": {k: v["bytes_per_token"] for k, v in rep["heldout"]["by_language"].items()},
            "peak_rss_mb": round(_rss_mb())}


def phase_tokenize(a: argparse.Namespace) -> dict:
    import shutil

    from webrefinery.tokenizer_training.tokenize import tokenize_corpus

    out = Path(a.work) / f"tokens-w{a.workers}"
    shutil.rmtree(out, ignore_errors=True)
    inputs = sorted(str(p) for p in (Path(a.corpus) / "data").glob("*.parquet"))[: a.tokenize_shards or None]
    t0 = time.perf_counter()
    stats = tokenize_corpus(inputs, a.work + "/tok/tokenizer.json", str(out), workers=a.workers, quiet=True)
    wall = time.perf_counter() - t0
    mb = stats["bytes"] / 1e6
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"workers": a.workers, "mb": round(mb, 1), "tokens": stats["total"], "wall_s": round(wall, 2),
            "mb_per_s": round(mb / wall, 2), "mb_per_s_per_core": round(mb / wall / a.workers, 2),
            "tokens_per_s": round(stats["total"] / wall), "peak_rss_mb": round(max(_rss_mb(), children))}


def phase_loader(a: argparse.Namespace) -> dict:
    from webrefinery.tokenizer_training.dataloader import PackedTokenDataset, build_dataloader

    tokens = Path(a.work) / "tokens-w1"
    seq = 1024
    ds = PackedTokenDataset(tokens, seq_len=seq, seed=0)
    n = min(a.samples, ds.samples_per_rank)
    t0 = time.perf_counter()
    for i, _ in enumerate(ds):
        if i + 1 == n:
            break
    plain = n * seq / (time.perf_counter() - t0)
    out = {"samples": n, "dataset_tokens_per_s": round(plain)}
    for workers, batch in ((0, 16), (2, 16), (2, 64)):
        loader = build_dataloader(tokens, batch_size=batch, seq_len=seq, num_workers=workers)
        batches = n // batch
        it = iter(loader)
        next(it)                               # worker start-up is not throughput
        t0 = time.perf_counter()
        for _ in range(batches - 1):
            next(it)
        rate = (batches - 1) * batch * seq / (time.perf_counter() - t0)
        key = f"loader_w{workers}_b{batch}_tokens_per_s"
        out[key] = round(rate)
        if workers:
            out[key.replace("_per_s", "_per_s_per_worker")] = round(rate / workers)
        del it
    out["peak_rss_mb"] = round(_rss_mb())
    return out


PHASES = {"train": phase_train, "tokenize": phase_tokenize, "loader": phase_loader}


def run_phase(name: str, a: argparse.Namespace, extra: list[str] = ()) -> dict:
    cmd = [sys.executable, __file__, "--phase", name, "--corpus", a.corpus, "--work", a.work, "--vocab", str(a.vocab),
           "--train-mb", str(a.train_mb), "--samples", str(a.samples),
           "--tokenize-shards", str(a.tokenize_shards), *extra]
    res = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def median_of(runs: list[dict]) -> dict:
    out = dict(runs[-1])
    for k, v in runs[0].items():
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            out[k] = statistics.median(r[k] for r in runs)
    out["runs"] = len(runs)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mb", type=int, default=200, help="corpus size in MB of text")
    p.add_argument("--corpus", default="/tmp/bench9/out")
    p.add_argument("--work", default="/tmp/bench9/work")
    p.add_argument("--vocab", type=int, default=50257)
    p.add_argument("--train-mb", type=int, default=0, help="train on at most this many MB (0 = all)")
    p.add_argument("--tokenize-shards", type=int, default=0, help="tokenize only the first N shards (0 = all)")
    p.add_argument("--samples", type=int, default=20000, help="1024-token samples read per dataloader run")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--phase", choices=PHASES)
    p.add_argument("--workers", type=int, default=1)
    a = p.parse_args()
    if a.phase:
        print(json.dumps(PHASES[a.phase](a)))
        return
    Path(a.work).mkdir(parents=True, exist_ok=True)
    corpus = build_corpus(Path(a.corpus), a.mb)
    print("corpus", json.dumps(corpus))
    results = {"corpus": corpus, "cpus": os.cpu_count()}
    results["train"] = median_of([run_phase("train", a) for _ in range(a.repeat)])
    print("train", json.dumps(results["train"]), flush=True)
    for w in (1, 2):
        results[f"tokenize_w{w}"] = median_of([run_phase("tokenize", a, ["--workers", str(w)]) for _ in range(a.repeat)])
        print(f"tokenize_w{w}", json.dumps(results[f"tokenize_w{w}"]), flush=True)
    results["loader"] = median_of([run_phase("loader", a) for _ in range(a.repeat)])
    print("loader", json.dumps(results["loader"]), flush=True)
    Path(a.work, "results.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
