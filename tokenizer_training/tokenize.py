"""``refinery tokenize``: encode every document of the Parquet shards into token shards.

One output shard per input shard, in Megatron-Core's indexed-dataset format (``.bin`` + ``.idx``,
see :mod:`webrefinery.tokenizer_training.token_shards`), so the
work is resumable per shard: a shard whose header exists for the same tokenizer and source
file is skipped on a re-run. Shards are encoded in parallel by a process pool (``spawn``;
each process loads the tokenizer once and batch-encodes with ``encode_batch_fast``); when
there are fewer pending shards than ``--workers``, each process gets the spare cores as
``tokenizers`` (Rayon) threads. Output is deterministic: it depends only on the shard and
the tokenizer. Literal ``<|endoftext|>`` text inside a document is encoded as ordinary
text (``encode_special_tokens``), so only the appended id separates documents: exactly one
end-of-document id follows every document.

Token counts go to ``TOKENS/stats.json`` and, when the input is a pipeline output directory
(it has a ``stats.json``), to its own ``tokens.json`` as well (``runs``: one entry per token
directory), which the dataset card reads; the pipeline's ``stats.json`` is never rewritten. An
existing card is rendered again.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from tokenizers import Tokenizer
from tqdm import tqdm

from webrefinery.pipeline.core.errors import ConfigError, InputError, StageFailure
from webrefinery.tokenizer_training.corpus import iter_documents, parquet_shards
from webrefinery.pipeline.card.render import CARD_FILE, write_card
from webrefinery.pipeline.card.run import TOKENS_FILE
from webrefinery.pipeline.core.paths import OUTPUT_MARKERS
from webrefinery.pipeline.io.manifest import sha256_file, write_json_atomic
from webrefinery.tokenizer_training.token_shards import (INDEX_FORMAT, VERSION, TokenShardWriter, dtype_for_vocab,
                                                          read_header, shard_damage)
from webrefinery.tokenizer_training.train import EOT
from webrefinery.pipeline.core.registry import command_description

log = logging.getLogger("refinery")


@lru_cache(maxsize=4)
def _load_tokenizer(path: str) -> Tokenizer:
    tok = Tokenizer.from_file(path)
    tok.encode_special_tokens = True
    return tok


def self_test(tokenizer: str, eot_token: str) -> None:
    """Load the tokenizer and encode one string before any shard is touched: a file that is
    not a tokenizer, or a broken ``tokenizers`` install, stops the command at start-up."""
    try:
        tok = Tokenizer.from_file(tokenizer)
    except Exception as e:  # tokenizers raises a bare Exception for a file it cannot read
        raise InputError(f"--tokenizer: {tokenizer} is not a tokenizer file tokenizers can load ({e}). Fix: point "
                         "--tokenizer at a tokenizer.json written by `refinery train-tokenizer`") from e
    try:
        ids = tok.encode("Tokenizer self-test: 分词器自检。").ids
    except Exception as e:
        raise StageFailure(f"tokenize (start-up self-test): tokenizers cannot encode with {tokenizer} "
                           f"({type(e).__name__}: {e}); reinstall from the lock") from e
    if not ids:
        raise StageFailure(f"tokenize (start-up self-test): {tokenizer} encoded a test string to no tokens")
    if tok.token_to_id(eot_token) is None:
        raise ConfigError(f"--eot-token: {eot_token!r} is not in the vocabulary of {tokenizer}")


def _source_fingerprint(src: Path) -> dict[str, Any]:
    st = src.stat()
    return {"source": str(src), "source_bytes": st.st_size, "source_mtime_ns": st.st_mtime_ns}


def shard_is_done(header_path: Path, src: Path, tokenizer_sha256: str) -> dict[str, Any] | None:
    """The header of a finished shard made from ``src`` by this tokenizer, else None."""
    header = read_header(header_path)
    if header is None or header.get("version") != VERSION or header.get("tokenizer_sha256") != tokenizer_sha256:
        return None
    fp = _source_fingerprint(src)
    if header.get("source_bytes") != fp["source_bytes"] or header.get("source_mtime_ns") != fp["source_mtime_ns"]:
        return None
    damage = shard_damage(header_path, header)
    if damage:
        log.warning("token shard %s: %s; tokenizing %s again", header_path, damage, src)
        return None
    return header


def tokenize_shard(src: Path, out_dir: Path, tokenizer_path: str, tokenizer_sha256: str,
                   eot_token: str = EOT, batch_size: int = 1024) -> dict[str, Any]:
    """Encode one Parquet shard into ``out_dir/<stem>.{bin,idx,json}``; returns its header."""
    tok = _load_tokenizer(tokenizer_path)
    eot = tok.token_to_id(eot_token)
    vocab = tok.get_vocab_size()
    writer = TokenShardWriter(out_dir, src.stem, dtype_for_vocab(vocab))
    by_lang: dict[str, dict[str, int]] = {}
    n_bytes = empty = 0
    t0 = time.perf_counter()
    try:
        for _, texts, langs in iter_documents([src], batch_size):
            encs = tok.encode_batch_fast(texts, add_special_tokens=False)
            lengths = np.fromiter((len(e.ids) + 1 for e in encs), np.int64, len(encs))
            flat: list[int] = []
            for e in encs:
                flat.extend(e.ids)
                flat.append(eot)
            writer.add(np.array(flat, dtype=writer.dtype), lengths)
            for text, lang, n in zip(texts, langs, lengths.tolist()):
                size = len(text.encode("utf-8"))
                c = by_lang.setdefault(lang, {"docs": 0, "tokens": 0, "bytes": 0})
                c["docs"] += 1
                c["tokens"] += n
                c["bytes"] += size
                n_bytes += size
                empty += not text
    except BaseException:
        writer.abort()
        raise
    return writer.close({"vocab_size": vocab, "eot_id": eot, "eot_token": eot_token, "text_bytes": n_bytes,
                         "empty_docs": empty, "by_language": dict(sorted(by_lang.items())),
                         "tokenizer": tokenizer_path, "tokenizer_sha256": tokenizer_sha256,
                         "time_s": round(time.perf_counter() - t0, 3), **_source_fingerprint(src)})


def _init_worker(threads: int) -> None:
    # Runs in a fresh (spawned) process before tokenizers first builds its Rayon pool.
    os.environ["RAYON_NUM_THREADS"] = str(threads)
    os.environ["TOKENIZERS_PARALLELISM"] = "true" if threads > 1 else "false"


def tokenize_corpus(inputs: list[str], tokenizer: str, output: str, workers: int | None = None,
                    eot_token: str = EOT, batch_size: int = 1024, quiet: bool = False) -> dict[str, Any]:
    """Tokenize every shard under ``inputs`` into ``output``; returns the token stats."""
    t0 = time.perf_counter()
    paths = parquet_shards(inputs)
    out_dir = Path(output)
    _check_output(out_dir)
    if Path(tokenizer).is_dir():
        raise InputError(f"--tokenizer: {tokenizer} is a directory; pass the tokenizer.json in it")
    if not Path(tokenizer).is_file():
        raise InputError(f"--tokenizer: {tokenizer} does not exist (run refinery train-tokenizer first)")
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer = str(Path(tokenizer).resolve())
    self_test(tokenizer, eot_token)
    tok_sha = sha256_file(Path(tokenizer))
    workers = max(1, workers or os.cpu_count() or 1)

    headers: dict[Path, dict[str, Any]] = {}
    pending = []
    for src in paths:
        done = shard_is_done(out_dir / f"{src.stem}.json", src, tok_sha)
        if done is not None:
            headers[src] = done
        else:
            pending.append(src)
    bar = tqdm(total=len(paths), initial=len(headers), unit="shard", desc="tokenize", disable=quiet)
    procs = min(workers, len(pending))
    if procs == 1 and workers == 1:
        # in-process, single-threaded: no pool to start for one core
        previous = os.environ.get("TOKENIZERS_PARALLELISM")
        os.environ["TOKENIZERS_PARALLELISM"] = "false"
        try:
            for src in pending:
                headers[src] = tokenize_shard(src, out_dir, tokenizer, tok_sha, eot_token, batch_size)
                bar.update()
        finally:
            if previous is None:
                os.environ.pop("TOKENIZERS_PARALLELISM")
            else:
                os.environ["TOKENIZERS_PARALLELISM"] = previous
    elif procs:
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(procs, mp_context=ctx, initializer=_init_worker,
                                 initargs=(max(1, workers // procs),)) as pool:
            futures = {pool.submit(tokenize_shard, src, out_dir, tokenizer, tok_sha, eot_token, batch_size): src
                       for src in pending}
            for fut in as_completed(futures):
                headers[futures[fut]] = fut.result()
                bar.update()
    bar.close()
    stats = _summarize([headers[src] for src in paths], tokenizer, out_dir, time.perf_counter() - t0,
                       skipped=len(paths) - len(pending), workers=workers)
    write_json_atomic(out_dir / "stats.json", stats)
    for item in inputs:
        if write_pipeline_tokens(Path(item), stats) and (Path(item) / CARD_FILE).is_file():
            write_card(Path(item))  # the card's token section now has numbers
    if not quiet:
        print(f"{stats['total']} tokens from {stats['docs']} docs in {stats['shards']} shards "
              f"({stats['skipped_shards']} already done), {stats['dtype']}, {stats['wall_s']} s")
    return stats


#: what a token directory holds: shards (``.bin``, ``.idx``, ``.json`` headers), ``stats.json``, and
#: the temporary files of a killed run
_TOKEN_DIR_FILES = (".bin", ".idx", ".json", ".tmp")


def _check_output(out_dir: Path) -> None:
    """``--output`` is a new or empty directory, or one this command wrote before (a resume):
    not a refinery output or a directory inside one, whose ``stats.json`` and files the token
    shards would overwrite or mix with, and not a directory of other files."""
    for d in (out_dir, *out_dir.resolve().parents):
        if any((d / m).is_file() for m in OUTPUT_MARKERS):
            where = "is" if d == out_dir else "lies inside"
            raise ConfigError(f"--output {out_dir} {where} the refinery output {d}: its stats.json and files would be "
                              f"overwritten or mixed with token shards; choose a directory of its own, e.g. {d}-tokens")
    others = sorted(p.name for p in out_dir.iterdir() if not p.name.endswith(_TOKEN_DIR_FILES)) \
        if out_dir.is_dir() else []
    if others:
        raise ConfigError(f"--output {out_dir} holds files that are not token shards ({', '.join(others[:3])}); "
                          "choose an empty or new directory (or the --output of an earlier refinery tokenize, to "
                          "resume it)")


def _summarize(headers: list[dict[str, Any]], tokenizer: str, out_dir: Path, wall_s: float,
               skipped: int, workers: int) -> dict[str, Any]:
    by_lang: dict[str, dict[str, int]] = {}
    for h in headers:
        for lang, c in h["by_language"].items():
            acc = by_lang.setdefault(lang, {"docs": 0, "tokens": 0, "bytes": 0})
            for k in acc:
                acc[k] += c[k]
    first = headers[0] if headers else {}
    return {"version": 1, "tokenizer": tokenizer, "output": str(out_dir.resolve()),
            "vocab_size": first.get("vocab_size"), "eot_id": first.get("eot_id"), "dtype": first.get("dtype"),
            "total": sum(h["tokens"] for h in headers), "docs": sum(h["docs"] for h in headers),
            "bytes": sum(h["text_bytes"] for h in headers), "shards": len(headers),
            "skipped_shards": skipped, "by_language": dict(sorted(by_lang.items())),
            "format": INDEX_FORMAT, "files": _files(headers), "workers": workers, "wall_s": round(wall_s, 3)}


def _files(headers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per ``.bin``/``.idx`` pair: its prefix (relative to the tokens dir, what Megatron's
    ``--data-path`` takes after joining it), tokens and documents."""
    return [{"prefix": Path(h["bin"]).stem, "tokens": h["tokens"], "docs": h["docs"]} for h in headers]


