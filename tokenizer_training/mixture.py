"""The global sample stream of the training dataloader: weighted mixing, skip ranges, rank split.

NumPy only (torch stays in :mod:`webrefinery.tokenizer_training.dataloader`).

**Samples.** A source is a directory of token shards (``refinery tokenize``). Documents are
concatenated in each shard with one end-of-document id after each; sample ``w`` of a shard is
the window ``tokens[w*L : w*L+L+1]`` (``L = seq_len``; inputs ``[:-1]``, labels ``[1:]``).
A shard of ``n`` tokens has ``(n - 1) // L`` samples; its last ``(n - 1) % L`` tokens (fewer
than ``L``) are never an input. One *source epoch* is every sample of the source once: the
shards in an order permuted from the seed, each shard's samples permuted within it.

**Mixing** (by tokens: every sample is ``L`` input tokens, so a sample ratio is the token
ratio). Weights are normalised and rounded to integers ``q_i`` out of 10,000 (largest
remainder, reduced by their gcd: 0.5/0.5 is exactly 1:1; any weight is within 1e-4 of the
request). The stream is periodic with period ``Q = sum(q)``: each period holds ``q_i``
samples of source ``i``, placed by the largest-deficit rule of Megatron-Core's
``build_blending_indices`` (``BlendedDataset``), so every prefix of the stream is within one
sample per source of the requested ratio. Stream index ``g`` is source ``pattern[g % Q]``'s
sample ``(g // Q) * q_i + rank_in_period``; source sample ``k`` is sample ``k % N_i`` of
source epoch ``k // N_i`` (``N_i`` samples per source epoch). Sources are ordered by name.

**Epochs of the mixture.** A source may be read ``max_epochs`` times (default 1; a float,
``floor(max_epochs * N_i)`` samples); so a small source is repeated only when asked. The
mixture's epoch (one *pass*) ends just before the first source would exceed its budget:
``samples_per_epoch = T`` stream indices. The next pass draws new permutations from
``(seed, epoch)``. :meth:`Mixture.report` says, per source, how many epochs of it a pass
reads and which source ends the pass.

**Global index, skip ranges, ranks.** Global sample index = ``epoch * T + g``. Skip ranges
are half-open ranges of global indices; the samples in them are removed from the stream
before it is split between ranks, and nothing else moves. The remaining (*kept*) stream from
a run's start is cut into global batches of ``W * B`` consecutive samples (``W`` ranks,
batch size ``B``); rank ``r`` gets the ``r``-th ``B`` of each (as Megatron's pretraining
sampler does), so each rank's batch is itself a run of the stream and holds the requested
mix to within about one sample per source. The last, short global batch of a pass is
split the same way into ``kept % (W * B) // W`` samples per rank; the last
``kept % W`` (< W) samples of a pass are not delivered (equal counts, no DDP hang).
"""

from __future__ import annotations

import math
import os
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from webrefinery.tokenizer_training.token_shards import TokenShard, list_shards

#: weights are rounded to integers out of this many (so to within 1e-4)
WEIGHT_RESOLUTION = 10_000


@dataclass(frozen=True)
class Source:
    """A token directory in the mix: ``weight`` (relative, by tokens), read at most ``max_epochs`` times a pass."""

    name: str
    path: str
    weight: float = 1.0
    max_epochs: float = 1.0


def quantize_weights(weights: Sequence[float]) -> np.ndarray:
    """Integer weights with the same ratios (out of :data:`WEIGHT_RESOLUTION`, reduced by their gcd)."""
    w = np.asarray(weights, np.float64)
    raw = w / w.sum() * WEIGHT_RESOLUTION
    q = np.floor(raw).astype(np.int64)
    q[np.argsort(q - raw, kind="stable")[: WEIGHT_RESOLUTION - int(q.sum())]] += 1
    if (q == 0).any():
        raise ValueError(f"weights {list(weights)}: each must be at least 1/{WEIGHT_RESOLUTION} of the total")
    return q // np.gcd.reduce(q)


def blend_pattern(q: np.ndarray) -> np.ndarray:
    """One period of the stream: source of each of ``sum(q)`` slots, the source with the largest
    deficit ``(n+1)*q_i - Q*count_i`` first (Megatron-Core ``build_blending_indices``, exact in integers)."""
    period = int(q.sum())
    counts = np.zeros(q.size, np.int64)
    out = np.empty(period, np.int64)
    for n in range(period):
        i = int(np.argmax((n + 1) * q - period * counts))
        out[n] = i
        counts[i] += 1
    return out


