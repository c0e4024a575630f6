"""The JSONL reader parses every line once: batches are converted as they are read, spilled,
and put in one schema at the end of the range. The values and ``coerced:`` counts are
those of a whole-range schema decision, whatever the batch size."""

from __future__ import annotations

import json
import os

import pyarrow as pa
import pytest

from webrefinery.pipeline.io import readers
from webrefinery.pipeline.io.readers import InputFile, ReadLog, read_batches


def _file(path, rows: list[dict]) -> InputFile:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return InputFile(str(path), "jsonl", os.path.getsize(path))


def _read(inp: InputFile, batch_size: int) -> tuple[pa.Table, dict[str, int]]:
    rlog = ReadLog()
    tables = list(read_batches(inp, batch_size, rlog))
    assert len({t.drop_columns([c for c in t.column_names if c == readers.READ_REJECT]).schema
                for t in tables}) == 1  # every batch in the range's one schema
    return pa.concat_tables(t.drop_columns([c for c in t.column_names if c == readers.READ_REJECT])
                            for t in tables), rlog.counters


#: extra columns whose Arrow form in an early batch is not their JSON text: ints and a
#: boolean made floats next to floats, a struct given the keys of another row; each column
#: conflicts only in a later batch
ROWS = ([{"id": "a", "text": "t", "x": 1, "s": {"k": 1}, "n": 7},
         {"id": "b", "text": "t", "x": 2.5, "s": {"j": 2}, "n": 8},
         {"id": "c", "text": "t", "x": True, "n": 9}] +
        [{"id": f"r{i}", "text": "t", "n": 10 + i} for i in range(5)] +
        [{"id": "z", "text": "t", "x": "seven", "s": "plain", "late": [1, 2]}])


@pytest.mark.parametrize("batch_size", [1, 2, 3, 4, 9, 100])
def test_conflicting_columns_are_the_json_text_as_parsed_whatever_the_batch(tmp_path, batch_size):
    table, counters = _read(_file(tmp_path / "a.jsonl", ROWS), batch_size)
    assert table.column("x").to_pylist() == ["1", "2.5", "true"] + [None] * 5 + ["seven"]
    assert table.column("s").to_pylist() == ['{"k": 1}', '{"j": 2}'] + [None] * 6 + ["plain"]
    assert table.schema.field("n").type == pa.int64() and table.column("n").to_pylist()[:3] == [7, 8, 9]
    assert table.column("late").to_pylist() == [None] * 8 + [[1, 2]]
    assert counters == {"coerced:x": 9, "coerced:s": 9}


def test_each_line_is_parsed_once(tmp_path, monkeypatch):
    inp = _file(tmp_path / "b.jsonl", ROWS * 3)
    calls = []
    real = json.loads
    monkeypatch.setattr(json, "loads", lambda s, *a, **k: calls.append(s) or real(s, *a, **k))
    assert _read(inp, 4)[0].num_rows == len(ROWS) * 3
    assert len(calls) == len(ROWS) * 3


def test_an_int_beyond_64_bits_is_text_not_a_crash(tmp_path):
    table, counters = _read(_file(tmp_path / "c.jsonl", [{"text": "t", "big": 2 ** 70}, {"text": "u", "big": 1}]), 1)
    assert table.column("big").to_pylist() == [str(2 ** 70), "1"] and counters == {"coerced:big": 2}


def test_a_full_temporary_disk_is_not_reported_as_a_bad_input(tmp_path, monkeypatch):
    inp = _file(tmp_path / "d.jsonl", ROWS)
    monkeypatch.setattr(readers.tempfile, "TemporaryFile", lambda **k: open("/dev/full", "w+b"))
    with pytest.raises(RuntimeError, match="JSONL reader's temporary file in .* could not be written .*No space"):
        list(read_batches(inp, 2, ReadLog()))
