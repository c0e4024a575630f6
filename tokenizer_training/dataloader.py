"""PyTorch pretraining dataloader over the token shards of ``refinery tokenize``.

The only module of the project that imports ``torch`` (an optional extra: ``pip install
webrefinery[train]``).

Packing (GPT-2 / nanoGPT style): documents are already concatenated in each shard with the
end-of-text id between them; sample ``i`` of a shard is the window ``tokens[i*L : i*L+L+1]``
(``L = seq_len``), ``input_ids = window[:-1]``, ``labels = window[1:]`` (loss on every token).
Windows overlap by one token, so every token of a shard is an input exactly once, except
the **remainder**: the last ``(tokens - 1) % L`` tokens of each shard (the very last token
only ever appears as a label), and, per epoch, the last ``samples_per_epoch % world_size``
samples of that epoch's shuffled order, dropped so every rank yields the same count (no
DDP hang). Both are fewer than ``L`` tokens per shard and ``world_size`` samples per epoch.

Order of an epoch (all from ``seed`` and ``epoch``, identical on every rank): the shards are
permuted, and each shard's windows are permuted; concatenating them gives the epoch's
global sample sequence ``g = 0 .. samples_per_epoch - 1``. Rank ``r`` takes ``g ≡ r (mod
world_size)``; within a rank, consecutive blocks of ``batch_size`` samples (counted from
where the iteration starts) go round-robin to the DataLoader workers — exactly the order in which ``DataLoader`` collects worker
batches — so the loader's output equals the rank's sequence whatever ``num_workers`` is.
All ranks and workers walk the shards in the same order and memory-map only the current
one (memory bounded by one shard per worker). Splitting whole shards between ranks was not
chosen: shard sizes differ, which would give ranks different sample counts.

Skip ranges are half-open ``(start, end)`` ranges of *global* sample indices counted from
the start of epoch 0 (``epoch * samples_per_epoch + g``; with a global batch of ``B``
samples, step ``s`` covers ``[s*B, (s+1)*B)``); they are widened to multiples of
``world_size`` so every rank skips the same count. Skipped samples are removed; the rest
keep their order.

Resume: ``state_dict()`` is ``{epoch, position}`` (samples this rank has delivered in the
epoch) plus what must not change; ``load_state_dict()`` continues with the next sample.
With ``num_workers > 0`` the counting is done by the loader of :func:`build_dataloader`
(worker processes hold copies of the dataset). An epoch that runs to its end advances
``epoch`` (so the next pass reshuffles); ``set_epoch`` sets it explicitly.
"""

from __future__ import annotations

import os
from typing import Any, Iterator, Sequence

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from webrefinery.tokenizer_training.token_shards import TokenShard, list_shards

STATE_VERSION = 1