def write_pipeline_tokens(out_dir: Path, stats: dict[str, Any]) -> bool:
    """Write ``out_dir/tokens.json`` (atomically) when ``out_dir`` is a pipeline output; False if not.

    Its top level is this run's counts; ``runs`` lists every token directory made from the output
    (one entry per ``--output``, this run last), so tokenizing with a second tokenizer keeps the
    first one's counts on the card."""
    if not (out_dir / "stats.json").is_file():
        return False
    entry = {"tokenizer": stats["tokenizer"], "total": stats["total"],
             "by_language": {lang: c["tokens"] for lang, c in stats["by_language"].items()},
             "shards": stats["shards"], "output": stats["output"], "dtype": stats["dtype"],
             "format": stats["format"], "eot_id": stats["eot_id"], "files": stats["files"]}
    path = out_dir / TOKENS_FILE
    earlier = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    runs = [r for r in (earlier.get("runs", [earlier]) if earlier else []) if r.get("output") != entry["output"]]
    write_json_atomic(path, {**entry, "runs": [*runs, entry]})
    return True


def _run(args: argparse.Namespace) -> int:
    tokenize_corpus(args.input, args.tokenizer, args.output, workers=args.workers, eot_token=args.eot_token,
                    batch_size=args.batch_size, quiet=args.quiet)
    return 0


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("tokenize", help="encode the output shards into token shards for training",
                              description=command_description(__doc__))
    p.add_argument("--tokenizer", required=True, help="tokenizer.json (from refinery train-tokenizer)")
    p.add_argument("--input", nargs="+", required=True, help="pipeline output dir(s) (reads DIR/data/*.parquet) or .parquet files")
    p.add_argument("--output", required=True, help="directory for the token shards")
    p.add_argument("--workers", type=int, default=None, help="CPU cores to use (default: all)")
    p.add_argument("--eot-token", default=EOT, help="end-of-document token appended after every document")
    p.add_argument("--format", choices=["megatron"], default="megatron",
                   help="token file format: Megatron-Core's indexed dataset (.bin + .idx), the only one")
    p.add_argument("--batch-size", type=int, default=1024, help="documents per encode batch")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    p.set_defaults(func=_run)
    return p
