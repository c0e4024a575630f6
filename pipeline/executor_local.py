"""Local executor: tasks in-process (``workers: 1``) or in a process pool over input files.

Workers are started with ``spawn`` (no fork of a process holding threads or models) and
keep their stages — and the models they load — across tasks. A shared counter feeds one
progress bar with documents read by all workers.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any, Iterator

from tqdm import tqdm

from pipeline.config import PipelineConfig
from pipeline.stage import RunContext
from pipeline.task import MapTask, run_task

_COUNTER = None


def _init_worker(counter) -> None:
    global _COUNTER
    _COUNTER = counter


def _bump(n: int) -> None:
    with _COUNTER.get_lock():
        _COUNTER.value += n


def _pool_task(task: MapTask, config: PipelineConfig, context: RunContext) -> dict[str, Any]:
    return run_task(task, config, context, _bump)


class LocalExecutor:
    def __init__(self, config: PipelineConfig, context: RunContext):
        self.config = config
        self.context = context
        workers = config.executor.workers or os.cpu_count() or 1
        self.workers = workers
        self.pool: ProcessPoolExecutor | None = None
        self.counter = None

    def _bar(self, desc: str, total_tasks: int) -> tqdm:
        return tqdm(desc=desc, unit=" docs", disable=self.context.quiet or total_tasks == 0,
                    dynamic_ncols=True, mininterval=0.5)

    def run_tasks(self, tasks: list[MapTask], desc: str) -> Iterator[dict[str, Any]]:
        if not tasks:
            return
        bar = self._bar(desc, len(tasks))
        try:
            if self.workers == 1 or len(tasks) == 1:
                for t in tasks:
                    yield run_task(t, self.config, self.context, bar.update)
                    bar.set_postfix_str(f"files {t.index + 1}/{len(tasks)}")
                return
            yield from self._run_pool(tasks, bar)
        finally:
            bar.close()

    def _run_pool(self, tasks: list[MapTask], bar: tqdm) -> Iterator[dict[str, Any]]:
        if self.pool is None:
            ctx = mp.get_context("spawn")
            self.counter = ctx.Value("q", 0)
            self.pool = ProcessPoolExecutor(min(self.workers, len(tasks)), mp_context=ctx,
                                            initializer=_init_worker, initargs=(self.counter,))
        pending = {self.pool.submit(_pool_task, t, self.config, self.context) for t in tasks}
        seen, finished = self.counter.value, 0
        while pending:
            done, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            now = self.counter.value
            bar.update(now - seen)
            seen = now
            for fut in done:
                finished += 1
                bar.set_postfix_str(f"files {finished}/{len(tasks)}")
                yield fut.result()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()
            self.pool = None
