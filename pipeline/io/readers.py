"""Input discovery and batch readers for WARC(.gz), JSONL(.gz) and Parquet.

Paths may be files, directories (searched recursively) or globs, local or any fsspec URL
(``s3://``, ``gs://`` … when the filesystem package is installed). Readers yield Arrow
tables of at most ``batch_size`` rows and report bad input (file, offset, what happened)
through a :class:`ReadLog` instead of raising, so one bad record never stops a run.
"""

from __future__ import annotations

import gzip
import json
import logging
from dataclasses import dataclass, field
from typing import Any, Iterator

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

from webrefinery.pipeline.core.errors import InputError
from webrefinery.pipeline.core.schema import make_id
from webrefinery.pipeline.io.warc import iter_responses

log = logging.getLogger("refinery")

FORMATS = {".warc": "warc", ".warc.gz": "warc", ".jsonl": "jsonl", ".jsonl.gz": "jsonl",
           ".json": "jsonl", ".json.gz": "jsonl", ".ndjson": "jsonl", ".ndjson.gz": "jsonl",
           ".parquet": "parquet"}
_GLOB_CHARS = set("*?[")

#: columns of the raw table the WARC reader yields (consumed by the ``read`` stage)
RAW_WARC = pa.schema([
    ("id", pa.string()), ("url", pa.string()), ("source", pa.string()), ("crawl_date", pa.string()),
    ("http_status", pa.int32()), ("content_type", pa.string()), ("charset", pa.string()),
    ("warc_record_id", pa.string()), ("offset", pa.int64()), ("payload", pa.binary()),
])


@dataclass(frozen=True)
class InputFile:
    """An input file, or the byte range ``[start, end)`` of one (records starting in it)."""

    path: str
    format: str
    size: int
    start: int = 0
    end: int | None = None

    @property
    def label(self) -> str:
        return self.path if self.end is None else f"{self.path} [bytes {self.start}-{self.end})"


def split_inputs(files: list[InputFile], split_bytes: int | None) -> list[InputFile]:
    """Cut WARC files bigger than ``split_bytes`` into byte ranges, one map task each.

    A range holds the records that *start* in it, so the ranges of a file together read
    every record exactly once, in file order, and the output does not depend on the split.
    """
    out = []
    for f in files:
        # only gzipped WARCs: a range start is found and checked by decompressing a gzip member
        if split_bytes is None or not f.path.endswith(".warc.gz") or f.size <= split_bytes:
            out.append(f)
            continue
        for start in range(0, f.size, split_bytes):
            end = min(start + split_bytes, f.size)
            out.append(InputFile(f.path, f.format, end - start, start, None if end == f.size else end))
    return out


@dataclass
class ReadLog:
    """Errors and counters of one reader, merged into the ``read`` stage's stats."""

    errors: list[dict[str, Any]] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)

    def error(self, file: str, offset: int | str, message: str, kind: str) -> None:
        log.warning("%s @ %s: %s", file, offset, message)
        self.errors.append({"file": file, "offset": offset, "stage": "read", "error": message})
        self.counters[f"error:{kind}"] = self.counters.get(f"error:{kind}", 0) + 1


def format_of(path: str) -> str | None:
    name = path.lower()
    for ext in sorted(FORMATS, key=len, reverse=True):
        if name.endswith(ext):
            return FORMATS[ext]
    return None


