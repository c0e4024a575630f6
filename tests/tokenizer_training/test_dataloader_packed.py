"""PackedTokenDataset / build_dataloader: coverage, disjointness, resume (also with another world
size), skip ranges, weighted mixing, max_epochs, reshuffle."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from webrefinery.tokenizer_training.dataloader import PackedTokenDataset, build_dataloader  # noqa: E402
from webrefinery.tokenizer_training.token_shards import TokenShardWriter  # noqa: E402

SEQ = 16
SHARD_TOKENS = (1000, 1537, 777, 64, 5)   # uneven on purpose; the last has no full window
SMALL_TOKENS = (300, 211)                 # a small second source
SMALL_BASE = 1_000_000                    # ids of the small source start here


def write_source(out: Path, sizes: tuple[int, ...], base: int, dtype: str = "<i4") -> Path:
    """Shards whose tokens are unique consecutive ids from ``base``, so a token names its position."""
    out.mkdir(parents=True, exist_ok=True)
    start = base
    for i, n in enumerate(sizes):
        w = TokenShardWriter(out, f"part-{i:05d}", np.dtype(dtype))
        w.add(np.arange(start, start + n), np.array([n]))
        w.close({"vocab_size": 1 << 24, "eot_id": 0})
        start += n
    return out


@pytest.fixture(scope="module")
def tokens_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_source(tmp_path_factory.mktemp("big"), SHARD_TOKENS, 1)


@pytest.fixture(scope="module")
def small_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_source(tmp_path_factory.mktemp("small"), SMALL_TOKENS, SMALL_BASE)


def windows_of(sizes: tuple[int, ...], base: int) -> set[int]:
    """First token of every sample of a source."""
    out, start = set(), base
    for n in sizes:
        out.update(start + w * SEQ for w in range(max(0, (n - 1) // SEQ)))
        start += n
    return out


def run_rank(world: int, rank: int, workers: int = 0, batch: int = 3, state: dict | None = None,
             steps: int | None = None, **kw) -> tuple[list[int], dict]:
    """First token of each sample rank ``rank`` gets (``steps`` batches, or to the end), and the state."""
    loader = build_dataloader(batch_size=batch, seq_len=SEQ, rank=rank, world_size=world, num_workers=workers, **kw)
    if state is not None:
        loader.load_state_dict(state)
    firsts = []
    for i, (x, y) in enumerate(loader):
        assert x.dtype == torch.long and y.dtype == torch.long and x.shape[1] == SEQ
        assert torch.equal(x[:, 1:], y[:, :-1]) and torch.equal(y - x, torch.ones_like(x))
        firsts.extend(x[:, 0].tolist())
        if steps is not None and i + 1 == steps:
            break
    return firsts, loader.state_dict()


def merge_ranks(per_rank: list[list[int]], batch: int) -> list[int]:
    """The global stream rebuilt from the ranks' sequences: global batch = each rank's batch in rank order."""
    assert len({len(s) for s in per_rank}) == 1, "ranks must get equal counts"
    return [t for lo in range(0, len(per_rank[0]), batch) for s in per_rank for t in s[lo:lo + batch]]


@pytest.mark.parametrize("world", [1, 2, 4])
@pytest.mark.parametrize("workers", [0, 2])
def test_coverage_and_disjointness(tokens_dir: Path, world: int, workers: int) -> None:
    per_rank = [run_rank(world, r, workers, path=tokens_dir)[0] for r in range(world)]
    ds = PackedTokenDataset(tokens_dir, seq_len=SEQ, rank=0, world_size=world)
    assert all(len(rows) == ds.samples_per_rank for rows in per_rank), "ranks must get equal counts"
    seen = [t for rows in per_rank for t in rows]
    assert len(seen) == len(set(seen)), "a sample was delivered twice"
    expected = windows_of(SHARD_TOKENS, 1)
    assert set(seen) <= expected and len(expected) - len(seen) == len(expected) % world   # the documented remainder
    assert merge_ranks(per_rank, 3) == run_rank(1, 0, path=tokens_dir)[0][:len(seen)]


@pytest.mark.parametrize("workers", [0, 2])
def test_worker_order_equals_rank_sequence(tokens_dir: Path, workers: int) -> None:
    plain = [int(t) for x, _ in PackedTokenDataset(tokens_dir, seq_len=SEQ, rank=1, world_size=2, seed=5, batch_size=4)
             for t in x[:, 0]]
    loaded, _ = run_rank(2, 1, workers, batch=4, seed=5, path=tokens_dir)
    assert plain == loaded


@pytest.mark.parametrize("workers", [0, 2])
def test_resume_continues_exactly(tokens_dir: Path, workers: int) -> None:
    full, _ = run_rank(2, 0, workers, batch=4, seed=3, path=tokens_dir)
    first, state = run_rank(2, 0, workers, batch=4, seed=3, steps=3, path=tokens_dir)
    assert state["epoch"] == 0 and state["next_sample"] == 3 * 4 * 2
    rest, end = run_rank(2, 0, workers, batch=4, seed=3, state=state, path=tokens_dir)
    assert first + rest == full
    assert end["epoch"] == 1 and end["next_sample"] == 0


def test_state_is_the_same_on_every_rank(tokens_dir: Path, small_dir: Path) -> None:
    mix = {"sources": {"big": (tokens_dir, 1), "small": (small_dir, 1)}, "max_epochs": {"small": 3}}
    states = [run_rank(3, r, batch=2, steps=4, **mix)[1] for r in range(3)]
    assert all({k: v for k, v in s.items() if k != "rank"} == {k: v for k, v in states[0].items() if k != "rank"}
               for s in states)


@pytest.mark.parametrize(("workers", "before", "after"), [(0, 2, 3), (2, 3, 2), (0, 4, 1)])
def test_resume_on_another_world_size(tokens_dir: Path, small_dir: Path, workers: int, before: int,
                                      after: int) -> None:
    """``before`` ranks for 5 steps, then ``after`` ranks to the end: together exactly the global stream, in order."""
    mix = {"sources": {"big": (tokens_dir, 0.5), "small": (small_dir, 0.5)}, "max_epochs": {"small": 3}, "seed": 7}
    reference, _ = run_rank(1, 0, **mix)
    first = [run_rank(before, r, workers, batch=2, steps=5, **mix) for r in range(before)]
    state = first[0][1]
    assert state["next_sample"] == before * 2 * 5
    second = [run_rank(after, r, workers, batch=4, state=state, **mix)[0] for r in range(after)]
    got = merge_ranks([f[0] for f in first], 2) + merge_ranks(second, 4)
    assert got == reference[:len(got)] and len(reference) - len(got) == (len(reference) - before * 10) % after
    assert len(set(got)) < len(got)   # small is read three times a pass: its samples repeat, across source epochs


def test_resume_rejects_changed_data_or_weights(tokens_dir: Path, small_dir: Path) -> None:
    state = PackedTokenDataset(sources={"big": (tokens_dir, 1), "small": (small_dir, 1)}, seq_len=SEQ).state_dict()
    with pytest.raises(ValueError, match="mixture"):
        PackedTokenDataset(sources={"big": (tokens_dir, 1), "small": (small_dir, 2)},
                           seq_len=SEQ).load_state_dict(state)
    with pytest.raises(ValueError, match="seq_len"):
        PackedTokenDataset(sources={"big": (tokens_dir, 1), "small": (small_dir, 1)},
                           seq_len=SEQ * 2).load_state_dict(state)
    with pytest.raises(ValueError, match="version"):
        PackedTokenDataset(tokens_dir, seq_len=SEQ).load_state_dict({"version": 1, "epoch": 0, "position": 3})


def test_skip_ranges_remove_only_those_samples(tokens_dir: Path, small_dir: Path) -> None:
    mix = {"sources": {"big": (tokens_dir, 2), "small": (small_dir, 1)}, "seed": 1}
    per_epoch = PackedTokenDataset(seq_len=SEQ, **mix).samples_per_epoch
    def two_epochs(world: int, skip=()) -> list[int]:
        seqs = []
        for r in range(world):
            ds = PackedTokenDataset(seq_len=SEQ, rank=r, world_size=world, skip_ranges=skip, **mix)
            seqs.append([int(x[0, 0]) for x, _ in ds] + [int(x[0, 0]) for x, _ in ds])
        return seqs
    full = two_epochs(1)[0]
    skip = ((4, 9), (per_epoch - 2, per_epoch + 3))      # the second one spans the epoch boundary
    dropped = set(range(4, 9)) | set(range(per_epoch - 2, per_epoch + 3))
    kept = [s for g, s in enumerate(full) if g not in dropped]
    assert two_epochs(1, skip)[0] == kept
    two = two_epochs(2, skip)
    e0 = per_epoch - 7                                    # kept samples of epoch 0
    assert len(two[0]) == len(two[1]) == e0 // 2 + (len(kept) - e0) // 2
    assert merge_ranks([s[: e0 // 2] for s in two], 1) == kept[: e0 - e0 % 2]


def test_skip_range_added_on_resume(tokens_dir: Path, small_dir: Path) -> None:
    """The loss-spike recipe: restart from a checkpoint, skipping the samples of the bad steps."""
    mix = {"sources": {"big": (tokens_dir, 1), "small": (small_dir, 1)}, "seed": 2}
    reference, _ = run_rank(1, 0, **mix)
    _, checkpoint = run_rank(2, 0, batch=2, steps=3, **mix)      # 12 samples delivered
    _, spike = run_rank(2, 0, batch=2, steps=6, **mix)           # the spike is in steps 4..6
    skip = [(checkpoint["global_sample"], spike["global_sample"])]
    after = [run_rank(2, r, batch=2, state=checkpoint, skip_ranges=skip, **mix)[0] for r in range(2)]
    assert merge_ranks(after, 2)[:10] == reference[24:34]


def test_mixing_ratio_by_tokens_deterministic(tokens_dir: Path, small_dir: Path) -> None:
    mix = {"sources": {"big": (tokens_dir, 0.75), "small": (small_dir, 0.25)}, "max_epochs": {"small": 10}}
    stream, _ = run_rank(1, 0, seed=4, **mix)
    small = np.array([t >= SMALL_BASE for t in stream])
    prefix = np.cumsum(small)
    n = np.arange(1, len(stream) + 1)
    assert np.abs(prefix - 0.25 * n).max() <= 1            # every prefix within one sample of 1:3
    assert run_rank(1, 0, seed=4, **mix)[0] == stream and run_rank(1, 0, seed=5, **mix)[0] != stream
    ds = PackedTokenDataset(seq_len=SEQ, **mix)
    big = {r["source"]: r for r in ds.report()}["big"]
    assert big["ends_pass"] and big["epochs_per_pass"] == 1.0 and len(stream) == ds.samples_per_epoch


@pytest.mark.parametrize(("world", "batch"), [(4, 8), (2, 5)])
def test_every_rank_gets_the_mix(tokens_dir: Path, small_dir: Path, world: int, batch: int) -> None:
    """A rank's batch is a run of the stream: with 1:1, each rank gets half of each source, not
    one source per rank (what splitting position by position would give with an even world size)."""
    mix = {"sources": {"big": (tokens_dir, 1), "small": (small_dir, 1)}, "max_epochs": {"small": 5}}
    for r in range(world):
        firsts, _ = run_rank(world, r, batch=batch, **mix)
        small = sum(t >= SMALL_BASE for t in firsts)
        assert abs(small - len(firsts) / 2) <= len(firsts) / batch, (r, small, len(firsts))


def test_max_epochs_upsamples_explicitly(tokens_dir: Path, small_dir: Path) -> None:
    once = PackedTokenDataset(sources={"big": (tokens_dir, 1), "small": (small_dir, 1)}, seq_len=SEQ)
    small_n = len(windows_of(SMALL_TOKENS, SMALL_BASE))
    assert once.samples_per_epoch == 2 * small_n + 1      # the pass ends when small would be read a 2nd time
    assert {r["source"]: r["ends_pass"] for r in once.report()} == {"big": False, "small": True}
    twice = PackedTokenDataset(sources={"big": (tokens_dir, 1), "small": (small_dir, 1)}, seq_len=SEQ,
                               max_epochs={"small": 2})
    rep = {r["source"]: r for r in twice.report()}
    assert rep["small"]["epochs_per_pass"] == 2.0 and rep["small"]["max_epochs"] == 2.0
    small = [int(x[0, 0]) for x, _ in twice if x[0, 0] >= SMALL_BASE]
    assert sorted(small) == sorted(2 * list(windows_of(SMALL_TOKENS, SMALL_BASE)))
    assert small[:small_n] != small[small_n:]              # the second source epoch is reshuffled
    big = [int(x[0, 0]) for x, _ in twice if x[0, 0] < SMALL_BASE]
    assert len(big) == len(set(big))


def test_epoch_reshuffle_is_deterministic(tokens_dir: Path) -> None:
    def epoch_firsts(seed: int, epoch: int) -> list[int]:
        return [int(x[0, 0]) for x, _ in PackedTokenDataset(tokens_dir, seq_len=SEQ, seed=seed, epoch=epoch)]
    e0, e1 = epoch_firsts(0, 0), epoch_firsts(0, 1)
    assert e0 == epoch_firsts(0, 0) and e1 == epoch_firsts(0, 1)
    assert e0 != e1 and sorted(e0) == sorted(e1)
    assert e0 != epoch_firsts(1, 0)
    ds = PackedTokenDataset(tokens_dir, seq_len=SEQ, seed=0)
    assert [int(x[0, 0]) for x, _ in ds] == e0 and ds.epoch == 1       # finishing an epoch advances it
    assert [int(x[0, 0]) for x, _ in ds] == e1


def test_bad_arguments_are_clear(tokens_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="rank"):
        PackedTokenDataset(tokens_dir, seq_len=SEQ, rank=2, world_size=2)
    assert PackedTokenDataset(tokens_dir, seq_len=SEQ).world_size == 1
    with pytest.raises(ValueError, match="either"):
        PackedTokenDataset(tokens_dir, sources={"a": (tokens_dir, 1)})
    with pytest.raises(ValueError, match="unknown sources"):
        PackedTokenDataset(sources={"a": (tokens_dir, 1)}, max_epochs={"b": 2})
    for weight in (0, -1, float("inf"), float("nan")):
        with pytest.raises(ValueError, match=f"source 'a': weight must be a finite number > 0"):
            PackedTokenDataset(sources={"a": (tokens_dir, weight)})
    with pytest.raises(ValueError, match="skip range"):
        PackedTokenDataset(tokens_dir, skip_ranges=[(5, 2)])
    with pytest.raises(FileNotFoundError, match="no finished token shards"):
        PackedTokenDataset(tmp_path)
    write_source(tmp_path / "tiny", (10,), 1)
    with pytest.raises(ValueError, match="no sample"):
        PackedTokenDataset(tmp_path / "tiny", seq_len=SEQ)


def test_sources_with_different_tokenizers_are_refused(tokens_dir: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    w = TokenShardWriter(other, "part-00000", np.dtype("<u2"))
    w.add(np.arange(1, 200), np.array([199]))
    w.close({"vocab_size": 50257, "eot_id": 50256})
    with pytest.raises(ValueError, match="different tokenizers"):
        PackedTokenDataset(sources={"a": (tokens_dir, 1), "b": (other, 1)}, seq_len=SEQ)


def test_sources_of_two_tokenizers_with_one_vocabulary_size_are_refused(tmp_path: Path) -> None:
    """The tokenizer's sha256 in each shard header tells two tokenizers of one vocabulary size
    and end-of-document id apart."""
    for name, sha in (("a", "9f10"), ("b", "84ef")):
        (tmp_path / name).mkdir()
        w = TokenShardWriter(tmp_path / name, "part-00000", np.dtype("<u2"))
        w.add(np.arange(1, 200), np.array([199]))
        w.close({"vocab_size": 3000, "eot_id": 0, "tokenizer_sha256": sha})
    with pytest.raises(ValueError, match="different tokenizers"):
        PackedTokenDataset(sources={"a": (tmp_path / "a", 1), "b": (tmp_path / "b", 1)}, seq_len=SEQ)


@pytest.mark.parametrize("suffix", [".bin", ".idx"])
def test_a_truncated_shard_file_is_an_error_naming_it(tmp_path: Path, suffix: str) -> None:
    write_source(tmp_path / "t", (300, 300), 1)
    victim = tmp_path / "t" / f"part-00001{suffix}"
    victim.write_bytes(victim.read_bytes()[:-7])
    with pytest.raises(ValueError, match=f"part-00001{suffix} is .* bytes, its header part-00001.json says"):
        PackedTokenDataset(tmp_path / "t", seq_len=SEQ)
