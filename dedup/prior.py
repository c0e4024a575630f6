"""Dedup against earlier outputs (``dedup.against``) and the index each run leaves for later ones.

**The index.** Every run with dedup writes ``OUT/dedup_index/index-NNNNN.parquet``, one file
per key file of the run, written by the reduce's tasks on a cluster (listed in
``manifest.json``, checked by ``refinery verify``): one row per document the dedup stage kept
(a stage after dedup in the same run may still drop it) — ``id``, ``exact`` (the
normalised-text hash) and one uint64 LSH bucket key per band (``band_00`` …; 0 for a
document without shingles). Its Parquet metadata holds the settings
the keys depend on (MinHash permutations, seed, bands × rows, n-grams, exact mode); an index
built with other settings is refused, since its keys could never meet the new ones.
Size: 8 × (bands + 1) bytes + the id per document (≈ 170 bytes at 16 bands, before zstd).

**Matching.** A new document whose exact hash is in an earlier index is ``exact_dup_prior``;
one that shares a bucket key with an earlier document in any band is ``near_dup_prior``
(LSH banding alone: the index holds no signatures, so there is no signature check — at
16 × 8 a pair is caught with probability 0.95 at Jaccard 0.8, 0.06 at 0.5). The earliest
match (first ``against`` output, first row) is named in ``duplicate_of``. Documents that
within-run dedup removes keep that reason; the prior check only removes what would have
stayed, so within-run decisions are the same as without ``against``. Earlier outputs are
only read: their index files and manifest.json, never their text.

Memory of the matching step: the earlier indices' keys, sorted, 12 bytes × (bands + 1) per
earlier document, plus their ids (≈ 250 bytes per earlier document while they are sorted);
the new keys stream row group by row group.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from webrefinery.dedup.decisions import Decisions, decisions_path, keyed_table
from webrefinery.dedup.keys import iter_keys, sig_numpy
from webrefinery.dedup.minhash import EMPTY, band_keys
from webrefinery.pipeline.core.dataflow import Dataflow
from webrefinery.pipeline.core.errors import ConfigError
from webrefinery.pipeline.io.manifest import DEDUP_INDEX
from webrefinery.pipeline.io.storage import PathLike, StoragePath, parquet_file, read_table, write_table

#: folder under the reduce's work directory: one file per key file, like the decisions
PRIOR = "prior"
_META_KEY = b"webrefinery.dedup_index"


def index_files(out_dir: str) -> list[StoragePath]:
    """The dedup index files an earlier output lists in its manifest (ConfigError if none)."""
    root = StoragePath.of(out_dir)
    mpath = root / "manifest.json"
    if not mpath.is_file():
        raise ConfigError(f"dedup.against: {out_dir} has no manifest.json; give the output directory of a "
                          "finished refinery run")
    entries = json.loads(mpath.read_text()).get(DEDUP_INDEX) or []
    if not entries:
        raise ConfigError(f"dedup.against: {out_dir} has no dedup index (manifest.json lists no {DEDUP_INDEX}/ "
                          "file: its run had no dedup stage, dedup.write_index: false, or an older version); "
                          "rerun it with the dedup stage")
    return [root / e["path"] for e in entries]


def check_settings(out_dir: str, settings: dict[str, Any]) -> None:
    """Refuse an earlier index whose keys were made with other settings than ``settings``."""
    for f in index_files(out_dir):
        meta = parquet_file(f).schema_arrow.metadata or {}
        theirs = json.loads(meta.get(_META_KEY, b"{}"))
        diff = [f"{k}: {theirs.get(k)!r} there, {v!r} here" for k, v in settings.items() if theirs.get(k) != v]
        if diff:
            raise ConfigError(f"dedup.against: the index of {out_dir} was built with other dedup settings "
                              f"({'; '.join(diff)}); its keys cannot match this run's. Run with the same dedup "
                              "settings as that output, or leave it out of dedup.against")


@dataclass
class _Rows:
    """One row group of the new run's keys: ids, exact hashes, band keys (0 = no shingles)."""

    ids: pa.Array
    exact: np.ndarray
    bands: np.ndarray  # (docs, bands) uint64


