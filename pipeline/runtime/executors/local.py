"""Local executor: tasks in-process (``workers: 1``) or in a process pool over input files.

Workers are started with ``spawn`` (no fork of a process holding threads or models) and
keep their stages — and the models they load — across tasks. A shared counter feeds one
progress bar with documents read by all workers, and their log records are printed by this
process (between the bar's lines). Workers ignore SIGINT (from their start: they inherit
SIG_IGN): Ctrl-C reaches the whole process group, and the main process alone stops the run
and terminates the workers, so no worker prints a traceback. A worker that
dies takes the pool with it (``BrokenProcessPool``): the pool is restarted and the
unfinished tasks redone, boundedly.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import signal
import threading
from contextlib import contextmanager
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from logging.handlers import QueueListener
from pathlib import Path
from typing import Any, Iterator

from tqdm import tqdm

from webrefinery.pipeline.core.config import PipelineConfig
from webrefinery.pipeline.core.errors import TaskFailedError
from webrefinery.pipeline.core.exit import skip_final_gc
from webrefinery.pipeline.core.stage import RunContext
from webrefinery.pipeline.core.logs import forward_logs, log_listener
from webrefinery.pipeline.core.stage import GlobalStage
from webrefinery.pipeline.runtime.task import MapTask, Worker

log = logging.getLogger("refinery")


@contextmanager
def _sigint_ignored() -> Iterator[None]:
    """SIGINT ignored in this (main) thread for a moment, so that processes started now ignore
    it from their first instruction; a Ctrl-C in these milliseconds is lost."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class _PoolProcess:
    """A pool process's own worker and the shared document counter, set up by the pool's
    initializer (a process of a ``ProcessPoolExecutor`` can keep state nowhere else)."""

    worker: Worker
    counter: Any

    @classmethod
    def init(cls, counter: Any, logs: Any, config: PipelineConfig, context: RunContext) -> None:
        skip_final_gc()
        forward_logs(logs, context.quiet)
        cls.worker, cls.counter = Worker(config, context), counter

    @classmethod
    def bump(cls, n: int) -> None:
        with cls.counter.get_lock():
            cls.counter.value += n

    @classmethod
    def run(cls, task: MapTask) -> dict[str, Any]:
        return cls.worker.run(task, cls.bump)


class LocalExecutor:
    def __init__(self, config: PipelineConfig, context: RunContext):
        self.config = config
        self.context = context
        workers = config.executor.workers or os.cpu_count() or 1
        self.workers = workers
        self.pool: ProcessPoolExecutor | None = None
        self.counter = None
        self.listener: QueueListener | None = None  # prints the pool workers' log records
        self.worker: Worker | None = None  # the in-process worker (workers: 1)

    def _bar(self, desc: str, total_tasks: int) -> tqdm:
        return tqdm(desc=desc, unit=" docs", disable=self.context.quiet or total_tasks == 0,
                    dynamic_ncols=True, mininterval=0.5)

    def run_tasks(self, tasks: list[MapTask], desc: str) -> Iterator[dict[str, Any]]:
        if not tasks:
            return
        bar = self._bar(desc, len(tasks))
        try:
            if self.workers == 1 or len(tasks) == 1:
                self.worker = self.worker or Worker(self.config, self.context)
                for t in tasks:
                    yield self.worker.run(t, bar.update)
                    bar.set_postfix_str(f"files {t.index + 1}/{len(tasks)}")
                return
            yield from self._run_pool(tasks, bar)
        finally:
            bar.close()

    def _start_pool(self, n_tasks: int) -> None:
        ctx = mp.get_context("spawn")
        self.counter = ctx.Value("q", 0)
        logs = ctx.Queue()  # one per pool: a worker killed while writing to it may leave its lock held
        self.listener = log_listener(logs)
        self.pool = ProcessPoolExecutor(min(self.workers, n_tasks), mp_context=ctx, initializer=_PoolProcess.init,
                                        initargs=(self.counter, logs, self.config, self.context))

    def _drop_pool(self, terminate: bool) -> None:
        """Shut the pool down without waiting for its workers (``terminate``: stop them now).
        The log listener is left to its (daemon) thread: stopping it writes to the queue,
        whose lock a dead worker may hold."""
        self.pool.shutdown(wait=False, cancel_futures=True)
        if terminate:
            for p in mp.active_children():
                p.terminate()
        self.pool = self.listener = None

    def _run_pool(self, tasks: list[MapTask], bar: tqdm) -> Iterator[dict[str, Any]]:
        """Run ``tasks`` in the pool; when a worker dies (SIGKILL, out of memory) the pool is
        restarted and the unfinished tasks are redone, at most ``executor.max_retries`` times."""
        todo = {t.index: t for t in tasks}
        restarts, finished = 0, 0
        while todo:
            if self.pool is None:
                self._start_pool(len(todo))
            with _sigint_ignored():  # the pool's processes start at the first submit and inherit SIG_IGN
                futures = {self.pool.submit(_PoolProcess.run, t): t for t in todo.values()}
            seen = self.counter.value
            broken = False
            while futures and not broken:
                done, _ = wait(futures, timeout=0.5, return_when=FIRST_COMPLETED)
                now = self.counter.value
                bar.update(now - seen)
                seen = now
                for fut in done:
                    task = futures.pop(fut)
                    try:
                        result = fut.result()
                    except BrokenProcessPool:
                        broken = True
                        continue
                    del todo[task.index]
                    finished += 1
                    bar.set_postfix_str(f"files {finished}/{len(tasks)}")
                    yield result
            if not broken:
                continue
            self._drop_pool(terminate=False)
            restarts += 1
            labels = ", ".join(t.label for t in todo.values())
            if restarts > self.config.executor.max_retries:
                raise TaskFailedError(f"a worker process died {restarts} times (executor.max_retries="
                                      f"{self.config.executor.max_retries}); unfinished inputs: {labels}. "
                                      "Check memory (a killed worker is often out of memory) and rerun the same "
                                      "command to resume")
            log.warning("a worker process died (killed or out of memory); restarting the pool and redoing "
                        "%d unfinished task(s), retry %d of %d", len(todo), restarts, self.config.executor.max_retries)

    def reduce(self, stage: GlobalStage, key_files: list[Path], work_dir: Path) -> None:
        """In this process (the stage's own memory-bounded reduce)."""
        stage.reduce(key_files, work_dir, None)

    def close(self, abort: bool = False) -> None:
        """Shut the pool down; ``abort`` (a failed run) cancels queued tasks and stops the
        workers now instead of letting them finish the tasks they hold."""
        if self.pool is None:
            return
        if abort:
            self._drop_pool(terminate=True)
            return
        self.pool.shutdown()
        self.listener.stop()  # the workers have exited: every record they sent is printed first
        self.pool = self.listener = None
