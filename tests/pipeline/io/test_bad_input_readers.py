"""Bad input of issue 16 (input side), each built here: WARC layouts and damage, JSONL and
Parquet that do not fit the schema, odd directory trees, HTTP codings and charsets."""

from __future__ import annotations

import gzip
import json
import logging
import os
import random
import zlib

import brotli
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import article, warc_record, write_warc
from webrefinery.pipeline.core.schema import make_id
from webrefinery.pipeline.io.readers import READ_REJECT, InputFile, ReadLog, read_batches, resolve_inputs, split_inputs
from webrefinery.pipeline.stages.read import Read


def read_file(path, fmt: str = "warc", **kw) -> tuple[pa.Table | None, ReadLog]:
    rlog = ReadLog()
    tables = list(read_batches(InputFile(str(path), fmt, os.path.getsize(path), **kw), 7, rlog))
    return (pa.concat_tables(tables, promote_options="permissive") if tables else None), rlog


def pages(n: int, seed: int = 0) -> list[bytes]:
    """Records with incompressible bits, so that a gzip member is as long as a real one."""
    rnd = random.Random(seed)
    return [warc_record(f"http://e.com/{i}", article(f"Page {i} {rnd.randbytes(3000).hex()}")) for i in range(n)]


def member_offsets(members: list[bytes]) -> list[int]:
    return [sum(len(m) for m in members[:i]) for i in range(len(members))]


# -- item 2: layouts of .warc.gz ----------------------------------------------------------------
def test_multi_member_ids_are_the_member_offsets(tmp_path):
    """The usual layout keeps its ids: hash of the file name and the gzip member's offset."""
    members = [gzip.compress(r, mtime=0) for r in pages(5)]
    path = tmp_path / "m.warc.gz"
    path.write_bytes(b"".join(members))
    table, rlog = read_file(path)
    assert table.column("id").to_pylist() == [make_id(path.name, o) for o in member_offsets(members)]
    assert table.column("offset").to_pylist() == member_offsets(members) and not rlog.errors


@pytest.mark.parametrize("per_member", [20, 2])
def test_gzip_with_several_records_per_member_gives_unique_stable_ids(tmp_path, per_member):
    recs = pages(20)
    path = tmp_path / "s.warc.gz"
    path.write_bytes(b"".join(gzip.compress(b"".join(recs[i:i + per_member]), mtime=0)
                              for i in range(0, 20, per_member)))
    table, rlog = read_file(path)
    ids = table.column("id").to_pylist()
    assert table.column("url").to_pylist() == [f"http://e.com/{i}" for i in range(20)] and not rlog.errors
    assert len(set(ids)) == 20 and read_file(path)[0].column("id").to_pylist() == ids
    assert ids[0] == make_id(path.name, 0)


def test_single_member_gzip_is_never_byte_split(tmp_path, caplog):
    recs = pages(20)
    single = tmp_path / "single.warc.gz"
    single.write_bytes(gzip.compress(b"".join(recs), mtime=0))
    multi = write_warc(tmp_path / "multi.warc.gz", recs)
    files = [InputFile(str(p), "warc", os.path.getsize(p)) for p in (multi, single)]
    with caplog.at_level(logging.WARNING, "refinery"):
        split = split_inputs(files, 8192)
    assert [f.path for f in split].count(str(single)) == 1 and [f.path for f in split].count(str(multi)) > 3
    assert "single.warc.gz: its first gzip member is longer than split_bytes" in caplog.text
    whole_ids = read_file(multi)[0].column("id").to_pylist()
    range_ids = [i for f in split if f.path == str(multi) for b in read_batches(f, 7, ReadLog())
                 for i in b.column("id").to_pylist()]
    assert range_ids == whole_ids and len(whole_ids) == 20


