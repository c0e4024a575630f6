"""Dedup decisions on disk, one file per key file, and their lookup by document id.

The reduce writes ``decisions/<key file name>`` for every key file it was given (the
documents one map task keyed; a file may be empty): one row per member of a duplicate
cluster among those documents — ``id``, ``key`` (xxh3-64 of the id; the file is sorted by
it), ``kept``, ``cluster`` (id of the kept document, also the cluster's id),
``cluster_size`` and ``reason`` (``exact_dup`` / ``near_dup`` for removed documents). The
task that applies them loads only its own file, so a worker's memory does not grow with
the corpus, and a distributed reduce writes the files from its own tasks, not the driver.
Lookups use ``searchsorted`` on the sorted keys — no Python dict of ids.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

from webrefinery.pipeline.io.storage import PathLike, StoragePath, read_table, write_table

#: folder of the decision files under the reduce's work directory
DECISIONS = "decisions"


def id_keys(ids: pa.Array | list) -> np.ndarray:
    values = ids.to_pylist() if not isinstance(ids, list) else ids
    return np.fromiter((xxhash.xxh3_64_intdigest((i or "").encode()) for i in values), np.uint64, len(values))


def decisions_path(work_dir: PathLike, key_file: str) -> StoragePath:
    """The decisions of the documents of the key file named ``key_file``."""
    return StoragePath.of(work_dir) / DECISIONS / key_file


def keyed_table(ids: pa.Array, columns: dict[str, pa.Array]) -> pa.Table:
    """``id``, ``key`` (xxh3-64 of the id) and ``columns``, sorted by key: a table
    :class:`Decisions` can look up (the decisions, and the prior matches of ``dedup.against``)."""
    keys = id_keys(ids)
    order = pa.array(np.argsort(keys, kind="stable"))
    return pa.table({"id": ids, "key": pa.array(keys, pa.uint64()), **columns}).take(order)


def decision_table(ids: pa.Array, kept: np.ndarray, cluster: pa.Array, size: np.ndarray,
                   reason: pa.Array) -> pa.Table:
    """The decisions of the members ``ids``, with their keys, sorted by key."""
    return keyed_table(ids, {"kept": pa.array(kept, pa.bool_()), "cluster": cluster,
                             "cluster_size": pa.array(size, pa.int64()), "reason": reason})


def write_decisions(path: PathLike, ids: pa.Array, kept: np.ndarray, cluster: pa.Array, size: np.ndarray,
                    reason: pa.Array) -> None:
    write_table(path, decision_table(ids, kept, cluster, size, reason), compression="zstd")


def write_per_file(work_dir: PathLike, names: list[str], starts: np.ndarray, docs: np.ndarray, ids: pa.Array,
                   kept: np.ndarray, cluster: pa.Array, size: np.ndarray, reason: pa.Array) -> None:
    """Decisions of the members at sorted global indices ``docs`` into one file per key file
    (``names[j]`` holds documents ``starts[j]`` … ``starts[j + 1] - 1``)."""
    bounds = np.searchsorted(docs, starts)
    for j, name in enumerate(names):
        lo, hi = int(bounds[j]), int(bounds[j + 1])
        write_decisions(decisions_path(work_dir, name), ids[lo:hi], kept[lo:hi], cluster[lo:hi], size[lo:hi],
                        reason[lo:hi])


def read_all(work_dir: PathLike) -> pa.Table:
    """Every decision of a reduce in one table, sorted by key (for checks and benchmarks; the
    pipeline itself never loads them all)."""
    files = sorted(StoragePath.of(work_dir).glob(f"{DECISIONS}/*.parquet"), key=lambda p: p.name)
    table = pa.concat_tables([read_table(f) for f in files])
    return table.take(pa.array(np.argsort(table.column("key").to_numpy(), kind="stable")))


@dataclass
class Decisions:
    table: pa.Table
    keys: np.ndarray

    @classmethod
    def empty(cls) -> "Decisions":
        none = pa.array([], pa.string())
        return cls(decision_table(none, np.zeros(0, bool), none, np.zeros(0, np.int64), none), np.zeros(0, np.uint64))

    @classmethod
    def load(cls, path: PathLike) -> "Decisions":
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

    def removed(self, ids: pa.Array) -> np.ndarray:
        """Mask of ``ids`` that these decisions remove."""
        out = np.zeros(len(ids), bool)
        rows, drow = self.lookup(ids)
        if len(rows):
            kept = self.table.column("kept").take(pa.array(drow)).to_numpy(zero_copy_only=False)
            out[rows[~kept]] = True
        return out
