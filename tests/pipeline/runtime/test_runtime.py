"""The runtime layer without the CLI: the plan, the task worker and the executors."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from webrefinery.dedup.stage import Dedup
from webrefinery.pipeline.core.config import build_config
from webrefinery.pipeline.runtime.executors.base import make_executor
from webrefinery.pipeline.runtime.executors.local import LocalExecutor
from webrefinery.pipeline.runtime.plan import plan_segments, segment_tasks, stage_list
from webrefinery.pipeline.io.readers import InputFile, resolve_inputs
from webrefinery.pipeline.core.stage import PROBE_TEXT, RunContext
from webrefinery.pipeline.runtime.task import Worker


def write_jsonl(path: Path, texts: list[str]) -> Path:
    path.write_text("".join(json.dumps({"id": f"{path.stem}-{i}", "text": t, "language": "en"}) + "\n"
                            for i, t in enumerate(texts)), encoding="utf-8")
    return path


def test_plan_splits_at_global_stages_and_marks_what_each_task_applies(tmp_path):
    segments = plan_segments(["langid", "filter", "dedup", "pii"])
    assert segments == [(("langid", "filter"), "dedup"), (("dedup", "pii"), None)]
    files = resolve_inputs([str(write_jsonl(tmp_path / "a.jsonl", ["x"])), str(write_jsonl(tmp_path / "b.jsonl", ["y"]))])
    first = segment_tasks(0, segments, files, [], [], None)
    assert [(t.index, t.collect, t.apply, t.input.label.rsplit("/", 1)[-1]) for t in first] == \
        [(0, "dedup", None, "a.jsonl"), (1, "dedup", None, "b.jsonl")]
    parts = [tmp_path / "p0.parquet", tmp_path / "p1.parquet"]
    second = segment_tasks(1, segments, files, parts, ["keys-00000.parquet", None], None)
    assert [(t.stages, t.collect, t.apply, t.part, t.keys) for t in second] == \
        [(("dedup", "pii"), None, "dedup", str(parts[0]), "keys-00000.parquet"),
         (("dedup", "pii"), None, "dedup", str(parts[1]), None)]


def test_stage_list_always_starts_with_read_and_adds_extract_only_for_warc():
    pipeline = ["read", "extract", "langid"]
    warc, jsonl = [InputFile("x.warc.gz", "warc", 1)], [InputFile("x.jsonl", "jsonl", 1)]
    assert stage_list(None, warc, pipeline) == pipeline
    assert stage_list("langid", warc, pipeline) == ["read", "extract", "langid"]
    assert stage_list("langid", jsonl + warc, pipeline) == ["read", "extract", "langid"]
    assert stage_list("extract", warc, pipeline) == ["read", "extract"]
    assert stage_list("langid", jsonl, pipeline) == ["read", "langid"]
    assert stage_list(None, jsonl, ["pii"]) == ["read", "pii"]


def test_worker_runs_a_task_and_writes_its_marker_last(tmp_path):
    config = build_config({"pipeline": ["pii"]})
    ctx = RunContext(tmp_path / "out", tmp_path / "out" / "_work", quiet=True)
    files = resolve_inputs([str(write_jsonl(tmp_path / "a.jsonl", [PROBE_TEXT, "", "short"]))])
    (task,) = segment_tasks(0, plan_segments(["pii"]), files, [], [], None)
    worker = Worker(config, ctx)
    result = worker.run(task)
    assert worker.stage("pii") is worker.stage("pii")  # built once per worker
    assert result["outputs"]["rows"] == 3 and result["stages"][0]["counters"]["pii:EMAIL"] == 1
    assert json.loads(ctx.paths.stats(0, 0).read_text()) == result
    text = pq.read_table(ctx.paths.part(0, 0)).column("text")[0].as_py()
    assert "desk@example.org" not in text


def test_each_apply_task_loads_only_the_decisions_of_its_own_documents(tmp_path):
    """Two inputs with one copy each of the same text: the reduce writes one decisions file
    per key file, and the task of the second input loads only its own (the removed copy)."""
    config = build_config({"pipeline": ["dedup"]})
    ctx = RunContext(tmp_path / "out", tmp_path / "out" / "_work", quiet=True)
    files = resolve_inputs([str(write_jsonl(tmp_path / f"{n}.jsonl", [PROBE_TEXT])) for n in ("a", "b")])
    segments = plan_segments(["dedup"])
    worker = Worker(config, ctx)
    first = [worker.run(t) for t in segment_tasks(0, segments, files, [], [], None)]
    keys = [r["outputs"]["keys"] for r in first]
    assert keys == ["keys-00000.parquet", "keys-00001.parquet"]
    LocalExecutor(config, ctx).reduce(worker.stage("dedup"), [ctx.paths.seg(0) / k for k in keys],
                                      ctx.paths.reduce_dir("dedup"))
    second = segment_tasks(1, segments, files, [ctx.paths.part(0, i) for i in range(2)], keys, None)
    assert [(t.apply, t.keys) for t in second] == [("dedup", k) for k in keys]
    stage = worker.stage("dedup")
    assert isinstance(stage, Dedup)
    outputs = []
    for t in second:
        outputs.append(worker.run(t)["outputs"])
        assert len(stage.decisions.table) == 1  # this task's document only, not the corpus
    assert [(o["rows"], o["rejected"]) for o in outputs] == [(1, 0), (0, 1)]
    assert stage.decisions.table.column("kept").to_pylist() == [False]


@pytest.mark.parametrize("workers", [1, 2])
def test_local_executor_runs_every_task_once(tmp_path, workers):
    config = build_config({"pipeline": ["pii"], "executor": {"workers": workers}})
    ctx = RunContext(tmp_path / "out", tmp_path / "out" / "_work", quiet=True)
    files = resolve_inputs([str(write_jsonl(tmp_path / f"f{i}.jsonl", [PROBE_TEXT] * (i + 1))) for i in range(3)])
    tasks = segment_tasks(0, plan_segments(["pii"]), files, [], [], None)
    executor = make_executor(config, ctx)
    try:
        results = list(executor.run_tasks(tasks, "test"))
    finally:
        executor.close()
    assert sorted((r["task"]["index"], r["outputs"]["rows"]) for r in results) == [(0, 1), (1, 2), (2, 3)]
