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


def make_id(name: str, offset: int | str) -> str:
    """Stable document id: xxh3-128 of the file's ``name`` and the record's offset (line, row).

    ``name`` is the file's path inside the directory or glob it was read from
    (``InputFile.id_name``), not its full path: the same files read from another directory or
    bucket get the same ids, and two files of one base name in different subdirectories
    (``2024-10/part-0.jsonl``, ``2024-18/part-0.jsonl``) get different ones.
    """
    return xxhash.xxh3_128_hexdigest(f"{name}\x00{offset}".encode())


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


def as_json_str(v: Any) -> str | None:
    """A value as it goes into a string column: strings as they are, anything else as JSON."""
    return v if v is None or isinstance(v, str) else json.dumps(v, ensure_ascii=False, sort_keys=True)


def merge_schemas(schemas: Iterable[pa.Schema]) -> tuple[pa.Schema, set[str]]:
    """One schema for tables of several schemas, and the columns whose types conflict.

    Documented columns keep their :data:`SCHEMA` type and come first; extra columns follow
    in order of first appearance, with the type that holds all their values (int and float
    give float, structs merge their fields); an extra column whose types do not merge
    (int in one table, string in another) becomes a string column and is named in the set.
    """
    fields: dict[str, pa.Field] = {}
    conflicts: set[str] = set()
    for schema in schemas:
        for f in schema:
            old = fields.get(f.name)
            if old is None or old.type == f.type or pa.types.is_null(f.type):
                fields.setdefault(f.name, f)
            elif pa.types.is_null(old.type):
                fields[f.name] = f
            elif f.name in COLUMNS or f.name in conflicts:
                continue
            else:
                try:
                    fields[f.name] = pa.unify_schemas([pa.schema([old]), pa.schema([f])],
                                                      promote_options="permissive").field(0)
                except (pa.ArrowInvalid, pa.ArrowTypeError):
                    fields[f.name] = pa.field(f.name, pa.string())
                    conflicts.add(f.name)
    names = [c for c in COLUMNS if c in fields] + [n for n in fields if n not in COLUMNS]
    return pa.schema([SCHEMA.field(n) if n in COLUMNS else fields[n] for n in names]), conflicts


def align(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` in ``schema`` (from :func:`merge_schemas`): missing columns become nulls, a
    column of another type is converted (to JSON text for a string column); a column not in
    ``schema`` is an error."""
    if table.schema.equals(schema):
        return table
    extra = set(table.column_names) - set(schema.names)
    if extra:
        raise ValueError(f"columns {sorted(extra)} are not in the schema {schema.names}")
    cols = []
    for f in schema:
        if f.name not in table.column_names:
            cols.append(pa.nulls(table.num_rows, f.type))
            continue
        col = table.column(f.name)
        if col.type == f.type:
            cols.append(col)
        elif f.name in COLUMNS or pa.types.is_null(col.type):
            cols.append(col.cast(f.type))
        elif pa.types.is_string(f.type):
            cols.append(pa.array([as_json_str(v) for v in col.to_pylist()], f.type))
        else:  # a promotion of merge_schemas: int → float, a struct with more fields …
            cols.append(pa.array(col.to_pylist(), f.type))
    return pa.Table.from_arrays(cols, schema=schema)


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
