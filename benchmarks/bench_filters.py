"""Throughput and keep rates of the rule filters (issue 4).

Real text: trafilatura over ``../shared/testdata/extraction_en/html/*.html.gz`` (181 news
articles, en) and the Chinese pages of ``../shared/testdata/warc/CC-MAIN-2020-34-fragment``
(read → extract → normalize with this project's stages), plus well-formed Chinese prose: the
simplified-Chinese US Constitution of ``../shared/testdata/opencc/golden`` cut into
articles. Throughput is measured on ~2,000-character documents cut from that text at
paragraph boundaries, one process, as docs per CPU second (= docs/s per core; the VM is
shared, so wall time would also count waiting for a core), each filter alone (it pays for
the statistics it needs) and the whole cascade; median of ``--repeat`` runs.

    flock /tmp/bench.lock python benchmarks/bench_filters.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import statistics
import time
from collections import Counter
from pathlib import Path

import pyarrow as pa
import psutil

from webrefinery.filters.cascade import FILTERS, RuleFilters
from webrefinery.filters.text_stats import Doc

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "testdata"
DATATROVE = {"gopher_repetition": 52, "gopher_quality": 60, "c4": 39, "fineweb": 54}


def english_articles() -> list[str]:
    """Trafilatura text of the Zyte benchmark pages that lid.176 calls English (the set also
    holds Korean, Japanese, Russian, Portuguese, Indonesian and German articles)."""
    import trafilatura

    from webrefinery.pipeline.stages.langid import LangID

    texts = []
    for p in sorted((SHARED / "extraction_en" / "html").glob("*.html.gz")):
        text = trafilatura.extract(gzip.decompress(p.read_bytes()).decode("utf-8", "replace"),
                                   include_tables=True, include_comments=False, fast=True)
        if text:
            texts.append(text)
    langs, _ = LangID().predict(texts)
    return [t for t, lang in zip(texts, langs) if lang == "en"]


def chinese_pages() -> list[str]:
    """The zh pages of the sample WARC, through this project's read/extract/langid/normalize."""
    import tempfile

    import pyarrow.parquet as pq

    from webrefinery.pipeline.core.config import build_config
    from webrefinery.pipeline.runtime.runner import run

    config = build_config({"pipeline": ["read", "extract", "langid", "normalize"], "langid": {"keep": []}})
    with tempfile.TemporaryDirectory() as tmp:
        run(config, [str(SHARED / "warc" / "CC-MAIN-2020-34-fragment.warc.gz")], tmp, quiet=True)
        table = pa.concat_tables([pq.read_table(p) for p in sorted(Path(tmp, "data").glob("*.parquet"))])
    return [t for t, lang in zip(table.column("text").to_pylist(), table.column("language").to_pylist())
            if lang == "zh"]


def chinese_prose() -> list[str]:
    """The simplified-Chinese US Constitution, one document per article (条)."""
    text = (SHARED / "opencc" / "golden" / "us_constitution_zhs.txt").read_text(encoding="utf-8")
    parts = re.split(r"\n\s*第\s*[一二三四五六七八九十]+\s*条\s*\n", text)
    return [re.sub(r"\n{3,}", "\n\n", p).strip() for p in parts if len(p.strip()) > 200]


def chunk(texts: list[str], size: int = 2000) -> list[str]:
    """Cut texts into ~``size``-character documents at line boundaries."""
    docs = []
    for text in texts:
        cur: list[str] = []
        n = 0
        for line in text.split("\n"):
            cur.append(line)
            n += len(line) + 1
            if n >= size:
                docs.append("\n".join(cur))
                cur, n = [], 0
        if n >= size // 2:
            docs.append("\n".join(cur))
    return docs


def rate(fn, docs: list[str], lang: str, repeat: int) -> float:
    """docs per CPU second of this process (median of ``repeat`` runs): on the shared VM the
    wall clock also counts time the process waited for a core."""
    fn(docs[:50], lang)  # warm-up: lazy word lists and regexes
    times = []
    for _ in range(repeat):
        t = time.process_time()
        fn(docs, lang)
        times.append(time.process_time() - t)
    return len(docs) / statistics.median(times)


