"""``refinery train-tokenizer``: a GPT-2-style byte-level BPE trained on the Parquet shards.

GPT-2 (Radford et al. 2019, "Language Models are Unsupervised Multitask Learners", §2.2):
BPE over bytes, the 256-byte base alphabet mapped to printable characters, the GPT-2
pre-tokenization regex, no normalization, vocabulary 50,257 with ``<|endoftext|>``. Built
with Hugging Face ``tokenizers`` (``ByteLevel`` pre-tokenizer/decoder, ``BpeTrainer`` with
``initial_alphabet=ByteLevel.alphabet()``), so any UTF-8 text round-trips exactly.

Unlike GPT-2, where ``<|endoftext|>`` is id 50256, the special tokens get the first ids
(``<|endoftext|>`` is 0) because ``BpeTrainer`` puts them first.

Output directory: ``tokenizer.json`` (``tokenizers.Tokenizer.from_file`` and
``transformers.PreTrainedTokenizerFast(tokenizer_file=...)``), ``tokenizer_config.json`` and
``special_tokens_map.json`` (so ``AutoTokenizer.from_pretrained(dir)`` works), ``report.json``.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path
from typing import Any

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from tqdm import tqdm

from webrefinery.pipeline.core.errors import ConfigError, InputError
from webrefinery.tokenizer_training.corpus import iter_training_batches, parquet_shards, parse_ratios, plan_sample
from webrefinery.pipeline.io.manifest import write_json_atomic
from webrefinery.pipeline.core.registry import command_description

log = logging.getLogger("refinery")

EOT = "<|endoftext|>"


def new_tokenizer() -> Tokenizer:
    """An untrained GPT-2-style byte-level BPE."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    return tok


def bytes_per_token(tok: Tokenizer, texts: dict[str, list[str]]) -> dict[str, dict[str, Any]]:
    """UTF-8 bytes / tokens per language (higher = better compression)."""
    out = {}
    for lang, docs in sorted(texts.items()):
        n_bytes = sum(len(t.encode("utf-8")) for t in docs)
        n_tokens = sum(len(e.ids) for e in tok.encode_batch_fast(docs, add_special_tokens=False))
        out[lang] = {"docs": len(docs), "bytes": n_bytes, "tokens": n_tokens,
                     "bytes_per_token": round(n_bytes / n_tokens, 4) if n_tokens else None}
    return out


def train_tokenizer(inputs: list[str], output: str, vocab_size: int = 50257, min_frequency: int = 2,
                    languages: str | None = None, max_bytes: int | None = None,
                    special_tokens: tuple[str, ...] = (EOT,), holdout_fraction: float = 0.01,
                    holdout_bytes: int = 1 << 20, compare_tokenizer: str | None = None,
                    quiet: bool = False) -> dict[str, Any]:
    """Train on the shards under ``inputs``, write ``output``/tokenizer.json and the report."""
    if vocab_size < 256 + len(special_tokens):
        raise ConfigError(f"--vocab-size must be at least {256 + len(special_tokens)} (256 bytes + special tokens)")
    if compare_tokenizer and not Path(compare_tokenizer).is_file():
        raise InputError(f"--compare-tokenizer: {compare_tokenizer} does not exist")
    paths = parquet_shards(inputs)
    out_dir = Path(output)
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    plan = plan_sample(paths, parse_ratios(languages), max_bytes, holdout_fraction, holdout_bytes)
    t_plan = time.perf_counter() - t0

    tok = new_tokenizer()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                  special_tokens=list(special_tokens),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=not quiet)
    counts: dict[str, dict[str, int]] = {}
    total = sum(plan.target.values())
    bar = tqdm(total=total, unit="B", unit_scale=True, desc="train-tokenizer read", disable=quiet)

    def batches():
        for batch in iter_training_batches(paths, plan, counts):
            bar.update(sum(len(t.encode("utf-8")) for t in batch))
            yield batch

    t1 = time.perf_counter()
    tok.train_from_iterator(batches(), trainer=trainer)
    t_train = time.perf_counter() - t1
    bar.close()
    if not counts:
        raise InputError("no training text selected (empty input or --max-bytes 0)")

    trained_bytes = sum(c["bytes"] for c in counts.values())
    if tok.get_vocab_size() < vocab_size:  # BPE stops when no pair is seen min_frequency times
        log.warning("train-tokenizer: the vocabulary has %d tokens, not the %d asked for: the training text "
                    "(%d bytes) has no more pairs seen at least %d times; train on more text (--max-bytes, "
                    "more shards) or lower --min-frequency", tok.get_vocab_size(), vocab_size, trained_bytes,
                    min_frequency)
    tok.save(str(out_dir / "tokenizer.json"))
    _write_transformers_config(out_dir, special_tokens)
    report: dict[str, Any] = {
        "vocab_size": tok.get_vocab_size(),
        "requested_vocab_size": vocab_size,
        "special_tokens": {t: tok.token_to_id(t) for t in special_tokens},
        "min_frequency": min_frequency,
        "inputs": [str(p) for p in paths],
        "training": {"bytes": trained_bytes, "docs": sum(c["docs"] for c in counts.values()),
                     "by_language": {lang: {**c, "share": round(c["bytes"] / trained_bytes, 4)}
                                     for lang, c in sorted(counts.items())},
                     "requested_ratios": parse_ratios(languages), "max_bytes": max_bytes,
                     "available_bytes": plan.available},
        "time_s": {"plan": round(t_plan, 3), "train": round(t_train, 3)},
        "train_mb_per_s": round(trained_bytes / 1e6 / t_train, 3) if t_train else None,
        "heldout": {"fraction": holdout_fraction, "max_bytes_per_language": holdout_bytes,
                    "by_language": bytes_per_token(tok, plan.holdout)},
    }
    if compare_tokenizer:
        report["reference"] = {"tokenizer": compare_tokenizer,
                               "by_language": bytes_per_token(Tokenizer.from_file(compare_tokenizer), plan.holdout)}
    else:
        report["reference"] = {"tokenizer": None, "note": "GPT-2's tokenizer is not available offline; pass "
                               "--compare-tokenizer PATH/tokenizer.json to measure one beside this tokenizer"}
    write_json_atomic(out_dir / "report.json", report)
    if not quiet:
        _print_report(report)
    return report


