"""LSH buckets → candidate edges, in memory or through sorted on-disk partitions.

Every document with the same key in a band is a candidate duplicate of the bucket's first
(smallest index) member: a bucket of k documents gives k-1 "star" edges, never k² pairs.
A band's (key, doc) pairs are sorted in memory when they fit ``budget_bytes``; otherwise
they are spilled to ``ceil(size / budget)`` partition files by key (equal keys always land
in the same partition) and each partition is sorted on its own, so memory stays bounded
for any corpus size.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Iterable

import numpy as np

from webrefinery.pipeline.io.storage import append_array

#: bytes per (key, doc) pair while sorting (measured peak: inputs, their concatenation,
#: the lexsort permutation and the sorted copies)
_SORT_BYTES = 64


def star_edges(keys: np.ndarray, docs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Edges (first doc of each equal-key run, other doc) of one in-memory set of pairs."""
    order = np.lexsort((docs, keys))
    k, d = keys[order], docs[order]
    start = np.ones(len(k), bool)
    start[1:] = k[1:] != k[:-1]
    anchor = d[start][np.cumsum(start) - 1]
    return anchor[~start], d[~start]


def band_edges(chunks: Iterable[tuple[np.ndarray, np.ndarray]], n_pairs: int, budget_bytes: int,
               spill_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """Star edges of one band whose (key, doc) pairs arrive in ``chunks``."""
    parts = max(1, math.ceil(n_pairs * _SORT_BYTES / budget_bytes))
    if parts == 1:
        chunks = list(chunks)
        if not chunks:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        return star_edges(np.concatenate([c[0] for c in chunks]), np.concatenate([c[1] for c in chunks]))
    spill_dir.mkdir(parents=True, exist_ok=True)
    files = [open(spill_dir / f"part-{p:04d}.bin", "wb") for p in range(parts)]
    try:
        for keys, docs in chunks:
            part = (keys % np.uint64(parts)).astype(np.int64)
            order = np.argsort(part, kind="stable")
            bounds = np.searchsorted(part[order], np.arange(parts + 1))
            rec = np.empty(len(keys), [("k", np.uint64), ("d", np.int64)])
            rec["k"], rec["d"] = keys[order], docs[order]
            for p in range(parts):
                append_array(files[p], rec[bounds[p]:bounds[p + 1]])
    finally:
        for f in files:
            f.close()
    us, vs = [], []
    for p in range(parts):
        rec = np.fromfile(spill_dir / f"part-{p:04d}.bin", [("k", np.uint64), ("d", np.int64)])
        u, v = star_edges(rec["k"], rec["d"])
        us.append(u)
        vs.append(v)
    shutil.rmtree(spill_dir)
    return np.concatenate(us), np.concatenate(vs)
