"""Throughput and quality of the ``normalize`` and ``pii`` stages (issue #5).

Corpus ("realistic mixed text"): the 181 real English article bodies of the Zyte
article-extraction benchmark (``shared/testdata/extraction_en``) and documents of 8 real
Chinese sentences from lingua's Leipzig sample (``shared/testdata/langid``), a third of them
converted to Traditional with OpenCC ``s2t``; 10 % of documents get a contact line (email,
phone, IP) and a few get leftover HTML/entities and emoji, so every code path is exercised.
The corpus is repeated to ``--mb`` megabytes and processed in 512-row batches by one process
(figures are per core). Quality: span-level precision/recall per PII type on
``tests/data/pii_labelled.jsonl`` and ``shared/testdata/pii``, and OpenCC case pass rate.

Reference: datatrove 0.10.1 ``PIIFormatter`` (emails and IPs only) ≈ 1,600 docs/s per core on
real pages (shared/bench/datatrove).

    flock /tmp/bench.lock python benchmarks/bench_normalize_pii.py --mb 20 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import time
from collections import Counter
from pathlib import Path

import opencc
import pyarrow as pa
import pyarrow.compute as pc

from webrefinery.pipeline.stages.normalize import Normalize
from webrefinery.pipeline.stages.pii import PRIORITY, PIIRedact, find_pii

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "testdata"
PRESIDIO_TYPES = {"EMAIL_ADDRESS": "EMAIL", "PHONE_NUMBER": "PHONE", "CN_RESIDENT_ID": "ID_NUMBER",
                  "IP_ADDRESS": "IP_ADDRESS", "CREDIT_CARD": "CREDIT_CARD"}
CONTACTS = ["Contact: jane.doe@example.com, tel. +1 (212) 555-0123.",
            "联系电话：13812345678，邮箱 service@example.cn。",
            "Server 203.0.113.7 logged the request from 2001:db8::42.",
            "客服QQ：12345678，座机 010-62345678。"]
NOISE = ["<p>Read more &raquo;</p>", "&nbsp;Share this 👍😀", "<br/>Posted by admin &amp; team"]


def corpus(target_mb: float, seed: int = 0) -> pa.Table:
    rng = random.Random(seed)
    en = [json.loads(line)["article_body"] for line in open(SHARED / "extraction_en/ground_truth.jsonl")]
    zh_sents = [json.loads(line)["text"] for line in open(SHARED / "langid/sentences.jsonl")
                if json.loads(line)["lang"] == "zh"]
    s2t = opencc.OpenCC("s2t")
    zh = []
    for i in range(0, len(zh_sents), 8):
        doc = "".join(zh_sents[i:i + 8])
        zh.append(s2t.convert(doc) if len(zh) % 3 == 0 else doc)
    base = [(t, "en") for t in en] + [(t, "zh") for t in zh] * 10
    texts, langs, size = [], [], 0
    while size < target_mb * 1e6:
        text, lang = rng.choice(base)
        if rng.random() < 0.10:
            text = text + "\n\n" + rng.choice(CONTACTS)
        if rng.random() < 0.05:
            text = rng.choice(NOISE) + "\n" + text
        texts.append(text)
        langs.append(lang)
        size += len(text.encode())
    return pa.table({"text": texts, "language": langs})


def throughput(stage, table: pa.Table, repeat: int) -> dict:
    nbytes = sum(len(t.encode()) for t in table.column("text").to_pylist())
    stage.process(table.slice(0, 512))  # lazy loads (OpenCC, character classes)
    times = []
    for _ in range(repeat):
        t0 = time.process_time()
        for off in range(0, table.num_rows, 512):
            stage.process(table.slice(off, 512))
        times.append(time.process_time() - t0)
    t = statistics.median(times)
    return {"docs": table.num_rows, "MB": round(nbytes / 1e6, 2), "cpu_s_median": round(t, 3),
            "MB_per_s_per_core": round(nbytes / 1e6 / t, 1), "docs_per_s_per_core": round(table.num_rows / t)}


def pii_scores(path: Path) -> dict:
    tp, fp, fn = Counter(), Counter(), Counter()
    for line in open(path, encoding="utf-8"):
        case = json.loads(line)
        gold = {(PRESIDIO_TYPES.get(e["type"], e["type"]), e["start"], e["end"]) for e in case["entities"]}
        if any(kind not in PRIORITY for kind, _, _ in gold):
            gold = {g for g in gold if g[0] in PRIORITY}  # other recognizers: only count our FPs
        pred = {(s.kind, s.start, s.end) for s in find_pii(case["text"], frozenset(PRIORITY))}
        for p in pred:
            (tp if p in gold else fp)[p[0]] += 1
        for g in gold - pred:
            fn[g[0]] += 1
    return {k: {"precision": round(tp[k] / max(1, tp[k] + fp[k]), 3), "recall": round(tp[k] / max(1, tp[k] + fn[k]), 3),
                "tp": tp[k], "fp": fp[k], "fn": fn[k]} for k in PRIORITY if tp[k] + fp[k] + fn[k]}


def opencc_cases() -> dict:
    ok = total = 0
    for line in open(SHARED / "opencc/cases.jsonl", encoding="utf-8"):
        case = json.loads(line)
        if case["config"] in ("t2s", "tw2s", "tw2sp", "hk2s"):
            total += 1
            ok += opencc.OpenCC(case["config"]).convert(case["input"]) == case["expected"]
    return {"passed": ok, "total": total}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mb", type=float, default=20.0, help="corpus size in MB of UTF-8 text")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    table = corpus(args.mb)
    zh = table.filter(pc.equal(table.column("language"), "zh"))
    results = {
        "normalize": throughput(Normalize(), table, args.repeat),
        "pii": throughput(PIIRedact(), table, args.repeat),
        "normalize_zh_only": throughput(Normalize(), zh, args.repeat),
        "pii_zh_only": throughput(PIIRedact(), zh, args.repeat),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "pii_quality_labelled": pii_scores(ROOT / "tests/data/pii_labelled.jsonl"),
        "pii_quality_shared": {f: pii_scores(SHARED / "pii" / f) for f in ("presidio_cases.jsonl", "cn_cases.jsonl")},
        "opencc_cases_simplifying": opencc_cases(),
        "datatrove_pii_formatter_docs_per_s_per_core": 1600,
    }
    print(json.dumps(results, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