def _write_transformers_config(out_dir: Path, special_tokens: tuple[str, ...]) -> None:
    eot = special_tokens[0]
    write_json_atomic(out_dir / "special_tokens_map.json",
                      {"bos_token": eot, "eos_token": eot, "unk_token": eot})
    write_json_atomic(out_dir / "tokenizer_config.json",
                      {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": eot, "eos_token": eot,
                       "unk_token": eot, "add_prefix_space": False, "model_max_length": 1024,
                       "clean_up_tokenization_spaces": False})


def _print_report(report: dict[str, Any]) -> None:
    tr = report["training"]
    print(f"vocab {report['vocab_size']}  trained on {tr['bytes'] / 1e6:.1f} MB, {tr['docs']} docs "
          f"({report['train_mb_per_s']} MB/s)")
    ref = report["reference"].get("by_language", {})
    for lang, h in report["heldout"]["by_language"].items():
        extra = f"  reference {ref[lang]['bytes_per_token']}" if lang in ref else ""
        print(f"  {lang}: {h['bytes_per_token']} bytes/token on {h['bytes']} held-out bytes{extra}")


def _run(args: argparse.Namespace) -> int:
    train_tokenizer(args.input, args.output, vocab_size=args.vocab_size, min_frequency=args.min_frequency,
                    languages=args.languages, max_bytes=args.max_bytes,
                    special_tokens=tuple(t for t in args.special_tokens.split(",") if t),
                    holdout_fraction=args.holdout_fraction, holdout_bytes=args.holdout_bytes,
                    compare_tokenizer=args.compare_tokenizer, quiet=args.quiet)
    return 0


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("train-tokenizer", help="train a GPT-2-style byte-level BPE on the output shards",
                              description=command_description(__doc__))
    p.add_argument("--input", nargs="+", required=True, help="pipeline output dir(s) (reads DIR/data/*.parquet) or .parquet files")
    p.add_argument("--output", required=True, help="directory for tokenizer.json and report.json")
    p.add_argument("--vocab-size", type=int, default=50257, help="total vocabulary incl. 256 bytes and special tokens (GPT-2: 50257)")
    p.add_argument("--min-frequency", type=int, default=2, help="minimum pair count for a merge")
    p.add_argument("--languages", help="per-language byte ratios, e.g. zh=0.5,en=0.5 (other languages are left out)")
    p.add_argument("--max-bytes", type=int, help="train on at most this many UTF-8 bytes")
    p.add_argument("--special-tokens", default=EOT, help="comma-separated; the first is the end-of-text token")
    p.add_argument("--holdout-fraction", type=float, default=0.01, help="share of documents held out for the report")
    p.add_argument("--holdout-bytes", type=int, default=1 << 20, help="held-out bytes kept per language")
    p.add_argument("--compare-tokenizer", help="a reference tokenizer.json (e.g. GPT-2's) to measure beside")
    p.add_argument("--quiet", action="store_true", help="no progress bars or summary")
    p.set_defaults(func=_run)
    return p
