"""Parquet writing: atomic part files, and the final re-sharding into ``data/part-NNNNN.parquet``.

Every file is committed whole or not at all (:meth:`StoragePath.open_commit`: a rename on a
local disk, a completed multipart upload on an object store), so a killed run never leaves
a half-written shard visible. Final shards are cut from the task outputs in
input order at ``rows_per_shard`` rows / ``max_shard_bytes`` bytes, so names and contents
are deterministic.
"""

from __future__ import annotations

import logging
from contextlib import ExitStack
from typing import Iterable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from tqdm import tqdm

from webrefinery.pipeline.core.schema import SCHEMA, align, conform, merge_schemas
from webrefinery.pipeline.io.storage import PathLike, StoragePath, parquet_file

log = logging.getLogger("refinery")

#: log10 bins of document length in characters (1 … 10^7)
LENGTH_EDGES = [10 ** (i / 4) for i in range(0, 29)]
QUALITY_EDGES = [i / 20 for i in range(21)]


class AtomicParquetWriter:
    """Streams tables into ``path``; ``close()`` commits it, ``abort()`` discards it."""

    def __init__(self, path: PathLike, compression: str = "zstd", level: int | None = 3):
        self.path = StoragePath.of(path)
        self._commit = ExitStack()
        self.compression = None if compression == "none" else compression
        self.level = level if self.compression in ("zstd", "gzip") else None
        self.writer: pq.ParquetWriter | None = None
        self.schema: pa.Schema | None = None
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        table = conform(table)
        if self.writer is None:
            self.schema = _nullable_strings(table.schema)
            sink = self._commit.enter_context(self.path.open_commit())
            self.writer = pq.ParquetWriter(sink, self.schema, compression=self.compression,
                                           compression_level=self.level)
        table = align(table, self.schema)
        if table.num_rows:
            self.writer.write_table(table)
            self.rows += table.num_rows

    def close(self, empty_schema: pa.Schema | None = SCHEMA) -> None:
        if self.writer is None:
            if empty_schema is None:
                return
            self.write(empty_schema.empty_table())
        self.writer.close()
        self._commit.close()

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.close()
        aborted = RuntimeError(f"writing {self.path} aborted")
        self._commit.__exit__(type(aborted), aborted, None)


def _nullable_strings(schema: pa.Schema) -> pa.Schema:
    """Columns whose first batch was all-null get a string type, so later values fit."""
    return pa.schema([pa.field(f.name, pa.string()) if pa.types.is_null(f.type) else f for f in schema])


#: rows per table read back from the task outputs for the final shards
PART_BATCH = 8192


def iter_parts(parts: Iterable[PathLike], batch_size: int = PART_BATCH) -> Iterator[pa.Table]:
    for p in parts:
        pf = parquet_file(p)
        for b in pf.iter_batches(batch_size=batch_size):
            yield pa.Table.from_batches([b])


def rebatch(tables: Iterable[pa.Table], rows: int) -> Iterator[pa.Table]:
    """The rows of ``tables`` as tables of exactly ``rows`` rows (the last one fewer), one
    chunk each, whatever tables they came in. Parquet cuts data pages where the Arrow chunks
    of a write end, so shards written from these do not depend on how the input was split
    into tasks; a single part gives the chunks of :func:`iter_parts` unchanged."""
    pending: list[pa.Table] = []
    n = 0
    for t in tables:
        pending.append(t)
        n += t.num_rows
        while n >= rows:
            buf = pa.concat_tables(pending)
            yield buf.slice(0, rows).combine_chunks()
            rest = buf.slice(rows)
            pending, n = [rest], rest.num_rows
    if n:
        yield pa.concat_tables(pending).combine_chunks()


class OutputSummary:
    """Running output statistics for stats.json: languages, length and quality histograms."""

    def __init__(self) -> None:
        self.docs = self.chars = 0
        self.languages: dict[str, dict[str, int]] = {}
        self.length_counts = np.zeros(len(LENGTH_EDGES) - 1, dtype=np.int64)
        self.quality_counts = np.zeros(len(QUALITY_EDGES) - 1, dtype=np.int64)
        self.has_quality = False
        #: rows per extra column whose values were turned into strings (types differ between inputs)
        self.coerced: dict[str, int] = {}

    def add(self, table: pa.Table) -> None:
        lengths = pc.fill_null(pc.utf8_length(table.column("text")), 0).to_numpy(zero_copy_only=False)
        self.docs += table.num_rows
        self.chars += int(lengths.sum())
        idx = np.clip(np.searchsorted(LENGTH_EDGES, np.maximum(lengths, 1), side="right") - 1,
                      0, len(self.length_counts) - 1)
        np.add.at(self.length_counts, idx, 1)
        for lang, n in zip(table.column("language").to_pylist(), lengths):
            entry = self.languages.setdefault(lang or "unknown", {"docs": 0, "chars": 0})
            entry["docs"] += 1
            entry["chars"] += int(n)
        q = table.column("quality_score").drop_null().to_numpy(zero_copy_only=False)
        if len(q):
            self.has_quality = True
            qi = np.clip(np.searchsorted(QUALITY_EDGES, q, side="right") - 1, 0, len(self.quality_counts) - 1)
            np.add.at(self.quality_counts, qi, 1)

    def to_dict(self) -> dict:
        return {
            "docs": self.docs, "chars": self.chars,
            "languages": dict(sorted(self.languages.items(), key=lambda kv: (-kv[1]["docs"], kv[0]))),
            "length_hist": {"edges": [round(e, 3) for e in LENGTH_EDGES], "counts": self.length_counts.tolist()},
            "quality_hist": {"edges": QUALITY_EDGES, "counts": self.quality_counts.tolist()}
            if self.has_quality else None,
        } | ({"coerced": dict(sorted(self.coerced.items()))} if self.coerced else {})


