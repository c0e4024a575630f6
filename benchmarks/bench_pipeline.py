"""Whole-pipeline throughput of ``refinery run`` with the local and the Ray executor (issue #7).

Input: real WARCs — ``shared/testdata/warc`` (a Common Crawl 2020-34 fragment, a 2024-22
page) plus, with ``--datatrove``, the 181 real pages of ``shared/testdata/extraction_en``
wrapped into a WARC by the harness's ``html2warc.py``. Their gzip members (= records) are
repeated ``--copies`` times and cut into ``--files`` WARC files of similar size, so two
workers have work to share. datatrove's local executor gets exactly the same files.

For each executor and worker count (1, 2) the command runs as a subprocess ``--repeat``
times (median reported):
- ``docs/s/core`` = HTML documents / wall seconds / workers (wall includes start-up: Python
  imports, model loads, for Ray starting a local cluster);
- ``in-task docs/s/core`` = HTML documents / Σ stage seconds over all tasks (the per-core
  rate once running — what sizes a long job);
- scaling efficiency = docs/s at 2 workers / (2 × docs/s at 1 worker);
- peak RSS per worker: the largest peak RSS of one worker process (local pool process, or
  Ray actor; with ``workers: 1`` the local executor works in the driver), polled every 0.1 s.

    flock /tmp/bench.lock python benchmarks/bench_pipeline.py --datatrove /tmp/dt7 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import psutil
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from webrefinery.pipeline.core.registry import STAGES, available  # noqa: E402

SHARED = ROOT.parent / "shared"
REAL_WARCS = [SHARED / "testdata/warc/CC-MAIN-2020-34-fragment.warc.gz",
              SHARED / "testdata/warc/whirlwind-CC-MAIN-2024-22.warc.gz"]
#: the datatrove harness's pipeline: URL filter, Trafilatura, LID, Gopher/C4/FineWeb filters, PII
STAGE_ORDER = ["read", "urlfilter", "extract", "langid", "normalize", "filter", "pii"]


def members(path: Path) -> list[bytes]:
    """The gzip members of a WARC.gz (one record each)."""
    data, out, pos = path.read_bytes(), [], 0
    while pos < len(data):
        d = zlib.decompressobj(31)
        d.decompress(data[pos:])
        end = len(data) - len(d.unused_data)
        out.append(data[pos:end])
        pos = end
    return out


def build_inputs(warcs: list[Path], out_dir: Path, n_files: int, copies: int) -> list[Path]:
    """Cut the records of ``warcs`` (``copies`` times over) into ``n_files`` similar-size WARCs."""
    recs = [m for _ in range(copies) for w in warcs for m in members(w)]
    total, target = sum(map(len, recs)), sum(map(len, recs)) / n_files
    out_dir.mkdir(parents=True, exist_ok=True)
    files, chunk, size = [], [], 0
    for r in recs:
        chunk.append(r)
        size += len(r)
        if size >= target * (len(files) + 1) and len(files) < n_files - 1:
            files.append(chunk)
            chunk = []
    files.append(chunk)
    paths = []
    for i, ch in enumerate(files):
        p = out_dir / f"bench-{i:02d}.warc.gz"
        p.write_bytes(b"".join(ch))
        paths.append(p)
    assert sum(p.stat().st_size for p in paths) == total
    return paths


class RSSMonitor:
    """Peak RSS of every process in the tree of ``pid``, sampled every 0.1 s."""

    def __init__(self, pid: int):
        self.root = psutil.Process(pid)
        self.peak: dict[int, tuple[float, str]] = {}

    def sample(self) -> None:
        try:
            procs = [self.root, *self.root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return
        for p in procs:
            try:
                rss, name = p.memory_info().rss / 2**20, " ".join(p.cmdline())[:200]
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            if rss > self.peak.get(p.pid, (0, ""))[0]:
                self.peak[p.pid] = (rss, name)

    def worker_peak(self, executor: str, workers: int) -> float:
        if executor == "ray":
            rss = [r for r, name in self.peak.values() if "MapWorker" in name or "RunTasks" in name]
        elif workers > 1:
            rss = [r for pid, (r, name) in self.peak.items() if pid != self.root.pid and "multiprocessing" in name]
        else:
            rss = [self.peak[self.root.pid][0]]
        return max(rss) if rss else float("nan")


def run_refinery(inputs: Path, work: Path, stages: list[str], executor: str, workers: int) -> dict:
    cfg = {"pipeline": stages, "languages": ["en", "zh"],
           "executor": {"kind": executor, "workers": workers, "ray": {"actor_pool_size": workers}},
           "output": {"card": False}}
    cfg_path = work / f"{executor}-{workers}.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    out = work / f"out-{executor}-{workers}"
    cmd = [sys.executable, "-m", "webrefinery.pipeline.cli", "run", "-i", str(inputs), "-o", str(out), "-c", str(cfg_path),
           "-q", "--overwrite"]
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    mon = RSSMonitor(proc.pid)
    while proc.poll() is None:
        mon.sample()
        time.sleep(0.1)
    wall = time.perf_counter() - t0
    if proc.returncode:
        sys.exit(f"refinery failed ({executor}, {workers}):\n{proc.stderr.read().decode()[-3000:]}")
    stats = json.loads((out / "stats.json").read_text())
    html = stats["stages"][0]["docs_out"]
    stage_s = sum(s["time_s"] for s in stats["stages"])
    return {"executor": executor, "workers": workers, "wall_s": wall, "html_docs": html,
            "docs_out": stats["output"]["docs"], "docs_per_s_per_core": html / wall / workers,
            "in_task_docs_per_s_per_core": html / stage_s, "peak_rss_worker_mb": mon.worker_peak(executor, workers),
            "peak_rss_tree_mb": sum(r for r, _ in mon.peak.values()),
            "stage_s": {s["name"]: s["time_s"] for s in stats["stages"]}}


def run_datatrove(harness: Path, files: list[Path], work: Path, workers: int) -> dict:
    py = Path(os.environ.get("DT_VENV", "/tmp/bench/dt-venv")) / "bin" / "python"
    out = work / f"dt-{workers}.json"
    cmd = [str(py), str(harness / "run.py"), "--warc", *map(str, files), "--workers", str(workers),
           "--skip", "isolated", "minhash", "--workdir", str(work / "dt-work"), "--out", str(out)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    p = json.loads(out.read_text())["pipeline"]
    return {"executor": "datatrove", "workers": p["workers"], "wall_s": p["wall_s"], "html_docs": p["html_docs"],
            "docs_out": p["docs_out"], "docs_per_s_per_core": p["docs_per_s_per_core"],
            "in_task_docs_per_s_per_core": p["html_docs"] / sum(p["in_pipeline_block_time_s"].values()),
            "peak_rss_worker_mb": p["peak_rss_single_mb"], "peak_rss_tree_mb": p["peak_rss_tree_mb"]}


def median_run(fn, repeat: int) -> dict:
    runs = [fn() for _ in range(repeat)]
    runs.sort(key=lambda r: r["wall_s"])
    best = dict(runs[len(runs) // 2])
    best["wall_s_all"] = [round(r["wall_s"], 2) for r in runs]
    best["docs_per_s_per_core"] = statistics.median(r["docs_per_s_per_core"] for r in runs)
    best["in_task_docs_per_s_per_core"] = statistics.median(r["in_task_docs_per_s_per_core"] for r in runs)
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--warc", nargs="*", type=Path, help="input WARCs (default: the shared real WARCs)")
    ap.add_argument("--datatrove", type=Path, help="copy of shared/bench/datatrove after setup.sh: adds the "
                    "extraction_en WARC to the input and runs datatrove's pipeline on the same files")
    ap.add_argument("--files", type=int, default=4, help="WARC files the records are cut into")
    ap.add_argument("--copies", type=int, default=3, help="times every record is repeated")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--executors", nargs="+", default=["local", "ray"], choices=["local", "ray"])
    ap.add_argument("--workers", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--stages", nargs="+", help=f"default: those of {STAGE_ORDER} that exist in this checkout")
    ap.add_argument("--json", type=Path, help="write all figures here")
    args = ap.parse_args()

    warcs = list(args.warc or REAL_WARCS)
    missing = [w for w in warcs if not w.exists()]
    if missing:
        sys.exit(f"input not found: {missing[0]} (the default input needs ../shared/testdata)")
    work = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    if args.datatrove and not args.warc:
        extra = work / "extraction-en.warc.gz"
        py = Path(os.environ.get("DT_VENV", "/tmp/bench/dt-venv")) / "bin" / "python"
        subprocess.run([str(py), str(args.datatrove / "html2warc.py"), "-o", str(extra),
                        str(SHARED / "testdata/extraction_en")], check=True, stdout=subprocess.DEVNULL)
        warcs.append(extra)
    stages = args.stages or [s for s in STAGE_ORDER if available(STAGES[s])]
    files = build_inputs(warcs, work / "in", args.files, args.copies)
    print(f"input: {len(files)} WARC files, {sum(p.stat().st_size for p in files) / 2**20:.1f} MiB "
          f"({', '.join(w.name for w in warcs)} x{args.copies}); stages: {' → '.join(stages)}", file=sys.stderr)

    rows = []
    for ex in args.executors:
        for w in args.workers:
            rows.append(median_run(lambda: run_refinery(work / "in", work, stages, ex, w), args.repeat))
            print(f"  {ex} x{w}: {rows[-1]['wall_s_all']} s", file=sys.stderr)
    if args.datatrove:
        for w in args.workers:
            rows.append(median_run(lambda: run_datatrove(args.datatrove, files, work, w), args.repeat))
            print(f"  datatrove x{w}: {rows[-1]['wall_s_all']} s", file=sys.stderr)

    by = {(r["executor"], r["workers"]): r for r in rows}
    print(f"{'executor':<10}{'workers':>8}{'HTML docs':>10}{'docs out':>9}{'wall s':>8}{'docs/s/core':>12}"
          f"{'in-task d/s/c':>14}{'scaling':>9}{'RSS/worker MB':>14}")
    for r in rows:
        one = by.get((r["executor"], 1))
        eff = r["docs_per_s_per_core"] / one["docs_per_s_per_core"] if one and r["workers"] > 1 else None
        r["scaling_efficiency"] = eff
        print(f"{r['executor']:<10}{r['workers']:>8}{r['html_docs']:>10}{r['docs_out']:>9}{r['wall_s']:>8.2f}"
              f"{r['docs_per_s_per_core']:>12.1f}{r['in_task_docs_per_s_per_core']:>14.1f}"
              f"{(f'{eff:.0%}' if eff else '-'):>9}{r['peak_rss_worker_mb']:>14.0f}")
    if args.json:
        args.json.write_text(json.dumps({"input": [str(w) for w in warcs], "files": len(files), "copies": args.copies,
                                         "stages": stages, "rows": rows}, indent=2))
    shutil.rmtree(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
