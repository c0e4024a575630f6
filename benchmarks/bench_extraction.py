"""Extraction quality and speed of the ``extract`` stage (issue #3).

Data: the 181 English news pages of the Scrapinghub/Zyte article-extraction-benchmark
(``shared/testdata/extraction_en``), scored with its metric (``benchmarks/scoring.py``: word
4-gram shingles, per-document P/R averaged, F1; plus exact-match accuracy).

Rows:
- ``trafilatura.extract(html)`` with its defaults (the baseline the issue names),
- ``trafilatura.extract`` with datatrove 0.10.1's ``Trafilatura()`` block settings
  (favor_precision, no comments, deduplicate) — the reference system's quality,
- resiliparse ``extract_plain_text(main_content=True)`` called directly,
- our ``extract`` stage (``Extract.process`` on one Arrow batch) under config variants.

Speed is single-process extraction time over all pages (docs/s per core, MB/s of HTML),
the median of ``--repeat`` runs after one warm-up. The plain rows need only trafilatura, so
``--only trafilatura.extract`` also runs under datatrove's venv (its pinned trafilatura 1.11).
Reference: datatrove's Trafilatura block
≈ 18 docs/s per core steady state on this machine kind (shared/bench/datatrove README).

    flock /tmp/bench.lock python benchmarks/bench_extraction.py --repeat 3 --json out.json
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.scoring import score  # noqa: E402

DATA = ROOT.parent / "shared" / "testdata" / "extraction_en"
DATATROVE_STEADY_DOCS_S = 18.0

#: our stage's config variants (keys of ExtractConfig); the first is the shipped default
VARIANTS: dict[str, dict] = {
    "ours default": {},
    "ours fast=False": {"fast": False},
    "ours include_title=False": {"include_title": False},
    "ours fast=False include_title=False": {"fast": False, "include_title": False},
    "ours favor_precision": {"favor_precision": True},
    "ours favor_recall": {"favor_recall": True},
    "ours include_comments": {"include_comments": True},
    "ours engine=resiliparse": {"engine": "resiliparse"},
    "ours engine=resiliparse include_title=False": {"engine": "resiliparse", "include_title": False},
}


def load_pages() -> tuple[list[str], list[str], list[str], list[str]]:
    """(ids, urls, html, ground truth) of the benchmark pages."""
    ids, urls, html, truth = [], [], [], []
    for line in open(DATA / "ground_truth.jsonl", encoding="utf-8"):
        r = json.loads(line)
        ids.append(r["id"])
        urls.append(r["url"])
        html.append(gzip.open(DATA / r["html_file"]).read().decode("utf-8"))
        truth.append(r["article_body"])
    return ids, urls, html, truth


def plain_trafilatura(**kwargs) -> Callable[[list[str], list[str]], list[str | None]]:
    from trafilatura import extract

    return lambda html, urls: [extract(h, url=u, **kwargs) for h, u in zip(html, urls)]


def plain_resiliparse(html: list[str], urls: list[str]) -> list[str | None]:
    from resiliparse.extract.html2text import extract_plain_text

    return [extract_plain_text(h, main_content=True) for h in html]


def stage_runner(ids: list[str], overrides: dict) -> Callable[[list[str], list[str]], list[str | None]]:
    import pyarrow as pa

    from webrefinery.pipeline.stages.extract import Extract, ExtractConfig

    stage = Extract(ExtractConfig(**overrides))

    def run(html: list[str], urls: list[str]) -> list[str | None]:
        table = pa.table({"id": ids, "url": urls, "html": html})
        kept = stage.process(table).kept
        by_id = dict(zip(kept.column("id").to_pylist(), kept.column("text").to_pylist()))
        return [by_id.get(i) for i in ids]

    return run


def measure(fn: Callable, html: list[str], urls: list[str], repeat: int) -> tuple[list[str | None], float]:
    """Predictions and median seconds over ``repeat`` timed runs (after one warm-up run)."""
    preds = fn(html, urls)
    times = []
    for _ in range(repeat):
        t0 = time.process_time()
        fn(html, urls)
        times.append(time.process_time() - t0)
    return preds, statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per row (median reported)")
    ap.add_argument("--only", nargs="*", help="run only rows whose name contains one of these strings")
    ap.add_argument("--json", type=Path, help="write all rows as JSON here")
    args = ap.parse_args()
    if not DATA.exists():
        sys.exit(f"{DATA} not found (shared test data is needed for this benchmark)")

    ids, urls, html, truth = load_pages()
    mb = sum(len(h.encode("utf-8")) for h in html) / 1e6
    rows: dict[str, Callable] = {
        "trafilatura.extract defaults": lambda: plain_trafilatura(),
        "trafilatura.extract datatrove settings": lambda: plain_trafilatura(
            favor_precision=True, include_comments=False, deduplicate=True),
        "resiliparse main_content": lambda: plain_resiliparse,
    }
    rows |= {name: (lambda kw=kw: stage_runner(ids, kw)) for name, kw in VARIANTS.items()}
    if args.only:
        rows = {k: v for k, v in rows.items() if any(s in k for s in args.only)}

    from importlib.metadata import version

    print(f"trafilatura {version('trafilatura')}", file=sys.stderr)
    print(f"{len(html)} pages, {mb:.1f} MB HTML; CPU time of one process, median of {args.repeat}", file=sys.stderr)
    head = f"{'extractor':<46} {'F1':>6} {'P':>6} {'R':>6} {'acc':>6} {'empty':>5} {'docs/s/core':>11} {'MB/s':>6}"
    print(head)
    print("-" * len(head))
    results = []
    for name, make in rows.items():
        preds, secs = measure(make(), html, urls, args.repeat)
        s = score(truth, preds)
        row = {"name": name, **s.row(), "seconds": round(secs, 3), "docs_per_s_per_core": round(len(html) / secs, 2),
               "mb_per_s": round(mb / secs, 3)}
        results.append(row)
        print(f"{name:<46} {s.f1:6.3f} {s.precision:6.3f} {s.recall:6.3f} {s.accuracy:6.3f} {s.empty:5d} "
              f"{row['docs_per_s_per_core']:11.1f} {row['mb_per_s']:6.2f}", flush=True)
    print(f"reference: datatrove 0.10.1 Trafilatura block ≈ {DATATROVE_STEADY_DOCS_S:.0f} docs/s per core (steady)")
    if args.json:
        args.json.write_text(json.dumps({"pages": len(html), "html_mb": round(mb, 3), "repeat": args.repeat,
                                         "datatrove_steady_docs_s_per_core": DATATROVE_STEADY_DOCS_S,
                                         "rows": results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
