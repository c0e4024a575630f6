"""Does the dataloader keep a GPU fed? A tiny GPT trains on real token shards (issue 19 item 4).

Model: GPT-2-style decoder, 4 layers, d_model 256, 4 heads, learned positions, tied
embeddings, AdamW; bf16 autocast on CUDA (fp32 on CPU). Data: ``build_dataloader`` over a
token directory of ``refinery tokenize`` (or a weighted mix of several).

For each ``num_workers`` in ``--workers`` and pinned memory off/on (on only with CUDA) it
trains ``--steps`` steps after ``--warmup`` and reports tokens/s and the fraction of step
time spent waiting for the next batch (``next(loader)``, which includes the host-to-device
copy; the step ends with ``torch.cuda.synchronize()`` so the GPU time is counted in the step).

    python benchmarks/bench_dataloader_gpu.py --tokens tokens/ --steps 50 --batch 32 --seq 1024
    python benchmarks/bench_dataloader_gpu.py --source zh=tokens_zh:0.5 --source en=tokens_en:0.5
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from webrefinery.tokenizer_training.dataloader import build_dataloader


class Block(nn.Module):
    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        att = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(att.transpose(1, 2).reshape(b, t, d))
        return x + self.mlp(self.ln2(x))


class TinyGPT(nn.Module):
    def __init__(self, vocab: int, seq_len: int, d: int = 256, layers: int = 4, heads: int = 4) -> None:
        super().__init__()
        self.tok, self.pos = nn.Embedding(vocab, d), nn.Embedding(seq_len, d)
        self.blocks = nn.ModuleList(Block(d, heads) for _ in range(layers))
        self.ln = nn.LayerNorm(d)
        for m in self.modules():   # GPT-2's initialisation
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)
            if isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def forward(self, ids: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        x = self.tok(ids) + self.pos(torch.arange(ids.shape[1], device=ids.device))
        for block in self.blocks:
            x = block(x)
        logits = self.ln(x) @ self.tok.weight.T
        return F.cross_entropy(logits.float().view(-1, logits.shape[-1]), labels.reshape(-1))


def vocab_of(loader: Any) -> int:
    data = loader.dataset.mixture.data
    return max(int(s.header.get("vocab_size") or 0) for d in data for s in d.shards)


def train(loader: Any, steps: int, warmup: int = 2, lr: float = 1e-3, device: str = "cpu",
          seed: int = 0, d: int = 256, layers: int = 4) -> dict[str, Any]:
    """Train a fresh :class:`TinyGPT` for ``warmup + steps`` steps; timings over the last ``steps``."""
    torch.manual_seed(seed)
    cuda = device.startswith("cuda")
    model = TinyGPT(vocab_of(loader), loader.dataset.seq_len, d=d, layers=layers).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    losses, wait, total, tokens = [], 0.0, 0.0, 0
    it = iter(loader)
    for step in range(warmup + steps):
        t0 = time.perf_counter()
        try:
            ids, labels = next(it)
        except StopIteration:
            it = iter(loader)
            ids, labels = next(it)
        t1 = time.perf_counter()
        with torch.autocast(device_type="cuda" if cuda else "cpu", dtype=torch.bfloat16, enabled=cuda):
            loss = model(ids.to(device), labels.to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())             # synchronises the step (and the GPU)
        if cuda:
            torch.cuda.synchronize()
        t2 = time.perf_counter()
        if step >= warmup:
            wait, total, tokens = wait + t1 - t0, total + t2 - t0, tokens + ids.numel()
    del it
    return {"steps": steps, "tokens_per_s": round(tokens / total), "loader_wait_fraction": round(wait / total, 4),
            "step_ms": round(1000 * total / steps, 2), "loss_first": round(losses[0], 4),
            "loss_last": round(sum(losses[-3:]) / len(losses[-3:]), 4), "loss_uniform": round(math.log(vocab_of(loader)), 4)}


def parse_sources(items: list[str]) -> dict[str, tuple[str, float]]:
    out = {}
    for item in items:
        name, rest = item.split("=", 1)
        path, _, weight = rest.rpartition(":")
        out[name] = (path, float(weight))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tokens", help="a token directory of refinery tokenize")
    p.add_argument("--source", action="append", default=[], help="NAME=DIR:WEIGHT (repeat for a mix)")
    p.add_argument("--max-epochs", type=float, default=100.0, help="per source, so a small test set lasts")
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seq", type=int, default=1024)
    p.add_argument("--workers", type=int, nargs="+", default=[0, 2, 4])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    data = {"sources": parse_sources(a.source)} if a.source else {"path": a.tokens}
    cuda = a.device.startswith("cuda")
    print(json.dumps({"device": torch.cuda.get_device_name(0) if cuda else platform.processor() or "cpu",
                      "torch": torch.__version__, "batch": a.batch, "seq": a.seq, "steps": a.steps}))
    for workers in a.workers:
        for pin in ((False, True) if cuda else (False,)):
            loader = build_dataloader(batch_size=a.batch, seq_len=a.seq, num_workers=workers, pin_memory=pin,
                                      device=a.device, max_epochs=a.max_epochs, **data)
            res = train(loader, a.steps, a.warmup, device=a.device)
            print(json.dumps({"num_workers": workers, "pin_memory": pin, **res}), flush=True)


if __name__ == "__main__":
    main()
