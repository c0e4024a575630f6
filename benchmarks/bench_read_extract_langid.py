"""Throughput of read → urlfilter → extract → langid on real WARCs (issue #3).

Input: the real WARCs of ``shared/testdata/warc`` (a Common Crawl 2020-34 fragment and a
2024-22 page) and the 181 real pages of ``shared/testdata/extraction_en`` wrapped into a WARC
by the datatrove harness (same files as datatrove's run)::

    /tmp/bench/dt-venv/bin/python shared/bench/datatrove/html2warc.py \\
        -o /tmp/bench/warc/extraction-en.warc.gz shared/testdata/extraction_en

Each repeat runs ``webrefinery.pipeline.runtime.runner.run`` with the default config (``configs/default.yaml``;
``--engine`` and ``--workers`` override) in a fresh Python process, so every repeat pays
imports, model loading and shard writing, as datatrove's wall figure does. Reported (median
of ``--repeat``):
- ``docs/s/core`` = HTML documents read / wall seconds / workers;
- ``MB/s`` = compressed WARC bytes / wall seconds;
- per-stage ``docs/s/core`` = docs entering the stage / the stage's summed seconds
  (stats.json ``time_s``, in-task, no start-up);
- peak RSS of the run (largest process).

Reference (shared/bench/datatrove on this machine kind): datatrove 0.10.1 whole WARC pipeline
3.7 docs/s per core; its Trafilatura block ≈ 18 docs/s per core steady state.

    flock /tmp/bench.lock python benchmarks/bench_read_extract_langid.py --repeat 3
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "testdata"
DEFAULT_WARCS = [SHARED / "warc" / "CC-MAIN-2020-34-fragment.warc.gz",
                 SHARED / "warc" / "whirlwind-CC-MAIN-2024-22.warc.gz",
                 Path("/tmp/bench/warc/extraction-en.warc.gz")]
DATATROVE = {"pipeline_docs_s_core": 3.7, "trafilatura_steady_docs_s_core": 18.0}
STAGES = ["read", "urlfilter", "extract", "langid"]


def one_run(warcs: list[str], workers: int, engine: str) -> dict:
    """Run the pipeline once in this process; figures as a dict."""
    sys.path.insert(0, str(ROOT))
    from webrefinery.pipeline.core.config import load_config
    from webrefinery.pipeline.runtime.runner import run

    config = load_config(ROOT / "configs" / "default.yaml",
                         {"pipeline": STAGES, "executor": {"kind": "local", "workers": workers},
                          "extract": {"engine": engine}})
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        stats = run(config, warcs, Path(out) / "run", quiet=True)
        wall = time.perf_counter() - t0
    rss = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    stages = {s["name"]: s for s in stats["stages"]}
    return {"wall_s": wall, "html_docs": stages["read"]["docs_out"], "docs_out": stats["output"]["docs"],
            "warc_bytes": stats["input"]["bytes"], "peak_rss_mb": rss / 1024,
            "stage_docs_s_core": {n: s["docs_in"] / s["time_s"] for n, s in stages.items() if s["time_s"] > 0},
            "dropped": {n: s["dropped"] for n, s in stages.items()}}


def measure(warcs: list[str], workers: int, engine: str, repeat: int) -> dict:
    """Median figures of ``repeat`` runs, each in a fresh interpreter."""
    runs = []
    for _ in range(repeat):
        cmd = [sys.executable, __file__, "--one", "--workers", str(workers), "--engine", engine, "--warc", *warcs]
        res = subprocess.run(cmd, capture_output=True, text=True, check=True)
        runs.append(json.loads(res.stdout.strip().splitlines()[-1]))
    wall = statistics.median(r["wall_s"] for r in runs)
    first = runs[0]
    return {"workers": workers, "engine": engine, "walls_s": [round(r["wall_s"], 3) for r in runs], "wall_s": wall,
            "html_docs": first["html_docs"], "docs_out": first["docs_out"],
            "docs_s_core": first["html_docs"] / wall / workers, "mb_s": first["warc_bytes"] / 1e6 / wall,
            "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
            "stage_docs_s_core": {n: statistics.median(r["stage_docs_s_core"][n] for r in runs)
                                  for n in first["stage_docs_s_core"]},
            "dropped": first["dropped"]}


def datatrove_rows(paths: list[Path]) -> dict:
    """Median figures of datatrove run.py result files (``--warc`` runs on the same WARCs)."""
    runs = [json.loads(p.read_text()) for p in paths]
    pipes = [r["pipeline"] for r in runs if r.get("pipeline")]
    traf = [t for r in pipes for k, t in r["in_pipeline_block_time_s"].items() if "Trafilatura" in k]
    steady = [b["docs_per_s_per_core_steady"] for r in runs for b in r.get("isolated") or []
              if b["block"] == "Trafilatura" and b.get("docs_per_s_per_core_steady")]
    html = pipes[0]["html_docs"]
    return {"runs": len(pipes), "html_docs": html, "docs_out": pipes[0]["docs_out"],
            "wall_s": statistics.median(p["wall_s"] for p in pipes), "workers": pipes[0]["workers"],
            "docs_s_core": statistics.median(p["docs_per_s_per_core"] for p in pipes),
            "peak_rss_tree_mb": max(p["peak_rss_tree_mb"] for p in pipes),
            "trafilatura_in_pipeline_docs_s_core": html / statistics.median(traf) if traf else None,
            "trafilatura_isolated_steady_docs_s_core": statistics.median(steady) if steady else None}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--warc", nargs="+", default=[str(p) for p in DEFAULT_WARCS])
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--engine", nargs="+", default=["trafilatura", "resiliparse"])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--datatrove-json", type=Path, nargs="*", default=[],
                    help="datatrove run.py result JSONs on the same WARCs (median shown beside ours)")
    ap.add_argument("--json", type=Path, help="write all figures as JSON here")
    ap.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # one run, JSON on stdout
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one_run(args.warc, args.workers[0], args.engine[0])))
        return 0
    missing = [w for w in args.warc if not Path(w).exists()]
    if missing:
        sys.exit(f"missing input {missing}; see the module docstring for how to build the extraction-en WARC")

    rows = [measure(args.warc, w, e, args.repeat) for e in args.engine for w in args.workers]
    mb = sum(Path(w).stat().st_size for w in args.warc) / 1e6
    print(f"inputs: {len(args.warc)} WARCs, {mb:.1f} MB; median of {args.repeat} runs, each a fresh process")
    head = (f"{'engine':<12} {'workers':>7} {'wall s':>7} {'HTML docs':>9} {'kept':>5} {'docs/s/core':>11} "
            f"{'MB/s':>6} {'vs dt':>6} {'extract d/s/c':>13} {'langid d/s/c':>12} {'peak RSS MB':>11}")
    print(head)
    print("-" * len(head))
    for r in rows:
        st = r["stage_docs_s_core"]
        print(f"{r['engine']:<12} {r['workers']:>7} {r['wall_s']:7.2f} {r['html_docs']:>9} {r['docs_out']:>5} "
              f"{r['docs_s_core']:11.1f} {r['mb_s']:6.2f} {r['docs_s_core'] / DATATROVE['pipeline_docs_s_core']:5.1f}x "
              f"{st.get('extract', 0):13.1f} {st.get('langid', 0):12.0f} {r['peak_rss_mb']:11.0f}")
    print(f"reference: datatrove 0.10.1 whole WARC pipeline {DATATROVE['pipeline_docs_s_core']} docs/s per core, "
          f"Trafilatura block {DATATROVE['trafilatura_steady_docs_s_core']:.0f} docs/s per core (steady)")
    dt = datatrove_rows(args.datatrove_json) if args.datatrove_json else None
    if dt:
        print(f"datatrove measured (median of {dt['runs']}, {dt['workers']} workers, full pipeline incl. quality "
              f"filters + PII): wall {dt['wall_s']:.2f} s, {dt['html_docs']} HTML docs -> {dt['docs_out']}, "
              f"{dt['docs_s_core']:.1f} docs/s/core; Trafilatura in-pipeline "
              f"{dt['trafilatura_in_pipeline_docs_s_core'] or 0:.1f} docs/s/core, isolated steady "
              f"{dt['trafilatura_isolated_steady_docs_s_core'] or 0:.1f}; peak RSS tree {dt['peak_rss_tree_mb']:.0f} MB")
    if args.json:
        args.json.write_text(json.dumps({"warcs": args.warc, "repeat": args.repeat, "datatrove": DATATROVE,
                                         "datatrove_measured": dt, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
