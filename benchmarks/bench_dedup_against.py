#!/usr/bin/env python
"""Dedup against an earlier output (issue 18): index size, and time and peak RSS of writing
an index and of matching new documents against one (benchmarks/RESULTS.md).

Synthetic key files in the layout ``Dedup.collect`` writes (random 128-value signatures,
exact hashes, 32-hex ids; LSH 16 × 8): N earlier documents, M new ones of which 1 % are
exact copies and 1 % near copies (10 of 128 signature values changed) of earlier ones. Each
step runs in a fresh process; peak RSS is that process's ``VmHWM`` (it includes the
~150 MB of Python + numpy + pyarrow).

    python benchmarks/bench_dedup_against.py /tmp/dda --prior 1000000 --new 1000000
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from webrefinery.dedup.decisions import decisions_path, write_decisions
from webrefinery.dedup.keys import sig_array
from webrefinery.dedup.prior import write_index, write_prior
from webrefinery.dedup.stage import DedupConfig
from webrefinery.pipeline.io.manifest import write_manifest

FILES = 10


def gen(root: Path, n_prior: int, n_new: int) -> None:
    rng = np.random.default_rng(0)
    prior_sig = rng.integers(0, 2**32, (n_prior, 128), dtype=np.uint32)
    prior_exact = rng.integers(0, 2**63, n_prior, dtype=np.uint64)
    new_sig = rng.integers(0, 2**32, (n_new, 128), dtype=np.uint32)
    new_exact = rng.integers(0, 2**63, n_new, dtype=np.uint64)
    k = n_new // 100
    src = rng.choice(n_prior, 2 * k, replace=False)
    new_sig[:k], new_exact[:k] = prior_sig[src[:k]], prior_exact[src[:k]]  # exact copies
    new_sig[k:2 * k] = prior_sig[src[k:]]
    cols = rng.choice(128, 10, replace=False)
    new_sig[k:2 * k, cols] = rng.integers(0, 2**32, (k, 10), dtype=np.uint32)  # near copies
    for name, sig, exact in (("prior", prior_sig, prior_exact), ("new", new_sig, new_exact)):
        d = root / name
        d.mkdir(parents=True, exist_ok=True)
        ids = [f"{name[0]}{i:031x}" for i in range(len(exact))]
        for f, part in enumerate(np.array_split(np.arange(len(exact)), FILES)):
            lo, hi = int(part[0]), int(part[-1]) + 1
            name = f"keys-{f:05d}.parquet"
            pq.write_table(pa.table({"id": ids[lo:hi], "exact": pa.array(exact[lo:hi]),
                                     "sig": sig_array(sig[lo:hi])}), d / name, row_group_size=65536)
            empty = pa.array([], pa.string())  # no duplicates within the run
            write_decisions(decisions_path(d, name), empty, np.zeros(0, bool), empty, np.zeros(0, np.int64), empty)


def step(root: Path, which: str) -> dict:
    c = DedupConfig()
    bands, rows = c.lsh()
    keys = dict(near=True, num_perm=c.num_perm, bands=bands, rows=rows)
    t0 = time.perf_counter()
    if which == "index":
        files = sorted((root / "prior").glob("keys-*.parquet"))
        n = write_index(files, root / "prior", root / "A", c.index_settings(), prior=False, **keys)
        write_manifest(root / "A", [], [], "bench")
        out = {"docs": n, "index_bytes": sum(p.stat().st_size for p in (root / "A" / "dedup_index").glob("*.parquet"))}
    else:
        files = sorted((root / "new").glob("keys-*.parquet"))
        out = {"prior_removed": write_prior(files, root / "new", [str(root / "A")], **keys)}
    out |= {"step": which, "time_s": round(time.perf_counter() - t0, 1), "peak_rss_mb": peak_rss_mb()}
    return out


def peak_rss_mb() -> int:
    """This process's peak RSS: ``VmHWM`` (``ru_maxrss`` would carry the parent's peak over exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("root", type=Path)
    ap.add_argument("--prior", type=int, default=1_000_000)
    ap.add_argument("--new", type=int, default=1_000_000)
    ap.add_argument("--step", choices=["index", "match"])
    a = ap.parse_args()
    if a.step:
        print(json.dumps(step(a.root, a.step)))
        return 0
    t0 = time.perf_counter()
    gen(a.root, a.prior, a.new)
    print(f"generated {a.prior:,} earlier + {a.new:,} new documents' keys in {time.perf_counter() - t0:.0f} s")
    for which in ("index", "match"):
        r = json.loads(subprocess.run([sys.executable, __file__, str(a.root), "--step", which], check=True,
                                      capture_output=True, text=True).stdout)
        if which == "index":
            r["bytes_per_million_docs"] = round(r["index_bytes"] / r["docs"] * 1e6)
        print(json.dumps(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
