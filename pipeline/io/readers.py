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
import os
import tempfile
import zlib
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any, Iterator

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import xxhash
from fsspec.implementations.local import LocalFileSystem

from webrefinery.pipeline.core.errors import InputError
from webrefinery.pipeline.core.paths import OUTPUT_MARKERS
from webrefinery.pipeline.core.schema import (COLUMNS, SCHEMA, align, as_json_str, conform, make_id, merge_schemas,
                                              set_column)
from webrefinery.pipeline.io.warc import first_member_end, iter_responses

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
#: column of JSONL rows the ``read`` stage must reject: the reason (null for a good row)
READ_REJECT = "_read_reject"


@dataclass(frozen=True)
class InputFile:
    """An input file, or a part of one, read by one map task: for WARC.gz the byte range
    ``[start, end)`` (the records whose gzip member starts in it), for JSONL the byte range
    ``[start, end)`` cut at line starts, for Parquet the row groups ``start … end - 1``;
    ``end`` None: to the end of the file."""

    path: str
    format: str
    size: int
    start: int = 0
    end: int | None = None
    #: records before the part (JSONL lines, Parquet rows): ids of rows without one come from
    #: their line or row number in the whole file, so a split file keeps its ids
    first: int = 0
    #: the file's path inside the directory or glob it was found under (:func:`resolve_inputs`),
    #: which its documents' ids hash; empty: its base name
    name: str = ""

    @property
    def id_name(self) -> str:
        """What the ids of the file's documents hash with their offsets (:func:`make_id`)."""
        return self.name or self.path.rsplit("/", 1)[-1]

    @property
    def label(self) -> str:
        if self.end is None:
            return self.path
        unit = "row groups" if self.format == "parquet" else "bytes"
        return f"{self.path} [{unit} {self.start}-{self.end})"


def split_inputs(files: list[InputFile], split_bytes: int | None) -> list[InputFile]:
    """Cut files bigger than ``split_bytes`` into parts, one map task each, so one big file
    is read in parallel; the parts of a file together read every record exactly once, in
    file order, with the ids of the unsplit file, so the output does not depend on the split.

    - multi-member WARC.gz: byte ranges; a range holds the records whose gzip member
      *starts* in it. A file whose first member does not end within ``split_bytes`` (``gzip
      x.warc``: one member for the whole file) has no member starts to cut at: one task.
    - uncompressed JSONL: byte ranges cut just after a newline (a part owns the lines that
      start in it), found by one pass over the file that also counts the lines before each
      cut. A gzipped JSONL cannot be entered mid-stream: one task.
    - Parquet: consecutive row groups of about ``split_bytes`` (compressed); a file of one
      row group is one task.

    A file that cannot be read to find its parts is one task, which reports it.
    """
    out = []
    for f in files:
        cut = {"parquet": _row_group_parts, "jsonl": _line_parts, "warc": _member_parts}[f.format]
        # only gzipped WARCs: a range start is found and checked by decompressing a gzip member
        if split_bytes is None or f.size <= split_bytes or (f.format == "warc" and not f.path.endswith(".warc.gz")):
            out.append(f)
            continue
        try:
            out += cut(f, split_bytes)
        except (OSError, EOFError, zlib.error, pa.ArrowException):
            out.append(f)
    return out


def _member_parts(f: InputFile, split_bytes: int) -> list[InputFile]:
    with fsspec.open(f.path, "rb") as fh:
        multi = first_member_end(fh, split_bytes) is not None
    if not multi:
        log.warning("%s: its first gzip member is longer than split_bytes (%d): read as one task, not split "
                    "into byte ranges (recompress it with one gzip member per record to split it)",
                    f.path, split_bytes)
        return [f]
    return [replace(f, size=min(start + split_bytes, f.size) - start, start=start,
                    end=None if start + split_bytes >= f.size else start + split_bytes)
            for start in range(0, f.size, split_bytes)]


