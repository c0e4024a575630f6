"""Token files that trainers load, weighted mixing, loader speed (issue 19 targets).

Corpus: real text, used once (no replication): Chinese = ``shared/testdata/zh_articles``
(200 articles), English = the reference article bodies of ``shared/testdata/extraction_en``
(181 news pages). Each language is two Parquet shards; a byte-level BPE (vocab 8,000) is
trained on both, and ``refinery tokenize --format megatron`` writes ``tokens/zh`` and
``tokens/en``.

1. **Megatron-Core reads them**: every document of every shard through
   ``megatron.core.datasets.indexed_dataset.IndexedDataset``, compared token by token with
   the tokenizer's encoding of the Parquet text plus one end-of-document id.
2. **Mixing ratio**: the loader over ``{"zh": w, "en": 1 - w}`` is read until ``--mix-tokens``
   input tokens; each sample's source is found independently of the mixing code, by looking
   its tokens up in a table of every window of each source (the sources share no window).
   Small sources are upsampled with ``max_epochs`` (reported).
3. **Loader speed in memory**: ``PackedTokenDataset`` iterated in this process (batch 32 x
   1024, the shards are in the page cache), per wall second and per CPU second of the
   process (on a shared machine the second is the per-process figure), and
   ``build_dataloader`` with 0 and 2 workers (wall).

    python benchmarks/bench_tokens.py --work /tmp/bench19
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
TESTDATA = ROOT.parent / "shared" / "testdata"
SEQ, BATCH = 1024, 32


def build_corpus(work: Path) -> dict[str, int]:
    texts = {"zh": [json.loads(line)["text"] for line in (TESTDATA / "zh_articles" / "zh_articles.jsonl").open()],
             "en": [json.loads(line)["article_body"] for line in (TESTDATA / "extraction_en" / "ground_truth.jsonl").open()]}
    for lang, docs in texts.items():
        data = work / "corpus" / lang / "data"
        data.mkdir(parents=True, exist_ok=True)
        half = len(docs) // 2
        for i, part in enumerate((docs[:half], docs[half:])):
            pq.write_table(pa.table({"id": [f"{lang}-{i}-{j}" for j in range(len(part))], "text": part,
                                     "language": [lang] * len(part)}), data / f"{lang}-{i:05d}.parquet")
    return {lang: sum(len(t.encode()) for t in docs) for lang, docs in texts.items()}


def tokenize(work: Path) -> dict[str, dict]:
    from webrefinery.tokenizer_training.train import train_tokenizer

    train_tokenizer([str(work / "corpus" / "zh"), str(work / "corpus" / "en")], str(work / "tok"), vocab_size=8000,
                    holdout_fraction=0.0, quiet=True)
    out = {}
    for lang in ("zh", "en"):
        cmd = [str(Path(sys.executable).with_name("refinery")), "tokenize", "--format", "megatron", "--tokenizer",
               str(work / "tok" / "tokenizer.json"), "--input", str(work / "corpus" / lang),
               "--output", str(work / "tokens" / lang), "--workers", "1", "--quiet"]
        subprocess.run(cmd, check=True)
        out[lang] = json.loads((work / "tokens" / lang / "stats.json").read_text())
    return out


def megatron_check(work: Path, stats: dict[str, dict]) -> dict[str, int]:
    from megatron.core.datasets.indexed_dataset import IndexedDataset
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(work / "tok" / "tokenizer.json"))
    tok.encode_special_tokens = True
    eod = tok.token_to_id("<|endoftext|>")
    docs = tokens = mismatched_tokens = mismatched_docs = 0
    for lang, st in stats.items():
        for f in st["files"]:
            ds = IndexedDataset(str(work / "tokens" / lang / f["prefix"]))
            texts = pq.read_table(work / "corpus" / lang / "data" / f"{f['prefix']}.parquet").column("text").to_pylist()
            assert len(ds) == len(texts), (len(ds), len(texts))
            for i, text in enumerate(texts):
                want = np.array(tok.encode(text or "", add_special_tokens=False).ids + [eod])
                got = ds[i].astype(np.int64)
                n = max(len(want), len(got))
                bad = n - int((want[:min(len(want), len(got))] == got[:min(len(want), len(got))]).sum())
                mismatched_tokens += bad
                mismatched_docs += bad > 0
                docs += 1
                tokens += len(want)
    return {"docs": docs, "tokens": tokens, "mismatched_tokens": mismatched_tokens, "mismatched_docs": mismatched_docs}


def window_table(path: Path) -> set[bytes]:
    from webrefinery.tokenizer_training.token_shards import list_shards

    keys = set()
    for s in list_shards(path):
        t = s.memmap().astype(np.int64)
        for w in range((s.tokens - 1) // SEQ):
            keys.add(t[w * SEQ: w * SEQ + SEQ].tobytes())
    return keys


def mixing(work: Path, zh_weight: float, target: int, world: int) -> dict:
    from webrefinery.tokenizer_training.dataloader import PackedTokenDataset

    tables = {lang: window_table(work / "tokens" / lang) for lang in ("zh", "en")}
    assert not tables["zh"] & tables["en"], "a window occurs in both sources"
    weights = {"zh": zh_weight, "en": 1 - zh_weight}
    per_epoch = {lang: len(t) * SEQ for lang, t in tables.items()}
    # enough epochs of each source for target tokens on this rank (x world for all ranks) plus one
    max_epochs = {lang: math.ceil(target * world * w / per_epoch[lang]) + 1 for lang, w in weights.items()}
    ds = PackedTokenDataset(sources={lang: (work / "tokens" / lang, w) for lang, w in weights.items()},
                            seq_len=SEQ, batch_size=BATCH, rank=0, world_size=world, seed=2, max_epochs=max_epochs)
    counts, seen = {"zh": 0, "en": 0, "unknown": 0}, 0
    for x, _ in ds:
        for row in x.numpy():
            key = row.tobytes()
            counts["zh" if key in tables["zh"] else "en" if key in tables["en"] else "unknown"] += SEQ
        seen += x.numel()
        if seen >= target:
            break
    share = counts["zh"] / seen
    return {"requested_zh": zh_weight, "rank": 0, "world_size": world, "tokens": seen, "by_source": counts,
            "zh_share": round(share, 6), "relative_error": round(abs(share - zh_weight) / zh_weight, 6),
            "report": ds.report()}


def speed(work: Path, repeat: int, tokens: int) -> dict:
    from webrefinery.tokenizer_training.dataloader import PackedTokenDataset, build_dataloader

    single = {"path": work / "tokens" / "en", "max_epochs": 1000}
    mix = {"sources": {"zh": (work / "tokens" / "zh", 0.5), "en": (work / "tokens" / "en", 0.5)}, "max_epochs": 1000}
    out = {}
    for name, data in (("single", single), ("mix_zh_en", mix)):
        rates, cpu_rates = [], []
        for _ in range(repeat):
            ds = PackedTokenDataset(seq_len=SEQ, batch_size=BATCH, **data)
            seen, t0, c0 = 0, time.perf_counter(), time.process_time()
            for x, _ in ds:
                seen += x.numel()
                if seen >= tokens:
                    break
            rates.append(seen / (time.perf_counter() - t0))
            cpu_rates.append(seen / (time.process_time() - c0))
        out[f"dataset_{name}_tokens_per_s"] = round(statistics.median(rates))
        out[f"dataset_{name}_tokens_per_cpu_s"] = round(statistics.median(cpu_rates))
        for workers in (0, 2):
            rates = []
            for _ in range(repeat):
                loader = build_dataloader(batch_size=BATCH, seq_len=SEQ, num_workers=workers, **data)
                it = iter(loader)
                next(it)                                   # worker start-up is not throughput
                seen, t0 = 0, time.perf_counter()
                while seen < tokens:
                    seen += next(it)[0].numel()
                rates.append(seen / (time.perf_counter() - t0))
                del it
            out[f"loader_{name}_w{workers}_tokens_per_s"] = round(statistics.median(rates))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", default="/tmp/bench19")
    p.add_argument("--mix-tokens", type=int, default=10_000_000)
    p.add_argument("--speed-tokens", type=int, default=20_000_000)
    p.add_argument("--repeat", type=int, default=3)
    a = p.parse_args()
    work = Path(a.work)
    print(json.dumps({"machine": platform.machine(), "python": platform.python_version(),
                      "corpus_bytes": build_corpus(work)}), flush=True)
    stats = tokenize(work)
    print(json.dumps({lang: {k: st[k] for k in ("total", "docs", "shards", "dtype", "format")}
                      for lang, st in stats.items()}), flush=True)
    print(json.dumps({"megatron_check": megatron_check(work, stats)}), flush=True)
    for zh_weight, world in ((0.5, 1), (0.3, 1), (0.5, 4)):
        print(json.dumps({"mixing": mixing(work, zh_weight, a.mix_tokens, world)}), flush=True)
    print(json.dumps({"speed": speed(work, a.repeat, a.speed_tokens)}), flush=True)


if __name__ == "__main__":
    main()
