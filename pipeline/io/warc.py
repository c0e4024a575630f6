"""Iterate WARC / WARC.gz records with FastWARC, surviving corrupt and truncated input.

FastWARC parses the WARC and HTTP headers (``parse_http`` with ``auto_decode="all"``:
chunked transfer coding and gzip/br/deflate content codings are undone). This wrapper adds what FastWARC leaves to the caller:

* **Where a record is.** A ``.warc.gz`` is decompressed here (:class:`GzipMembers`), which
  knows the compressed offset of every gzip member. A record's key is the offset of its
  member when it starts one (the usual one-record-per-member layout: the offsets Common
  Crawl indexes use), else ``"<member offset>+<offset inside the member>"``; so keys, and
  the ids made from them, are unique and stable for every layout, also ``gzip x.warc``.
  FastWARC's own ``stream_pos`` is a compressed-buffer position there, the same for many
  records.
* **Whether a record is whole.** A block shorter than its Content-Length is filled by
  FastWARC with the next record's bytes. Every block is searched for the header of another
  record (``WARC/1.x`` + ``WARC-Type`` + ``Content-Length``); one that is found (and is not
  vouched for by the record's ``WARC-Block-Digest``) marks the record truncated: it is
  reported with file and offset and skipped, and reading resumes at that header.
  FastWARC's ``verify_digests`` would only drop records silently, and most WARCs other
  than Common Crawl's carry no digest, so the header search is the check.
* **LF-only files** are read in FastWARC's quirks mode, chosen per file: that mode also
  skips a damaged record without a word, so CRLF files are read strictly.
* **Resynchronising** at the next record header (inside a gzip member, then at the next
  member) after a corrupt region, so the rest of the file is still read.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import zlib
from dataclasses import dataclass
from typing import BinaryIO, Callable, Iterator, Union

import regex
from fastwarc.warc import ArchiveIterator, WarcRecord, WarcRecordType

_GZIP_MAGIC = b"\x1f\x8b\x08"
_WARC_MAGIC = b"WARC/1."
#: a WARC record header: version line, ``Name: value`` lines, blank line (CRLF or LF-only)
_HEADER = regex.compile(rb"WARC/1\.[01]\r?\n((?:[!-9;-~]+:[^\r\n]*\r?\n){1,200})\r?\n")
_MAX_HEADER = 32 << 10
#: HTTP bodies are kept up to this many bytes (+1, so a longer one is seen as too long);
#: the ``read`` stage's ``max_html_bytes`` may not exceed it
MAX_PAYLOAD_BYTES = 64 << 20
_CHUNK = 1 << 20

#: where a record is: a byte offset (plain WARC) or (gzip member offset, offset inside it)
Position = Union[int, tuple[int, int]]
Key = Union[int, str]


@dataclass
class WarcResponse:
    key: Key          # unique, stable within the file: the id is made from it
    offset: int       # byte offset of the record, or of the gzip member holding it
    url: str | None
    date: str | None
    record_id: str | None
    status: int | None
    content_type: str | None
    charset: str | None
    payload: bytes


class GzipMembers:
    """The decompressed stream of a ``.warc.gz`` from the member at compressed offset
    ``start`` (its first ``skip`` decompressed bytes dropped); :meth:`locate` turns a
    position in this stream into ``(member offset, offset inside the member)``."""

    def __init__(self, f: BinaryIO, start: int, skip: int = 0, one_member: bool = False):
        f.seek(start)
        self._f, self._one = f, one_member
        self._cpos = start              # file offset of self._in[0]
        self._in = b""
        self._out = bytearray()
        self._d: zlib._Decompress | None = None
        self._u = -skip                 # stream position of the next decompressed byte
        self._ustarts: list[int] = []   # stream position where each member starts …
        self._cstarts: list[int] = []   # … and its file offset
        self._eof = False
        self._error: OSError | None = None

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._u - len(self._out)

    def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes; damage is raised only once the bytes before it are read."""
        while (n < 0 or len(self._out) < n) and not self._eof and self._error is None:
            try:
                self._fill()
            except OSError as e:
                self._error = e
        if not self._out and self._error is not None:
            raise self._error
        n = len(self._out) if n < 0 else min(n, len(self._out))
        data = bytes(self._out[:n])
        del self._out[:n]
        return data

    def _fill(self) -> None:
        if self._d is None or self._d.eof:  # between members
            if self._d is not None and self._one:
                self._eof = True
                return
            if len(self._in) < len(_GZIP_MAGIC) and (chunk := self._f.read(1 << 16)):
                self._in += chunk
                return
            if not self._in:
                self._eof = True
                return
            if not self._in.startswith(_GZIP_MAGIC):
                raise OSError(f"no gzip member at byte {self._cpos} (after the previous member ends)")
            self._d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            self._ustarts.append(self._u)
            self._cstarts.append(self._cpos)
        elif not self._in:
            self._in = self._f.read(1 << 16)
            if not self._in:
                raise OSError(f"truncated gzip member at byte {self._cstarts[-1]}: the file ends inside it")
            return
        try:  # in steps of 64 KiB of output: damage loses little, a gzip bomb takes no memory
            out = self._d.decompress(self._in, 1 << 16)
        except zlib.error as e:
            raise OSError(f"corrupt gzip member at byte {self._cstarts[-1]}: {e}") from None
        rest = self._d.unused_data if self._d.eof else self._d.unconsumed_tail
        self._cpos += len(self._in) - len(rest)
        self._in = rest
        u0, self._u = self._u, self._u + len(out)
        self._out += out[-u0:] if u0 < 0 else out

    def locate(self, pos: int) -> tuple[int, int]:
        i = bisect.bisect_right(self._ustarts, pos) - 1
        if i > 1024:  # records come in stream order: forget members behind this one
            del self._ustarts[:i], self._cstarts[:i]
            i = 0
        return self._cstarts[i], pos - self._ustarts[i]


