"""Where a run keeps its files: the work directory's layout (task parts, keys, stats,
reduce outputs) and the output's ``rejected/``. Built once, from the run's context."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TaskPaths:
    work_dir: Path
    out_dir: Path

    def seg(self, s: int) -> Path:
        return self.work_dir / f"seg{s}"

    def part(self, s: int, i: int) -> Path:
        return self.seg(s) / f"part-{i:05d}.parquet"

    def keys(self, s: int, i: int) -> Path:
        return self.seg(s) / f"keys-{i:05d}.parquet"

    def stats(self, s: int, i: int) -> Path:
        return self.seg(s) / f"stats-{i:05d}.json"

    def rejected(self, s: int, i: int) -> Path:
        return self.out_dir / "rejected" / f"seg{s}-part-{i:05d}.parquet"

    def reduce_dir(self, name: str) -> Path:
        return self.work_dir / f"reduce-{name}"

    @property
    def complete(self) -> Path:
        """Written last by a run that finished: a rerun has nothing to do."""
        return self.work_dir / "complete.json"
