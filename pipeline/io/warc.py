"""Iterate WARC / WARC.gz records with FastWARC, surviving corrupt and truncated input.

FastWARC raises on a corrupt gzip member or a non-WARC header and silently yields a short
block for a truncated record. This wrapper checks every block against its Content-Length,
reports problems with file and byte offset, and resynchronises at the next gzip member /
``WARC/1.`` header after a corrupt region so the rest of the file is still read.
"""

from __future__ import annotations

import http.client
import io
import zlib
from dataclasses import dataclass
from typing import BinaryIO, Callable, Iterator

from fastwarc.warc import ArchiveIterator, WarcRecordType

_GZIP_MAGIC = b"\x1f\x8b\x08"
_WARC_MAGIC = b"WARC/1."


@dataclass
class WarcResponse:
    offset: int
    url: str | None
    date: str | None
    record_id: str | None
    status: int | None
    content_type: str | None
    charset: str | None
    payload: bytes


def _http(block: bytes) -> tuple[int | None, dict[str, str], bytes]:
    """Split an HTTP response block into status, headers and payload."""
    head, sep, body = block.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = block.partition(b"\n\n")
    status_line, _, rest = head.partition(b"\n")
    parts = status_line.split(None, 2)
    status = int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else None
    headers = http.client.parse_headers(io.BytesIO(rest + b"\r\n\r\n"))
    return status, {k.lower(): v for k, v in headers.items()}, body


def _content_type(value: str | None) -> tuple[str | None, str | None]:
    if not value:
        return None, None
    mime, _, params = value.partition(";")
    charset = None
    for p in params.split(";"):
        k, _, v = p.partition("=")
        if k.strip().lower() == "charset":
            charset = v.strip().strip("\"'") or None
    return mime.strip().lower() or None, charset


def _is_record_start(f: BinaryIO, pos: int, gz: bool) -> bool:
    """True when a WARC record (gzip member holding ``WARC/1.``, or the header itself) starts at ``pos``."""
    f.seek(pos)
    head = f.read(1 << 14)
    if not gz:
        return head.startswith(_WARC_MAGIC)
    try:
        return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, 16).startswith(_WARC_MAGIC)
    except zlib.error:
        return False


def find_record_start(f: BinaryIO, start: int, gz: bool, validate: bool = True) -> int | None:
    """Offset of the first record starting at or after ``start``. With ``validate`` a match
    is checked by decompressing it (magic bytes occur inside compressed data by chance);
    without, the first match is returned, so a damaged record there is read and reported."""
    magic = _GZIP_MAGIC if gz else _WARC_MAGIC
    pos, tail = start, b""
    while True:
        f.seek(pos)
        chunk = f.read(1 << 20)
        if not chunk:
            return None
        buf = tail + chunk
        base = pos - len(tail)
        i = buf.find(magic)
        while i >= 0:
            if base + i >= start and (not validate or _is_record_start(f, base + i, gz)):
                return base + i
            i = buf.find(magic, i + 1)
        tail = buf[-(len(magic) - 1):]
        pos += len(chunk)


def iter_responses(f: BinaryIO, gz: bool, on_error: Callable[[int, str], None],
                   counters: dict[str, int], start: int = 0, end: int | None = None) -> Iterator[WarcResponse]:
    """Yield HTTP response records of a seekable WARC stream whose offset lies in
    ``[start, end)``; report problems via ``on_error``."""
    base = find_record_start(f, start, gz) if start else 0
    while base is not None and (end is None or base < end):
        f.seek(base)
        current = done = shift = None
        try:
            for rec in ArchiveIterator(f, parse_http=False):
                if shift is None:  # FastWARC reports file offsets for seekable files; relative otherwise
                    shift = 0 if rec.stream_pos >= base else base
                current = shift + rec.stream_pos
                if end is not None and current >= end:
                    return
                kind = str(rec.record_type).rsplit(".", 1)[-1]
                counters[f"warc_records:{kind}"] = counters.get(f"warc_records:{kind}", 0) + 1
                if rec.record_type == WarcRecordType.response:
                    block = rec.reader.read()
                    if len(block) < rec.content_length:
                        on_error(current, f"truncated record: {len(block)} of {rec.content_length} bytes; skipped")
                    else:
                        status, headers, payload = _http(block)
                        mime, charset = _content_type(headers.get("content-type"))
                        yield WarcResponse(
                            offset=current, url=rec.headers.get("WARC-Target-URI"),
                            date=rec.headers.get("WARC-Date"), record_id=rec.headers.get("WARC-Record-ID"),
                            status=status, content_type=mime, charset=charset, payload=payload)
                done = current
            return
        except (OSError, ValueError) as e:
            if current is not None and current == done:
                # failed looking for the record after a good one: restart right after it, so a
                # failure there is reported with the exact offset of the bad record
                nxt = find_record_start(f, done + 1, gz, validate=False)
                if nxt is not None:
                    base = nxt
                    continue
                on_error(done, f"{e} after the record at byte {done}; no further records")
                return
            where = current if current is not None else base
            nxt = find_record_start(f, where + 1, gz, validate=False)
            on_error(where, f"{e}; " + (f"resuming at byte {nxt}" if nxt is not None else "no further records"))
            if nxt is None:
                return
            base = nxt
