"""benchmarks/bench_dataloader_gpu.py on CPU: a few steps of the tiny GPT, the loss goes down."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from webrefinery.tokenizer_training.token_shards import TokenShardWriter  # noqa: E402

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_dataloader_gpu.py"


def load_bench():  # noqa: ANN201
    spec = importlib.util.spec_from_file_location("bench_dataloader_gpu", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def one_thread():  # noqa: ANN201
    """One torch thread: on a busy 2-core machine two spinning intra-op threads make a step 50x slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_tiny_gpt_learns_on_cpu(tmp_path: Path, one_thread: None) -> None:
    bench = load_bench()
    rng = np.random.default_rng(0)
    for i in range(2):   # documents of a short cycle at a random phase: the next token is predictable
        docs = [(np.arange(rng.integers(40, 200)) + rng.integers(0, 9)) % 9 + 1 for _ in range(30)]
        w = TokenShardWriter(tmp_path, f"part-{i:05d}", np.dtype("<u2"))
        w.add(np.concatenate([np.append(d, 0) for d in docs]), np.array([len(d) + 1 for d in docs]))
        w.close({"vocab_size": 16, "eot_id": 0})
    loader = bench.build_dataloader(tmp_path, batch_size=8, seq_len=32, num_workers=0, device="cpu", max_epochs=50)
    res = bench.train(loader, steps=10, warmup=1, lr=3e-3, d=64, layers=2)   # smaller than the benchmark's: CPU
    assert res["loss_first"] > 2.5 and res["loss_last"] < 0.6 * res["loss_first"], res
    assert 0 <= res["loader_wait_fraction"] < 1 and res["tokens_per_s"] > 0
