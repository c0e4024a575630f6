"""Reading WARCs: record counts, charsets, and bad input that must be counted, not fatal."""

from __future__ import annotations

import gzip
import json

import pyarrow as pa
import pytest

from conftest import article, warc_record, write_warc
from webrefinery.pipeline.io.charset import decode_html
from webrefinery.pipeline.stages.read import Read
from webrefinery.pipeline.io.readers import InputFile, ReadLog, read_batches, resolve_inputs


def read_all(path) -> tuple[pa.Table, ReadLog]:
    rlog = ReadLog()
    inp = resolve_inputs([str(path)])[0]
    tables = list(read_batches(inp, 100, rlog))
    return (pa.concat_tables(tables) if tables else None), rlog


def test_sample_warc_counts(sample_warc):
    table, rlog = read_all(sample_warc)
    assert table.num_rows == 16
    assert rlog.counters == {"warc_records:warcinfo": 1, "warc_records:request": 17,
                             "warc_records:response": 16, "warc_records:metadata": 16}
    assert not rlog.errors
    assert len(set(table.column("id").to_pylist())) == 16


def test_chinese_pages_decode_to_han(shared):
    index = [json.loads(line) for line in (shared / "warc" / "records.index.jsonl").open()]
    zh_urls = {r["uri"] for r in index if r["type"] == "response" and r.get("han_chars", 0) > 100}
    table, _ = read_all(shared / "warc" / "CC-MAIN-2020-34-fragment.warc.gz")
    res = Read().process(table)
    by_url = dict(zip(res.kept.column("url").to_pylist(), res.kept.column("html").to_pylist()))
    assert len(zh_urls) >= 10
    for url in zh_urls:
        html = by_url[url]
        han = sum("\u4e00" <= c <= "\u9fff" for c in html)
        assert han > 100, url
        assert html.count("\ufffd") < 5, f"{url}: replacement characters (mojibake)"


@pytest.mark.parametrize("codec,label", [("gbk", "gb2312"), ("big5", "big5"), ("shift_jis", "shift_jis"),
                                         ("cp1252", "iso-8859-1"), ("utf-8", None)])
def test_declared_charsets(codec, label):
    text = {"gbk": "中文网页的内容", "big5": "繁體中文網頁", "shift_jis": "日本語のページ",
            "cp1252": "Grüße – “quoted” café", "utf-8": "混合 text ü"}[codec]
    meta = f"<meta charset='{label}'>" if label else ""
    html = f"<html><head>{meta}</head><body>{text}</body></html>".encode(codec)
    out, used, how = decode_html(html)
    assert text in out
    assert how in (("meta", "detected") if label else ("utf8",))


def test_mislabelled_charset_falls_back():
    """A UTF-8 page served as iso-8859-1 and declaring gb2312 still decodes as UTF-8."""
    html = "<html><head><meta charset='gb2312'></head><body>naïve café ☕ 中文 — ok</body></html>".encode("utf-8")
    out, codec, how = decode_html(html, header_charset="iso-8859-1")
    assert "naïve café ☕ 中文" in out and (codec, how) == ("utf-8", "utf8")


def test_wrong_declared_charset_detected():
    """A GBK page that declares Shift_JIS: the declaration fails to decode, detection wins."""
    text = "这是一个中文网页，介绍北京和上海的天气情况。" * 5
    html = f"<html><head><meta charset='shift_jis'></head><body>{text}</body></html>".encode("gb18030")
    out, codec, how = decode_html(html)
    assert text in out and how in ("meta", "detected") and codec.startswith("gb")


def test_corrupt_gzip_member_skipped_rest_read(tmp_path):
    recs = [warc_record(f"http://e.com/{i}", article(f"Page {i}")) for i in range(5)]
    members = [gzip.compress(r, mtime=0) for r in recs]
    bad = bytearray(members[2])
    bad[30:60] = b"\x00" * 30  # corrupt the deflate stream of record 2
    path = tmp_path / "c.warc.gz"
    path.write_bytes(b"".join(members[:2]) + bytes(bad) + b"".join(members[3:]))
    table, rlog = read_all(path)
    urls = table.column("url").to_pylist()
    assert urls == ["http://e.com/0", "http://e.com/1", "http://e.com/3", "http://e.com/4"]
    assert rlog.counters["error:corrupt"] >= 1
    assert rlog.errors[0]["file"].endswith("c.warc.gz") and isinstance(rlog.errors[0]["offset"], int)


def test_truncated_record_reported(tmp_path):
    recs = [warc_record(f"http://e.com/{i}", article(f"Page {i}")) for i in range(3)]
    data = b"".join(gzip.compress(r, mtime=0) for r in recs)
    path = tmp_path / "t.warc.gz"
    path.write_bytes(data[:-200])
    table, rlog = read_all(path)
    assert table.column("url").to_pylist() == ["http://e.com/0", "http://e.com/1"]
    assert rlog.counters.get("error:truncated", 0) + rlog.counters.get("error:corrupt", 0) >= 1


def test_not_a_warc(tmp_path):
    path = tmp_path / "x.warc.gz"
    path.write_bytes(gzip.compress(b"this is not a warc file at all\n" * 10))
    table, rlog = read_all(path)
    assert table is None
    assert rlog.errors and rlog.errors[0]["offset"] == 0


