"""Where a run keeps its files: the work directory's layout (task parts, keys, stats,
reduce outputs) and the output's ``rejected/``. Built once, from the run's context; the
directories are :class:`~webrefinery.pipeline.io.storage.StoragePath` (a local disk or any
fsspec URL)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from webrefinery.pipeline.io.storage import StoragePath

#: files, relative to an output directory, that only a refinery run writes: either marks the
#: directory as a refinery output (``--overwrite`` may delete it; as ``--input`` only its data/ is read)
OUTPUT_MARKERS = ("_work/run.json", "manifest.json")


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
    def complete(self) -> "StoragePath":
        """Written last by a run that finished: a rerun has nothing to do."""
        return self.work_dir / "complete.json"