def _key(pos: Position) -> Key:
    if isinstance(pos, int):
        return pos
    member, inside = pos
    return member if inside == 0 else f"{member}+{inside}"


def _file_offset(pos: Position) -> int:
    return pos if isinstance(pos, int) else pos[0]


def is_record_header(buf: bytes) -> bool:
    """True when ``buf`` starts with a WARC record header naming its type and length."""
    m = _HEADER.match(buf, endpos=_MAX_HEADER)
    if not m:
        return False
    names = {line.split(b":", 1)[0].strip().lower() for line in m.group(1).splitlines()}
    return {b"warc-type", b"content-length"} <= names


def _find_header(buf: bytes, start: int = 0) -> int | None:
    i = buf.find(_WARC_MAGIC, start)
    while i >= 0:
        if is_record_header(buf[i:i + _MAX_HEADER]):
            return i
        i = buf.find(_WARC_MAGIC, i + 1)
    return None


def _is_record_start(f: BinaryIO, pos: int, gz: bool) -> bool:
    """True when a WARC record (gzip member holding one, or the header itself) starts at ``pos``."""
    f.seek(pos)
    head = f.read(_MAX_HEADER if not gz else 1 << 14)
    if gz:
        try:
            head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, _MAX_HEADER)
        except zlib.error:
            return False
        return head.startswith(_WARC_MAGIC)
    return is_record_header(head)


def find_record_start(f: BinaryIO, start: int, gz: bool, validate: bool = True) -> int | None:
    """File offset of the first record (gzip member, or header of a plain WARC) at or after
    ``start``. With ``validate`` a match is checked (magic bytes occur inside compressed data
    by chance); without, the first gzip magic is returned, so a damaged member there is read
    and reported."""
    magic = _GZIP_MAGIC if gz else _WARC_MAGIC
    pos, tail = start, b""
    while True:
        f.seek(pos)
        chunk = f.read(_CHUNK)
        if not chunk:
            return None
        buf = tail + chunk
        base = pos - len(tail)
        i = buf.find(magic)
        while i >= 0:
            if base + i >= start and ((gz and not validate) or _is_record_start(f, base + i, gz)):
                return base + i
            i = buf.find(magic, i + 1)
        tail = buf[-(len(magic) - 1):]
        pos += len(chunk)


