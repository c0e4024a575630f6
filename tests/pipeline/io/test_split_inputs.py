"""One big JSONL or Parquet file read in parallel (issue 17 item 5): line ranges and row
groups give the same ids and the same data/ shards, byte for byte, as the unsplit file, and
no row is lost or read twice at a boundary (a line starting exactly at a cut, CRLF line
ends, a last line without newline)."""

from __future__ import annotations

import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from test_mixed_inputs_cli import _text
from webrefinery.pipeline.io.readers import InputFile, ReadLog, read_batches, split_inputs

SPLIT = 4096  # the smallest executor.split_bytes


def _ids(parts: list[InputFile]) -> list[str]:
    return [i for p in parts for b in read_batches(p, 7, ReadLog()) for i in b.column("id").to_pylist()]


def _jsonl(path, n: int, eol: str = "\n", last_eol: bool = True) -> InputFile:
    rows = [json.dumps({"text": _text(f"j{i}"), "n": i if i < n // 2 else f"s{i}",
                        "opt": None if i < n // 2 else i} |          # null in the first half, int after
                       ({"late": i} if i > n - 5 else {})) for i in range(n)]
    path.write_bytes((eol.join(rows) + (eol if last_eol else "")).encode())
    return InputFile(str(path), "jsonl", os.path.getsize(path))


@pytest.mark.parametrize("eol,last_eol", [("\n", True), ("\r\n", True), ("\n", False)])
def test_line_ranges_read_every_line_once(tmp_path, eol, last_eol):
    f = _jsonl(tmp_path / "a.jsonl", 400, eol, last_eol)
    parts = split_inputs([f], SPLIT)
    assert len(parts) > 3 and parts[0].start == 0 and parts[-1].end is None
    assert all(a.end == b.start for a, b in zip(parts, parts[1:]))
    data = open(f.path, "rb").read()
    assert all(data[p.start - 1:p.start] == b"\n" for p in parts[1:])  # every cut is at a line start
    assert _ids(parts) == _ids([f])                                    # same ids, none lost or twice


def test_a_line_starting_exactly_at_the_cut(tmp_path):
    head = json.dumps({"text": "x" * (SPLIT - 13)}) + "\n"              # the second line starts at SPLIT
    assert len(head) == SPLIT
    path = tmp_path / "b.jsonl"
    path.write_text(head + "".join(json.dumps({"text": f"r{i}"}) + "\n" for i in range(500)))
    f = InputFile(str(path), "jsonl", os.path.getsize(path))
    parts = split_inputs([f], SPLIT)
    assert (parts[0].start, parts[0].end, parts[1].first) == (0, SPLIT, 1)
    assert _ids(parts) == _ids([f]) and len(_ids(parts)) == 501


def test_gzipped_jsonl_is_not_split(tmp_path):
    import gzip

    path = tmp_path / "c.jsonl"  # gzipped under a plain name: cannot be entered mid-stream
    path.write_bytes(gzip.compress(os.urandom(3 * SPLIT)))
    f = InputFile(str(path), "jsonl", os.path.getsize(path))
    assert split_inputs([f], SPLIT) == [f]


def test_row_groups(tmp_path):
    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"text": [f"t{i} " * 300 for i in range(3000)]}), path, row_group_size=400)
    f = InputFile(str(path), "parquet", os.path.getsize(path))
    parts = split_inputs([f], SPLIT)
    assert len(parts) == 8 and [p.first for p in parts] == list(range(0, 3000, 400))
    assert _ids(parts) == _ids([f])


def _shards(out) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / "data").glob("*.parquet"))}


@pytest.mark.parametrize("pipeline", ["pipeline: [read]\n", ""])
def test_the_shards_do_not_depend_on_the_split(cli, tmp_path, pipeline):
    src = tmp_path / "in"
    src.mkdir()
    pq.write_table(pa.table({"id": [f"p{i}" for i in range(1200)], "text": [_text(f"p{i}") for i in range(1200)],
                             "x": list(range(1200))}),
                   src / "big.parquet", row_group_size=150)
    _jsonl(src / "big.jsonl", 900, "\r\n", last_eol=False)
    outs = {}
    for split in ("null", str(SPLIT)):
        cfg = tmp_path / f"{split}.yaml"
        cfg.write_text(pipeline + f"executor: {{split_bytes: {split}}}\n")
        outs[split] = tmp_path / f"out-{split}"
        code, _, err = cli("run", "-c", cfg, "-i", src, "-o", outs[split], "-q")
        assert code == 0, err
    stats = {k: json.loads((o / "stats.json").read_text()) for k, o in outs.items()}
    tasks = {k: len(list((o / "_work" / "seg0").glob("stats-*.json"))) for k, o in outs.items()}
    assert tasks["null"] == 2 and tasks[str(SPLIT)] > 10       # the split really happened
    assert _shards(outs["null"]) and _shards(outs["null"]) == _shards(outs[str(SPLIT)])
    assert stats["null"]["output"]["docs"] == stats[str(SPLIT)]["output"]["docs"]
    assert stats["null"]["output"]["docs"] == 2100 if pipeline else stats["null"]["output"]["docs"] > 1000
    assert pq.read_schema(outs["null"] / "data" / "part-00000.parquet").field("opt").type == pa.int64()


def test_a_file_that_cannot_be_cut_is_one_task_that_reports_it(tmp_path):
    path = tmp_path / "broken.parquet"  # no Parquet footer: the driver cannot list its row groups
    path.write_bytes(b"PAR1" + os.urandom(3 * SPLIT))
    f = InputFile(str(path), "parquet", os.path.getsize(path))
    assert split_inputs([f], SPLIT) == [f]
    rlog = ReadLog()
    assert list(read_batches(f, 7, rlog)) == [] and rlog.counters == {"error:unreadable": 1}
