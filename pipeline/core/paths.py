"""Where a run keeps its files: the work directory's layout (task parts, keys, stats,
reduce outputs), the output's own ``_work/`` (the markers of the output) and its
``rejected/``. Built once, from the run's context; the directories are
:class:`~webrefinery.pipeline.io.storage.StoragePath` (a local disk or any fsspec URL).

Two places, on purpose:

- ``OUT/_work/`` always holds what says what the output *is*: ``run.json`` (the run that
  owns it, and where its work directory is), the lease ``lock.json`` and ``complete.json``.
  They stay with the output, so that ``--overwrite``, two runs on one output and ``refinery
  verify`` see them wherever the work files went.
- the work directory holds what a run computes on the way: ``seg*/`` (task parts, dedup
  keys, task stats — the stats file is the part's completion marker, so each marker lies
  beside what it vouches for) and ``reduce-*/`` (decisions and their ``done``). It is
  ``OUT/_work`` too, unless ``executor.work_dir`` names another place; there each run gets
  its own subdirectory (:func:`run_dir`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from webrefinery.pipeline.io.storage import StoragePath

#: the output's own work directory (its markers; by default also the work files)
OUTPUT_WORK = "_work"
#: files, relative to an output directory, that only a refinery run writes: either marks the
#: directory as a refinery output (``--overwrite`` may delete it; as ``--input`` only its data/ is read)
OUTPUT_MARKERS = (f"{OUTPUT_WORK}/run.json", "manifest.json")


def run_dir(out_dir: "StoragePath", work_root: "StoragePath | None", run_id: str) -> "StoragePath":
    """The work directory of one run: ``OUT/_work`` without ``executor.work_dir``, else its
    subdirectory ``NAME-RUNID`` (the output's name, for people; the random id that
    ``OUT/_work/run.json`` records when the run starts). Keyed by a run id rather than by the
    output's URL: two local outputs of one path on two machines are different outputs, and an
    output deleted by hand and started again must not find the old run's finished tasks."""
    return out_dir / OUTPUT_WORK if work_root is None else work_root / f"{out_dir.name}-{run_id}"


@dataclass(frozen=True)
class TaskPaths:
    work_dir: "StoragePath"
    out_dir: "StoragePath"

    def seg(self, s: int) -> "StoragePath":
        return self.work_dir / f"seg{s}"

    def part(self, s: int, i: int) -> "StoragePath":
        return self.seg(s) / f"part-{i:05d}.parquet"

    def keys(self, s: int, i: int) -> "StoragePath":
        return self.seg(s) / f"keys-{i:05d}.parquet"

    def stats(self, s: int, i: int) -> "StoragePath":
        return self.seg(s) / f"stats-{i:05d}.json"

    def rejected(self, s: int, i: int) -> "StoragePath":
        return self.out_dir / "rejected" / f"seg{s}-part-{i:05d}.parquet"

    def reduce_dir(self, name: str) -> "StoragePath":
        return self.work_dir / f"reduce-{name}"

    @property
    def markers(self) -> "StoragePath":
        """``OUT/_work``: ``run.json``, the lease, ``complete.json`` (wherever the work files are)."""
        return self.out_dir / OUTPUT_WORK

    @property
    def run_marker(self) -> "StoragePath":
        """The run that owns the output: its output hash, stages, inputs, work directory."""
        return self.markers / "run.json"

    @property
    def complete(self) -> "StoragePath":
        """Written last by a run that finished: a rerun has nothing to do."""
        return self.markers / "complete.json"
