"""``refinery train-quality``: train the fastText quality classifier of the ``quality`` stage.

Positives are reference-quality text (pages linked from Wikipedia, curated corpora: the
GPT-3 / RefinedWeb recipe), negatives random crawl. Inputs are text files (one document
per line), JSONL (a ``text`` field) or Parquet (a ``text`` column), optionally gzipped. A
random ``--holdout`` share of each class is kept out of training; the command prints
precision, recall, F1 and ROC AUC on it, and writes the model plus a JSON report
(``--report``, default: the model path with ``.json``).
"""

from __future__ import annotations

import argparse
import gzip
import json
import multiprocessing
import random
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Iterator

import numpy as np

from webrefinery.filters.fasttext_text import LABEL_NEGATIVE, LABEL_POSITIVE, fasttext_line
from webrefinery.pipeline.core.errors import ConfigError
from webrefinery.pipeline.core.models import load_fasttext
from webrefinery.pipeline.core.registry import command_description


def read_texts(path: str | Path) -> Iterator[str]:
    """Documents of a text (one per line), JSONL (``text``) or Parquet (``text``) file."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"train-quality: input {p} not found")
    name = p.name.lower()
    if name.endswith(".parquet"):
        import pyarrow.parquet as pq

        table = pq.read_table(p, columns=["text"])
        yield from (t for t in table.column("text").to_pylist() if t)
        return
    opener = gzip.open if name.endswith(".gz") else open
    with opener(p, "rt", encoding="utf-8") as f:  # type: ignore[operator]
        if ".jsonl" in name or ".json" in name:
            for n, line in enumerate(f, 1):
                if line.strip():
                    try:
                        text = json.loads(line).get("text")
                    except (json.JSONDecodeError, AttributeError):
                        raise ConfigError(f"train-quality: {p}:{n} is not a JSON object with a text field") from None
                    if text:
                        yield text
        else:
            yield from (line.rstrip("\n") for line in f if line.strip())


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (Mann–Whitney U with tied scores ranked on average)."""
    pos = labels.astype(bool)
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    avg_rank = ends - (counts - 1) / 2.0  # 1-based average rank of each distinct score
    rank_sum = avg_rank[inverse][pos].sum()
    return float((rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def binary_metrics(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float]:
    pred = scores >= threshold
    pos = labels.astype(bool)
    tp, fp, fn = int((pred & pos).sum()), int((pred & ~pos).sum()), int((~pred & pos).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1,
            "accuracy": float((pred == pos).mean()) if len(pos) else 0.0, "auc": roc_auc(labels, scores)}


def _train_and_save(params: dict, output: str) -> None:
    import fasttext

    fasttext.train_supervised(**params).save_model(output)


def train(positive: list[str], negative: list[str], output: str | Path, *, report_path: str | Path | None = None,
          holdout: float = 0.1, seed: int = 0, epoch: int = 5, lr: float = 0.5, word_ngrams: int = 2,
          dim: int = 64, min_count: int = 1, bucket: int = 2_000_000, threshold: float = 0.5,
          max_chars: int = 10_000, threads: int = 1) -> dict:
    """Train, evaluate on the held-out split, write the model and the report; returns the report."""
    if not 0 <= holdout < 1:
        raise ConfigError(f"train-quality: --holdout must be in [0, 1), got {holdout}")
    rng = random.Random(seed)
    data = {LABEL_POSITIVE: [fasttext_line(t, max_chars) for p in positive for t in read_texts(p)],
            LABEL_NEGATIVE: [fasttext_line(t, max_chars) for p in negative for t in read_texts(p)]}
    train_rows: list[str] = []
    test_rows: list[tuple[int, str]] = []
    for label, lines in data.items():
        lines = [x for x in lines if x]
        if len(lines) < 2:
            raise ConfigError(f"train-quality: need at least 2 {label.removeprefix('__label__')} documents, "
                              f"got {len(lines)}")
        rng.shuffle(lines)
        k = max(1, round(len(lines) * holdout)) if holdout > 0 else 0
        test_rows += [(int(label == LABEL_POSITIVE), x) for x in lines[:k]]
        train_rows += [f"{label} {x}" for x in lines[k:]]
    rng.shuffle(train_rows)
    t0 = time.perf_counter()
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        train_file = Path(tmp) / "train.txt"
        train_file.write_text("\n".join(train_rows) + "\n", encoding="utf-8")
        params = dict(input=str(train_file), epoch=epoch, lr=lr, wordNgrams=word_ngrams, dim=dim,
                      minCount=min_count, bucket=bucket, thread=threads, seed=seed, verbose=0)
        # fastText's trainer gave "Encountered NaN" in a process whose heap earlier code had
        # used (reproducible under pytest, never in a fresh interpreter): train in a fresh one.
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            pool.submit(_train_and_save, params, str(output)).result()
    train_s = time.perf_counter() - t0
    model = load_fasttext(str(output))
    metrics: dict[str, float] = {}
    if test_rows:
        labels = np.array([y for y, _ in test_rows])
        got, probs = model.predict([x for _, x in test_rows], k=-1)
        scores = np.array([dict(zip(lab, p)).get(LABEL_POSITIVE, 0.0) for lab, p in zip(got, probs)])
        metrics = binary_metrics(labels, np.minimum(scores, 1.0), threshold)
    report = {
        "model": str(output),
        "docs": {"positive": len(data[LABEL_POSITIVE]), "negative": len(data[LABEL_NEGATIVE]),
                 "train": len(train_rows), "holdout": len(test_rows)},
        "holdout_metrics": metrics,
        "threshold": threshold,
        "params": {"epoch": epoch, "lr": lr, "word_ngrams": word_ngrams, "dim": dim, "min_count": min_count,
                   "bucket": bucket, "max_chars": max_chars, "holdout": holdout, "seed": seed},
        "inputs": {"positive": [str(p) for p in positive], "negative": [str(p) for p in negative]},
        "train_s": round(train_s, 3),
    }
    report_path = Path(report_path) if report_path else output.with_suffix(".json")
    report_path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


def _cmd(args: argparse.Namespace) -> int:
    report = train(args.positive, args.negative, args.output, report_path=args.report, holdout=args.holdout,
                   seed=args.seed, epoch=args.epoch, lr=args.lr, word_ngrams=args.word_ngrams, dim=args.dim,
                   min_count=args.min_count, bucket=args.bucket, threshold=args.threshold, max_chars=args.max_chars,
                   threads=args.threads)
    d, m = report["docs"], report["holdout_metrics"]
    print(f"trained on {d['train']} docs ({d['positive']} positive, {d['negative']} negative) "
          f"in {report['train_s']:.1f}s; model: {report['model']}")
    if m:
        print(f"holdout ({d['holdout']} docs, threshold {report['threshold']}): precision {m['precision']:.3f}  "
              f"recall {m['recall']:.3f}  F1 {m['f1']:.3f}  accuracy {m['accuracy']:.3f}  AUC {m['auc']:.3f}")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("train-quality", help="train the fastText quality classifier",
                              description=command_description(__doc__))
    p.add_argument("--positive", nargs="+", required=True, metavar="PATH",
                   help="reference-quality documents: .txt (one per line), .jsonl or .parquet (text), .gz ok")
    p.add_argument("--negative", nargs="+", required=True, metavar="PATH", help="random crawl documents")
    p.add_argument("--output", "-o", required=True, metavar="MODEL", help="model file to write (e.g. quality.bin)")
    p.add_argument("--report", metavar="JSON", help="report file (default: MODEL with .json)")
    p.add_argument("--holdout", type=float, default=0.1, help="share of each class held out (default 0.1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epoch", type=int, default=5)
    p.add_argument("--lr", type=float, default=0.5)
    p.add_argument("--word-ngrams", type=int, default=2)
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--min-count", type=int, default=1)
    p.add_argument("--bucket", type=int, default=2_000_000,
                   help="hash buckets for word n-grams (fastText default; model size ≈ bucket × dim × 4 bytes)")
    p.add_argument("--threshold", type=float, default=0.5, help="score cut-off for precision/recall")
    p.add_argument("--max-chars", type=int, default=10_000, help="characters of each document used")
    p.add_argument("--threads", type=int, default=1, help="fastText threads (1 = reproducible)")
    p.set_defaults(func=_cmd)
