"""Dedup decisions on disk and their lookup by document id in every worker.

``decisions.parquet`` holds one row per member of a duplicate cluster: ``id``, ``key``
(xxh3-64 of the id; the file is sorted by it), ``kept``, ``cluster`` (id of the kept
document, also the cluster's id), ``cluster_size`` and ``reason`` (``exact_dup`` /
``near_dup`` for removed documents). Workers load the sorted keys into numpy and find a
batch's rows with ``searchsorted`` — no per-worker Python dict of millions of ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

from webrefinery.pipeline.io.storage import read_table, write_table

DECISIONS = "decisions.parquet"


def id_keys(ids: pa.Array | list) -> np.ndarray:
    values = ids.to_pylist() if not isinstance(ids, list) else ids
    return np.fromiter((xxhash.xxh3_64_intdigest((i or "").encode()) for i in values), np.uint64, len(values))


def write_decisions(path: Path, ids: pa.Array, kept: np.ndarray, cluster: pa.Array, size: np.ndarray,
                    reason: pa.Array) -> None:
    keys = id_keys(ids)
    order = pa.array(np.argsort(keys, kind="stable"))
    table = pa.table({"id": ids, "key": pa.array(keys), "kept": pa.array(kept), "cluster": cluster,
                      "cluster_size": pa.array(size, pa.int64()), "reason": reason}).take(order)
    write_table(path, table, compression="zstd")


@dataclass
class Decisions:
    table: pa.Table
    keys: np.ndarray

    @classmethod
    def load(cls, path: Path) -> "Decisions":
        table = read_table(path)
        return cls(table, table.column("key").to_numpy())

    def lookup(self, ids: pa.Array) -> tuple[np.ndarray, np.ndarray]:
        """(row index in the batch, decision row) for the batch ids that have a decision."""
        if len(self.keys) == 0 or len(ids) == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        k = id_keys(ids)
        pos = np.minimum(np.searchsorted(self.keys, k), len(self.keys) - 1)
        hit = np.flatnonzero(self.keys[pos] == k)
        if len(hit):  # a 64-bit key collision must not pick another document's decision
            same = pc.equal(ids.take(pa.array(hit)), self.table.column("id").take(pa.array(pos[hit])))
            hit = hit[same.to_numpy(zero_copy_only=False)]
        return hit, pos[hit]
