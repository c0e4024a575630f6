"""What a distributed reduce may ask of an executor: a small dataflow of Arrow tables.

A global stage's reduce that must not run in one process (dedup's band grouping and
connected components) is written against these two protocols, never against Ray: the
executor that owns a cluster hands an implementation to ``GlobalStage.reduce`` (the Ray
executor wraps Ray Data, :class:`webrefinery.pipeline.runtime.executors.ray.RayDataflow`), and a reduce
that gets ``None`` runs in-process. Every function passed in is a plain function of a
``pyarrow.Table`` and keyword arguments, so it runs unchanged on any worker.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator, Protocol

import pyarrow as pa

#: a batch or group function: table + keyword arguments → table
TableFn = Callable[..., pa.Table]


class Dataset(Protocol):
    """A distributed collection of Arrow rows."""

    def map_batches(self, fn: TableFn, *, batch_size: int | None = None, **kwargs: Any) -> "Dataset":
        """``fn(batch, **kwargs)`` on every batch (``batch_size`` rows; None = the engine's default)."""

    def shuffle(self, fn: TableFn, parts: int, **kwargs: Any) -> "Dataset":
        """Group rows by their int64 ``part`` column (``0 ≤ part < parts``) and call
        ``fn(group, parts=parts, **kwargs)`` once per group, on any worker."""

    def union(self, other: "Dataset") -> "Dataset":
        """The rows of both datasets (same schema)."""

    def materialize(self) -> "Dataset":
        """Compute now and keep the result (it is read more than once)."""

    def count(self) -> int:
        """Number of rows."""

    def tables(self) -> Iterator[pa.Table]:
        """The rows, streamed to the caller as tables."""


class Dataflow(Protocol):
    """The entry point an executor hands to a distributed reduce."""

    #: CPUs the reduce may use (sets the default number of shuffle partitions)
    cpus: int

    def from_items(self, items: list[dict[str, Any]], blocks: int) -> Dataset:
        """A dataset of ``items`` (one row each) split into ``blocks`` blocks."""
