#!/usr/bin/env python
"""Dedup benchmark on a corpus from ``gen_dedup_corpus.py``: throughput, peak RSS, P/R/F1.

1. signatures: ``Dedup.collect`` (exact hash + shingles + MinHash) over the corpus in
   512-row Arrow batches, one process → docs/s per core;
2. whole dedup: ``refinery dedup`` through the runner (read JSONL, collect, reduce, apply,
   write Parquet shards + rejected) with ``--workers`` processes → docs/s per core =
   docs / (wall × workers); peak RSS of the process tree (polled every 0.2 s), also per phase;
3. quality vs the planted truth, with the same definitions as datatrove's harness
   (``shared/bench/datatrove/run.py: synthetic_pr``): pairwise P/R over clustered pairs,
   removal P/R, recall of copies by kind / language / true Jaccard bucket, and the headline
   P/R/F1 of duplicate detection at Jaccard ≥ 0.8.

    flock /tmp/bench.lock python benchmarks/bench_dedup.py /tmp/dd/100k --workers 2 --out r.json
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import sys
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

import psutil
import pyarrow as pa
import pyarrow.json as pj
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from webrefinery.dedup.decisions import read_all  # noqa: E402

from webrefinery.dedup.stage import Dedup, DedupConfig  # noqa: E402
from webrefinery.pipeline.core.config import build_config  # noqa: E402
from webrefinery.pipeline.runtime.runner import run  # noqa: E402


class RSSPoller(threading.Thread):
    """Peak summed RSS of this process and its children (``tree``), and of this process
    alone (``main``: the reduce runs here, the map work in the worker processes)."""

    def __init__(self):
        super().__init__(daemon=True)
        self.peak, self.stop = Counter(), False

    def run(self) -> None:
        me = psutil.Process()
        while not self.stop:
            try:
                main = me.memory_info().rss
                rss = main + sum(c.memory_info().rss for c in me.children(recursive=True))
            except psutil.Error:
                continue
            self.peak["tree"] = max(self.peak["tree"], rss)
            self.peak["main"] = max(self.peak["main"], main)
            time.sleep(0.2)


def signature_speed(files: list[str], cfg: DedupConfig, limit: int) -> dict:
    stage = Dedup(cfg)
    batches, n = [], 0
    for f in files:
        t = pj.read_json(f).select(["id", "text", "language"])
        for b in t.to_batches(512):
            batches.append(pa.Table.from_batches([b]))
            n += b.num_rows
        if n >= limit:
            break
    stage.collect(batches[0])  # warm-up: code point table, permutations
    t0 = time.perf_counter()
    for b in batches:
        stage.collect(b)
    dt = time.perf_counter() - t0
    chars = sum(pa.compute.sum(pa.compute.utf8_length(b.column("text"))).as_py() for b in batches)
    return {"docs": n, "seconds": round(dt, 2), "docs_per_s_per_core": round(n / dt), "MB_per_s": round(chars / dt / 1e6, 2)}


def write_keys(files: list[str], stage: Dedup, work: Path) -> list[Path]:
    """One key file per corpus shard (what the runner's map pass writes)."""
    work.mkdir(parents=True, exist_ok=True)
    keys = []
    for i, f in enumerate(files):
        keys.append(work / f"keys-{i:05d}.parquet")
        if not keys[-1].exists():
            t = pj.read_json(f).select(["id", "text", "language"])
            pq.write_table(pa.concat_tables([stage.collect(b) for b in t.slice(0).to_batches(512)
                                             for b in [pa.Table.from_batches([b])]]), keys[-1])
    return keys


def reduce_rss(files: list[str], cfg: DedupConfig, work: Path, budgets: list[int]) -> dict:
    """Local reduce alone in a fresh process per memory budget: wall time and peak RSS."""
    import subprocess
    keys = write_keys(files, Dedup(cfg), work)
    out = {}
    for mb in budgets:
        code = (f"import json,resource,time,sys; sys.path.insert(0,{str(Path(__file__).resolve().parents[1])!r});"
                "from webrefinery.dedup.stage import Dedup, DedupConfig; from pathlib import Path;"
                f"s=Dedup(DedupConfig.model_validate_json({json.dumps(cfg.model_dump() | {'memory_budget_mb': mb})!r}));"
                "import shutil; shutil.rmtree('" + str(work / "reduce") + "', ignore_errors=True);"
                "t=time.perf_counter(); s.reduce([Path(p) for p in " + repr([str(k) for k in keys]) + "], Path('"
                + str(work / "reduce") + "'));"
                "print(json.dumps({'wall_s': round(time.perf_counter()-t, 1),"
                "'peak_rss_mb': round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1024)}))")
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        out[f"budget_{mb}mb"] = json.loads(r.stdout.strip().splitlines()[-1])
    out["key_files_mb"] = round(sum(k.stat().st_size for k in keys) / 2**20)
    return out


def compare_ray(files: list[str], cfg: DedupConfig, work: Path) -> dict:
    """Key files (one per corpus shard) → local reduce and Ray reduce (2 CPUs): times, equality."""
    import ray

    from webrefinery.pipeline.core.config import build_config
    from webrefinery.pipeline.runtime.executors.local import LocalExecutor
    from webrefinery.pipeline.runtime.executors.ray import RayExecutor
    from webrefinery.pipeline.core.stage import RunContext

    stage = Dedup(cfg)
    keys = write_keys(files, stage, work)
    out = {}
    ctx = RunContext(work, work / "_work", quiet=True)
    for name in ("local", "ray"):
        if name == "ray":
            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
            ray.data.DataContext.get_current().enable_progress_bars = False
        executor = (LocalExecutor if name == "local" else RayExecutor)(build_config({}), ctx)
        t0 = time.perf_counter()
        executor.reduce(stage, keys, work / name)
        out[f"{name}_reduce_s"] = round(time.perf_counter() - t0, 1)
    ray.shutdown()
    local, dist = (read_all(work / e) for e in ("local", "ray"))
    out.update(decisions=local.num_rows, identical=local.equals(dist))
    return out


def score(corpus: Path, reduce_dir: Path) -> dict:
    truth, groups = {}, defaultdict(list)
    with open(corpus / "truth.jsonl") as fh:
        for line in fh:
            t = json.loads(line)
            truth[t["id"]] = t
            if t["group"] >= 0:
                groups[t["group"]].append(t["id"])
    d = read_all(reduce_dir).select(["id", "kept", "cluster"]).to_pydict()
    cluster = dict(zip(d["id"], d["cluster"]))
    removed = [i for i, k in zip(d["id"], d["kept"]) if not k]
    members = defaultdict(list)
    for i, c in cluster.items():
        members[c].append(i)
    pred_pairs = sum(len(m) * (len(m) - 1) // 2 for m in members.values())
    tp_pairs = sum(1 for m in members.values() for x in range(len(m)) for y in range(x + 1, len(m))
                   if truth[m[x]]["group"] >= 0 and truth[m[x]]["group"] == truth[m[y]]["group"])
    true_pairs = sum(len(g) * (len(g) - 1) // 2 for g in groups.values())
    ideal = sum(len(g) - 1 for g in groups.values())
    by_group = Counter(truth[i]["group"] for i in removed if truth[i]["group"] >= 0)
    tp_rem = sum(min(c, len(groups[g]) - 1) for g, c in by_group.items())
    orig = {t["group"]: i for i, t in truth.items() if t["role"] == "original"}

    def bucket(j):
        return next((f">={lo}" for lo in (0.9, 0.8, 0.7, 0.6, 0.5) if j >= lo), "<0.5")

    by = defaultdict(lambda: [0, 0])
    hit_hi = n_hi = 0
    for i, t in truth.items():
        if t["role"] != "copy":
            continue
        o = orig[t["group"]]
        hit = i in cluster and cluster.get(i) == cluster.get(o)
        for key in (f"kind={t['kind']}", f"lang={t['lang']}", f"jaccard{bucket(t['jaccard'])}"):
            by[key][0] += hit
            by[key][1] += 1
        if t["jaccard"] >= 0.8:
            hit_hi += hit
            n_hi += 1
    ratio = (lambda a, b: round(a / b, 4) if b else None)
    p, r = ratio(tp_pairs, pred_pairs), ratio(hit_hi, n_hi)
    return {
        "headline_J>=0.8": {"precision": p, "recall": r, "f1": ratio(2 * p * r, p + r) if p and r else None,
                            "copies": n_hi},
        "pairwise": {"true_pairs": true_pairs, "pred_pairs": pred_pairs, "tp": tp_pairs,
                     "precision": p, "recall": ratio(tp_pairs, true_pairs)},
        "removal": {"ideal": ideal, "removed": len(removed), "tp": tp_rem, "precision": ratio(tp_rem, len(removed)),
                    "recall": ratio(tp_rem, ideal)},
        "clustered_docs_not_planted": sum(1 for i in cluster if truth[i]["group"] < 0),
        "copy_recall_by": {k: {"hit": v[0], "n": v[1], "recall": ratio(*v)} for k, v in sorted(by.items())},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/bench-dedup-out"))
    ap.add_argument("--sig-docs", type=int, default=50_000, help="documents for the signature timing")
    ap.add_argument("--config", default="{}", help="JSON overrides of the dedup: section")
    ap.add_argument("--skip-signatures", action="store_true")
    ap.add_argument("--compare-ray", action="store_true", help="only: local vs Ray reduce on the same keys")
    ap.add_argument("--reduce-rss", type=int, nargs="*", metavar="MB",
                    help="only: peak RSS of the local reduce alone, per memory_budget_mb")
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    files = sorted(glob.glob(str(a.corpus / "docs" / "*.jsonl")))
    cfg = DedupConfig.model_validate(json.loads(a.config))
    res = {"corpus": str(a.corpus), "docs": sum(1 for _ in open(a.corpus / "truth.jsonl")),
           "workers": a.workers, "cpu_count": os.cpu_count(), "dedup_config": cfg.model_dump(),
           "lsh": dict(zip(("bands", "rows"), cfg.lsh()))}
    if a.reduce_rss:
        res["reduce_rss"] = reduce_rss(files, cfg, a.workdir, a.reduce_rss)
        print(json.dumps(res, indent=2))
        return
    if a.compare_ray:
        res["ray_vs_local"] = compare_ray(files, cfg, a.workdir)
        print(json.dumps(res, indent=2))
        return
    if not a.skip_signatures:
        res["signatures"] = signature_speed(files, cfg, a.sig_docs)
        print(json.dumps(res["signatures"]), file=sys.stderr)
    poller = RSSPoller()
    poller.start()
    time.sleep(0.5)
    res["rss_before_mb"] = round(poller.peak["main"] / 2**20)
    config = build_config({"pipeline": ["dedup"], "executor": {"workers": a.workers},
                           "output": {"card": False}, "dedup": cfg.model_dump()})
    shutil.rmtree(a.workdir, ignore_errors=True)
    t0 = time.perf_counter()
    stats = run(config, files, a.workdir, quiet=True)
    wall = time.perf_counter() - t0
    poller.stop = True
    st = next(s for s in stats["stages"] if s["name"] == "dedup")
    res["whole"] = {"wall_s": round(wall, 1), "docs_per_s": round(res["docs"] / wall),
                    "docs_per_s_per_core": round(res["docs"] / wall / a.workers),
                    "stage_time_s": st["time_s"], "peak_rss_mb_tree": round(poller.peak["tree"] / 2**20),
                    "peak_rss_mb_main": round(poller.peak["main"] / 2**20),
                    "docs_out": stats["output"]["docs"], "dropped": st["dropped"],
                    "counters": {k: v for k, v in st["counters"].items() if not k.startswith("cluster_size")}}
    reduce_time = json.loads((a.workdir / "_work" / "reduce-dedup" / "done").read_text())["time_s"]
    res["whole"]["reduce_s"] = reduce_time
    res["quality"] = score(a.corpus, a.workdir / "_work" / "reduce-dedup")
    text = json.dumps(res, indent=2)
    print(text)
    if a.out:
        a.out.write_text(text)


if __name__ == "__main__":
    main()