class PackedTokenDataset(IterableDataset):
    """Fixed-length packed ``(input_ids, labels)`` pairs of ``torch.long`` tensors ``[seq_len]``."""

    def __init__(self, path: str | os.PathLike[str], seq_len: int = 1024, rank: int | None = None,
                 world_size: int | None = None, seed: int = 0, epoch: int = 0,
                 skip_ranges: Sequence[tuple[int, int]] = (), batch_size: int = 1) -> None:
        super().__init__()
        if seq_len < 1:
            raise ValueError("seq_len must be >= 1")
        self.path, self.seq_len, self.seed = str(path), int(seq_len), int(seed)
        self.shards: list[TokenShard] = list_shards(path)
        if not self.shards:
            raise FileNotFoundError(f"no finished token shards in {path} (run refinery tokenize)")
        if rank is None or world_size is None:
            distributed = dist.is_available() and dist.is_initialized()
            rank = dist.get_rank() if distributed else 0 if rank is None else rank
            world_size = dist.get_world_size() if distributed else 1 if world_size is None else world_size
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in [0, world_size={world_size})")
        self.rank, self.world_size = int(rank), int(world_size)
        self.batch_size = int(batch_size)
        #: windows per shard; a shard of n tokens has (n - 1) // seq_len of them
        self.shard_samples = np.array([max(0, (s.tokens - 1) // self.seq_len) for s in self.shards], np.int64)
        total = int(self.shard_samples.sum())
        #: samples of one epoch used by all ranks together (a multiple of world_size)
        self.samples_per_epoch = total - total % self.world_size
        self.samples_per_rank = self.samples_per_epoch // self.world_size
        self.skip_ranges = _widen(skip_ranges, self.world_size)
        self.epoch = int(epoch)
        self.position = 0

    # ----------------------------------------------------------------- state
    def set_epoch(self, epoch: int) -> None:
        """Start ``epoch`` from its first sample."""
        self.epoch, self.position = int(epoch), 0

    def state_dict(self) -> dict[str, Any]:
        return {"version": STATE_VERSION, "epoch": self.epoch, "position": self.position, "seed": self.seed,
                "seq_len": self.seq_len, "rank": self.rank, "world_size": self.world_size,
                "samples_per_epoch": self.samples_per_epoch, "skip_ranges": [list(r) for r in self.skip_ranges]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from ``state``; the data, seed, seq_len and world size must be the same."""
        for key in ("seed", "seq_len", "world_size", "samples_per_epoch"):
            if state[key] != getattr(self, key):
                raise ValueError(f"cannot resume: {key} was {state[key]}, is now {getattr(self, key)}")
        self.epoch, self.position = int(state["epoch"]), int(state["position"])

    def _advance_epoch(self) -> None:
        self.epoch, self.position = self.epoch + 1, 0

    # ----------------------------------------------------------------- order
    def shard_order(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, epoch]).permutation(len(self.shards))

    def window_order(self, epoch: int, shard: int) -> np.ndarray:
        return np.random.default_rng([self.seed, epoch, shard, 1]).permutation(int(self.shard_samples[shard]))

    def _is_skipped(self, global_idx: np.ndarray) -> np.ndarray:
        skipped = np.zeros(global_idx.shape, bool)
        for start, end in self.skip_ranges:
            skipped |= (global_idx >= start) & (global_idx < end)
        return skipped

    def _plan(self, epoch: int, start: int, worker: int, num_workers: int) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """(shard, window indices, rank positions) this worker yields in ``epoch`` from ``start`` on."""
        epoch_base = epoch * self.samples_per_epoch
        g_off = 0   # global index of the current shard's first window in this epoch
        pos = 0     # samples of this rank (after skipping) before the current shard
        for shard in self.shard_order(epoch).tolist():
            n = int(self.shard_samples[shard])
            end = min(g_off + n, self.samples_per_epoch)
            g = np.arange(g_off + (self.rank - g_off) % self.world_size, end, self.world_size, dtype=np.int64)
            if self.skip_ranges:
                g = g[~self._is_skipped(epoch_base + g)]
            positions = pos + np.arange(g.size, dtype=np.int64)
            mine = (positions >= start) & (((positions - start) // self.batch_size) % num_workers == worker)
            if mine.any():
                yield shard, self.window_order(epoch, shard)[g[mine] - g_off], positions[mine]
            pos += g.size
            g_off += n
            if g_off >= self.samples_per_epoch:
                break

    # -------------------------------------------------------------- iterate
    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        info = get_worker_info()
        worker, num_workers = (info.id, info.num_workers) if info is not None else (0, 1)
        in_process = info is None
        epoch, L = self.epoch, self.seq_len
        for shard, windows, positions in self._plan(epoch, self.position, worker, num_workers):
            tokens = self.shards[shard].memmap()
            for w, p in zip(windows.tolist(), positions.tolist()):
                window = torch.from_numpy(tokens[w * L: w * L + L + 1].astype(np.int64))
                if in_process:
                    self.position = p + 1
                yield window[:-1], window[1:]
            del tokens
        if in_process and self.epoch == epoch:
            self._advance_epoch()


def _widen(ranges: Sequence[tuple[int, int]], world_size: int) -> tuple[tuple[int, int], ...]:
    out = []
    for start, end in ranges:
        if start < 0 or end < start:
            raise ValueError(f"bad skip range ({start}, {end}): need 0 <= start <= end")
        if end > start:
            out.append((start // world_size * world_size, -(-end // world_size) * world_size))
    return tuple(sorted(out))


class PackedDataLoader(DataLoader):
    """A ``DataLoader`` that keeps the dataset's resume position exact with worker processes
    and moves batches to ``device`` (non-blocking, from pinned memory) when one is given."""

    def __init__(self, dataset: PackedTokenDataset, batch_size: int, device: str | torch.device | None = None,
                 **kwargs: Any) -> None:
        if kwargs.get("persistent_workers"):
            raise ValueError("persistent_workers is not supported: workers must see the current epoch/position")
        dataset.batch_size = batch_size
        super().__init__(dataset, batch_size=batch_size, **kwargs)
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


def build_dataloader(path: str | os.PathLike[str], batch_size: int, seq_len: int = 1024, **kwargs: Any) -> PackedDataLoader:
    """A loader of ``[batch_size, seq_len]`` batches over ``path``.

    Dataset keywords (``rank``, ``world_size``, ``seed``, ``epoch``, ``skip_ranges``) go to
    :class:`PackedTokenDataset`, the rest to ``torch.utils.data.DataLoader``; ``pin_memory``
    defaults to True and ``device`` to ``cuda`` when CUDA is present.
    """
    ds_keys = ("rank", "world_size", "seed", "epoch", "skip_ranges")
    ds_kwargs = {k: kwargs.pop(k) for k in ds_keys if k in kwargs}
    cuda = torch.cuda.is_available()
    kwargs.setdefault("pin_memory", cuda)
    kwargs.setdefault("device", "cuda" if cuda else None)
    dataset = PackedTokenDataset(path, seq_len=seq_len, batch_size=batch_size, **ds_kwargs)
    return PackedDataLoader(dataset, batch_size=batch_size, **kwargs)