def _key_rows(key_file: PathLike, near: bool, num_perm: int, bands: int, rows: int) -> Iterator[_Rows]:
    for _, t in iter_keys([key_file], ["id", "exact"] + (["sig"] if near else [])):
        if near:
            sig = sig_numpy(t.column("sig"), num_perm)
            bk = band_keys(sig, bands, rows)
            bk[~(sig != EMPTY).any(axis=1)] = 0
        else:
            bk = np.zeros((t.num_rows, 0), np.uint64)
        yield _Rows(t.column("id").combine_chunks(), t.column("exact").to_numpy().astype(np.uint64), bk)


class PriorIndex:
    """The keys of the earlier outputs, sorted for ``searchsorted``; row = position in ``ids``."""

    def __init__(self, dirs: list[str], bands: int):
        tables = [read_table(f) for d in dirs for f in index_files(d)]
        table = pa.concat_tables(tables) if tables else pa.table({"id": pa.array([], pa.string())})
        self.ids = table.column("id").combine_chunks()
        n = len(self.ids)
        rows = np.arange(n, dtype=np.int32)  # int32: 4 bytes a key (an index holds < 2^31 documents)
        exact = table.column("exact").to_numpy().astype(np.uint64) if n else np.zeros(0, np.uint64)
        self.exact, self.exact_rows = _sorted(exact, rows)
        bands = bands if n and "band_00" in table.column_names else 0
        keys = np.empty(n * bands, np.uint64)
        for j in range(bands):  # band by band into one array: no per-band copies alive at once
            keys[j * n:(j + 1) * n] = table.column(f"band_{j:02d}").to_numpy()
        del table
        krows = np.tile(rows, bands)
        keep = keys != 0
        if not keep.all():
            keys, krows = keys[keep], krows[keep]
        self.near, self.near_rows = _sorted(keys, krows)

    def match(self, r: _Rows) -> tuple[np.ndarray, np.ndarray]:
        """Per new document: earliest matching earlier row (-1 = none) and whether it is exact."""
        n = len(r.exact)
        best = np.full(n, np.iinfo(np.int64).max, np.int64)
        hit = _find(self.exact, self.exact_rows, r.exact)
        exact = hit >= 0
        best[exact] = hit[exact]
        if r.bands.shape[1] and len(self.near):
            flat = r.bands.reshape(-1)
            h = _find(self.near, self.near_rows, flat)
            doc = np.repeat(np.arange(n), r.bands.shape[1])
            ok = (h >= 0) & (flat != 0) & ~exact[doc]
            np.minimum.at(best, doc[ok], h[ok])
        best[best == np.iinfo(np.int64).max] = -1
        return best, exact


