"""Ray executor: the map tasks of a segment run in a Ray Data actor pool.

Each input file (or part of the previous segment) is one row of a Ray Data dataset; an
actor pool (``map_batches`` with a callable class, ``batch_size=1``) runs
:class:`webrefinery.pipeline.runtime.task.Worker` on it. An actor keeps its stages — and the models they load
(fastText, OpenCC, the quality classifier) — across all the tasks it runs, exactly like a
worker of the local process pool, so both executors run the same code on the same batches
and write byte-identical outputs, per-task completion markers included (resume works the
same way).

Fault tolerance: a worker process that dies (OOM kill, SIGKILL, node loss) is restarted by
Ray and its task is retried up to ``executor.max_retries`` times; the task rewrites its
outputs from scratch (atomic writes). A lost node can use up those retries in a second
(Ray retries while the actor is still being restarted elsewhere), so tasks still lost after
a segment's pass are redone once more on a fresh actor pool. An exception escaping a task is not retried (it would
fail the same way) and is reported. When tasks still fail, the run stops after the others
finish and names every input that failed; rerunning the same command redoes only those.

Without an address (and without ``RAY_ADDRESS``, which ``ray job submit`` sets) ``ray.init``
starts a local Ray; with one it joins the cluster. Every path a task or reduce gets is
absolute (a local path) or a URL: on a cluster the output is on object storage
(``s3://…``, no shared disk needed; each node reads its credentials from its own
environment) or on a filesystem every node mounts.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import pickle
import traceback
import warnings
from typing import Any, Iterator

import pyarrow as pa
from tqdm import tqdm

from webrefinery.pipeline.core.config import PipelineConfig
from webrefinery.pipeline.core.errors import StageFailure, TaskFailedError
from webrefinery.pipeline.core.stage import RunContext
from webrefinery.pipeline.core.stage import GlobalStage
from webrefinery.pipeline.io.storage import StoragePath
from webrefinery.pipeline.runtime.task import MapTask, Worker, load_task_stats

log = logging.getLogger("refinery")


class RunTasks:
    """Actor body: runs the map tasks that arrive as rows (pickled); returns their stats as JSON."""

    def __init__(self, config: PipelineConfig, context: RunContext):
        self.worker = Worker(config, context)

    def __call__(self, batch: pa.Table) -> pa.Table:
        results, errors, systemic = [], [], []
        for blob in batch.column("task").to_pylist():
            try:
                results.append(json.dumps(self.worker.run(pickle.loads(blob))))
                errors.append(None)
                systemic.append(False)
            except Exception as e:  # reported by the driver with the input's name
                results.append(None)
                errors.append(f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=4)[-800:]}")
                systemic.append(isinstance(e, StageFailure))
        return pa.table({"k": batch.column("k"), "result": pa.array(results, pa.string()),
                         "error": pa.array(errors, pa.string()), "systemic": pa.array(systemic, pa.bool_())})


class RayExecutor:
    """Same interface as :class:`webrefinery.pipeline.runtime.executors.local.LocalExecutor`."""

    def __init__(self, config: PipelineConfig, context: RunContext):
        import ray

        self.config = config
        self.rc = config.executor.ray
        self.context = context
        self.started_ray = not ray.is_initialized()
        if self.started_ray:
            joining = self.rc.cluster_address()
            store = self.rc.object_store_memory_mb * 2**20 if self.rc.object_store_memory_mb and not joining else None
            ray.init(address=self.rc.address, object_store_memory=store,
                     include_dashboard=False, log_to_driver=not context.quiet,
                     logging_level=logging.WARNING if context.quiet else logging.INFO)
        logging.getLogger("ray.data").setLevel(logging.WARNING)  # our bar reports progress
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False  # one bar of our own, counted in documents
        ctx.max_errored_blocks = -1  # a failed task must not hide the others; reported below

    def _pool_size(self, n_tasks: int) -> int:
        import ray

        if self.rc.actor_pool_size:
            size = self.rc.actor_pool_size
        else:
            size = int(ray.cluster_resources().get("CPU", 1) // self.rc.num_cpus_per_task)
        return max(1, min(size, n_tasks))

    def run_tasks(self, tasks: list[MapTask], desc: str) -> Iterator[dict[str, Any]]:
        if not tasks:
            return
        failed: dict[int, str] = {}
        finished: set[int] = set()
        bar = tqdm(total=len(tasks), desc=desc, unit=" files", disable=self.context.quiet,
                   dynamic_ncols=True, mininterval=0.5)
        bar.docs = 0
        try:
            yield from self._round(tasks, list(range(len(tasks))), bar, failed, finished)
            lost = self._lost(tasks, finished, failed)
            if lost:  # a lost node takes its actors' retries with it (Ray retries at once, while they restart)
                log.warning("%d task(s) lost with their worker (a node lost, or a worker killed %d times); redoing "
                            "them once on a fresh actor pool", len(lost), self.config.executor.max_retries + 1)
                yield from self._round(tasks, lost, bar, failed, finished)
        finally:
            bar.close()
        self._report(tasks, finished, failed)

    def _round(self, tasks: list[MapTask], ks: list[int], bar: tqdm, failed: dict[int, str],
               finished: set[int]) -> Iterator[dict[str, Any]]:
        """Run ``tasks[k]`` for each ``k`` in ``ks`` on one actor pool; record what finished or failed."""
        import ray

        ds = ray.data.from_items([{"k": k, "task": pickle.dumps(tasks[k])} for k in ks], override_num_blocks=len(ks))
        with warnings.catch_warnings():
            # Ray 2.60 deprecates **ray_remote_args but has no other way to bound actor task
            # retries (its default is to retry forever).
            warnings.simplefilter("ignore", ray.util.annotations.RayDeprecationWarning)
            ds = ds.map_batches(
                RunTasks, fn_constructor_kwargs={"config": self.config, "context": self.context},
                batch_size=1, batch_format="pyarrow",
                compute=ray.data.ActorPoolStrategy(size=self._pool_size(len(ks))),
                num_cpus=self.rc.num_cpus_per_task,
                memory=self.rc.memory_per_task_mb * 2**20 if self.rc.memory_per_task_mb else None,
                max_restarts=-1, max_task_retries=self.config.executor.max_retries)
        for row in ds.iter_rows():
            k = row["k"]
            if row["systemic"]:  # a broken stage or environment: every other task would fail too
                raise StageFailure(row["error"].split("\n", 1)[0].removeprefix("StageFailure: "))
            if row["error"] is not None:
                failed[k] = row["error"]
                continue
            result = json.loads(row["result"])
            finished.add(k)
            bar.docs += result["stages"][0]["docs_in"] if result["stages"] else 0
            bar.update(1)
            bar.set_postfix_str(f"{bar.docs} docs")
            yield result

    def _lost(self, tasks: list[MapTask], finished: set[int], failed: dict[int, str]) -> list[int]:
        """Tasks that neither finished nor failed: their worker died every time it was retried."""
        paths = self.context.paths
        return [k for k in range(len(tasks)) if k not in finished and k not in failed
                and load_task_stats(paths.stats(tasks[k].segment, tasks[k].index)) is None]

    def _report(self, tasks: list[MapTask], finished: set[int], failed: dict[int, str]) -> None:
        """Raise naming every task that did not finish (an error, or its worker died too often)."""
        lost = self._lost(tasks, finished, failed)
        if not failed and not lost:
            return
        lines = [f"  {tasks[k].label}: {failed[k].splitlines()[0]}" for k in sorted(failed)]
        retries = self.config.executor.max_retries
        lines += [f"  {tasks[k].label}: worker died {2 * (retries + 1)} times (executor.max_retries={retries}, "
                  "and once more on a fresh pool)"
                  for k in lost]
        for k in sorted(failed):
            log.error("task %s failed:\n%s", tasks[k].label, failed[k])
        raise TaskFailedError(f"{len(lines)} of {len(tasks)} inputs failed; fix them and rerun the same command "
                              "to redo only these:\n" + "\n".join(lines))

    def reduce(self, stage: GlobalStage, key_files: list[StoragePath], work_dir: StoragePath) -> None:
        """On the cluster: the stage gets a Ray Data dataflow (with the task-based sort
        shuffle, which starts in well under a second per step — the default hash shuffle
        starts a pool of actors per step, which dominates on small and medium corpora —
        restored afterwards)."""
        import ray
        from ray.data.context import DataContext, ShuffleStrategy

        ctx = DataContext.get_current()
        previous, ctx.shuffle_strategy = ctx.shuffle_strategy, ShuffleStrategy.SORT_SHUFFLE_PULL_BASED
        try:
            stage.reduce(key_files, work_dir, RayDataflow(int(ray.cluster_resources().get("CPU", 1))))
        finally:
            ctx.shuffle_strategy = previous

    def close(self, abort: bool = False) -> None:
        """Shut down the Ray this executor started (its actors with it, also on ``abort``)."""
        import ray

        if self.started_ray and ray.is_initialized():
            ray.shutdown()


@dataclasses.dataclass
class RayDataset:
    """:class:`webrefinery.pipeline.core.dataflow.Dataset` on a Ray Data dataset."""

    ds: Any

    def map_batches(self, fn, *, batch_size: int | None = None, **kwargs: Any) -> "RayDataset":
        size = {"batch_size": batch_size} if batch_size is not None else {}  # None: Ray Data's default
        return RayDataset(self.ds.map_batches(fn, batch_format="pyarrow", fn_kwargs=kwargs, **size))

    def shuffle(self, fn, parts: int, **kwargs: Any) -> "RayDataset":
        return RayDataset(self.ds.groupby("part", num_partitions=parts).map_groups(
            fn, batch_format="pyarrow", fn_kwargs=dict(kwargs, parts=parts)))

    def union(self, other: "RayDataset") -> "RayDataset":
        return RayDataset(self.ds.union(other.ds))

    def materialize(self) -> "RayDataset":
        return RayDataset(self.ds.materialize())

    def count(self) -> int:
        return self.ds.count()

    def tables(self) -> Iterator[pa.Table]:
        for b in self.ds.iter_batches(batch_format="pyarrow"):
            yield pa.Table.from_batches([b]) if isinstance(b, pa.RecordBatch) else b


@dataclasses.dataclass
class RayDataflow:
    """:class:`webrefinery.pipeline.core.dataflow.Dataflow` on the Ray this executor joined or started."""

    cpus: int

    def from_items(self, items: list[dict[str, Any]], blocks: int) -> RayDataset:
        import ray

        return RayDataset(ray.data.from_items(items, override_num_blocks=blocks))
