"""The plan of a run: which stages a command runs, how they split into segments at global
stages, and the map tasks of each segment — each told which keys it collects and which
global decisions it applies. Executors only run what the plan says."""

from __future__ import annotations

from pathlib import Path

from webrefinery.pipeline.io.readers import InputFile, split_inputs
from webrefinery.pipeline.core.registry import stage_class
from webrefinery.pipeline.core.stage import GlobalStage
from webrefinery.pipeline.runtime.task import MapTask

Segment = tuple[tuple[str, ...], str | None]


def stage_list(stage: str | None, files: list[InputFile], pipeline: list[str]) -> list[str]:
    """Stages a command runs. ``read`` always comes first: it turns the reader's verdict on
    each row (``_read_reject``: bad types, duplicate ids, empty text) into rejections, for
    JSONL and Parquet as for WARC, so no flagged row reaches a shard. For a stage command whose
    inputs (``files``, as :func:`~webrefinery.pipeline.io.readers.resolve_inputs` found them
    in the files, directories and globs given) include WARC, ``extract`` comes next when the
    stage needs text."""
    if stage is None:
        return list(pipeline) if pipeline[:1] == ["read"] else ["read", *pipeline]
    if stage == "read":
        return ["read"]
    warc = any(f.format == "warc" for f in files)
    needs_text = stage != "extract" and "text" in stage_class(stage).requires
    return ["read", *(["extract"] if warc and needs_text else []), stage]


def plan_segments(stages: list[str]) -> list[Segment]:
    """Split the stage list at global stages: [(stages of segment, global stage to collect)].

    A global stage ends a segment (its keys are collected there) and starts the next one
    (its decisions are applied there).
    """
    segments, cur = [], []
    for name in stages:
        if issubclass(stage_class(name), GlobalStage):
            segments.append((tuple(cur), name))
            cur = [name]
        else:
            cur.append(name)
    segments.append((tuple(cur), None))
    return segments


def segment_tasks(s: int, segments: list[Segment], files: list[InputFile], prev_parts: list[Path],
                  prev_keys: list[str | None], split_bytes: int | None) -> list[MapTask]:
    """The map tasks of segment ``s``: one per input file (or byte range of one) in the
    first segment, one per part of the previous segment after that (with the name of the key
    file its task wrote, or None)."""
    stages, collect = segments[s]
    if s == 0:
        return [MapTask(s, i, stages, collect, input=f) for i, f in enumerate(split_inputs(files, split_bytes))]
    apply = segments[s - 1][1]
    return [MapTask(s, i, stages, collect, part=str(p), apply=apply, keys=k)
            for i, (p, k) in enumerate(zip(prev_parts, prev_keys, strict=True))]