def _sorted(keys: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted by key; equal keys keep their order (``rows`` come in increasing order per band)."""
    order = np.argsort(keys, kind="stable")
    rows = rows[order]
    return keys[order], rows


def _find(keys: np.ndarray, rows: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Row of the first (smallest row) entry equal to each query, or -1. The queries are
    sorted first: ``searchsorted`` of sorted queries walks the keys in order (≈ 4× faster
    than random probes on arrays beyond the cache)."""
    if len(keys) == 0:
        return np.full(len(queries), -1, np.int64)
    order = np.argsort(queries)
    pos = np.empty(len(queries), np.int64)
    pos[order] = np.searchsorted(keys, queries[order])
    np.minimum(pos, len(keys) - 1, out=pos)
    return np.where(keys[pos] == queries, rows[pos], -1)


def prior_path(work_dir: PathLike, key_file: str) -> StoragePath:
    """The prior matches of the documents of the key file named ``key_file``."""
    return StoragePath.of(work_dir) / PRIOR / key_file


def write_prior(key_files: list, work_dir: PathLike, against: list[str], *, near: bool, num_perm: int,
                bands: int, rows: int) -> int:
    """``work_dir/prior/<key file>``: the new documents to remove as duplicates of earlier outputs
    (``id``, ``key``, ``prior_id``, ``reason``; sorted by key, looked up like the decisions)."""
    prior = PriorIndex(against, bands)
    total = 0
    for f in key_files:
        name = StoragePath.of(f).name
        within = Decisions.load(decisions_path(work_dir, name))
        ids, prior_ids, reasons = [], [], []
        for r in _key_rows(f, near, num_perm, bands, rows):
            best, exact = prior.match(r)
            sel = np.flatnonzero((best >= 0) & ~within.removed(r.ids))
            if len(sel):
                ids.append(r.ids.take(pa.array(sel)))
                prior_ids.append(prior.ids.take(pa.array(best[sel])))
                reasons.append(pa.array(np.where(exact[sel], "exact_dup_prior", "near_dup_prior").tolist(),
                                        pa.string()))
        none = pa.array([], pa.string())
        table = keyed_table(pa.concat_arrays(ids) if ids else none,
                            {"prior_id": pa.concat_arrays(prior_ids) if prior_ids else none,
                             "reason": pa.concat_arrays(reasons) if reasons else none})
        write_table(prior_path(work_dir, name), table, compression="zstd")
        total += table.num_rows
    return total


def index_file(j: int) -> str:
    """Path, under the output, of the index of the ``j``-th key file's documents."""
    return f"{DEDUP_INDEX}/index-{j:05d}.parquet"


def _index_schema(settings: dict[str, Any], near: bool, bands: int) -> pa.Schema:
    fields = [("id", pa.string()), ("exact", pa.uint64())] + [(f"band_{b:02d}", pa.uint64())
                                                              for b in range(bands if near else 0)]
    return pa.schema(fields, metadata={_META_KEY: json.dumps(settings, sort_keys=True).encode()})


def _write_index_file(key_file: PathLike, j: int, work_dir: PathLike, out_dir: PathLike, settings: dict[str, Any],
                      near: bool, num_perm: int, bands: int, rows: int, prior: bool) -> int:
    schema = _index_schema(settings, near, bands)
    name = StoragePath.of(key_file).name
    within = Decisions.load(decisions_path(work_dir, name))
    earlier = Decisions.load(prior_path(work_dir, name)) if prior else None
    n = 0
    with (StoragePath.of(out_dir) / index_file(j)).open_commit() as sink:
        with pq.ParquetWriter(sink, schema, compression="zstd") as w:
            for r in _key_rows(key_file, near, num_perm, bands, rows):
                keep = ~within.removed(r.ids)
                if earlier is not None:
                    keep[earlier.lookup(r.ids)[0]] = False
                if not keep.any():
                    continue
                sel = pa.array(np.flatnonzero(keep))
                cols = [r.ids.take(sel), pa.array(r.exact[keep])] + [pa.array(r.bands[keep, b])
                                                                     for b in range(r.bands.shape[1])]
                w.write_table(pa.Table.from_arrays(cols, schema=schema))
                n += int(keep.sum())
    return n


def _index_batch(batch: pa.Table, **kwargs: Any) -> pa.Table:
    docs = [_write_index_file(path, j, **kwargs)
            for path, j in zip(batch.column("path").to_pylist(), batch.column("j").to_pylist())]
    return pa.table({"docs": pa.array(docs, pa.int64())})


def write_index(key_files: list, work_dir: PathLike, out_dir: PathLike, settings: dict[str, Any], *,
                near: bool, num_perm: int, bands: int, rows: int, prior: bool, flow: Dataflow | None = None) -> int:
    """``out_dir/dedup_index/index-NNNNN.parquet``, one per key file: the keys of the documents
    dedup kept (neither removed within the run nor, with ``prior``, as a duplicate of an
    earlier output). With a ``flow`` the files are written by its tasks, else here, one by one."""
    kwargs = dict(work_dir=str(StoragePath.of(work_dir)), out_dir=str(StoragePath.of(out_dir)), settings=settings,
                  near=near, num_perm=num_perm, bands=bands, rows=rows, prior=prior)
    if not key_files:  # nothing reached dedup: an empty index, so that later runs can still name this output
        write_table(StoragePath.of(out_dir) / index_file(0), _index_schema(settings, near, bands).empty_table())
        return 0
    if flow is None:
        return sum(_write_index_file(f, j, **kwargs) for j, f in enumerate(key_files))
    items = [{"path": str(StoragePath.of(f)), "j": j} for j, f in enumerate(key_files)]
    ds = flow.from_items(items, blocks=max(1, min(len(items), 2 * flow.cpus))).map_batches(_index_batch, batch_size=1,
                                                                                           **kwargs)
    return sum(sum(t.column("docs").to_pylist()) for t in ds.tables())
