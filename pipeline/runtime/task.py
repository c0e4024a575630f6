"""One unit of map work: read one input file (or one part of the previous segment), run the
segment's stages batch by batch, write kept rows, rejected rows, global-stage keys and stats.

The same :class:`Worker` runs tasks in-process, in the local process pool and in Ray
actors. A task's stats file is written last and atomically: it is the task's completion
marker for resume.
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import pyarrow as pa

from webrefinery.pipeline.core.config import PipelineConfig
from webrefinery.pipeline.io.manifest import write_json_atomic
from webrefinery.pipeline.io.readers import InputFile, ReadLog, read_batches
from webrefinery.pipeline.core.registry import stage_class
from webrefinery.pipeline.core.schema import with_reject_columns
from webrefinery.pipeline.io.shards import AtomicParquetWriter, iter_parts
from webrefinery.pipeline.io.storage import PathLike, StoragePath
from webrefinery.pipeline.core.errors import StageFailure
from webrefinery.pipeline.core.stage import SYSTEMIC_ERRORS, GlobalStage, RunContext, Stage, StageResult, failure_message
from webrefinery.pipeline.core.stats import MAX_ERROR_SAMPLES, StageStats, text_chars

log = logging.getLogger("refinery")

#: per task and stage, errors beyond this many are counted in stats but not logged
MAX_LOGGED_ERRORS = 10
#: columns never written to rejected/ (raw payloads would bloat it)
HEAVY_COLUMNS = ("payload", "html")


@dataclass(frozen=True)
class MapTask:
    """One unit of map work, as the plan (:mod:`webrefinery.pipeline.runtime.plan`) made it."""

    segment: int
    index: int
    stages: tuple[str, ...]
    #: global stage whose keys are collected from this task's output (None = last segment)
    collect: str | None
    input: InputFile | None = None
    part: str | None = None
    #: global stage whose decisions this task applies (its first stage; None in segment 0)
    apply: str | None = None
    #: name of the key file the previous segment's task wrote for this task's input (None: it
    #: keyed no rows); the decisions to apply are those of its documents
    keys: str | None = None

    @property
    def label(self) -> str:
        return self.input.label if self.input else str(self.part)


@dataclass
class StageRunner:
    """Applies one stage to batches with error isolation, bookkeeping and a circuit breaker.

    A batch that raises is redone row by row, so that one poison document is rejected as
    ``error:<Exception>`` and the others go on. What is never a property of one document
    (:data:`~webrefinery.pipeline.core.stage.SYSTEMIC_ERRORS`) fails the task at once; any other exception
    type fails it when it hits ``max_consecutive_errors`` documents in a row, or — checked
    at the end of each batch, once that many documents have been seen — more than
    ``max_error_fraction`` of them.
    """

    stage: Stage
    stats: StageStats
    max_error_fraction: float = 0.05
    max_consecutive_errors: int = 20
    errors: list[dict[str, Any]] = field(default_factory=list)
    seen: int = 0
    error_types: Counter = field(default_factory=Counter)
    in_a_row: int = 0

    def __call__(self, table: pa.Table, source: str) -> tuple[pa.Table, pa.Table | None]:
        t0 = time.perf_counter()
        self.stats.docs_in += table.num_rows
        self.stats.chars_in += text_chars(table)
        missing = [c for c in self.stage.requires if c not in table.column_names]
        if missing:  # e.g. langid on rows without text: reject the batch, no per-row exceptions
            reason = f"missing_column:{missing[0]}"
            if not self.stats.dropped.get(reason):
                log.warning("%s: stage %s needs column %r, which the input lacks; its rows are rejected",
                            source, self.stage.name, missing[0])
            results = [StageResult(table.slice(0, 0), with_reject_columns(table, self.stage.name,
                                                                           [reason] * table.num_rows))]
        else:
            try:
                results = [self.stage.process(table)]
                self.seen += table.num_rows
                self.in_a_row = 0
            except Exception:  # isolate the row(s) that raise; the batch and the run go on
                results = [self._one(table.slice(i, 1), source) for i in range(table.num_rows)]
            self._check_fraction(source)
        kept = pa.concat_tables([r.kept for r in results], promote_options="permissive") \
            if len(results) > 1 else results[0].kept
        rejected = [r.rejected for r in results if r.rejected is not None and r.rejected.num_rows]
        for r in results:
            self.stats.counters.update(r.counters)
            if r.rejected is not None:
                self.stats.dropped.update(r.rejected.column("reason").to_pylist())
        self.stats.docs_out += kept.num_rows
        self.stats.chars_out += text_chars(kept)
        self.stats.time_s += time.perf_counter() - t0
        rej = pa.concat_tables(rejected, promote_options="permissive") if rejected else None
        return kept, rej

    def _one(self, row: pa.Table, source: str) -> StageResult:
        self.seen += 1
        try:
            result = self.stage.process(row)
            self.in_a_row = 0
            return result
        except Exception as e:
            doc_id = row.column("id")[0].as_py() if "id" in row.column_names else None
            if isinstance(e, SYSTEMIC_ERRORS):
                raise StageFailure(failure_message(self.stage, e, f"{source}, document {doc_id}")) from e
            self.error_types[type(e).__name__] += 1
            self.in_a_row += 1
            if self.in_a_row >= self.max_consecutive_errors:
                self._trip(source, type(e).__name__, f"{self.in_a_row} documents in a row", e)
            msg = f"{type(e).__name__}: {e}"
            if len(self.errors) < MAX_LOGGED_ERRORS:
                log.warning("%s: stage %s raised on document %s: %s%s", source, self.stage.name, doc_id, msg,
                            "" if len(self.errors) < MAX_LOGGED_ERRORS - 1 else " (further errors of this stage "
                            "in this file are only counted, see stats.json)")
            self.errors.append({"file": source, "offset": doc_id, "stage": self.stage.name,
                                "error": msg, "trace": traceback.format_exc(limit=3)[-500:]})
            self.stats.counters[f"error:{type(e).__name__}"] += 1
            return StageResult(row.slice(0, 0), with_reject_columns(row, self.stage.name, [f"error:{type(e).__name__}"]))


    def _check_fraction(self, source: str) -> None:
        if self.seen < self.max_consecutive_errors:
            return
        for name, n in self.error_types.items():
            if n > self.max_error_fraction * self.seen:
                self._trip(source, name, f"{n} of {self.seen} documents (> executor.max_error_fraction="
                                         f"{self.max_error_fraction})", None)

    def _trip(self, source: str, error: str, how: str, e: Exception | None) -> None:
        sample = f" (last: {e})" if e is not None else ""
        raise StageFailure(f"{self.stage.name}: {self.stage.backend} raised {error} on {how} of {source}{sample}. "
                           "That is a broken stage or environment, not bad documents: fix it (or raise "
                           "executor.max_error_fraction / max_consecutive_errors if the input is really this "
                           "bad), then rerun the same command to resume") from e


def _input_batches(task: MapTask, config: PipelineConfig, rlog: ReadLog) -> Iterator[pa.Table]:
    if task.input is not None:
        yield from read_batches(task.input, config.executor.batch_size, rlog)
    else:
        yield from iter_parts([task.part], config.executor.batch_size)


class Worker:
    """What runs map tasks in one worker (this process, a pool process, a Ray actor).

    It owns its stages — built once, so models load once per worker, not once per task —
    and has a global stage load the decisions of each task's own documents before the task
    applies them. One worker serves one run.
    """

    def __init__(self, config: PipelineConfig, context: RunContext):
        self.config = config
        self.context = context
        self._stages: dict[str, Stage] = {}

    def stage(self, name: str) -> Stage:
        if name not in self._stages:
            self._stages[name] = stage_class(name)(self.config.stage_config(name), self.context)
        return self._stages[name]

    def run(self, task: MapTask, progress: Callable[[int], None] | None = None) -> dict[str, Any]:
        """Run ``task``; returns (and writes) its stats dict. Idempotent: outputs are replaced."""
        config, paths = self.config, self.context.paths
        s, i = task.segment, task.index
        stages = [self.stage(n) for n in task.stages]
        if task.apply:
            applying = self.stage(task.apply)
            assert isinstance(applying, GlobalStage)
            applying.load(paths.reduce_dir(task.apply), task.keys)
        ex = config.executor
        runners = [StageRunner(st, StageStats(st.name), ex.max_error_fraction, ex.max_consecutive_errors)
                   for st in stages]
        collector = self.stage(task.collect) if task.collect else None
        collect_time = 0.0
        rlog = ReadLog()
        out = AtomicParquetWriter(paths.part(s, i), config.output.compression, config.output.compression_level)
        rej = AtomicParquetWriter(paths.rejected(s, i), config.output.compression, config.output.compression_level)
        keys = AtomicParquetWriter(paths.keys(s, i), "zstd", 1) if collector else None
        try:
            for batch in _input_batches(task, config, rlog):
                n_in = batch.num_rows
                for runner in runners:
                    if batch.num_rows == 0:
                        break
                    batch, dropped = runner(batch, task.label)
                    if dropped is not None and config.output.write_rejected:
                        rej.write(dropped.drop_columns([c for c in HEAVY_COLUMNS if c in dropped.column_names]))
                if batch.num_rows:
                    out.write(batch)
                    if collector is not None:
                        t0 = time.perf_counter()
                        keys.write(collector.collect(batch))
                        collect_time += time.perf_counter() - t0
                if progress:
                    progress(n_in)
            out.close()
            rej.close(empty_schema=None)
            if keys is not None:
                keys.close(empty_schema=None)
        except BaseException:
            for w in (out, rej, keys):
                if w is not None:
                    w.abort()
            raise
        stage_stats = [r.stats for r in runners]
        if stage_stats and stage_stats[0].name == "read":
            stage_stats[0].counters.update(rlog.counters)
        errors = rlog.errors + [e for r in runners for e in r.errors]
        result = {
            "task": {"segment": s, "index": i, "input": task.label},
            "input_bytes": task.input.size if task.input else 0,
            "stages": [st.to_dict() for st in stage_stats],
            "collect": {"name": task.collect, "time_s": round(collect_time, 3)} if task.collect else None,
            "errors": {"count": len(errors), "samples": errors[:MAX_ERROR_SAMPLES]},
            "outputs": {"rows": out.rows, "rejected": rej.rows,
                        "keys": keys.path.name if keys is not None and keys.rows else None},
        }
        write_json_atomic(paths.stats(s, i), result)
        return result


def load_task_stats(path: PathLike) -> dict[str, Any] | None:
    """A finished task's stats, or None when the task has not completed."""
    try:
        return json.loads(StoragePath.of(path).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None

