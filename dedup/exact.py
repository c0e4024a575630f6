"""Exact document dedup keys: a stable 64-bit hash of each document's normalised text.

``words`` (default) hashes the sequence of lowercased letter/number runs, so two documents
that differ only in case, whitespace or punctuation are exact duplicates (the normalised
exact match of CCNet/RefinedWeb); ``text`` hashes the text byte for byte.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pyarrow as pa
import xxhash

ExactMode = Literal["words", "text"]


def exact_hashes(texts: pa.Array, mode: ExactMode, words: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """uint64 xxh3 of each text under ``mode``; ``words`` = :func:`webrefinery.dedup.shingles.word_tokens`."""
    if mode == "text":
        return np.fromiter((xxhash.xxh3_64_intdigest((t or "").encode()) for t in texts.to_pylist()),
                           np.uint64, len(texts))
    tokens, offsets = words
    view = tokens.view(np.uint8)
    return np.fromiter((xxhash.xxh3_64_intdigest(view[8 * a:8 * b]) for a, b in zip(offsets[:-1], offsets[1:])),
                       np.uint64, len(offsets) - 1)
