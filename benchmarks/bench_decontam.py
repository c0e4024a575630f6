"""Decontamination: the character n for Chinese, and throughput (benchmarks/RESULTS.md).

1. **n for Chinese.** ``../shared/testdata/zh_articles`` is split in two halves (seed 0): the
   sentences of one half become C-Eval-like benchmark rows (``question`` = a sentence of
   15–80 characters, ``A``–``D`` = clauses of the same article), the other half is clean
   text. For each n: the false-positive rate (clean documents flagged, and the share of
   their n-grams found in the benchmark) and the recall on planted questions — each
   question pasted into a clean document that is not flagged at that n, verbatim, with
   ASCII punctuation, and with one character in the middle replaced.
2. **Speed.** ``process`` on batches of 512 documents of ~2,000 characters (English: words
   of a 20k vocabulary; Chinese: zh_articles text) against a 14k-row English benchmark
   (MMLU's size) and the Chinese rows of part 1; one process, docs per CPU-second (the
   machine is shared: CPU time, not wall time, is what one core does).

Run: ``python benchmarks/bench_decontam.py``.
"""

from __future__ import annotations

import json
import random
import re
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa

from webrefinery.pipeline.stages.decontam import Decontam, DecontamConfig

ZH = Path(__file__).resolve().parents[2] / "shared" / "testdata" / "zh_articles" / "zh_articles.jsonl"
NS = [5, 8, 10, 13, 15, 20, 25, 30]


def zh_split(seed: int = 0) -> tuple[list[dict], list[str]]:
    arts = [json.loads(line)["text"] for line in ZH.open(encoding="utf-8")]
    random.Random(seed).shuffle(arts)
    bench_src, clean = arts[:100], arts[100:]
    rows = []
    for a in bench_src:
        sents = [s for s in re.split(r"(?<=[。！？])", a) if 15 <= len(s) <= 80]
        clauses = [c for c in re.split(r"[，。；、！？\s]", a) if 2 <= len(c) <= 12]
        for s in sents[:3]:
            rows.append({"question": s, **dict(zip("ABCD", random.Random(len(s)).sample(clauses, 4)
                                                    if len(clauses) >= 4 else clauses))})
    return rows, clean


def stage_for(path: Path, n: int, **kw) -> Decontam:
    st = Decontam(DecontamConfig(benchmarks=[str(path)], char_ngram=n, **kw))
    st.check()
    return st


def flagged(st: Decontam, texts: list[str]) -> list[bool]:
    t = pa.table({"id": [str(i) for i in range(len(texts))], "text": texts, "language": ["zh"] * len(texts)})
    found = st._matches(t, t.column("text").combine_chunks())
    return [i in found for i in range(len(texts))]


def choose_n(tmp: Path) -> Path:
    rows, clean = zh_split()
    path = tmp / "zh_bench.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    rng = random.Random(1)
    qs = [r["question"] for r in rows]
    lens = sorted(len(q) for q in qs)
    print(f"zh benchmark: {len(rows)} rows from 100 articles (question length median {lens[len(lens) // 2]}, "
          f"p10 {lens[len(lens) // 10]} chars); clean: {len(clean)} articles")
    print("| n | clean docs flagged | clean n-grams in benchmark | recall verbatim | ASCII punct. | 1 char edited |")
    print("|---|---|---|---|---|---|")
    for n in NS:
        st = stage_for(path, n)
        fl = flagged(st, clean)
        hosts = [c for c, f in zip(clean, fl) if not f] or clean
        # share of clean n-grams that are benchmark n-grams
        from webrefinery.pipeline.stages.decontam_index import grams
        h, _, _ = grams(pa.array(clean), n, True)
        gram_fp = float((st.index.char.lookup(h) != 0).mean())
        variants = {"verbatim": lambda q: q,
                    "ascii": lambda q: q.translate(str.maketrans("，。！？；：、", ",.!?;:,")),
                    "edit": lambda q: q[:len(q) // 2] + "某" + q[len(q) // 2 + 1:]}
        recall = {}
        for name, f in variants.items():
            planted = []
            for q in qs:
                host = rng.choice(hosts)
                cut = rng.randrange(len(host))
                planted.append(host[:cut] + f(q) + host[cut:])
            recall[name] = sum(flagged(st, planted)) / len(planted)
        print(f"| {n} | {sum(fl)}/{len(clean)} ({100 * sum(fl) / len(clean):.0f}%) | {100 * gram_fp:.3f}% | "
              f"{100 * recall['verbatim']:.1f}% | {100 * recall['ascii']:.1f}% | {100 * recall['edit']:.1f}% |")
    return path


def speed(tmp: Path, zh_bench: Path) -> None:
    rng = random.Random(2)
    vocab = [f"{rng.choice('bcdfghlmnprst')}{rng.choice('aeiou')}{rng.choice('lmnrst')}{i}" for i in range(20000)]
    en_rows = [{"question": " ".join(rng.choices(vocab, k=30)), "choices": [" ".join(rng.choices(vocab, k=4))
                                                                           for _ in range(4)]} for _ in range(14000)]
    en = tmp / "en_bench.jsonl"
    en.write_text("".join(json.dumps(r) + "\n" for r in en_rows))
    st = Decontam(DecontamConfig(benchmarks=[str(en), str(zh_bench)]))
    t0 = time.perf_counter()
    st.check()
    build = time.perf_counter() - t0
    print(f"\nindex: {len(st.index.word.hashes):,} word + {len(st.index.char.hashes):,} char n-grams, "
          f"built in {build:.2f} s")

    def en_doc() -> str:
        words, size = [], 0
        while size < 2000:
            w = rng.choice(vocab)
            words.append(w)
            size += len(w) + 1
        return " ".join(words)[:2000]

    zh_text = "".join(json.loads(line)["text"] for line in ZH.open(encoding="utf-8"))
    docs = {"en": [en_doc() for _ in range(512)],
            "zh": [zh_text[i * 2000:(i + 1) * 2000] for i in range(512)]}
    for lang, texts in docs.items():
        t = pa.table({"id": [str(i) for i in range(512)], "text": texts, "language": [lang] * 512})
        st.process(t)  # warm-up (tables built lazily)
        reps, t0, c0 = 20, time.perf_counter(), time.process_time()
        for _ in range(reps):
            st.process(t)
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        print(f"{lang}: {reps * 512 / cpu:,.0f} docs per CPU-second ({reps * 512 * 2000 / cpu / 1e6:.1f} M chars/s; "
              f"wall {reps * 512 / dt:,.0f} docs/s on the shared machine), 1 process")


def main() -> int:
    if not ZH.is_file():
        print(f"{ZH} not found (only in the project's dev checkout)", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as d:
        zh_bench = choose_n(Path(d))
        speed(Path(d), zh_bench)
    return 0


if __name__ == "__main__":
    sys.exit(main())