def test_damage_inside_a_single_member_keeps_the_records_before_it(tmp_path):
    data = bytearray(gzip.compress(b"".join(pages(20)), mtime=0))
    data[len(data) // 2:len(data) // 2 + 20] = bytes(20)
    path = tmp_path / "d.warc.gz"
    path.write_bytes(bytes(data))
    table, rlog = read_file(path)
    assert table.column("url").to_pylist() == [f"http://e.com/{i}" for i in range(table.num_rows)]
    assert table.num_rows >= 8 and len(rlog.errors) == 1 and rlog.errors[0]["offset"].startswith("0+")


# -- item 3: truncated records with more data after them ----------------------------------------
@pytest.mark.parametrize("gz", [True, False])
def test_short_record_is_rejected_and_the_next_one_read(tmp_path, gz):
    recs = pages(5)
    starts = member_offsets([gzip.compress(r, mtime=0) for r in recs] if gz else recs)
    recs[2] = recs[2][:len(recs[2]) // 2]  # its block is shorter than its Content-Length
    path = write_warc(tmp_path / ("t.warc.gz" if gz else "t.warc"), recs, gz=gz)
    table, rlog = read_file(path)
    assert table.column("url").to_pylist() == ["http://e.com/0", "http://e.com/1", "http://e.com/3", "http://e.com/4"]
    assert not any(b"WARC/1.0" in p for p in table.column("payload").to_pylist())  # no foreign text kept
    (err,) = rlog.errors
    assert err["offset"] == starts[2] and err["error"].startswith("truncated record") and err["file"] == str(path)
    assert rlog.counters["error:truncated"] == 1


@pytest.mark.parametrize("gz", [True, False])
def test_huge_content_length_loses_only_its_record(tmp_path, gz):
    recs = pages(4)
    head, sep, rest = recs[0].partition(b"\r\n\r\n")
    lines = [b"Content-Length: 1000000000" if h.startswith(b"Content-Length:") else h for h in head.split(b"\r\n")]
    recs[0] = b"\r\n".join(lines) + sep + rest
    table, rlog = read_file(write_warc(tmp_path / ("h.warc.gz" if gz else "h.warc"), recs, gz=gz))
    assert table.column("url").to_pylist() == ["http://e.com/1", "http://e.com/2", "http://e.com/3"]
    assert [e["offset"] for e in rlog.errors] == [0] and "Content-Length 1000000000" in rlog.errors[0]["error"]


def test_page_quoting_a_warc_header_is_kept_when_its_digest_vouches(tmp_path):
    """A page that shows a WARC record is whole when its WARC-Block-Digest matches."""
    import base64
    import hashlib
    quoted = b"<html><body><pre>WARC/1.0\r\nWARC-Type: response\r\nContent-Length: 5\r\n\r\nhello</pre></body></html>"
    rec = warc_record("http://e.com/doc", quoted)
    head, sep, rest = rec.partition(b"\r\n\r\n")
    block = rest[:-4]
    digest = b"sha1:" + base64.b32encode(hashlib.sha1(block).digest())
    rec = head + b"\r\nWARC-Block-Digest: " + digest + sep + rest
    table, rlog = read_file(write_warc(tmp_path / "q.warc.gz", [rec] + pages(1)))
    assert table.column("url").to_pylist() == ["http://e.com/doc", "http://e.com/0"] and not rlog.errors


# -- item 11: inputs that used to give a silent 0 -----------------------------------------------
@pytest.mark.parametrize("name,fmt", [("empty.warc.gz", "warc"), ("empty.jsonl", "jsonl"), ("empty.jsonl.gz", "jsonl")])
def test_zero_byte_input_is_reported(tmp_path, name, fmt):
    path = tmp_path / name
    path.write_bytes(b"")
    table, rlog = read_file(path, fmt)
    assert table is None and rlog.counters == {"error:empty_file": 1} and rlog.errors[0]["file"] == str(path)


def test_lf_only_warc_is_read(tmp_path):
    body = article("Unix lines")
    http = b"HTTP/1.1 200 OK\nContent-Type: text/html\n\n" + body
    rec = (b"WARC/1.0\nWARC-Type: response\nWARC-Target-URI: http://e.com/lf\nWARC-Record-ID: <urn:uuid:1>\n"
           b"Content-Type: application/http; msgtype=response\nContent-Length: %d\n\n" % len(http)) + http + b"\n\n"
    table, rlog = read_file(write_warc(tmp_path / "lf.warc.gz", [rec, rec.replace(b"/lf", b"/lf2")]))
    assert table.column("url").to_pylist() == ["http://e.com/lf", "http://e.com/lf2"] and not rlog.errors
    assert table.column("payload")[0].as_py() == body and table.column("http_status")[0].as_py() == 200


def test_wet_file_renamed_warc_gz_is_reported(tmp_path):
    text = b"Plain extracted text of a page."
    rec = (b"WARC/1.0\r\nWARC-Type: conversion\r\nWARC-Target-URI: http://e.com/\r\nWARC-Record-ID: <urn:uuid:2>\r\n"
           b"Content-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % len(text)) + text + b"\r\n\r\n"
    table, rlog = read_file(write_warc(tmp_path / "x.warc.gz", [rec, rec]))
    assert table is None and rlog.counters["error:no_responses"] == 1
    assert "2 conversion" in rlog.errors[0]["error"] and "WET" in rlog.errors[0]["error"]


# -- item 12: HTTP codings and UTF-16 -----------------------------------------------------------
def chunked(body: bytes, n: int = 100) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + n]), body[i:i + n]) for i in range(0, len(body), n)) + b"0\r\n\r\n"