def first_member_end(f: BinaryIO, limit: int) -> int | None:
    """Compressed size of the first gzip member of ``f`` when it ends within ``limit`` bytes
    and more data follows it (a multi-member file); else None."""
    f.seek(0)
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    used = 0
    try:
        while used < limit and (chunk := f.read(min(_CHUNK, limit - used))):
            buf = chunk
            while buf and not d.eof:
                d.decompress(buf, _CHUNK)
                buf = d.unconsumed_tail
            if d.eof:
                end = used + len(chunk) - len(d.unused_data)
                return end if d.unused_data or f.read(1) else None
            used += len(chunk)
    except zlib.error:
        pass
    return None


def _next_header_in_member(f: BinaryIO, member: int, after: int) -> int | None:
    """Offset inside the gzip member at ``member`` of the first record header after ``after``."""
    stream = GzipMembers(f, member, skip=after + 1, one_member=True)
    seen, tail = after + 1, b""
    try:
        while chunk := stream.read(_CHUNK):
            buf = tail + chunk
            i = _find_header(buf)
            if i is not None:
                return seen - len(tail) + i
            tail = buf[-_MAX_HEADER:]
            seen += len(chunk)
    except OSError:  # the member is damaged further on: nothing more to find in it
        pass
    return None


def next_record(f: BinaryIO, gz: bool, after: Position, validate: bool = True) -> Position | None:
    """Position of the first record header after the one at ``after``."""
    if not gz:
        return find_record_start(f, _file_offset(after) + 1, False)
    member, inside = after  # type: ignore[misc]
    found = _next_header_in_member(f, member, inside)
    if found is not None:
        return member, found
    nxt = find_record_start(f, member + 1, True, validate)
    return None if nxt is None else (nxt, 0)


def _digest_matches(digest: str | None, block: bytes) -> bool:
    """True when ``WARC-Block-Digest`` (``sha1:`` base32 or hex) matches ``block``."""
    algo, _, want = (digest or "").partition(":")
    if algo.lower() not in ("sha1", "sha256") or not want:
        return False
    h = hashlib.new(algo.lower(), block).digest()
    return want.upper() in (base64.b32encode(h).decode(), h.hex().upper())


def _read_block(rec: WarcRecord) -> tuple[bytes, int, int | None]:
    """(the block, cut after :data:`MAX_PAYLOAD_BYTES` + 1 bytes; its full length; where in
    it another record's header starts, or None)."""
    kept: list[bytes] = []
    n, tail, found = 0, b"", None
    while chunk := rec.reader.read(_CHUNK):
        buf = tail + chunk
        i = _find_header(buf)
        if i is not None:
            found = n - len(tail) + i
        if n <= MAX_PAYLOAD_BYTES:
            kept.append(chunk)
        n += len(chunk)
        if found is not None:
            break
        tail = buf[-_MAX_HEADER:]
    block = b"".join(kept)
    if found is not None and found <= MAX_PAYLOAD_BYTES and _digest_matches(
            rec.headers.get("WARC-Block-Digest"), block[:rec.content_length]):
        found = None  # the page really holds a WARC header: the digest vouches for the record
    return block[:MAX_PAYLOAD_BYTES + 1], n, found


def _parse_http(block: bytes, counters: dict[str, int]) -> tuple[int | None, str | None, str | None, bytes]:
    """Status, content type, charset and decoded body of an HTTP response block.

    A body whose content coding fails to decode is kept as sent (counted
    ``http_decode_failed``); one whose transfer coding fails too, with its chunk framing."""
    for mode in ("all", "transfer", "none"):
        rec = WarcRecord()
        rec.init_headers(WarcRecordType.response, content_length=len(block))
        rec.set_bytes_content(block)
        rec.is_http = True
        try:
            rec.parse_http(auto_decode=mode, quirks_mode=True)
            body = rec.reader.read(MAX_PAYLOAD_BYTES + 1)
        except OSError:
            counters["http_decode_failed"] = counters.get("http_decode_failed", 0) + 1
            continue
        ctype, charset = rec.http_content_type, rec.http_charset
        return (rec.http_headers.status_code, ctype.lower() if ctype else None,
                charset.strip("\"' ") or None if charset else None, body)
    return None, None, None, b""


