"""PyTorch pretraining dataloader over the token shards of ``refinery tokenize``.

The only module of the project that imports ``torch`` (an optional extra: ``pip install
webrefinery[train]``). What the samples are, how sources are mixed, how skip ranges and the
split between ranks work: :mod:`webrefinery.tokenizer_training.mixture` (NumPy only).

The dataset yields whole batches: ``(input_ids, labels)``, ``torch.long [batch_size, seq_len]``
each, ``labels`` = inputs shifted by one (loss on every token); batch ``b`` of rank ``r`` is
the ``r``-th ``batch_size`` samples of global batch ``b``. Within a rank, consecutive
batches go round-robin to the DataLoader workers — the order in which ``DataLoader``
collects them — so the loader's output equals the rank's sequence whatever ``num_workers``
is. The last batch of an epoch may be smaller.

**Resume.** ``state_dict()`` holds ``epoch`` and ``next_sample``: the first pass index not yet
delivered, computed as if every rank had delivered as many samples as this one (true at a
step boundary of synchronous data-parallel training), so the state is the same on every rank
and does not depend on the world size. ``load_state_dict()`` continues from there. Guarantee:
if every rank saves at the same step, a run resumed from that state — with the same sources,
weights, ``max_epochs``, seed and ``seq_len``, and any world size, batch size, number of
workers, or skip ranges added beyond ``next_sample`` — delivers exactly the kept stream from
``next_sample`` on: over all runs of a pass, each kept sample is delivered exactly once, in
stream order (global batch by global batch), except the last ``kept % world_size``
(< world size) samples of the run that ends the pass, which are not delivered. A state taken
between batches of a step (ranks at different counts) does not have this guarantee.
``global_sample`` (``epoch * samples_per_epoch + next_sample``) is the index to use in
``skip_ranges``: log it with each step, and to step over a loss spike restart from a
checkpoint with ``skip_ranges=[(logged at the first bad step, logged after the last)]``.
With ``num_workers > 0`` the counting is done by :class:`PackedDataLoader` (worker processes
hold copies of the dataset). An epoch that runs to its end advances ``epoch`` (the next pass
reshuffles); ``set_epoch`` sets it explicitly.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from webrefinery.tokenizer_training.mixture import (BatchReader, Mixture, RankSplit, check_skip_ranges,
                                                    pass_skip_ranges, sources_from)

STATE_VERSION = 2
log = logging.getLogger(__name__)


class PackedTokenDataset(IterableDataset):
    """Batches of packed ``(input_ids, labels)`` from one token directory (``path``) or a weighted
    mix (``sources={name: (path, weight)}``, ``max_epochs`` per source or for all)."""

    def __init__(self, path: str | os.PathLike[str] | None = None, seq_len: int = 1024,
                 rank: int | None = None, world_size: int | None = None, seed: int = 0, epoch: int = 0,
                 skip_ranges: Sequence[tuple[int, int]] = (), batch_size: int = 1,
                 sources: Mapping[str, tuple[str | os.PathLike[str], float]] | None = None,
                 max_epochs: float | Mapping[str, float] | None = None) -> None:
        super().__init__()
        if seq_len < 1 or batch_size < 1:
            raise ValueError("seq_len and batch_size must be >= 1")
        self.seq_len, self.seed, self.batch_size = int(seq_len), int(seed), int(batch_size)
        self.mixture = Mixture(sources_from(path, sources, max_epochs), self.seq_len)
        if rank is None or world_size is None:
            distributed = dist.is_available() and dist.is_initialized()
            rank = dist.get_rank() if distributed else 0 if rank is None else rank
            world_size = dist.get_world_size() if distributed else 1 if world_size is None else world_size
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in [0, world_size={world_size})")
        self.rank, self.world_size = int(rank), int(world_size)
        #: stream indices of one epoch (pass over the mixture), for all ranks together
        self.samples_per_epoch = self.mixture.samples_per_epoch
        self.skip_ranges = check_skip_ranges(skip_ranges)
        self.epoch = int(epoch)
        self.start = 0      # pass index this run of the epoch started at
        self.position = 0   # samples this rank has delivered since ``start``
        log.info("token mixture: %s", self.report())

    # ----------------------------------------------------------------- state
    def report(self) -> list[dict[str, Any]]:
        """Per source: weights, budget, and the epochs of it one pass reads (:meth:`Mixture.report`)."""
        return self.mixture.report()

    def split(self) -> RankSplit:
        """This rank's share of the current epoch from ``start``."""
        skip = pass_skip_ranges(self.skip_ranges, self.epoch, self.samples_per_epoch)
        return RankSplit(self.start, self.samples_per_epoch, skip, self.rank, self.world_size, self.batch_size)

    @property
    def samples_per_rank(self) -> int:
        """Samples this rank yields in the current epoch from ``start``."""
        return self.split().per_rank

    def set_epoch(self, epoch: int) -> None:
        """Start ``epoch`` from its first sample."""
        self.epoch, self.start, self.position = int(epoch), 0, 0

    def state_dict(self) -> dict[str, Any]:
        nxt = self.split().next_index(self.position)
        return {"version": STATE_VERSION, "epoch": self.epoch, "next_sample": nxt,
                "global_sample": self.epoch * self.samples_per_epoch + nxt,
                "seed": self.seed, "seq_len": self.seq_len, "samples_per_epoch": self.samples_per_epoch,
                "mixture": self.mixture.fingerprint(), "rank": self.rank, "world_size": self.world_size,
                "skip_ranges": [list(r) for r in self.skip_ranges]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from ``state``; data, weights, max_epochs, seed and seq_len must be the same
        (world size, batch size, workers and skip ranges may change)."""
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"cannot resume: loader state version {state.get('version')}, expected {STATE_VERSION}")
        for key, now in (("seed", self.seed), ("seq_len", self.seq_len), ("mixture", self.mixture.fingerprint()),
                         ("samples_per_epoch", self.samples_per_epoch)):
            if state[key] != now:
                raise ValueError(f"cannot resume: {key} was {state[key]}, is now {now}")
        self.epoch, self.start, self.position = int(state["epoch"]), int(state["next_sample"]), 0

    def _advance_epoch(self) -> None:
        self.set_epoch(self.epoch + 1)

    # -------------------------------------------------------------- iterate
    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        info = get_worker_info()
        worker, num_workers = (info.id, info.num_workers) if info is not None else (0, 1)
        in_process = info is None
        epoch, split, first = self.epoch, self.split(), self.position
        reader = BatchReader(self.mixture, self.seed, epoch)
        starts = range(first, split.per_rank, self.batch_size)
        for b, lo in enumerate(starts):
            if b % num_workers != worker:
                continue
            hi = min(lo + self.batch_size, split.per_rank)
            x, y, _ = reader.read(split.indices(np.arange(lo, hi)))
            if in_process:
                self.position = hi
            yield torch.from_numpy(x), torch.from_numpy(y)
        if in_process and self.epoch == epoch:
            self._advance_epoch()


class PackedDataLoader(DataLoader):
    """A ``DataLoader`` over a :class:`PackedTokenDataset` (which batches itself) that keeps the
    resume position exact with worker processes and moves batches to ``device`` (non-blocking,
    from pinned memory) when one is given."""

    def __init__(self, dataset: PackedTokenDataset, device: str | torch.device | None = None, **kwargs: Any) -> None:
        if kwargs.get("persistent_workers"):
            raise ValueError("persistent_workers is not supported: workers must see the current epoch/position")
        super().__init__(dataset, batch_size=None, **kwargs)
        self.device = torch.device(device) if device is not None else None

    def __iter__(self) -> Iterator[Any]:
        ds: PackedTokenDataset = self.dataset  # type: ignore[assignment]
        epoch = ds.epoch
        non_blocking = self.device is not None and self.device.type == "cuda"
        for batch in super().__iter__():
            if self.num_workers > 0:
                ds.position += len(batch[0])
            if self.device is not None:
                batch = [t.to(self.device, non_blocking=non_blocking) for t in batch]
            yield batch
        if self.num_workers > 0 and ds.epoch == epoch:
            ds._advance_epoch()

    def state_dict(self) -> dict[str, Any]:
        return self.dataset.state_dict()  # type: ignore[attr-defined]

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.dataset.load_state_dict(state)  # type: ignore[attr-defined]

    def report(self) -> list[dict[str, Any]]:
        return self.dataset.report()  # type: ignore[attr-defined]


DATASET_KEYS = ("rank", "world_size", "seed", "epoch", "skip_ranges", "sources", "max_epochs")


def build_dataloader(path: str | os.PathLike[str] | None = None, batch_size: int = 16, seq_len: int = 1024,
                     **kwargs: Any) -> PackedDataLoader:
    """A loader of ``[batch_size, seq_len]`` batches over ``path`` or ``sources={name: (path, weight)}``.

    Dataset keywords (``rank``, ``world_size``, ``seed``, ``epoch``, ``skip_ranges``, ``sources``,
    ``max_epochs``) go to :class:`PackedTokenDataset`, the rest to ``torch.utils.data.DataLoader``;
    ``pin_memory`` defaults to True and ``device`` to ``cuda`` when CUDA is present.
    """
    ds_kwargs = {k: kwargs.pop(k) for k in DATASET_KEYS if k in kwargs}
    cuda = torch.cuda.is_available()
    kwargs.setdefault("pin_memory", cuda)
    kwargs.setdefault("device", "cuda" if cuda else None)
    dataset = PackedTokenDataset(path, seq_len=seq_len, batch_size=batch_size, **ds_kwargs)
    return PackedDataLoader(dataset, **kwargs)
