"""The document schema of DESIGN.md: one Arrow row per document.

Stable columns are listed in ``SCHEMA``; stages may add columns (e.g. ``html`` between
read and extract) and input columns that are not in the schema pass through untouched.
"""

from __future__ import annotations

import json
from typing import Any, Iterable

import pyarrow as pa
import xxhash

SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("text", pa.string()),
        ("url", pa.string()),
        ("source", pa.string()),
        ("crawl_date", pa.string()),
        ("language", pa.string()),
        ("language_score", pa.float32()),
        ("quality_score", pa.float32()),
        ("metadata", pa.string()),
    ]
)
COLUMNS = SCHEMA.names
REJECT_FIELDS = [pa.field("stage", pa.string()), pa.field("reason", pa.string())]


def make_id(source: str, offset: int | str) -> str:
    """Stable document id: xxh3-128 of ``source`` and record offset (or a given id).

    Uses the file's base name so the same crawl file read from another directory or
    bucket gets the same ids.
    """
    base = source.rsplit("/", 1)[-1]
    return xxhash.xxh3_128_hexdigest(f"{base}\x00{offset}".encode())


def conform(table: pa.Table) -> pa.Table:
    """Add missing schema columns as nulls and cast present ones to schema types.

    Schema columns come first in schema order; extra columns keep their order after them.
    """
    n = table.num_rows
    cols, fields = [], []
    for field in SCHEMA:
        if field.name in table.column_names:
            col = table.column(field.name)
            if col.type != field.type:
                col = _cast(col, field.type)
        else:
            col = pa.nulls(n, field.type)
        cols.append(col)
        fields.append(field)
    for name in table.column_names:
        if name not in COLUMNS:
            cols.append(table.column(name))
            fields.append(table.schema.field(name))
    return pa.Table.from_arrays(cols, schema=pa.schema(fields))


def _cast(col: pa.ChunkedArray, typ: pa.DataType) -> pa.ChunkedArray:
    if pa.types.is_string(typ) and not pa.types.is_string(col.type):
        if pa.types.is_timestamp(col.type) or pa.types.is_date(col.type):
            return pa.chunked_array([c.cast(pa.string()) for c in col.chunks], pa.string())
        if pa.types.is_struct(col.type) or pa.types.is_map(col.type) or pa.types.is_list(col.type):
            return pa.array([None if v is None else json.dumps(v, ensure_ascii=False, default=str)
                             for v in col.to_pylist()], pa.string())
    return col.cast(typ)


def column_values(table: pa.Table, name: str) -> list[Any]:
    """Python values of column ``name``, or all None when the table lacks it."""
    if name in table.column_names:
        return table.column(name).to_pylist()
    return [None] * table.num_rows


def metadata_dicts(table: pa.Table) -> list[dict[str, Any]]:
    """Parse the JSON ``metadata`` column into dicts (empty dict for null)."""
    if "metadata" not in table.column_names:
        return [{} for _ in range(table.num_rows)]
    return [json.loads(m) if m else {} for m in table.column("metadata").to_pylist()]


def dump_metadata(dicts: Iterable[dict[str, Any]]) -> pa.Array:
    """Serialize metadata dicts back to the JSON string column (sorted keys: deterministic)."""
    return pa.array([json.dumps(d, ensure_ascii=False, sort_keys=True) if d else None for d in dicts],
                    pa.string())


def set_column(table: pa.Table, name: str, values: pa.Array | list) -> pa.Table:
    """Replace column ``name`` (or append it) keeping column order."""
    if not isinstance(values, (pa.Array, pa.ChunkedArray)):
        values = pa.array(values, SCHEMA.field(name).type if name in COLUMNS else None)
    if name in table.column_names:
        return table.set_column(table.column_names.index(name), name, values)
    return table.append_column(name, values)


def with_reject_columns(table: pa.Table, stage: str, reasons: list[str] | pa.Array) -> pa.Table:
    """Rows of ``table`` annotated with ``stage`` and ``reason`` for ``rejected/``."""
    n = table.num_rows
    table = table.append_column(REJECT_FIELDS[0], pa.array([stage] * n, pa.string()))
    return table.append_column(REJECT_FIELDS[1], pa.array(reasons, pa.string()))