def single(section: str, stage: RuleFilters):

    def run(docs: list[str], lang: str) -> None:
        cfg = getattr(stage.config.for_language(lang), section)
        f = FILTERS[section](cfg.model_copy(update={"enabled": True, "apply_to": None}), lang)
        counters: Counter = Counter()
        for text in docs:
            f.apply(Doc(text, lang), counters)
    return run


def cascade(stage: RuleFilters):
    def run(docs: list[str], lang: str) -> None:
        stage.process(pa.table({"text": docs, "language": [lang] * len(docs)}))
    return run


def keep_rates(stage: RuleFilters, texts: list[str], lang: str) -> dict:
    """Isolated keep rate of every filter that applies to ``lang``, and the cascade's."""
    cfg = stage.config.for_language(lang)
    rows = {}
    for section, cls in FILTERS.items():
        sub = getattr(cfg, section)
        if not sub.applies(lang):
            continue
        f = cls(sub, lang)
        reasons = Counter(f.apply(Doc(t, lang), Counter()) for t in texts)
        rows[section] = {"kept": reasons.pop(None, 0) / len(texts), "reasons": dict(reasons.most_common())}
    res = stage.process(pa.table({"text": texts, "language": [lang] * len(texts)}))
    dropped = Counter(res.rejected.column("reason").to_pylist()) if res.rejected is not None else Counter()
    rows["cascade"] = {"kept": res.kept.num_rows / len(texts), "reasons": dict(dropped.most_common())}
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", type=Path, help="write all figures here")
    ap.add_argument("--config", type=Path, default=ROOT / "configs" / "zh_en.yaml",
                    help="config whose filter section is measured (default configs/zh_en.yaml)")
    args = ap.parse_args()
    from webrefinery.pipeline.core.config import load_config

    stage = RuleFilters(load_config(args.config).stage_config("filter"))

    en, zh_pages, zh_prose = english_articles(), chinese_pages(), chinese_prose()
    report: dict = {"config": str(args.config),
                    "keep": {"en_articles": keep_rates(stage, en, "en"),
                             "zh_warc_pages": keep_rates(stage, zh_pages, "zh"),
                             "zh_prose": keep_rates(stage, zh_prose, "zh")},
                    "corpus": {"en_articles": len(en), "zh_warc_pages": len(zh_pages), "zh_prose": len(zh_prose)}}
    docs = {"en": chunk(en), "zh": chunk(zh_prose + zh_pages)}
    speed: dict = {}
    for lang, sample in docs.items():
        sample = (sample * (2000 // len(sample) + 1))[:2000]
        row = {"docs": len(sample), "mean_chars": sum(map(len, sample)) / len(sample)}
        for section in FILTERS:
            row[section] = rate(single(section, stage), sample, lang, args.repeat)
        row["cascade"] = rate(cascade(stage), sample, lang, args.repeat)
        speed[lang] = row
    report["speed_docs_per_s_per_core"] = speed
    report["peak_rss_mb"] = psutil.Process().memory_info().rss / 2**20

    print(f"config: {args.config}; corpus: {report['corpus']}")
    for name, rows in report["keep"].items():
        print(f"\nkeep rates, {name} (each filter alone; cascade = all in order)")
        for section, r in rows.items():
            top = ", ".join(f"{k} {v}" for k, v in list(r["reasons"].items())[:4])
            print(f"  {section:18s} {r['kept']:6.1%}  {top}")
    print("\ndocs per CPU-second (2k-char docs, median of", args.repeat, "runs; datatrove 0.10.1 steady in brackets)")
    for lang, row in speed.items():
        print(f"  {lang}: {row['docs']} docs, mean {row['mean_chars']:.0f} chars")
        for section in list(FILTERS) + ["cascade"]:
            dt = f"  [datatrove {DATATROVE[section]}]" if section in DATATROVE else ""
            print(f"    {section:18s} {row[section]:9.0f}{dt}")
    print(f"peak RSS {report['peak_rss_mb']:.0f} MB")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