def test_read_stage_rejects_bad_responses(tmp_path):
    recs = [
        warc_record("http://e.com/ok", article("Fine")),
        warc_record("http://e.com/404", article("Missing"), status=404),
        warc_record("http://e.com/img", b"\x89PNG\r\n\x1a\n" + bytes(200), content_type="image/png"),
        warc_record("http://e.com/bin", b"\x00\x01\x02\x03" * 500),
        warc_record("http://e.com/empty", b""),
        warc_record("http://e.com/huge", b"<html>" + b"a" * 6_000_000 + b"</html>"),
    ]
    table, _ = read_all(write_warc(tmp_path / "r.warc.gz", recs))
    res = Read().process(table)
    assert res.kept.column("url").to_pylist() == ["http://e.com/ok"]
    reasons = dict(zip(res.rejected.column("url").to_pylist(), res.rejected.column("reason").to_pylist()))
    assert reasons == {"http://e.com/404": "http_status:404", "http://e.com/img": "content_type:image/png",
                       "http://e.com/bin": "binary", "http://e.com/empty": "empty", "http://e.com/huge": "too_large"}


def test_jsonl_bad_lines_counted(tmp_path):
    p = tmp_path / "d.jsonl.gz"
    with gzip.open(p, "wt") as f:
        f.write(json.dumps({"text": "a", "extra": 1}) + "\n{not json\n" + json.dumps({"id": 7, "text": "b"}) + "\n")
    rlog = ReadLog()
    t = pa.concat_tables(list(read_batches(InputFile(str(p), "jsonl", 0), 10, rlog)))
    assert t.column("text").to_pylist() == ["a", "b"]
    assert t.column("id").to_pylist()[1] == "7"
    assert rlog.counters == {"error:bad_json": 1} and rlog.errors[0]["offset"] == "line 2"
    assert rlog.errors[0]["error"].startswith("bad JSON (Expecting property name enclosed in double quotes at "
                                              "character 2 of the line)")


def test_jsonl_lines_that_are_not_utf8_or_not_objects_are_named_as_such(tmp_path):
    p = tmp_path / "d.jsonl"
    p.write_bytes(b'{"text": "caf\xe9"}\n[1, 2]\n{"text": "ok"}\n')
    rlog = ReadLog()
    t = pa.concat_tables(list(read_batches(InputFile(str(p), "jsonl", 0), 10, rlog)))
    assert t.column("text").to_pylist() == ["ok"]
    assert rlog.counters == {"error:bad_encoding": 1, "error:bad_json": 1}
    assert [e["offset"] for e in rlog.errors] == ["line 1", "line 2"]
    assert "not UTF-8 (byte 0xe9 at byte 14 of the line)" in rlog.errors[0]["error"]
    assert "a list, not a JSON object" in rlog.errors[1]["error"]


def test_resolve_inputs_dirs_globs(tmp_path):
    (tmp_path / "a").mkdir()
    for name in ("a/1.warc.gz", "a/2.jsonl", "b.parquet", "c.txt"):
        (tmp_path / name).write_bytes(b"")
    got = [(i.path.rsplit("/", 1)[-1], i.format) for i in resolve_inputs([str(tmp_path)])]
    assert got == [("1.warc.gz", "warc"), ("2.jsonl", "jsonl"), ("b.parquet", "parquet")]
    assert len(resolve_inputs([str(tmp_path / "a" / "*.warc.gz")])) == 1


def test_input_names_are_paths_below_the_directory_or_glob_given(tmp_path):
    """The names ids hash: below a directory or a glob's fixed part, the base name of a file
    given itself, the full path where two inputs would share a name."""
    for name in ("d/x/p.jsonl", "d/y/p.jsonl", "d/q.jsonl", "e/q.jsonl"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    assert [f.id_name for f in resolve_inputs([str(tmp_path / "d")])] == ["q.jsonl", "x/p.jsonl", "y/p.jsonl"]
    assert [f.id_name for f in resolve_inputs([str(tmp_path / "d" / "*" / "p.jsonl")])] == ["x/p.jsonl", "y/p.jsonl"]
    assert [f.id_name for f in resolve_inputs([str(tmp_path / "d" / "x" / "p.jsonl")])] == ["p.jsonl"]
    both = resolve_inputs([str(tmp_path / "d" / "q.jsonl"), str(tmp_path / "e" / "q.jsonl")])
    assert [f.id_name for f in both] == [f.path for f in both] and len({f.id_name for f in both}) == 2


def test_offsets_after_recovery_are_file_offsets(tmp_path):
    recs = [warc_record(f"http://e.com/{i}", article(f"Page {i}")) for i in range(4)]
    members = [gzip.compress(r, mtime=0) for r in recs]
    bad = bytearray(members[1])
    bad[30:60] = b"\x00" * 30
    path = tmp_path / "o.warc.gz"
    path.write_bytes(members[0] + bytes(bad) + members[2] + members[3])
    table, rlog = read_all(path)
    starts = [0, len(members[0]), len(members[0]) + len(bad), len(members[0]) + len(bad) + len(members[2])]
    assert table.column("offset").to_pylist() == [starts[0], starts[2], starts[3]]
    assert [e["offset"] for e in rlog.errors] == [starts[1]]
