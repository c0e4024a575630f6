"""The dedup reduce distributed over the executor's dataflow: no step holds all keys,
pairs or edges, and nothing here knows which engine runs it (:mod:`webrefinery.pipeline.core.dataflow`;
the Ray executor runs it on Ray Data).

Every global step is a shuffle: rows get a ``part`` column (a key modulo ``partitions``) and
``Dataset.shuffle`` hands each partition to one task, which works on it with numpy. Steps:

1. key files → (bucket key, doc) rows for the exact hash and every LSH band; per bucket
   key, star edges (smallest doc, other doc) — the same edges as the local reduce;
2. verification (optional): edges are joined with signatures twice (by ``u``, then by
   ``v``), each a shuffle of edges + signature rows by document;
3. connected components by alternating Large-Star / Small-Star rounds (Kiveris et al.,
   "Connected Components in MapReduce and Beyond", SoCC 2014), each a shuffle of the edge
   list by node, until the edges stop changing; every node then points to the smallest
   node of its component — the label the local reduce uses;
4. labels + per-document attributes shuffled by document, then by label: each cluster is
   decided in one task with :func:`webrefinery.dedup.components.choose` (same keep rule as local);
5. sub-document units: (hash, doc) rows shuffled by hash, counted over documents that stay.

The decisions (one row per cluster member, like local) are written by the tasks of a last
shuffle by key file, one file per key file; the driver gets one row of counts per file.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from webrefinery.dedup.buckets import star_edges
from webrefinery.dedup.components import choose
from webrefinery.dedup.decisions import Decisions, decisions_path, id_keys, write_decisions
from webrefinery.dedup.keys import file_rows, sig_numpy
from webrefinery.dedup.lines import UNITS, write_units
from webrefinery.dedup.minhash import EMPTY, band_keys, estimated_jaccard
from webrefinery.pipeline.core.dataflow import Dataflow, Dataset
from webrefinery.pipeline.io.storage import StoragePath, read_table

log = logging.getLogger("refinery")
EDGE = pa.schema([("part", pa.int64()), ("a", pa.int64()), ("b", pa.int64()), ("blob", pa.binary()),
                  ("sig", pa.binary())])


def _rows(part: np.ndarray, a: np.ndarray, b: np.ndarray, blob=None, sig=None) -> pa.Table:
    n = len(a)
    nulls = pa.nulls(n, pa.binary())
    return pa.table({"part": pa.array(part, pa.int64()), "a": pa.array(a, pa.int64()),
                     "b": pa.array(b, pa.int64()), "blob": blob if blob is not None else nulls,
                     "sig": sig if sig is not None else nulls}, schema=EDGE)


def _bin(col: pa.ChunkedArray | pa.Array, width: int) -> np.ndarray:
    col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    return sig_numpy(col.cast(pa.binary(width)), width // 4)


# -- 1. buckets ---------------------------------------------------------------------------------
def _key_rows(batch: pa.Table, *, parts: int, near: bool, exact: bool, num_perm: int, bands: int,
              rows: int) -> pa.Table:
    """One key file (path, start) → (part, key, doc) rows; key spaces kept apart by a tag."""
    out = []
    for path, start in zip(batch.column("path").to_pylist(), batch.column("start").to_pylist()):
        cols = ["exact"] + (["sig"] if near else [])
        t = read_table(path, columns=cols)
        docs = np.arange(start, start + t.num_rows, dtype=np.int64)
        keys = []
        if exact:
            keys.append((t.column("exact").to_numpy().astype(np.uint64), docs))
        if near:
            sig = sig_numpy(t.column("sig"), num_perm)
            ok = (sig != EMPTY).any(axis=1)
            bk = band_keys(sig[ok], bands, rows)
            keys += [(bk[:, j], docs[ok]) for j in range(bands)]
        for k, d in keys:
            signed = k.view(np.int64)
            out.append(_rows((k % np.uint64(parts)).astype(np.int64), signed, d))
    return pa.concat_tables(out) if out else _rows(np.zeros(0), np.zeros(0), np.zeros(0))


def _bucket_edges(group: pa.Table, *, parts: int) -> pa.Table:
    """Star edges of the buckets in one partition (a bucket = equal key)."""
    u, v = star_edges(group.column("a").to_numpy().view(np.uint64), group.column("b").to_numpy())
    pair = np.unique(np.stack([u, v], 1), axis=0) if len(u) else np.zeros((0, 2), np.int64)
    return _rows(pair[:, 0] % parts, pair[:, 0], pair[:, 1])


# -- 2. verification ----------------------------------------------------------------------------
def _sig_rows(batch: pa.Table, *, parts: int, num_perm: int) -> pa.Table:
    out = []
    for path, start in zip(batch.column("path").to_pylist(), batch.column("start").to_pylist()):
        t = read_table(path, columns=["sig"])
        docs = np.arange(start, start + t.num_rows, dtype=np.int64)
        out.append(_rows(docs % parts, docs, np.full(len(docs), -1), sig=t.column("sig").combine_chunks()
                         .cast(pa.binary())))
    return pa.concat_tables(out)


def _attach(group: pa.Table, *, parts: int, side: str, num_perm: int, threshold: float) -> pa.Table:
    """Edges of this partition get the signature of their ``side`` node (rows with b = -1
    are signatures); on side ``b`` the edge is then verified and kept or dropped."""
    is_sig = group.column("b").to_numpy() == -1
    sigs, edges = group.filter(pa.array(is_sig)), group.filter(pa.array(~is_sig))
    if edges.num_rows == 0:
        return _rows(np.zeros(0), np.zeros(0), np.zeros(0))
    sdoc = sigs.column("a").to_numpy()
    order = np.argsort(sdoc)
    node = edges.column("a" if side == "a" else "b").to_numpy()
    pos = order[np.searchsorted(sdoc[order], node)]
    own = sigs.column("sig").combine_chunks().take(pa.array(pos))
    if side == "a":
        return _rows(edges.column("b").to_numpy() % parts, edges.column("a").to_numpy(),
                     edges.column("b").to_numpy(), blob=own)
    est = estimated_jaccard(_bin(edges.column("blob"), 4 * num_perm), _bin(own, 4 * num_perm))
    keep = est >= threshold
    a, b = edges.column("a").to_numpy()[keep], edges.column("b").to_numpy()[keep]
    return _rows(a % parts, a, b)


# -- 3. connected components ------------------------------------------------------------------
def _both_ways(batch: pa.Table, *, parts: int) -> pa.Table:
    a, b = batch.column("a").to_numpy(), batch.column("b").to_numpy()
    src, dst = np.concatenate([a, b]), np.concatenate([b, a])
    return _rows(src % parts, src, dst)


def _to_larger(batch: pa.Table, *, parts: int) -> pa.Table:
    a, b = batch.column("a").to_numpy(), batch.column("b").to_numpy()
    hi, lo = np.maximum(a, b), np.minimum(a, b)
    return _rows(hi % parts, hi, lo)


def _star(group: pa.Table, *, parts: int, large: bool) -> pa.Table:
    """Large-Star: each node u links its larger neighbours to m(u) = min(u ∪ N(u)).
    Small-Star: each node u links its smaller neighbours and itself to m(u)."""
    src, dst = group.column("a").to_numpy(), group.column("b").to_numpy()
    order = np.lexsort((dst, src))
    src, dst = src[order], dst[order]
    first = np.ones(len(src), bool)
    first[1:] = src[1:] != src[:-1]
    run = np.cumsum(first) - 1
    m = np.minimum(np.minimum.reduceat(dst, np.flatnonzero(first)), src[first])[run]
    if large:
        sel = dst > src
        v, w = dst[sel], m[sel]
    else:
        v = np.concatenate([dst, src[first]])
        w = np.concatenate([m, m[first]])
        sel = v != w
        v, w = v[sel], w[sel]
    pair = np.unique(np.stack([v, w], 1), axis=0) if len(v) else np.zeros((0, 2), np.int64)
    return _rows(pair[:, 0] % parts, pair[:, 0], pair[:, 1])


def _edge_checksum(batch: pa.Table) -> pa.Table:
    a, b = batch.column("a").to_numpy().astype(np.uint64), batch.column("b").to_numpy().astype(np.uint64)
    with np.errstate(over="ignore"):
        h = (a * np.uint64(0x9E3779B97F4A7C15)) ^ (b * np.uint64(0xC2B2AE3D27D4EB4F))
    return pa.table({"h": pa.array([h.sum()], pa.uint64()), "n": pa.array([len(h)], pa.int64())})


def _checksum(ds: Dataset) -> tuple[int, int]:
    h, n = 0, 0
    for t in ds.map_batches(_edge_checksum).tables():
        h += sum(t.column("h").to_pylist())
        n += sum(t.column("n").to_pylist())
    return h % (1 << 64), n


def _components(edges: Dataset, parts: int, quiet: bool) -> Dataset:
    """(node, label) rows for every node with an edge; label = smallest node of its component."""
    prev = None
    for round_ in range(64):
        edges = edges.map_batches(_both_ways, parts=parts).shuffle(_star, parts, large=True)
        edges = edges.map_batches(_to_larger, parts=parts).shuffle(_star, parts, large=False).materialize()
        state = _checksum(edges)
        if not quiet:
            log.info("dedup: components round %d: %d edges", round_ + 1, state[1])
        if state == prev:
            return edges
        prev = state
    raise RuntimeError("connected components did not converge in 64 rounds")


# -- 4. decisions -------------------------------------------------------------------------------
ATTR = pa.schema([("part", pa.int64()), ("doc", pa.int64()), ("label", pa.int64()), ("id", pa.string()),
                  ("quality", pa.float32()), ("length", pa.int64()), ("exact", pa.uint64())])


def _label_rows(batch: pa.Table, *, parts: int) -> pa.Table:
    v, m = batch.column("a").to_numpy(), batch.column("b").to_numpy()
    doc = np.concatenate([v, m])
    label = np.concatenate([m, m])
    n = len(doc)
    return pa.table({"part": doc % parts, "doc": doc, "label": label, "id": pa.nulls(n, pa.string()),
                     "quality": pa.nulls(n, pa.float32()), "length": np.zeros(n, np.int64),
                     "exact": np.zeros(n, np.uint64)}, schema=ATTR)


def _attr_rows(batch: pa.Table, *, parts: int) -> pa.Table:
    out = []
    for path, start in zip(batch.column("path").to_pylist(), batch.column("start").to_pylist()):
        t = read_table(path, columns=["id", "quality_score", "length", "exact"])
        doc = np.arange(start, start + t.num_rows, dtype=np.int64)
        out.append(pa.table({"part": doc % parts, "doc": doc, "label": np.full(len(doc), -1, np.int64),
                             "id": t.column("id"), "quality": t.column("quality_score").cast(pa.float32()),
                             "length": t.column("length").cast(pa.int64()), "exact": t.column("exact")},
                            schema=ATTR))
    return pa.concat_tables(out)


def _join_labels(group: pa.Table, *, parts: int) -> pa.Table:
    """Attribute rows of clustered documents, with their label, now partitioned by label."""
    label = group.column("label").to_numpy()
    lab, attrs = group.filter(pa.array(label >= 0)), group.filter(pa.array(label < 0))
    if lab.num_rows == 0:
        return attrs.slice(0, 0)
    ldoc, llab = lab.column("doc").to_numpy(), lab.column("label").to_numpy()
    doc = attrs.column("doc").to_numpy()
    idx = np.flatnonzero(np.isin(doc, ldoc))
    attrs = attrs.take(pa.array(idx))
    uniq, first = np.unique(ldoc, return_index=True)
    lab_of = llab[first][np.searchsorted(uniq, attrs.column("doc").to_numpy())]
    return attrs.set_column(0, "part", pa.array(lab_of % parts)).set_column(2, "label", pa.array(lab_of))


DECIDED = pa.schema([("part", pa.int64()), ("file", pa.int64()), ("doc", pa.int64()), ("id", pa.string()),
                     ("kept", pa.bool_()), ("cluster", pa.string()), ("cluster_size", pa.int64()),
                     ("reason", pa.string())])


def _decide(group: pa.Table, *, parts: int, keep: list[str], starts: np.ndarray) -> pa.Table:
    """The decisions of the clusters of one partition, now partitioned by key file."""
    d = choose(group.column("label").to_numpy(), group.column("quality").to_numpy(zero_copy_only=False),
               group.column("length").to_numpy(), group.column("exact").to_numpy(),
               group.column("id").combine_chunks(), keep)
    file = np.searchsorted(starts, group.column("doc").to_numpy(), side="right") - 1
    return pa.table({"part": file % parts, "file": file, "doc": group.column("doc"), "id": group.column("id"),
                     "kept": d["kept"], "cluster": d["cluster"], "cluster_size": d["cluster_size"],
                     "reason": d["reason"]}, schema=DECIDED)


def _file_marks(batch: pa.Table, *, parts: int) -> pa.Table:
    """One row (doc = -1) per key file, so that every file's decisions are written, even none."""
    file = batch.column("file").to_numpy()
    n = len(file)
    return pa.table({"part": file % parts, "file": file, "doc": np.full(n, -1, np.int64),
                     "id": pa.nulls(n, pa.string()), "kept": pa.nulls(n, pa.bool_()),
                     "cluster": pa.nulls(n, pa.string()), "cluster_size": pa.nulls(n, pa.int64()),
                     "reason": pa.nulls(n, pa.string())}, schema=DECIDED)


