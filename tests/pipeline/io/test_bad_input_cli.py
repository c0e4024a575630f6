"""Issue 16's bad inputs together, through `refinery run`: every bad file is counted and
named in one line, the run goes on, and every good document ends in data/ or rejected/ once."""

from __future__ import annotations

import gzip
import json
import random

import brotli
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from conftest import article, warc_record, write_warc


def _pages(prefix: str, n: int) -> list[bytes]:
    rnd = random.Random(prefix)
    return [warc_record(f"http://{prefix}.com/{i}", article(f"{prefix} {i} {rnd.randbytes(300).hex()}", sentences=3))
            for i in range(n)]


def _response(url: str, headers: str, body: bytes) -> bytes:
    http = f"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n{headers}\r\n".encode() + body
    return (f"WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: {url}\r\nWARC-Record-ID: <urn:uuid:{url}>\r\n"
            f"Content-Length: {len(http)}\r\n\r\n").encode() + http + b"\r\n\r\n"


def _build_inputs(d, tmp_path) -> set[str]:
    """The bad inputs of issue 16 in one directory; returns the URLs/ids that must be read."""
    d.mkdir()
    expect = set()
    single = _pages("single", 20)                      # item 2: `gzip x.warc`
    (d / "single.warc.gz").write_bytes(gzip.compress(b"".join(single), mtime=0))
    expect |= {f"http://single.com/{i}" for i in range(20)}
    short = _pages("short", 4)                         # item 3: a block shorter than its Content-Length
    short[1] = short[1][:len(short[1]) // 2]
    write_warc(d / "short.warc", short, gz=False)
    expect |= {"http://short.com/0", "http://short.com/2", "http://short.com/3"}
    huge = _pages("huge", 3)                           # item 3: Content-Length 10^9 on the first record
    head, sep, rest = huge[0].partition(b"\r\n\r\n")
    huge[0] = b"\r\n".join(b"Content-Length: 1000000000" if h.startswith(b"Content-Length") else h
                           for h in head.split(b"\r\n")) + sep + rest
    write_warc(d / "huge.warc.gz", huge)
    expect |= {"http://huge.com/1", "http://huge.com/2"}
    (d / "zero.warc.gz").write_bytes(b"")             # item 11
    wet = (b"WARC/1.0\r\nWARC-Type: conversion\r\nWARC-Target-URI: http://wet.com/\r\nWARC-Record-ID: <urn:uuid:w>\r\n"
           b"Content-Length: 4\r\n\r\ntext\r\n\r\n")
    write_warc(d / "wet.warc.gz", [wet])
    page = article("Unix")
    http = b"HTTP/1.1 200 OK\nContent-Type: text/html\n\n" + page
    write_warc(d / "lf.warc", [b"WARC/1.0\nWARC-Type: response\nWARC-Target-URI: http://lf.com/\nWARC-Record-ID: "
                               b"<urn:uuid:lf>\nContent-Length: %d\n\n" % len(http) + http + b"\n\n"], gz=False)
    expect.add("http://lf.com/")
    html = article("Coded")                            # item 12
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(html[i:i + 300]), html[i:i + 300]) for i in range(0, len(html), 300))
    write_warc(d / "coded.warc.gz", [
        _response("http://coded.com/chunked", "Transfer-Encoding: chunked\r\n", chunks + b"0\r\n\r\n"),
        _response("http://coded.com/br", "Content-Encoding: br\r\n", brotli.compress(html)),
        _response("http://coded.com/utf16", "", article("Grüße aus Köln").decode().encode("utf-16"))])
    expect |= {"http://coded.com/chunked", "http://coded.com/br", "http://coded.com/utf16"}
    pq.write_table(pa.table({"text": [1, 2]}), d / "inttext.parquet")  # item 5
    rows = [{"id": "j0", "url": "u0"}, {"id": "j1", "text": "one"}, {"id": "j2", "text": None},
            {"id": "j1", "text": "dup"}, {"id": "j3", "text": "three", "crawl_date": "2024-01-01"}]
    (d / "docs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))  # items 4 and 12
    expect |= {"j0", "j1", "j2", "j3"}
    full = gzip.compress("".join(json.dumps({"id": f"t{i}", "text": f"row {i}"}) + "\n"
                                 for i in range(600)).encode(), mtime=0)
    (d / "cut.jsonl.gz").write_bytes(full[:len(full) // 2])  # item 7
    (d / "gone.jsonl").symlink_to(tmp_path / "nowhere.jsonl")  # item 5
    real = tmp_path / "elsewhere"                      # item 8
    real.mkdir()
    (real / "linked.jsonl").write_text(json.dumps({"id": "l0", "text": "linked"}) + "\n")
    (d / "sub").symlink_to(real, target_is_directory=True)
    (real / "loop").symlink_to(d, target_is_directory=True)
    expect.add("l0")
    prev = d / "prev"                                  # item 5: an earlier output given as input
    for name in ("_work/run.json", "_work/seg0/stats-00000.json", "manifest.json", "stats.json"):
        (prev / name).parent.mkdir(parents=True, exist_ok=True)
        (prev / name).write_text("{}\n")
    (prev / "data").mkdir()
    pq.write_table(pa.table({"id": ["p0"], "text": ["from the earlier run"]}), prev / "data" / "part-00000.parquet")
    expect.add("p0")
    return expect


def test_bad_inputs_through_the_cli(cli, tmp_path):
    src = tmp_path / "in"
    expect = _build_inputs(src, tmp_path)
    cfg = tmp_path / "c.yaml"
    cfg.write_text("pipeline: [read, urlfilter, extract]\nexecutor: {split_bytes: 4096}\n")
    out = tmp_path / "out"
    code, _, err = cli("run", "-c", cfg, "-i", src, "-o", out, "-q")
    assert code == 0, err
    assert "Traceback" not in err
    for line in ("single.warc.gz: its first gzip member is longer than split_bytes",
                 "short.warc @ ", "truncated record", "huge.warc.gz @ 0", "zero.warc.gz @ 0: empty file",
                 "wet.warc.gz @ 0: no response records", "inttext.parquet @ 0: column text is int64",
                 "cut.jsonl.gz @ line ", "gone.jsonl", "dangling symlink", "prev is a refinery output"):
        assert line in err, line
    data, rejected = (pa.concat_tables([pq.read_table(p) for p in sorted((out / d).glob("*.parquet"))],
                                       promote_options="permissive") for d in ("data", "rejected"))
    not_dup = pc.not_equal(rejected.column("reason"), "duplicate_id")
    ids = data.column("id").to_pylist() + rejected.filter(not_dup).column("id").to_pylist()
    assert len(ids) == len(set(ids))                   # nothing twice …
    keys = set(data.column("url").to_pylist()) | set(data.column("id").to_pylist()) | \
        set(rejected.column("url").to_pylist()) | set(rejected.column("id").to_pylist())
    assert expect <= keys                              # … nothing lost
    assert sum(i.startswith("t") for i in data.column("id").to_pylist()) > 250  # rows before the damage
    text = dict(zip(data.column("url").to_pylist(), data.column("text").to_pylist()))
    assert "Paragraph 3 about Coded" in text["http://coded.com/chunked"] and "12c" not in text["http://coded.com/chunked"]
    assert "Paragraph 3 about Coded" in text["http://coded.com/br"] and "about Grüße aus Köln" in text["http://coded.com/utf16"]
    reasons = dict(zip(rejected.column("id").to_pylist(), rejected.column("reason").to_pylist()))
    assert [reasons[i] for i in ("j0", "j2")] == ["empty", "empty"]
    assert rejected.filter(pc.equal(rejected.column("reason"), "duplicate_id")).column("text").to_pylist() == ["dup"]
    stats = json.loads((out / "stats.json").read_text())
    counters = stats["stages"][0]["counters"]
    assert counters["error:empty_file"] == counters["error:no_responses"] == counters["error:bad_schema"] == 1
    assert counters["error:unreadable"] == 1 and counters["error:truncated"] == 3  # short, huge, cut.jsonl.gz


def test_rows_the_reader_flags_never_reach_a_stage_command_output(cli, tmp_path):
    """`refinery pii -i d.jsonl` has no `read` in its config, yet a duplicate id or a null
    text is rejected as in a full run, and the reader's flag column is not in the output."""
    src = tmp_path / "d.jsonl"
    body = "Plain text about the weather in spring, long enough to keep. " * 3
    src.write_text("\n".join(json.dumps(r) for r in (
        {"id": "a", "text": body}, {"id": "a", "text": "dup " + body}, {"id": "b", "text": None})) + "\n")
    out = tmp_path / "out"
    code, _, err = cli("pii", "-i", src, "-o", out, "-q")
    assert code == 0, err
    data = pq.read_table(sorted((out / "data").glob("*.parquet"))[0])
    assert data.column("id").to_pylist() == ["a"] and "_read_reject" not in data.column_names
    rejected = pa.concat_tables([pq.read_table(p) for p in sorted((out / "rejected").glob("*.parquet"))],
                                promote_options="permissive")
    assert sorted(rejected.column("reason").to_pylist()) == ["duplicate_id", "empty"]