#: rows per Parquet row group of the final shards (fixed, so the layout does not depend on
#: how the input was cut into tasks)
ROW_GROUP_ROWS = 10_000


def row_bytes(table: pa.Table) -> np.ndarray:
    """Uncompressed size of each row: its string/binary values plus 8 bytes per other column."""
    sizes = np.zeros(table.num_rows, dtype=np.int64)
    for col in table.columns:
        if pa.types.is_string(col.type) or pa.types.is_binary(col.type) or pa.types.is_large_string(col.type):
            sizes += pc.fill_null(pc.binary_length(col), 0).to_numpy(zero_copy_only=False)
        else:
            sizes += 8
    return sizes


class _ShardWriter:
    """One output shard: buffers rows and writes them in row groups of ``ROW_GROUP_ROWS``."""

    def __init__(self, path: StoragePath, compression: str, level: int | None):
        self.out = AtomicParquetWriter(path, compression, level)
        self.pending: list[pa.Table] = []
        self.pending_rows = self.rows = self.bytes = 0

    def add(self, table: pa.Table, nbytes: int) -> None:
        self.pending.append(table)
        self.pending_rows += table.num_rows
        self.rows += table.num_rows
        self.bytes += nbytes
        while self.pending_rows >= ROW_GROUP_ROWS:
            buf = pa.concat_tables(self.pending)
            self.out.write(buf.slice(0, ROW_GROUP_ROWS))
            rest = buf.slice(ROW_GROUP_ROWS)
            self.pending, self.pending_rows = [rest], rest.num_rows

    def close(self) -> StoragePath:
        if self.pending_rows:
            self.out.write(pa.concat_tables(self.pending))
        self.out.close()
        return self.out.path


def _value_types(pf: pq.ParquetFile) -> pa.Schema:
    """The schema of a task output, with null type for an extra column that holds no value
    (stored as strings, :func:`_nullable_strings`), so it takes the type other parts give it."""
    meta = pf.metadata
    leaf = {meta.schema.column(j).path: j for j in range(meta.num_columns)}

    def empty(name: str) -> bool:
        groups = [meta.row_group(g) for g in range(meta.num_row_groups)]
        stats = [g.column(leaf[name]).statistics for g in groups]
        return bool(groups) and all(st is not None and st.null_count == g.num_rows for g, st in zip(groups, stats))

    return pa.schema([pa.field(f.name, pa.null()) if f.name not in SCHEMA.names and pa.types.is_string(f.type)
                      and f.name in leaf and empty(f.name) else f for f in pf.schema_arrow])


def write_shards(parts: list[PathLike], data_dir: PathLike, rows_per_shard: int, max_bytes: int,
                 compression: str, level: int | None,
                 quiet: bool = False) -> tuple[list[StoragePath], OutputSummary]:
    """Re-shard the task outputs (in order) into ``data_dir/part-NNNNN.parquet``.

    A shard closes at ``rows_per_shard`` rows or once its rows reach ``max_bytes``
    (uncompressed); both cuts and row groups are decided per row, so the same documents give
    the same shards however the input was split into tasks. Parts of different columns
    (WARC rows with ``html`` next to JSONL rows, JSONL files with their own extra columns)
    are written in one schema (:func:`merge_schemas`): a column a part lacks is null there,
    an extra column whose type differs between parts becomes a string column (counted in
    ``summary.coerced``).
    """
    data_dir = StoragePath.of(data_dir)
    data_dir.mkdir()
    for old in data_dir.glob("part-*.parquet*"):
        old.unlink()
    summary = OutputSummary()
    shards: list[StoragePath] = []
    shard: _ShardWriter | None = None
    files = [parquet_file(p) for p in parts]
    total = sum(f.metadata.num_rows for f in files)
    schema, conflicts = merge_schemas(_value_types(f) for f in files)
    for name in sorted(conflicts):
        rows = sum(f.metadata.num_rows for f in files
                   if name in f.schema_arrow.names and not pa.types.is_string(f.schema_arrow.field(name).type))
        summary.coerced[name] = rows
        log.warning("column %s has different types in different inputs: written as strings (JSON text for "
                    "%d rows)", name, rows)
    bar = tqdm(total=total, desc="write shards", unit=" docs", disable=quiet, mininterval=0.5)
    for table in rebatch((align(t, schema) for t in iter_parts(parts, PART_BATCH)), PART_BATCH):
        bar.update(table.num_rows)
        summary.add(table)
        sizes = row_bytes(table)
        start = 0
        while start < table.num_rows:
            if shard is None:
                shard = _ShardWriter(data_dir / f"part-{len(shards):05d}.parquet", compression, level)
            cum = np.cumsum(sizes[start:start + rows_per_shard - shard.rows])
            # rows up to and including the one that reaches the byte budget
            take = min(len(cum), int(np.searchsorted(cum, max_bytes - shard.bytes, side="left")) + 1)
            shard.add(table.slice(start, take), int(cum[take - 1]))
            start += take
            if shard.rows >= rows_per_shard or shard.bytes >= max_bytes:
                shards.append(shard.close())
                shard = None
    if shard is not None:
        shards.append(shard.close())
    bar.close()
    return shards, summary