def resolve_inputs(paths: list[str]) -> list[InputFile]:
    """Expand files, directories and globs into a sorted, de-duplicated list of inputs."""
    if not paths:
        raise InputError("no input given; pass --input PATH (file, directory or glob)")
    found: dict[str, InputFile] = {}
    for p in paths:
        fs, root = fsspec.core.url_to_fs(p)
        proto = p.split("://", 1)[0] + "://" if "://" in p else ""
        if _GLOB_CHARS & set(root):
            matches = fs.glob(root)
        elif fs.isdir(root):
            matches = fs.find(root)
        elif fs.exists(root):
            if format_of(root) is None:
                raise InputError(f"input {p}: unknown format; expected one of {', '.join(sorted(FORMATS))}")
            matches = [root]
        else:
            raise InputError(f"input {p} does not exist; check the path (files, directories and globs are accepted)")
        for m in matches:
            fmt = format_of(m)
            if fmt is None or fs.isdir(m):
                continue
            full = proto + m if proto and not m.startswith(proto) else m
            found[full] = InputFile(full, fmt, int(fs.size(m) or 0))
    if not found:
        raise InputError(f"no WARC/JSONL/Parquet files found under {' '.join(paths)}")
    return [found[k] for k in sorted(found)]


def read_batches(inp: InputFile, batch_size: int, rlog: ReadLog) -> Iterator[pa.Table]:
    try:
        if inp.format == "warc":
            yield from _warc(inp.path, batch_size, rlog, inp.start, inp.end)
        else:
            yield from {"jsonl": _jsonl, "parquet": _parquet}[inp.format](inp.path, batch_size, rlog)
    except (OSError, EOFError, gzip.BadGzipFile) as e:  # unreadable file: counted, run continues
        rlog.error(inp.label, "?", f"cannot read: {e}", "unreadable")


def _warc(path: str, batch_size: int, rlog: ReadLog, start: int = 0, end: int | None = None) -> Iterator[pa.Table]:
    rows: list[dict[str, Any]] = []
    with fsspec.open(path, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
        f.seek(0)

        def on_error(offset: int, msg: str) -> None:
            rlog.error(path, offset, msg, "truncated" if msg.startswith("truncated") else "corrupt")

        for r in iter_responses(f, gz, on_error, rlog.counters, start, end):
            rows.append({"id": make_id(path, r.offset), "url": r.url, "source": path,
                         "crawl_date": r.date, "http_status": r.status, "content_type": r.content_type,
                         "charset": r.charset, "warc_record_id": r.record_id, "offset": r.offset,
                         "payload": r.payload})
            if len(rows) >= batch_size:
                yield pa.Table.from_pylist(rows, RAW_WARC)
                rows = []
    if rows:
        yield pa.Table.from_pylist(rows, RAW_WARC)


def _jsonl(path: str, batch_size: int, rlog: ReadLog) -> Iterator[pa.Table]:
    rows: list[dict[str, Any]] = []
    with fsspec.open(path, "rb", compression="infer") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                if not isinstance(row, dict):
                    raise ValueError("not a JSON object")
            except ValueError as e:
                rlog.error(path, f"line {lineno}", f"bad JSON ({e}); line skipped", "bad_json")
                continue
            row.setdefault("source", path)
            if row.get("id") is None:
                row["id"] = make_id(path, lineno)
            rows.append(row)
            if len(rows) >= batch_size:
                yield _rows_to_table(rows)
                rows = []
    if rows:
        yield _rows_to_table(rows)


def _rows_to_table(rows: list[dict[str, Any]]) -> pa.Table:
    for r in rows:  # nested metadata objects become the JSON string column of the schema
        if isinstance(r.get("metadata"), (dict, list)):
            r["metadata"] = json.dumps(r["metadata"], ensure_ascii=False, sort_keys=True)
        if r.get("id") is not None and not isinstance(r["id"], str):
            r["id"] = str(r["id"])
    return pa.Table.from_pylist(rows)


def _parquet(path: str, batch_size: int, rlog: ReadLog) -> Iterator[pa.Table]:
    with fsspec.open(path, "rb") as f:
        pf = pq.ParquetFile(f)
        start = 0
        for batch in pf.iter_batches(batch_size=batch_size):
            t = pa.Table.from_batches([batch])
            if "id" not in t.column_names:
                t = t.append_column("id", pa.array([make_id(path, start + i) for i in range(t.num_rows)]))
            if "source" not in t.column_names:
                t = t.append_column("source", pa.array([path] * t.num_rows, pa.string()))
            start += t.num_rows
            yield t