def _open(f: BinaryIO, gz: bool, pos: Position) -> tuple[BinaryIO | GzipMembers, Callable[[int], Position]]:
    if gz:
        member, inside = pos  # type: ignore[misc]
        stream = GzipMembers(f, member, skip=inside)
        return stream, stream.locate
    f.seek(pos)  # type: ignore[arg-type]
    shift: list[int] = []

    def locate(p: int) -> int:  # FastWARC reports file offsets for seekable files; relative otherwise
        if not shift:
            shift.append(0 if p >= pos else pos)  # type: ignore[operator]
        return shift[0] + p
    return f, locate


def _lf_only(f: BinaryIO, gz: bool, pos: Position) -> bool:
    """True when the record at ``pos`` ends its header lines with LF alone. FastWARC reads
    such a file in quirks mode only, and that mode would also skip a damaged record silently,
    so it is used for these files alone."""
    try:
        head = _open(f, gz, pos)[0].read(16)
    except OSError:
        return False
    return regex.match(rb"WARC/1\.[01]\n", head) is not None


def iter_responses(f: BinaryIO, gz: bool, on_error: Callable[[Key, str], None],
                   counters: dict[str, int], start: int = 0, end: int | None = None) -> Iterator[WarcResponse]:
    """Yield the HTTP response records of a seekable WARC stream whose record (or gzip
    member) starts in ``[start, end)``; report problems via ``on_error``."""
    first = find_record_start(f, start, gz) if start else 0
    pos: Position | None = None if first is None else ((first, 0) if gz else first)
    lf_only = pos is not None and _lf_only(f, gz, pos)
    while pos is not None and (end is None or _file_offset(pos) < end):
        stream, locate = _open(f, gz, pos)
        current: Position | None = None
        done: Position | None = None
        try:
            for rec in ArchiveIterator(stream, parse_http=False, quirks_mode=lf_only, stream_detect=False):
                current = locate(rec.stream_pos)
                if end is not None and _file_offset(current) >= end:
                    return
                kind = str(rec.record_type).rsplit(".", 1)[-1]
                counters[f"warc_records:{kind}"] = counters.get(f"warc_records:{kind}", 0) + 1
                block, size, foreign = _read_block(rec)
                if foreign is not None:
                    on_error(_key(current), f"truncated record: the header of another record starts {foreign} "
                                            f"bytes into its block (Content-Length {rec.content_length}); skipped")
                    break
                if size < rec.content_length:
                    on_error(_key(current), f"truncated record: {size} of {rec.content_length} bytes "
                                            "(the file ends); skipped")
                elif rec.record_type == WarcRecordType.response:
                    status, mime, charset, payload = _parse_http(block, counters)
                    yield WarcResponse(
                        key=_key(current), offset=_file_offset(current), url=rec.headers.get("WARC-Target-URI"),
                        date=rec.headers.get("WARC-Date"), record_id=rec.headers.get("WARC-Record-ID"),
                        status=status, content_type=mime, charset=charset, payload=payload)
                done = current
            else:
                return
            pos = next_record(f, gz, current)  # after a truncated record: at the header found in it
        except (OSError, ValueError) as e:
            if current is not None and current == done:
                # failed looking for the record after a good one: restart right after it, so a
                # failure there is reported with the exact offset of the bad record
                nxt = next_record(f, gz, done, validate=False)
                if nxt is not None:
                    pos = nxt
                    continue
                on_error(_key(done), f"{e} after the record at {_key(done)}; no further records")
                return
            where = current if current is not None else pos
            pos = next_record(f, gz, where)
            on_error(_key(where), f"{e}; " + (f"resuming at byte {_key(pos)}" if pos is not None
                                              else "no further records"))