def http_response(url: str, headers: list[str], body: bytes) -> bytes:
    http = "".join(f"{h}\r\n" for h in ["HTTP/1.1 200 OK", "Content-Type: text/html"] + headers).encode() + b"\r\n" + body
    head = (f"WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: {url}\r\nWARC-Record-ID: <urn:uuid:{url}>\r\n"
            f"Content-Length: {len(http)}\r\n\r\n").encode()
    return head + http + b"\r\n\r\n"


def test_transfer_and_content_codings_are_decoded(tmp_path):
    html = article("Coded")
    recs = [http_response("http://e.com/chunked", ["Transfer-Encoding: chunked"], chunked(html)),
            http_response("http://e.com/gzip", ["Content-Encoding: gzip"], gzip.compress(html)),
            http_response("http://e.com/br", ["Content-Encoding: br"], brotli.compress(html)),
            http_response("http://e.com/deflate", ["Content-Encoding: deflate"], zlib.compress(html)),
            http_response("http://e.com/both", ["Content-Encoding: gzip", "Transfer-Encoding: chunked"],
                          chunked(gzip.compress(html)))]
    table, rlog = read_file(write_warc(tmp_path / "c.warc.gz", recs))
    assert table.column("payload").to_pylist() == [html] * 5 and not rlog.errors
    res = Read().process(table)
    assert res.rejected is None or res.rejected.num_rows == 0
    assert all("1f4" not in h and "Paragraph 3 about Coded" in h for h in res.kept.column("html").to_pylist())


def test_bad_content_coding_keeps_the_body_as_sent(tmp_path):
    html = article("Mislabelled")
    table, rlog = read_file(write_warc(tmp_path / "b.warc.gz",
                                       [http_response("http://e.com/x", ["Content-Encoding: gzip"], html)]))
    assert table.column("payload").to_pylist() == [html] and rlog.counters["http_decode_failed"] == 1


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-be", "utf-32"])
def test_utf16_page_with_bom_is_decoded_not_binary(tmp_path, codec):
    page = "<html><body><p>Grüße aus 北京 — a UTF-16 page.</p></body></html>"
    data = page.encode(codec) if codec != "utf-16-be" else b"\xfe\xff" + page.encode(codec)
    table, _ = read_file(write_warc(tmp_path / "u.warc.gz", [http_response("http://e.com/u", [], data)]))
    res = Read().process(table)
    assert res.kept.column("html").to_pylist() == [page]


# -- items 4, 7, 12: JSONL ----------------------------------------------------------------------
def write_jsonl(path, rows: list, gz: bool = False):
    text = "".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in rows)
    path.write_bytes(gzip.compress(text.encode(), mtime=0) if gz else text.encode())
    return path


def test_jsonl_columns_come_from_every_row(tmp_path):
    rows = [{"id": "a", "url": "http://a"},                                          # no text
            {"id": "b", "text": "two", "crawl_date": "2024-01-01", "metadata": {"k": 1}, "n": 1},
            {"id": "c", "text": "three", "n": "three", "extra": [1, 2]},            # n flips int → str
            {"id": "d", "text": 4, "language_score": "0.5"}]                         # text is not a string
    rlog = ReadLog()
    (t,) = read_batches(InputFile(str(write_jsonl(tmp_path / "d.jsonl", rows)), "jsonl", 0), 100, rlog)
    assert {"crawl_date", "metadata", "n", "extra", "text", READ_REJECT} <= set(t.column_names)
    assert t.column("crawl_date").to_pylist() == [None, "2024-01-01", None, None]
    assert t.column("metadata").to_pylist()[1] == '{"k": 1}'
    assert t.column("n").to_pylist() == [None, "1", "three", None] and rlog.counters == {"coerced:n": 4}
    assert t.column("language_score").to_pylist() == [None, None, None, 0.5]
    res = Read().process(t)
    assert res.kept.column("id").to_pylist() == ["b", "c"] and READ_REJECT not in res.kept.column_names
    reasons = dict(zip(res.rejected.column("id").to_pylist(), res.rejected.column("reason").to_pylist()))
    assert reasons == {"a": "empty", "d": "bad_type:text:int"}
    assert res.rejected.column("text").to_pylist() == [None, "4"]  # a rejected row keeps its text


