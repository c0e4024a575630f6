"""The executor protocol: the one place that knows how work is distributed.

The runner hands an executor the plan's map tasks and each global stage's reduce; the
executor decides where they run. ``local`` runs tasks in-process or in a process pool
and reduces in-process; ``ray`` runs tasks in a Ray Data actor pool and gives reduces a
distributed dataflow (:mod:`webrefinery.pipeline.core.dataflow`). Stages never import either.
"""

from __future__ import annotations

from typing import Any, Iterator, Protocol

from webrefinery.pipeline.core.config import PipelineConfig
from webrefinery.pipeline.core.stage import GlobalStage, RunContext
from webrefinery.pipeline.io.storage import StoragePath
from webrefinery.pipeline.runtime.task import MapTask


class Executor(Protocol):
    def run_tasks(self, tasks: list[MapTask], desc: str) -> Iterator[dict[str, Any]]:
        """Run ``tasks``; yield each one's stats as it finishes (any order)."""

    def reduce(self, stage: GlobalStage, key_files: list[StoragePath], work_dir: StoragePath) -> None:
        """Run ``stage``'s reduce over the keys the map pass collected."""

    def close(self, abort: bool = False) -> None:
        """Release workers; ``abort`` (a failed run) stops them without finishing their tasks."""


def make_executor(config: PipelineConfig, context: RunContext) -> Executor:
    if config.executor.kind == "ray":
        from webrefinery.pipeline.runtime.executors.ray import RayExecutor
        return RayExecutor(config, context)
    from webrefinery.pipeline.runtime.executors.local import LocalExecutor
    return LocalExecutor(config, context)
