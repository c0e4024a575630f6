"""PackedTokenDataset / build_dataloader: coverage, disjointness, resume, skip ranges, reshuffle."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from webrefinery.tokenizer_training.dataloader import PackedTokenDataset, build_dataloader  # noqa: E402
from webrefinery.tokenizer_training.token_shards import TokenShardWriter  # noqa: E402

SEQ = 16
SHARD_TOKENS = (1000, 1537, 777, 64, 5)   # uneven on purpose; the last has no full window


@pytest.fixture(scope="module")
def tokens_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Shards whose tokens are globally unique consecutive ids, so a token names its position."""
    out = tmp_path_factory.mktemp("tokens")
    start = 1
    for i, n in enumerate(SHARD_TOKENS):
        w = TokenShardWriter(out, f"part-{i:05d}", np.dtype("<u2"))
        ids = np.arange(start, start + n)
        w.add(ids, np.array([n]))
        w.close({"vocab_size": 65536, "eot_id": 0})
        start += n
    return out


def expected_inputs() -> set[int]:
    """Every token used as an input in an epoch: all but each shard's remainder."""
    out, start = set(), 1
    for n in SHARD_TOKENS:
        used = max(0, (n - 1) // SEQ) * SEQ
        out.update(range(start, start + used))
        start += n
    return out


def run_rank(path: Path, world: int, rank: int, workers: int, batch: int = 3, **kw) -> list[np.ndarray]:
    loader = build_dataloader(path, batch_size=batch, seq_len=SEQ, rank=rank, world_size=world,
                              num_workers=workers, **kw)
    rows = []
    for x, y in loader:
        assert x.dtype == torch.long and y.dtype == torch.long and x.shape[1] == SEQ
        assert torch.equal(x[:, 1:], y[:, :-1]) and torch.equal(y - x, torch.ones_like(x))
        rows.extend(x.numpy())
    return rows


@pytest.mark.parametrize("world", [1, 2, 4])
@pytest.mark.parametrize("workers", [0, 2])
def test_coverage_and_disjointness(tokens_dir: Path, world: int, workers: int) -> None:
    per_rank = [run_rank(tokens_dir, world, r, workers) for r in range(world)]
    ds = PackedTokenDataset(tokens_dir, seq_len=SEQ, rank=0, world_size=world)
    assert all(len(rows) == ds.samples_per_rank for rows in per_rank), "ranks must get equal counts"
    seen = np.concatenate([np.concatenate(rows) for rows in per_rank]).tolist()
    assert len(seen) == len(set(seen)), "a token was delivered twice"
    expected = expected_inputs()
    assert set(seen) <= expected
    total_windows = sum((n - 1) // SEQ for n in SHARD_TOKENS)
    assert len(expected) - len(seen) == (total_windows % world) * SEQ   # the documented remainder


@pytest.mark.parametrize("workers", [0, 2])
def test_worker_order_equals_rank_sequence(tokens_dir: Path, workers: int) -> None:
    plain = [x.numpy() for x, _ in PackedTokenDataset(tokens_dir, seq_len=SEQ, rank=1, world_size=2, seed=5)]
    loaded = run_rank(tokens_dir, 2, 1, workers, batch=4, seed=5)
    assert np.array_equal(np.stack(plain), np.stack(loaded))


@pytest.mark.parametrize("workers", [0, 2])
def test_resume_continues_exactly(tokens_dir: Path, workers: int) -> None:
    full = run_rank(tokens_dir, 2, 0, workers, batch=4, seed=3)
    loader = build_dataloader(tokens_dir, batch_size=4, seq_len=SEQ, rank=0, world_size=2, seed=3,
                              num_workers=workers)
    first = []
    for i, (x, _) in enumerate(loader):
        first.extend(x.numpy())
        if i == 2:
            break
    state = loader.state_dict()
    assert state["position"] == 12 and state["epoch"] == 0
    restarted = build_dataloader(tokens_dir, batch_size=4, seq_len=SEQ, rank=0, world_size=2, seed=3,
                                 num_workers=workers)
    restarted.load_state_dict(state)
    rest = [row for x, _ in restarted for row in x.numpy()]
    assert np.array_equal(np.stack(first + rest), np.stack(full))
    assert restarted.state_dict()["epoch"] == 1 and restarted.state_dict()["position"] == 0


def test_resume_rejects_changed_world_size(tokens_dir: Path) -> None:
    state = PackedTokenDataset(tokens_dir, seq_len=SEQ, rank=0, world_size=2).state_dict()
    with pytest.raises(ValueError, match="world_size"):
        PackedTokenDataset(tokens_dir, seq_len=SEQ, rank=0, world_size=4).load_state_dict(state)


def test_skip_ranges_remove_only_those_samples(tokens_dir: Path) -> None:
    world = 2
    ds = PackedTokenDataset(tokens_dir, seq_len=SEQ, rank=0, world_size=world, seed=1)
    per_epoch = ds.samples_per_epoch
    # global sequence of epochs 0 and 1, rebuilt by interleaving the ranks
    def global_seq(skip=()) -> list[int]:
        seqs = []
        for r in range(world):
            d = PackedTokenDataset(tokens_dir, seq_len=SEQ, rank=r, world_size=world, seed=1, skip_ranges=skip)
            seqs.append([int(x[0]) for x, _ in d] + [int(x[0]) for x, _ in d])   # two epochs
        return seqs
    full = global_seq()
    skip = ((4, 10), (per_epoch + 1, per_epoch + 3))     # widened to (4, 10) and (pe, pe + 4)
    skipped = global_seq(skip)
    g_all = [full[g % world][g // world] for g in range(2 * per_epoch)]
    dropped = set(range(4, 10)) | set(range(per_epoch, per_epoch + 4))
    kept = [s for g, s in enumerate(g_all) if g not in dropped]
    g_kept = [skipped[g % world][g // world] for g in range(len(kept))]
    assert g_kept == kept
    assert len(skipped[0]) == len(skipped[1])


def test_epoch_reshuffle_is_deterministic(tokens_dir: Path) -> None:
    def epoch_firsts(seed: int, epoch: int) -> list[int]:
        return [int(x[0]) for x, _ in PackedTokenDataset(tokens_dir, seq_len=SEQ, seed=seed, epoch=epoch)]
    e0, e1 = epoch_firsts(0, 0), epoch_firsts(0, 1)
    assert e0 == epoch_firsts(0, 0) and e1 == epoch_firsts(0, 1)
    assert e0 != e1 and sorted(e0) == sorted(e1)
    assert e0 != epoch_firsts(1, 0)
    ds = PackedTokenDataset(tokens_dir, seq_len=SEQ, seed=0)
    assert [int(x[0]) for x, _ in ds] == e0 and ds.epoch == 1       # finishing an epoch advances it
    assert [int(x[0]) for x, _ in ds] == e1


def test_rank_from_arguments_validated(tokens_dir: Path) -> None:
    with pytest.raises(ValueError, match="rank"):
        PackedTokenDataset(tokens_dir, seq_len=SEQ, rank=2, world_size=2)
    assert PackedTokenDataset(tokens_dir, seq_len=SEQ).world_size == 1


def test_missing_tokens_dir_is_clear(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no finished token shards"):
        PackedTokenDataset(tmp_path)