def test_jsonl_null_text_is_empty_and_duplicate_ids_are_rejected(tmp_path):
    rows = [{"id": "x", "text": "first"}, {"id": "y", "text": None}, {"id": "x", "text": "again"},
            {"text": "no id"}, {"id": "z", "text": "  "}]
    table, _ = read_file(write_jsonl(tmp_path / "n.jsonl", rows), "jsonl")
    res = Read().process(table)
    assert res.kept.column("text").to_pylist() == ["first", "no id"]
    assert dict(zip(res.rejected.column("text").to_pylist(), res.rejected.column("reason").to_pylist())) == \
        {None: "empty", "again": "duplicate_id", "  ": "empty"}


def test_duplicate_ids_across_batches_of_a_file(tmp_path):
    rows = [{"id": f"d{i % 10}", "text": f"t{i}"} for i in range(20)]  # batches of 7 rows
    table, _ = read_file(write_jsonl(tmp_path / "d.jsonl", rows), "jsonl")
    assert table.column(READ_REJECT).to_pylist() == [None] * 10 + ["duplicate_id"] * 10


def test_truncated_jsonl_gz_keeps_every_decoded_row(tmp_path):
    rows = [{"id": f"r{i}", "text": f"row {i} " + "x" * (i % 50)} for i in range(1000)]
    path = write_jsonl(tmp_path / "t.jsonl.gz", rows, gz=True)
    data = path.read_bytes()
    path.write_bytes(data[:len(data) * 2 // 3])
    table, rlog = read_file(path, "jsonl")
    full = zlib.decompressobj(31).decompress(data[:len(data) * 2 // 3])
    complete = full.count(b"\n")
    assert table.num_rows == complete > 500
    assert table.column("id").to_pylist() == [f"r{i}" for i in range(complete)]
    damaged_at = full.rindex(b"\n") + 1  # the partial line starts here
    (err,) = rlog.errors
    assert err["offset"] == f"line {complete + 1}" and f"uncompressed byte {damaged_at}," in err["error"]
    assert rlog.counters == {"error:truncated": 1}


# -- item 5: bad files are counted and skipped --------------------------------------------------
def test_parquet_with_integer_text_is_skipped(tmp_path):
    path = tmp_path / "p.parquet"
    pq.write_table(pa.table({"id": ["a", "b"], "text": [1, 2]}), path)
    table, rlog = read_file(path, "parquet")
    assert table is None and rlog.counters == {"error:bad_schema": 1}
    assert "column text is int64" in rlog.errors[0]["error"]


def test_parquet_integer_ids_become_strings(tmp_path):
    path = tmp_path / "p.parquet"
    pq.write_table(pa.table({"id": [1, 2], "text": ["a", "b"], "extra": [1.5, 2.5]}), path)
    table, _ = read_file(path, "parquet")
    assert table.column("id").to_pylist() == ["1", "2"] and table.column("extra").to_pylist() == [1.5, 2.5]


def test_dangling_symlink_is_reported_by_its_task(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    write_jsonl(d / "good.jsonl", [{"text": "a"}])
    (d / "gone.jsonl").symlink_to(tmp_path / "nowhere.jsonl")
    files = resolve_inputs([str(d)])
    assert [os.path.basename(f.path) for f in files] == ["gone.jsonl", "good.jsonl"]
    rlog = ReadLog()
    assert list(read_batches(files[0], 10, rlog)) == []
    assert rlog.counters == {"error:unreadable": 1} and "dangling symlink" in rlog.errors[0]["error"]


def test_refinery_output_as_input_reads_only_its_data(tmp_path, caplog):
    out = tmp_path / "out"
    for name in ("data/part-00000.parquet", "rejected/seg0-00000.parquet", "_work/run.json", "_work/seg0/s.json",
                 "stats.json", "manifest.json"):
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text("{}")
    with caplog.at_level(logging.WARNING, "refinery"):
        files = resolve_inputs([str(tmp_path)])
    assert [f.path for f in files] == [str(out / "data" / "part-00000.parquet")]
    assert "out is a refinery output: only its data/ is read (5 files" in caplog.text


# -- item 8: symlinked directories --------------------------------------------------------------
def test_symlinked_subdirectories_are_followed_once(tmp_path):
    real = tmp_path / "real"
    (real / "sub").mkdir(parents=True)
    write_jsonl(real / "sub" / "a.jsonl", [{"text": "a"}])
    d = tmp_path / "in"
    d.mkdir()
    (d / "linked").symlink_to(real, target_is_directory=True)
    (d / "again").symlink_to(real, target_is_directory=True)       # a second link to the same tree
    (real / "sub" / "loop").symlink_to(d, target_is_directory=True)  # a loop back up
    files = [os.path.relpath(f.path, d) for f in resolve_inputs([str(d)])]
    assert files == ["again/sub/a.jsonl"]
