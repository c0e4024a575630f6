"""Streaming text from the pipeline's Parquet shards, with per-language byte sampling.

The corpus is never loaded: shards are read with ``pyarrow.parquet.ParquetFile.iter_batches``
(one record batch in memory at a time). Which documents are used is decided by a hash of the
document ``id`` (xxh64 → [0, 1)), so the selection is deterministic, independent of shard
order, and needs no state beyond per-language byte counters.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import xxhash

from webrefinery.pipeline.core.errors import ConfigError, InputError

#: salts of the two independent hashes of a document id
SAMPLE_SALT, HOLDOUT_SALT = 0, 1
UNKNOWN_LANGUAGE = "unknown"


def parquet_shards(inputs: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Parquet files named by ``inputs``: a pipeline output dir (its ``data/``), a dir, or files."""
    paths: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            base = p / "data" if (p / "data").is_dir() else p
            found = sorted(base.glob("*.parquet"))
            if not found:
                raise InputError(f"no .parquet shards in {base}")
            paths.extend(found)
        elif p.is_file() and p.suffix == ".parquet":
            paths.append(p)
        else:
            raise InputError(f"{p} is neither a directory of Parquet shards nor a .parquet file")
    stems = [p.stem for p in paths]
    if len(set(stems)) != len(stems):
        raise InputError("input shards must have distinct file names (outputs are named after them)")
    return paths


def parse_ratios(spec: str | None) -> dict[str, float] | None:
    """``"zh=0.5,en=0.5"`` (or ``zh:1,en:1``) → ratios normalised to sum 1."""
    if not spec:
        return None
    ratios: dict[str, float] = {}
    for part in spec.split(","):
        lang, sep, value = part.replace(":", "=").partition("=")
        try:
            ratios[lang.strip()] = float(value)
        except ValueError:
            raise ConfigError(f"--languages: bad item {part!r}; expected LANG=RATIO, e.g. zh=0.5,en=0.5") from None
        if not sep or not lang.strip() or not 0 <= ratios[lang.strip()] < math.inf:
            raise ConfigError(f"--languages: bad item {part!r}; expected LANG=RATIO with a finite RATIO >= 0")
    total = sum(ratios.values())
    if total <= 0:
        raise ConfigError("--languages: ratios must not all be zero")
    return {lang: r / total for lang, r in ratios.items() if r > 0}


def unit_hash(doc_id: str, salt: int) -> float:
    """Deterministic uniform [0, 1) value of a document id."""
    return xxhash.xxh64_intdigest(doc_id.encode("utf-8"), seed=salt) / 2.0**64


def iter_documents(paths: list[Path], batch_size: int = 1024) -> Iterator[tuple[list[str], list[str], list[str]]]:
    """Batches of (ids, texts, languages); null text → "", null language → "unknown"."""
    for path in paths:
        pf = pq.ParquetFile(path)
        names = set(pf.schema_arrow.names)
        if "text" not in names:
            raise InputError(f"{path}: no 'text' column")
        columns = [c for c in ("id", "text", "language") if c in names]
        for row0, batch in _batches_with_offset(pf, columns, batch_size):
            n = batch.num_rows
            texts = pc.fill_null(batch.column("text"), "").to_pylist()
            ids = (batch.column("id").to_pylist() if "id" in names else [None] * n)
            ids = [i if i is not None else f"{path.name}:{row0 + k}" for k, i in enumerate(ids)]
            langs = (pc.fill_null(batch.column("language"), UNKNOWN_LANGUAGE).to_pylist()
                     if "language" in names else [UNKNOWN_LANGUAGE] * n)
            yield ids, texts, langs


def _batches_with_offset(pf: pq.ParquetFile, columns: list[str], batch_size: int) -> Iterator[tuple[int, pa.RecordBatch]]:
    row = 0
    for batch in pf.iter_batches(batch_size=batch_size, columns=columns):
        yield row, batch
        row += batch.num_rows


@dataclass
class SamplePlan:
    """How many bytes of each language to train on, and the held-out evaluation sample.

    ``fraction[lang]`` is the share of that language's (non-held-out) documents to keep,
    ``target[lang]`` the byte cap. Held-out documents (``unit_hash(id, HOLDOUT_SALT) <
    holdout_fraction``) are never trained on; up to ``holdout_bytes`` per language of them
    are kept for the bytes-per-token report.
    """

    available: dict[str, int]
    fraction: dict[str, float]
    target: dict[str, int]
    holdout_fraction: float
    holdout_bytes: int
    holdout: dict[str, list[str]] = field(default_factory=dict)


def plan_sample(paths: list[Path], ratios: dict[str, float] | None, max_bytes: int | None,
                holdout_fraction: float = 0.01, holdout_bytes: int = 1 << 20) -> SamplePlan:
    """First pass over the shards: bytes per language, the byte targets, and the held-out sample.

    With ratios, the total is limited by the scarcest language (no document is repeated):
    ``total = min(max_bytes, min_l available_l / ratio_l)`` and ``target_l = ratio_l * total``.
    Without ratios every language is sampled at the same rate ``max_bytes / available``.
    """
    available: dict[str, int] = {}
    holdout: dict[str, list[str]] = {}
    held_bytes: dict[str, int] = {}
    for ids, texts, langs in iter_documents(paths):
        for doc_id, text, lang in zip(ids, texts, langs):
            size = len(text.encode("utf-8"))
            if unit_hash(doc_id, HOLDOUT_SALT) < holdout_fraction:
                if held_bytes.get(lang, 0) < holdout_bytes and text:
                    holdout.setdefault(lang, []).append(text)
                    held_bytes[lang] = held_bytes.get(lang, 0) + size
                continue
            available[lang] = available.get(lang, 0) + size
    budget = float(max_bytes) if max_bytes else float("inf")
    if ratios:
        missing = [lang for lang in ratios if not available.get(lang)]
        if missing:
            raise ConfigError(f"--languages: no training text for {', '.join(missing)} in the input "
                              f"(languages present: {', '.join(sorted(available)) or 'none'})")
        total = min(budget, min(available[lang] / r for lang, r in ratios.items()))
        target = {lang: int(r * total) for lang, r in ratios.items()}
    else:
        total_available = sum(available.values())
        share = min(1.0, budget / total_available) if total_available else 0.0
        target = {lang: int(share * a) if share < 1 else a for lang, a in available.items()}
    fraction = {lang: min(1.0, t / available[lang]) if available[lang] else 0.0 for lang, t in target.items()}
    return SamplePlan(available, fraction, target, holdout_fraction, holdout_bytes, holdout)


def iter_training_batches(paths: list[Path], plan: SamplePlan, counts: dict[str, dict[str, int]],
                          batch_size: int = 1024) -> Iterator[list[str]]:
    """Second pass: batches of training texts chosen by ``plan``; fills ``counts[lang]`` as it goes."""
    for ids, texts, langs in iter_documents(paths, batch_size):
        out = []
        for doc_id, text, lang in zip(ids, texts, langs):
            frac = plan.fraction.get(lang)
            if not frac or not text or unit_hash(doc_id, HOLDOUT_SALT) < plan.holdout_fraction:
                continue
            if frac < 1.0 and unit_hash(doc_id, SAMPLE_SALT) >= frac:
                continue
            c = counts.setdefault(lang, {"docs": 0, "bytes": 0})
            if c["bytes"] >= plan.target[lang]:
                continue
            c["docs"] += 1
            c["bytes"] += len(text.encode("utf-8"))
            out.append(text)
        if out:
            yield out
