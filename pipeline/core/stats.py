"""Per-stage counters (docs/chars in and out, drop reasons, extra counters, time) and their merge.

Tasks write their own stats; the run sums them in pipeline order, so the local and the
Ray executor produce identical counts for the same input.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable

import pyarrow as pa
import pyarrow.compute as pc

#: at most this many error records are kept in stats.json (all are counted)
MAX_ERROR_SAMPLES = 1000


@dataclass
class StageStats:
    name: str
    docs_in: int = 0
    docs_out: int = 0
    chars_in: int = 0
    chars_out: int = 0
    dropped: Counter = field(default_factory=Counter)
    counters: Counter = field(default_factory=Counter)
    time_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "docs_in": self.docs_in, "docs_out": self.docs_out,
                "chars_in": self.chars_in, "chars_out": self.chars_out,
                "dropped": dict(sorted(self.dropped.items(), key=lambda kv: (-kv[1], kv[0]))),
                "counters": dict(sorted(self.counters.items())), "time_s": round(self.time_s, 3)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "StageStats":
        return cls(d["name"], d["docs_in"], d["docs_out"], d["chars_in"], d["chars_out"],
                   Counter(d["dropped"]), Counter(d["counters"]), d["time_s"])

    def add(self, other: "StageStats") -> None:
        self.docs_in += other.docs_in
        self.docs_out += other.docs_out
        self.chars_in += other.chars_in
        self.chars_out += other.chars_out
        self.dropped.update(other.dropped)
        self.counters.update(other.counters)
        self.time_s += other.time_s


def text_chars(table: pa.Table) -> int:
    """Characters of the document body: ``text`` when present, else ``html``."""
    for col in ("text", "html"):
        if col in table.column_names and table.column(col).null_count < table.num_rows:
            return int(pc.sum(pc.utf8_length(table.column(col))).as_py() or 0)
    return 0


def merge_stages(order: list[str], task_stats: Iterable[list[dict[str, Any]]]) -> list[StageStats]:
    """Sum per-task stage stats into one entry per stage, in pipeline ``order``."""
    merged = {name: StageStats(name) for name in order}
    for stages in task_stats:
        for d in stages:
            merged.setdefault(d["name"], StageStats(d["name"])).add(StageStats.from_dict(d))
    return [merged[n] for n in order] + [s for n, s in merged.items() if n not in order]