def _line_parts(f: InputFile, split_bytes: int) -> list[InputFile]:
    """Byte ranges of an uncompressed JSONL file, each starting at a line start."""
    cuts = [(0, 0)]  # (byte offset of a line start, lines before it)
    pos = lines = 0
    target = split_bytes
    with fsspec.open(f.path, "rb") as fh:
        while chunk := fh.read(1 << 23):
            if pos == 0 and chunk[:2] == b"\x1f\x8b":
                return [f]  # gzipped whatever its name: cannot start mid-stream
            while (j := chunk.find(b"\n", max(target - 1 - pos, 0))) >= 0:
                cut = pos + j + 1
                if cut >= f.size:
                    break
                cuts.append((cut, lines + chunk.count(b"\n", 0, j + 1)))
                target = cut + split_bytes
            lines += chunk.count(b"\n")
            pos += len(chunk)
    ends = [c for c, _ in cuts[1:]] + [None]
    return [replace(f, size=(end or f.size) - start, start=start, end=end, first=before)
            for (start, before), end in zip(cuts, ends)]


def _row_group_parts(f: InputFile, split_bytes: int) -> list[InputFile]:
    """Runs of consecutive row groups of a Parquet file, each of about ``split_bytes``."""
    with fsspec.open(f.path, "rb") as fh:
        meta = pq.ParquetFile(fh).metadata
    parts, start, size, rows = [], 0, 0, 0
    for g in range(meta.num_row_groups):
        rg = meta.row_group(g)
        size += sum(rg.column(c).total_compressed_size for c in range(rg.num_columns))
        if size >= split_bytes or g == meta.num_row_groups - 1:
            end = None if g == meta.num_row_groups - 1 else g + 1
            parts.append(replace(f, size=size, start=start, end=end, first=rows))
            rows += sum(meta.row_group(i).num_rows for i in range(start, g + 1))
            start, size = g + 1, 0
    return parts if len(parts) > 1 else [f]


@dataclass
class ReadLog:
    """Errors and counters of one reader, merged into the ``read`` stage's stats."""

    errors: list[dict[str, Any]] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)

    def error(self, file: str, offset: int | str, message: str, kind: str) -> None:
        log.warning("%s @ %s: %s", file, offset, message)
        self.errors.append({"file": file, "offset": offset, "stage": "read", "error": message})
        self.counters[f"error:{kind}"] = self.counters.get(f"error:{kind}", 0) + 1

    def empty_file(self, file: str) -> None:
        """A zero-byte input: a silent zero (a failed download, a truncated copy) made a warning."""
        self.error(file, 0, "empty file (0 bytes); skipped", "empty_file")


def format_of(path: str) -> str | None:
    name = path.lower()
    for ext in sorted(FORMATS, key=len, reverse=True):
        if name.endswith(ext):
            return FORMATS[ext]
    return None


def resolve_inputs(paths: list[str]) -> list[InputFile]:
    """Expand files, directories and globs into a sorted, de-duplicated list of inputs.

    Directories are searched recursively, following symlinked subdirectories (each
    directory once, so a symlink loop or two links to one directory read nothing twice).
    Inside a refinery output directory only ``data/`` is input, not its ``_work/``,
    ``rejected/`` or JSON files. A file that cannot be stat'ed (a dangling symlink) stays
    in the list and is reported as unreadable by its task.
    """
    if not paths:
        raise InputError("no input given; pass --input PATH (file, directory or glob)")
    found: dict[str, InputFile] = {}
    for p in paths:
        fs, root = fsspec.core.url_to_fs(p)
        proto = p.split("://", 1)[0] + "://" if "://" in p else ""
        base = root  # names are paths below it (a directory, a glob's fixed part) or base names (a file)
        if _GLOB_CHARS & set(root):
            base = root[:min(root.find(c) for c in _GLOB_CHARS if c in root)].rsplit("/", 1)[0]
            matches = fs.glob(root)
        elif fs.isdir(root):
            matches = _only_output_data(root, _walk_local(root) if isinstance(fs, LocalFileSystem) else fs.find(root))
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
            try:
                size = int(fs.size(m) or 0)
            except OSError:  # e.g. a dangling symlink: its task reports it
                size = 0
            below = base.rstrip("/") + "/"
            found[full] = InputFile(full, fmt, size, name=m[len(below):] if m.startswith(below) else "")
    if not found:
        raise InputError(f"no WARC/JSONL/Parquet files found under {' '.join(paths)}")
    return _unique_names([found[k] for k in sorted(found)])