def _write(group: pa.Table, *, parts: int, work_dir: str, names: list[str]) -> pa.Table:
    """Write ``decisions/<key file>`` for the key files of this partition; rows: file, members, removed."""
    group = group.sort_by([("file", "ascending"), ("doc", "ascending")])
    file, doc = group.column("file").to_numpy(), group.column("doc").to_numpy()
    files, first = np.unique(file, return_index=True)
    bounds = np.append(first, len(file))
    members, removed = [], []
    for j, lo, hi in zip(files.tolist(), bounds[:-1], bounds[1:]):
        t = group.slice(lo, hi - lo).filter(pa.array(doc[lo:hi] >= 0))
        kept = t.column("kept").to_numpy(zero_copy_only=False)
        write_decisions(decisions_path(work_dir, names[j]), t.column("id").combine_chunks(), kept,
                        t.column("cluster").combine_chunks(), t.column("cluster_size").to_numpy(),
                        t.column("reason").combine_chunks())
        members.append(t.num_rows)
        removed.append(int((~kept).sum()))
    return pa.table({"file": files, "members": pa.array(members, pa.int64()),
                     "removed": pa.array(removed, pa.int64())})


# -- 5. sub-document units ----------------------------------------------------------------------
def _unit_rows(batch: pa.Table, *, parts: int, work_dir: str) -> pa.Table:
    """(hash, doc, id key) rows of the units of the documents that dedup keeps."""
    out = []
    for path, start in zip(batch.column("path").to_pylist(), batch.column("start").to_pylist()):
        t = read_table(path, columns=["id", "units"])
        name = StoragePath.of(path).name
        removed = Decisions.load(decisions_path(work_dir, name)).removed(t.column("id").combine_chunks())
        t = t.filter(pa.array(~removed))
        lists = t.column("units").combine_chunks()
        counts = np.diff(lists.offsets.to_numpy())
        h = lists.flatten().to_numpy().astype(np.uint64)
        doc = np.repeat(np.arange(start, start + t.num_rows, dtype=np.int64), counts)
        key = np.repeat(id_keys(t.column("id")), counts)
        out.append(pa.table({"part": (h % np.uint64(parts)).astype(np.int64), "h": h, "doc": doc, "key": key}))
    return pa.concat_tables(out)