class SourceData:
    """One source's shards and the sample count of one source epoch."""

    def __init__(self, source: Source, seq_len: int) -> None:
        if not 0 < source.weight < math.inf or not source.max_epochs > 0:
            raise ValueError(f"source {source.name!r}: weight must be a finite number > 0 and max_epochs > 0 "
                             f"(got weight {source.weight}, max_epochs {source.max_epochs})")
        self.source = source
        self.shards: list[TokenShard] = list_shards(source.path)
        if not self.shards:
            raise FileNotFoundError(f"no finished token shards in {source.path} (run refinery tokenize)")
        self.windows = np.array([max(0, (s.tokens - 1) // seq_len) for s in self.shards], np.int64)
        self.samples_per_epoch = int(self.windows.sum())
        if self.samples_per_epoch == 0:
            raise ValueError(f"source {source.name!r} ({source.path}): fewer than seq_len + 1 = {seq_len + 1} "
                             "tokens in every shard, no sample")
        self.budget = int(source.max_epochs * self.samples_per_epoch)
        if self.budget == 0:
            raise ValueError(f"source {source.name!r}: max_epochs {source.max_epochs} is less than one sample")
        #: a seed component that depends on the name only (not on the order of the sources)
        self.key = zlib.crc32(source.name.encode("utf-8"))


class Mixture:
    """The stream of one pass: which source sample each stream index is."""

    def __init__(self, sources: Sequence[Source], seq_len: int) -> None:
        if not sources:
            raise ValueError("no sources")
        names = [s.name for s in sources]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate source names in {names}")
        self.seq_len = int(seq_len)
        self.data = [SourceData(s, self.seq_len) for s in sorted(sources, key=lambda s: s.name)]
        _check_same_tokenizer(self.data)
        self.q = quantize_weights([d.source.weight for d in self.data])
        self.period = int(self.q.sum())
        self.pattern = blend_pattern(self.q)
        onehot = self.pattern[None, :] == np.arange(self.q.size)[:, None]
        #: cum[i, o]: slots of source i among the first o slots of a period
        self.cum = np.zeros((self.q.size, self.period + 1), np.int64)
        np.cumsum(onehot, axis=1, out=self.cum[:, 1:])
        self.slot_rank = self.cum[self.pattern, np.arange(self.period)]
        self.slots = [np.flatnonzero(row) for row in onehot]
        #: T: stream indices in one pass (the first index that would exceed a source's budget)
        self.samples_per_epoch = min(self.position(i, d.budget) for i, d in enumerate(self.data))

    def position(self, i: int, k: int) -> int:
        """Stream index of source ``i``'s sample ``k``."""
        period, slot = divmod(k, int(self.q[i]))
        return period * self.period + int(self.slots[i][slot])

    def locate(self, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(source, source sample) of stream indices ``g``."""
        period, offset = np.divmod(g, self.period)
        src = self.pattern[offset]
        return src, period * self.q[src] + self.slot_rank[offset]

    def counts(self, n: int) -> np.ndarray:
        """Samples of each source among stream indices ``[0, n)``."""
        period, offset = divmod(n, self.period)
        return period * self.q + self.cum[:, offset]

    def fingerprint(self) -> dict[str, list[Any]]:
        """What a resumed run must agree on: per source its samples per epoch, integer weight, max_epochs."""
        return {d.source.name: [d.samples_per_epoch, int(q), d.source.max_epochs] for d, q in zip(self.data, self.q)}

    def report(self) -> list[dict[str, Any]]:
        """Per source: requested and effective weight, budget, and how much of it one pass reads."""
        used = self.counts(self.samples_per_epoch)
        total_w = sum(d.source.weight for d in self.data)
        rows = []
        for i, d in enumerate(self.data):
            rows.append({"source": d.source.name, "path": d.source.path,
                         "weight": d.source.weight / total_w, "effective_weight": float(self.q[i]) / self.period,
                         "max_epochs": d.source.max_epochs, "samples_per_epoch": d.samples_per_epoch,
                         "tokens_per_epoch": d.samples_per_epoch * self.seq_len,
                         "samples_per_pass": int(used[i]), "tokens_per_pass": int(used[i]) * self.seq_len,
                         "epochs_per_pass": round(int(used[i]) / d.samples_per_epoch, 4),
                         "ends_pass": self.position(i, d.budget) == self.samples_per_epoch})
        return rows


def _check_same_tokenizer(data: Sequence[SourceData]) -> None:
    """Every shard of the mix was made by one tokenizer (its sha256, vocabulary size and end-of-
    document id): ids of two vocabularies in one batch would train on noise."""
    seen: dict[tuple[Any, Any, Any], str] = {}
    for d in data:
        for s in d.shards:
            key = (s.header.get("tokenizer_sha256"), s.header.get("vocab_size"), s.header.get("eot_id"))
            seen.setdefault(key, str(s.bin_path))
    if len(seen) > 1:
        raise ValueError("sources were tokenized with different tokenizers (tokenizer sha256, vocab_size, eot_id): "
                         + "; ".join(f"{k} in {v}" for k, v in seen.items())
                         + "; tokenize every source with the same tokenizer.json")


class RankSplit:
    """Rank ``rank``'s share of the kept stream of pass indices ``[start, end)`` (see module doc)."""

    def __init__(self, start: int, end: int, skip: Sequence[tuple[int, int]], rank: int, world_size: int,
                 batch_size: int) -> None:
        self.start, self.end, self.rank = int(start), int(end), int(rank)
        self.world_size, self.batch_size = int(world_size), int(batch_size)
        self.skip = _merge([(max(a, self.start), min(b, self.end)) for a, b in skip])
        self.kept = max(0, self.end - self.start) - sum(b - a for a, b in self.skip)
        step = self.world_size * self.batch_size
        #: full global batches, and the per-rank size of the last, short one
        self.full, self.tail = self.kept // step, (self.kept % step) // self.world_size
        self.per_rank = self.full * self.batch_size + self.tail

    def original(self, kept_pos: np.ndarray) -> np.ndarray:
        """Pass index of each kept position (counted from ``start``)."""
        x = self.start + np.asarray(kept_pos, np.int64)
        for a, b in self.skip:
            x = np.where(x >= a, x + (b - a), x)
        return x

    def indices(self, i: np.ndarray) -> np.ndarray:
        """Pass indices of this rank's samples ``i`` (``0 <= i < per_rank``)."""
        i = np.asarray(i, np.int64)
        W, B = self.world_size, self.batch_size
        batch, j = np.divmod(i, B)
        pos = np.where(batch < self.full, batch * W * B + self.rank * B + j,
                       self.full * W * B + self.rank * self.tail + (i - self.full * B))
        return self.original(pos)

    def next_index(self, delivered: int) -> int:
        """First pass index not delivered once every rank has delivered ``delivered`` samples (exact
        at a batch boundary, which is where the loader's state always is)."""
        pos = delivered * self.world_size
        return int(self.original(np.array([pos]))[0]) if delivered < self.per_rank else self.end


def _merge(ranges: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in sorted((a, b) for a, b in ranges if b > a):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def pass_skip_ranges(ranges: Sequence[tuple[int, int]], epoch: int, samples_per_epoch: int) -> list[tuple[int, int]]:
    """Global skip ranges as pass indices of ``epoch``."""
    base = epoch * samples_per_epoch
    return _merge([(max(a - base, 0), min(b - base, samples_per_epoch)) for a, b in ranges])


def check_skip_ranges(ranges: Sequence[Sequence[int]]) -> tuple[tuple[int, int], ...]:
    out = []
    for r in ranges:
        start, end = (int(x) for x in r)
        if start < 0 or end < start:
            raise ValueError(f"bad skip range ({start}, {end}): need 0 <= start <= end")
        out.append((start, end))
    return tuple(sorted(out))


class BatchReader:
    """Reads the samples of stream indices of one pass; holds the memmaps and permutations it
    needs (a few per source), so each DataLoader worker builds its own."""

    CACHE = 4

    def __init__(self, mixture: Mixture, seed: int, epoch: int) -> None:
        self.mixture, self.seed, self.epoch = mixture, int(seed), int(epoch)
        self._cache: OrderedDict[tuple[Any, ...], Any] = OrderedDict()

    def _cached(self, key: tuple[Any, ...], make: Any) -> Any:
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        value = self._cache[key] = make()
        while len(self._cache) > self.CACHE * len(self.mixture.data) * 3:
            self._cache.popitem(last=False)
        return value

    def _epoch_order(self, src: int, source_epoch: int) -> tuple[np.ndarray, np.ndarray]:
        d = self.mixture.data[src]
        def make() -> tuple[np.ndarray, np.ndarray]:
            perm = np.random.default_rng([self.seed, self.epoch, d.key, source_epoch]).permutation(len(d.shards))
            return perm, np.cumsum(d.windows[perm])
        return self._cached(("order", src, source_epoch), make)

    def _window_perm(self, src: int, source_epoch: int, shard: int) -> np.ndarray:
        d = self.mixture.data[src]
        return self._cached(("windows", src, source_epoch, shard), lambda: np.random.default_rng(
            [self.seed, self.epoch, d.key, source_epoch, shard, 1]).permutation(int(d.windows[shard])))

    def _samples(self, src: int, shard: int) -> np.ndarray:
        """The shard's samples as rows ``[windows, L + 1]`` of a view of its memmap (no copy)."""
        L = self.mixture.seq_len
        return self._cached(("samples", src, shard), lambda: np.lib.stride_tricks.sliding_window_view(
            self.mixture.data[src].shards[shard].memmap(), L + 1)[::L])

    def where(self, src: int, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(shard, window) of source ``src``'s samples ``k``."""
        d = self.mixture.data[src]
        source_epoch, j = np.divmod(k, d.samples_per_epoch)
        shards, windows = np.empty_like(k), np.empty_like(k)
        for e, rows in _groups(source_epoch):
            perm, cum = self._epoch_order(src, e)
            pos = np.searchsorted(cum, j[rows], side="right")
            shard = perm[pos]
            offsets = j[rows] - (cum[pos] - d.windows[shard])
            shards[rows] = shard
            for sh, same in _groups(shard):
                windows[rows[same]] = self._window_perm(src, e, sh)[offsets[same]]
        return shards, windows

    def read(self, g: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(inputs, labels, source)`` of pass indices ``g``: ``int64 [len(g), L]`` twice, and the source index."""
        L = self.mixture.seq_len
        src, k = self.mixture.locate(np.asarray(g, np.int64))
        x = np.empty((len(src), L), np.int64)
        y = np.empty((len(src), L), np.int64)
        for s, rows in _groups(src):
            shards, windows = self.where(s, k[rows])
            for sh, same in _groups(shards):
                block = self._samples(s, sh)[windows[same]]        # one gather of whole rows per shard
                x[rows[same]] = block[:, :-1]
                y[rows[same]] = block[:, 1:]
        return x, y, src


def _groups(values: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """``(value, row indices)`` per distinct value, in increasing order (one group, the usual case, fast)."""
    if values.size == 0 or (values == values[0]).all():
        return [(int(values[0]), np.arange(values.size))] if values.size else []
    return [(int(v), np.flatnonzero(values == v)) for v in np.unique(values)]


def sources_from(path: str | os.PathLike[str] | None,
                 sources: Mapping[str, tuple[str | os.PathLike[str], float]] | None,
                 max_epochs: float | Mapping[str, float] | None) -> list[Source]:
    """The :class:`Source` list from the dataloader's arguments: one ``path`` (source ``"data"``) or
    ``sources={name: (path, weight)}``; ``max_epochs`` one number for all, or per source name."""
    if (path is None) == (sources is None):
        raise ValueError("give either a token directory (path) or sources={name: (path, weight)}")
    named = {"data": (path, 1.0)} if sources is None else dict(sources)
    if isinstance(max_epochs, Mapping):
        unknown = set(max_epochs) - set(named)
        if unknown:
            raise ValueError(f"max_epochs names unknown sources {sorted(unknown)} (sources: {sorted(named)})")
        epochs = {name: float(max_epochs.get(name, 1.0)) for name in named}
    else:
        epochs = {name: float(1.0 if max_epochs is None else max_epochs) for name in named}
    out = []
    for name, spec in named.items():
        try:
            src_path, weight = spec
        except (TypeError, ValueError):
            raise ValueError(f"source {name!r}: expected (path, weight), got {spec!r}") from None
        out.append(Source(str(name), str(Path(src_path)), float(weight), epochs[name]))
    return out
