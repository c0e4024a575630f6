"""Inputs whose columns differ, through `refinery run`: WARC rows (with ``html`` under
``pipeline: [read]``) next to JSONL rows, JSONL files with their own extra columns, an extra
column that first appears after the first batch and one whose type flips between files and
within a file. Every row ends in data/ or rejected/ exactly once, in one schema."""

from __future__ import annotations

import json
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import article, warc_record, write_warc
from webrefinery.pipeline.core.config import ExecutorConfig

LATE = 600  # the row from which `late` appears: after the first batch


WORDS = ("the river town market bridge morning people walked along quiet streets while children played near "
         "old stone houses and the baker sold fresh bread to neighbours who talked about weather").split()


def _text(seed: str) -> str:
    """A few varied English sentences, so the default pipeline keeps most rows."""
    rnd = random.Random(seed)
    return " ".join(" ".join(rnd.choice(WORDS) for _ in range(12)).capitalize() + "." for _ in range(8))


def _inputs(d) -> set[str]:
    d.mkdir()
    assert ExecutorConfig().batch_size < LATE
    write_warc(d / "a.warc.gz", [warc_record(f"http://w.com/{i}", article(f"Warc page {i}")) for i in range(5)])
    (d / "b.jsonl").write_text("".join(json.dumps({"id": f"b{i}", "text": _text(f"b{i}"), "n": i}) + "\n"
                                       for i in range(50)))
    (d / "c.jsonl").write_text("".join(json.dumps({"id": f"c{i}", "text": _text(f"c{i}"), "n": f"s{i}"} |
                                                  ({"late": i} if i >= LATE else {})) + "\n" for i in range(700)))
    return {f"http://w.com/{i}" for i in range(5)} | {f"b{i}" for i in range(50)} | {f"c{i}" for i in range(700)}


@pytest.mark.parametrize("pipeline", ["pipeline: [read]\n", "{}\n"])
def test_inputs_of_different_columns_are_written_in_one_schema(cli, tmp_path, pipeline):
    expect = _inputs(tmp_path / "in")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(pipeline)
    out = tmp_path / "out"
    code, _, err = cli("run", "-c", cfg, "-i", tmp_path / "in", "-o", out, "-q")
    assert code == 0, err
    assert "Traceback" not in err
    tables = {d: [pq.read_table(p) for p in sorted((out / d).glob("*.parquet"))] for d in ("data", "rejected")}
    data = pa.concat_tables(tables["data"])               # one schema for every shard
    rejected = pa.concat_tables(tables["rejected"], promote_options="permissive") if tables["rejected"] else None
    keys = [u if u and u.startswith("http://w.com") else i for t in (data, rejected) if t is not None
            for u, i in zip(t.column("url").to_pylist(), t.column("id").to_pylist())]
    assert sorted(keys) == sorted(expect)                 # each row once, none lost
    assert data.schema.field("n").type == pa.string()     # int in b.jsonl, strings in c.jsonl
    assert data.num_rows > len(expect) / 2
    rows = {i: r for i, r in zip(data.column("id").to_pylist(), data.select(["n", "late"]).to_pylist())}
    if pipeline.startswith("pipeline"):
        assert data.num_rows == len(expect) and "html" in data.column_names
        assert rows["b7"] == {"n": "7", "late": None} and rows["c3"] == {"n": "s3", "late": None}
        assert rows["c650"] == {"n": "s650", "late": 650}
    stats = json.loads((out / "stats.json").read_text())
    assert stats["output"]["coerced"] == {"n": sum(i.startswith("b") for i in rows)}