def _repeated(group: pa.Table, *, parts: int, max_docs: int) -> pa.Table:
    rec = np.unique(np.rec.fromarrays([group.column("h").to_numpy(), group.column("doc").to_numpy(),
                                       group.column("key").to_numpy()], names="h,d,k"))
    first = np.ones(len(rec), bool)
    first[1:] = rec["h"][1:] != rec["h"][:-1]
    run = np.cumsum(first) - 1
    rep = first & (np.bincount(run)[run] > max_docs) if len(rec) else first
    return pa.table({"hash": pa.array(rec["h"][rep], pa.uint64()), "keeper": pa.array(rec["k"][rep], pa.uint64())})


def _concat(ds: Dataset) -> pa.Table | None:
    tables = list(ds.tables())
    return pa.concat_tables(tables) if tables else None


def reduce_distributed(flow: Dataflow, key_files: list[Path], work_dir: Path, *, near: bool, exact: bool,
                       num_perm: int, bands: int, rows: int, verify_threshold: float | None, keep: list[str],
                       partitions: int | None = None, subdoc_max_docs: int | None = None,
                       quiet: bool = False) -> dict[str, int]:
    """The same decisions (and repeated units) as :func:`webrefinery.dedup.local_reduce.reduce_local`,
    computed as shuffles over ``flow``; only counts per key file (and the repeated units)
    reach this process."""
    parts = partitions or max(2, 2 * flow.cpus)
    starts = file_rows(key_files)
    names = [StoragePath.of(f).name for f in key_files]
    # as many blocks as shuffle partitions, not one per key file: each shuffle moves blocks × parts
    # pieces, and their bookkeeping in the driver (and the tasks) grows with that product —
    # 400k documents in 200 key files: 288 s and +311 MB of driver memory with one block per
    # file, 32 s and +69 MB like this (benchmarks/RESULTS.md, issue 17 item 6)
    files = flow.from_items([{"path": str(StoragePath.of(f)), "start": int(starts[i]), "file": i}
                             for i, f in enumerate(key_files)], blocks=max(1, min(len(key_files), parts)))
    keys = files.map_batches(_key_rows, batch_size=1, parts=parts, near=near, exact=exact, num_perm=num_perm,
                             bands=bands, rows=rows)
    edges = keys.shuffle(_bucket_edges, parts)
    if near and verify_threshold is not None:
        sigs = files.map_batches(_sig_rows, batch_size=1, parts=parts, num_perm=num_perm).materialize()
        vk = dict(num_perm=num_perm, threshold=verify_threshold)
        edges = edges.union(sigs).shuffle(_attach, parts, side="a", **vk)
        edges = edges.union(sigs).shuffle(_attach, parts, side="b", **vk)
    edges = edges.materialize()
    n_edges = edges.count()
    decided = files.map_batches(_file_marks, parts=parts)
    if n_edges:
        labels = _components(edges, parts, quiet).map_batches(_label_rows, parts=parts)
        attrs = files.map_batches(_attr_rows, batch_size=1, parts=parts)
        members = labels.union(attrs).shuffle(_join_labels, parts)
        decided = decided.union(members.shuffle(_decide, parts, keep=keep, starts=starts))
    written = list(decided.shuffle(_write, parts, work_dir=str(StoragePath.of(work_dir)), names=names).tables())
    if sum(t.num_rows for t in written) != len(key_files):
        raise RuntimeError(f"dedup: decisions written for {sum(t.num_rows for t in written)} of {len(key_files)} "
                           "key files")
    total = {c: sum(int(pc.sum(t[c]).as_py() or 0) for t in written) for c in ("members", "removed")}
    figures = {"docs": int(starts[-1]), "edges": n_edges, "clustered": total["members"], "removed": total["removed"]}
    if subdoc_max_docs is not None:
        units = files.map_batches(_unit_rows, batch_size=1, parts=parts, work_dir=str(StoragePath.of(work_dir)))
        t = _concat(units.shuffle(_repeated, parts, max_docs=subdoc_max_docs))
        hashes = t.column("hash").to_numpy() if t is not None else np.zeros(0, np.uint64)
        keepers = t.column("keeper").to_numpy() if t is not None else np.zeros(0, np.uint64)
        write_units(work_dir / UNITS, hashes, keepers)
        figures["repeated_units"] = len(hashes)
    return figures