def _unique_names(files: list[InputFile]) -> list[InputFile]:
    """``files`` with the full path as the id name of those whose name another one shares (two
    ``--input`` arguments holding files of one name), so no two files give the same ids."""
    count = Counter(f.id_name for f in files)
    return [replace(f, name=f.path) if count[f.id_name] > 1 else f for f in files]


def _walk_local(root: str) -> list[str]:
    """Files under ``root``, following symlinked directories, each real directory once."""
    seen: set[tuple[int, int]] = set()
    files = []
    def unlisted(e: OSError) -> None:
        log.warning("%s: cannot list it (%s); skipped", e.filename, e.strerror)

    for dirpath, dirnames, filenames in os.walk(root, followlinks=True, onerror=unlisted):
        st = os.stat(dirpath)
        if (st.st_dev, st.st_ino) in seen:
            log.info("%s: a directory already read (symlink loop or second link); not read again", dirpath)
            dirnames[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        dirnames.sort()
        files += [os.path.join(dirpath, f) for f in filenames]
    return files


def _only_output_data(root: str, files: list[str]) -> list[str]:
    """``files`` without those of refinery output directories other than their ``data/``."""
    names = {f.rstrip("/") for f in files}
    outputs = {f[:-len(m) - 1] for f in names for m in OUTPUT_MARKERS if f.endswith("/" + m)}
    if not outputs:
        return files
    keep, skipped = [], dict.fromkeys(sorted(outputs), 0)
    for f in files:
        out = next((o for o in outputs if f.startswith(o + "/")), None)
        if out is None or f.startswith(out + "/data/"):
            keep.append(f)
        elif format_of(f) is not None:
            skipped[out] += 1
    for out, n in skipped.items():
        log.warning("%s is a refinery output: only its data/ is read (%d files in _work/, rejected/ and its "
                    "JSON files skipped)", out, n)
    return keep


def read_batches(inp: InputFile, batch_size: int, rlog: ReadLog) -> Iterator[pa.Table]:
    try:
        if inp.format == "warc":
            yield from _warc(inp, batch_size, rlog)
        else:
            yield from {"jsonl": _jsonl, "parquet": _parquet}[inp.format](inp, batch_size, rlog)
    except FileNotFoundError as e:
        rlog.error(inp.label, "?", f"cannot read: {e} (a dangling symlink, or deleted since the run began); "
                                   "skipped", "unreadable")
    except (OSError, EOFError, gzip.BadGzipFile, pa.ArrowException) as e:  # unreadable file: counted, run continues
        rlog.error(inp.label, "?", f"cannot read: {e}; skipped", "unreadable")


def _warc(inp: InputFile, batch_size: int, rlog: ReadLog) -> Iterator[pa.Table]:
    path, start, end = inp.path, inp.start, inp.end
    rows: list[dict[str, Any]] = []
    counts: dict[str, int] = {}
    n_errors = len(rlog.errors)
    with fsspec.open(path, "rb") as f:
        head = f.read(2)
        f.seek(0)
        if not head:
            rlog.empty_file(path)
            return

        def on_error(offset: int | str, msg: str) -> None:
            rlog.error(path, offset, msg, "truncated" if msg.startswith("truncated") else "corrupt")

        for r in iter_responses(f, head == b"\x1f\x8b", on_error, counts, start, end):
            rows.append({"id": make_id(inp.id_name, r.key), "url": r.url, "source": path,
                         "crawl_date": r.date, "http_status": r.status, "content_type": r.content_type,
                         "charset": r.charset, "warc_record_id": r.record_id, "offset": r.offset,
                         "payload": r.payload})
            if len(rows) >= batch_size:
                yield pa.Table.from_pylist(rows, RAW_WARC)
                rows = []
    if rows:
        yield pa.Table.from_pylist(rows, RAW_WARC)
    for k, v in counts.items():
        rlog.counters[k] = rlog.counters.get(k, 0) + v
    if start == 0 and end is None and len(rlog.errors) == n_errors and not counts.get("warc_records:response"):
        kinds = ", ".join(f"{v} {k.split(':', 1)[1]}" for k, v in sorted(counts.items()) if k.startswith("warc_records:"))
        if kinds:
            rlog.error(path, 0, f"no response records ({kinds}): a WET or WAT file? Only the HTTP responses of "
                                "WARC files are read", "no_responses")
        else:
            rlog.error(path, 0, "no WARC records found: not a WARC file?", "corrupt")


def _jsonl(inp: InputFile, batch_size: int, rlog: ReadLog) -> Iterator[pa.Table]:
    """Rows of a JSONL(.gz) file (or line range), all in one schema, each line parsed once.

    Each batch is converted as it is read (:func:`_rows_to_table`: schema columns coerced,
    each extra column as Arrow infers it in the batch) and spilled to a temporary file
    (:class:`_Spill`: about the range's uncompressed size, in ``TMPDIR``), so memory holds
    one batch. At the end of the range the extra columns' types are merged
    (:func:`merge_schemas`) and the batches are read back in that one schema, so a key that
    first appears late, or an int column that later holds strings, fits every batch. A column whose values have no common type becomes the JSON text of each value as
    parsed, counted ``coerced:<column>`` (every row of the range): the values and counts of a
    schema pass over the whole range before the read, without parsing every line twice.
    """
    names: dict[str, None] = {}
    seen: set[int] = set()
    schemas: list[pa.Schema] = []
    conflicts: set[str] = set()
    with _Spill() as spill:
        rows: list[dict[str, Any]] = []
        for _, row in _jsonl_rows(inp, rlog):
            rows.append(row)
            if len(rows) >= batch_size:
                schemas.append(_spill_batch(rows, names, seen, conflicts, spill))
                rows = []
        if rows:
            schemas.append(_spill_batch(rows, names, seen, conflicts, spill))
        extra, more = merge_schemas(schemas)
        conflicts |= more
        fields = {f.name: f for f in extra}
        schema = pa.schema([fields.get(n) or SCHEMA.field(n) for n in names])
        for table, texts in spill:
            yield _in_schema(table, texts, schema, conflicts, rlog)


class _Spill:
    """(table, JSON texts or None) pairs written to an anonymous temporary file, one Arrow IPC
    stream each (every table has its own schema), and read back in order."""

    def __init__(self) -> None:
        self.file = tempfile.TemporaryFile(prefix="refinery-jsonl-")
        self.spans: list[tuple[tuple[int, int], tuple[int, int] | None]] = []

    def __enter__(self) -> _Spill:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.file.close()
        except OSError:  # flushing what a failed write left: the file is discarded anyway
            pass

    def _write(self, table: pa.Table) -> tuple[int, int]:
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as w:
            w.write_table(table)
        buf = sink.getvalue()
        try:
            start = self.file.tell()
            self.file.write(memoryview(buf))
            self.file.flush()
        except OSError as e:  # not the input's fault: raised past read_batches' "cannot read"
            raise RuntimeError(f"the JSONL reader's temporary file in {tempfile.gettempdir()} could not be "
                               f"written ({e}); free space there or point TMPDIR at a bigger disk") from e
        return start, buf.size

    def _read(self, span: tuple[int, int]) -> pa.Table:
        self.file.seek(span[0])
        return pa.ipc.open_stream(self.file.read(span[1])).read_all()

    def add(self, table: pa.Table, texts: pa.Table | None) -> None:
        self.spans.append((self._write(table), None if texts is None else self._write(texts)))

    def __iter__(self) -> Iterator[tuple[pa.Table, pa.Table | None]]:
        for table, texts in self.spans:
            yield self._read(table), None if texts is None else self._read(texts)


def _spill_batch(rows: list[dict[str, Any]], names: dict[str, None], seen: set[int], conflicts: set[str],
                 spill: _Spill) -> pa.Schema:
    """Convert ``rows`` (:func:`_rows_to_table`) into ``spill``; returns their extra columns' schema."""
    names.update(dict.fromkeys(k for r in rows for k in r))
    table, texts = _rows_to_table(rows, seen, conflicts)
    spill.add(table, texts)
    return pa.schema([f for f in table.schema if f.name not in COLUMNS and f.name != READ_REJECT])


def _extra_column(values: list[Any]) -> tuple[pa.Array, bool]:
    """An input column that is not in the schema, as Arrow infers it; JSON strings (and
    True) when its values have no common type (or an int does not fit in 64 bits)."""
    try:
        return pa.array(values), False
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return pa.array([as_json_str(v) for v in values], pa.string()), True


def _loses_json(typ: pa.DataType, values: list[Any]) -> bool:
    """Whether an extra column of Arrow type ``typ`` may not give back the JSON text of its
    ``values``: Arrow makes ints and booleans floats next to floats (``[2.5, 1, true]`` →
    ``1.0``, ``1.0``) and gives a struct the keys of the other rows (``{"a": 1}`` →
    ``{"a": 1, "b": null}``)."""
    if pa.types.is_floating(typ):
        return any(v is not None and type(v) is not float for v in values)
    return _may_lose_json(typ)


def _may_lose_json(typ: pa.DataType) -> bool:
    if pa.types.is_floating(typ) or pa.types.is_struct(typ):
        return True
    if pa.types.is_list(typ) or pa.types.is_large_list(typ):
        return _may_lose_json(typ.value_type)
    return False


def _jsonl_rows(inp: InputFile, rlog: ReadLog) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, row) of each JSON object of ``inp``; bad lines and a damaged gzip stream
    are reported to ``rlog``, keeping every row before the damage.
    A row without an id gets one from the file name and its line number (1-based, counted
    from the start of the file also for a line range, so a split file keeps its ids)."""
    path = inp.path
    with fsspec.open(path, "rb") as raw:
        head = raw.read(2)
        if not head:
            rlog.empty_file(path)
            return
        gz = head == b"\x1f\x8b"
        raw.seek(inp.start)
        f = gzip.GzipFile(fileobj=raw, mode="rb") if gz else raw
        lineno, offset = inp.first, inp.start
        try:
            for line in f:
                if inp.end is not None and offset >= inp.end:
                    break
                lineno += 1
                offset += len(line)
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except UnicodeDecodeError as e:
                    rlog.error(path, f"line {lineno}", f"not UTF-8 (byte 0x{line[e.start]:02x} at byte {e.start + 1} of "
                                                       "the line); line skipped: JSONL must be UTF-8", "bad_encoding")
                    continue
                except json.JSONDecodeError as e:
                    rlog.error(path, f"line {lineno}", f"bad JSON ({e.msg} at character {e.pos + 1} of the line); "
                                                       "line skipped", "bad_json")
                    continue
                if not isinstance(row, dict):
                    rlog.error(path, f"line {lineno}", f"bad JSON (a {type(row).__name__}, not a JSON object); "
                                                       "line skipped", "bad_json")
                    continue
                row.setdefault("source", path)
                if row.get("id") is None:
                    row["id"] = make_id(inp.id_name, lineno)
                yield lineno, row
        except (OSError, EOFError, zlib.error) as e:
            kind = "truncated" if isinstance(e, EOFError) else "corrupt"
            rlog.error(path, f"line {lineno + 1}", f"{kind} gzip stream at line {lineno + 1}, uncompressed byte "
                                                   f"{offset}, compressed byte {raw.tell()} ({e}): the {lineno} "
                                                   "lines before it are read, the rest of the file is lost", kind)


def _rows_to_table(rows: list[dict[str, Any]], seen: set[int],
                   conflicts: set[str]) -> tuple[pa.Table, pa.Table | None]:
    """One table of JSON rows, in the columns they have: schema columns coerced to their type,
    extra columns as Arrow infers them (strings, named in ``conflicts``, when their values have
    no common type). A row whose ``text`` is not a string or whose id repeats one of the file
    (or range) is marked in :data:`READ_REJECT` (the ``read`` stage rejects it, text kept).
    Also returns the JSON text of the extra columns whose Arrow values may not give it back
    (:func:`_loses_json`): what such a column becomes if it conflicts later in the range."""
    reasons: list[str | None] = [None] * len(rows)
    arrays: dict[str, pa.Array] = {}
    texts: dict[str, pa.Array] = {}
    for name in dict.fromkeys(k for r in rows for k in r):
        values = [r.get(name) for r in rows]
        if name in COLUMNS:
            arrays[name] = _schema_column(name, values, reasons)
            continue
        arrays[name], mixed = _extra_column(values)
        if mixed:
            conflicts.add(name)
        elif _loses_json(arrays[name].type, values):
            texts[name] = pa.array([as_json_str(v) for v in values], pa.string())
    table = pa.table(arrays)
    for i, doc_id in enumerate(table.column("id").to_pylist()):
        h = xxhash.xxh3_64_intdigest(doc_id.encode())
        if h in seen:
            reasons[i] = reasons[i] or "duplicate_id"
        seen.add(h)
    if any(reasons):
        table = table.append_column(READ_REJECT, pa.array(reasons, pa.string()))
    return table, pa.table(texts) if texts else None


def _in_schema(table: pa.Table, texts: pa.Table | None, schema: pa.Schema, conflicts: set[str],
               rlog: ReadLog) -> pa.Table:
    """A batch of :func:`_rows_to_table` in the range's ``schema``: a conflicting column as
    the JSON text of its values (counted), the others :func:`align`-ed."""
    reject = table.column(READ_REJECT) if READ_REJECT in table.column_names else None
    if reject is not None:
        table = table.drop_columns([READ_REJECT])
    for name in schema.names:
        if name not in conflicts:
            continue
        rlog.counters[f"coerced:{name}"] = rlog.counters.get(f"coerced:{name}", 0) + table.num_rows
        if texts is not None and name in texts.column_names:
            table = set_column(table, name, texts.column(name))
    table = align(table, schema)  # a conflicting column's other values: their JSON text
    return table if reject is None else table.append_column(READ_REJECT, reject)


def _schema_column(name: str, values: list[Any], reasons: list[str | None]) -> pa.Array:
    typ = SCHEMA.field(name).type
    if pa.types.is_string(typ):
        for i, v in enumerate(values):
            if name == "text" and v is not None and not isinstance(v, str):
                reasons[i] = reasons[i] or f"bad_type:text:{type(v).__name__}"
        return pa.array([as_json_str(v) for v in values], typ)
    out: list[float | None] = []
    for i, v in enumerate(values):
        try:
            if isinstance(v, (bool, dict, list)):
                raise TypeError(v)
            out.append(None if v is None else float(v))
        except (TypeError, ValueError):
            reasons[i] = reasons[i] or f"bad_type:{name}:{type(v).__name__}"
            out.append(None)
    return pa.array(out, typ)


def _parquet(inp: InputFile, batch_size: int, rlog: ReadLog) -> Iterator[pa.Table]:
    path = inp.path
    with fsspec.open(path, "rb") as f:
        pf = pq.ParquetFile(f)
        text = pf.schema_arrow.field("text").type if "text" in pf.schema_arrow.names else None
        if text is not None and not (pa.types.is_string(text) or pa.types.is_large_string(text)):
            rlog.error(path, 0, f"column text is {text}, not a string; file skipped", "bad_schema")
            return
        start = inp.first
        groups = range(inp.start, pf.metadata.num_row_groups if inp.end is None else inp.end)
        for batch in pf.iter_batches(batch_size=batch_size, row_groups=groups):
            t = pa.Table.from_batches([batch])
            present = t.column_names
            try:  # schema columns to their types (ids to strings …), extra columns as they are
                t = conform(t).select([c for c in COLUMNS if c in present] + [c for c in present if c not in COLUMNS])
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
                rlog.error(path, f"row {start}", f"a column does not fit the document schema ({e}); "
                                                 "the rest of the file is skipped", "bad_schema")
                return
            if "id" not in t.column_names:
                t = t.append_column("id", pa.array([make_id(inp.id_name, start + i) for i in range(t.num_rows)]))
            if "source" not in t.column_names:
                t = t.append_column("source", pa.array([path] * t.num_rows, pa.string()))
            start += t.num_rows
            yield t
