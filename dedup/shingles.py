"""Shingling for MinHash: stable 32-bit hashes of word or character n-grams, per batch.

Space-delimited languages use word 5-grams (Broder 1997; the RefinedWeb/FineWeb MinHash
recipe); Chinese and Japanese use character 5-grams, because a word tokenizer turns
unspaced CJK text into a few long "words" (the failure datatrove's default shows on zh).

Normalisation (both modes): lowercase (Arrow's Unicode ``utf8_lower``), then every
character that is not a letter or number (Unicode L*/N*) is a word break (words) or dropped
(characters). The batch is handled as one array of code points: words, their hashes and the
n-gram hashes are computed with numpy over the concatenated batch, so the cost per document
is a few vectorised passes, not a Python loop over words or shingles. Every hash is a fixed function
of the text (no Python ``hash()``): the same document gets the same shingles on any
machine, process or run.
"""

from __future__ import annotations

from dataclasses import dataclass

import re
import unicodedata
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from webrefinery.pipeline.text.scripts import CJK_CHARS, CJK_PROP

_HAN = f"[{CJK_PROP}]"
_M = np.uint64(0x9E3779B97F4A7C15)  # odd multiplier of the n-gram polynomial (golden ratio)


def fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finalizer, element-wise on uint32, wrapping: the pre-mix of
    datasketch's affine32 MinHash scheme (so signatures match ``datasketch.MinHash``)."""
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def fmix64(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finalizer (an avalanching bijection), element-wise, wrapping."""
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xFF51AFD7ED558CCD)
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> np.uint64(33))


@dataclass
class Shingles:
    """Shingle hashes of a batch: ``hashes[offsets[i]:offsets[i+1]]`` belong to document i."""

    hashes: np.ndarray  # uint32
    offsets: np.ndarray  # int64, len = docs + 1

    def counts(self) -> np.ndarray:
        return np.diff(self.offsets)


def char_mode_mask(texts: pa.Array, languages: pa.Array | None, char_languages: tuple[str, ...],
                   han_ratio: float = 0.3) -> np.ndarray:
    """True for documents shingled by characters: language in ``char_languages``, or (language
    unknown) at least ``han_ratio`` of the characters are Han/kana."""
    n = len(texts)
    if languages is not None:
        lang = pc.fill_null(languages, "")
        mask = pc.is_in(lang, pa.array(list(char_languages), pa.string())).to_numpy(zero_copy_only=False)
        unknown = pc.equal(lang, "").to_numpy(zero_copy_only=False)
    else:
        mask, unknown = np.zeros(n, bool), np.ones(n, bool)
    if unknown.any():
        han = pc.count_substring_regex(texts, _HAN).to_numpy(zero_copy_only=False)
        length = np.maximum(pc.utf8_length(texts).to_numpy(zero_copy_only=False), 1)
        mask = mask | (unknown & (han / length >= han_ratio))
    return mask


def _ngrams(tokens: np.ndarray, offsets: np.ndarray, n: int) -> Shingles:
    """MinHash shingles: the top 32 bits of :func:`ngram_hashes`."""
    hashes, out_offsets = ngram_hashes(tokens, offsets, n)
    return Shingles((hashes >> np.uint64(32)).astype(np.uint32), out_offsets)


def ngram_hashes(tokens: np.ndarray, offsets: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Combine per-document token hashes (uint64, concatenated) into 64-bit n-gram hashes
    and per-document offsets into them (n-gram ``j`` of a document starts at its token ``j``).

    An n-gram's hash is ``fmix64(poly(tokens) + width)`` with the odd multiplier ``_M``.
    A document with fewer than ``n`` tokens (but at least one) yields one shingle of all its
    tokens, so short documents can still be compared; an empty one yields none.
    """
    counts = np.diff(offsets)
    n_grams = np.where(counts >= n, counts - n + 1, (counts > 0).astype(np.int64))
    out_offsets = np.zeros(len(counts) + 1, np.int64)
    np.cumsum(n_grams, out=out_offsets[1:])
    total = int(out_offsets[-1])
    hashes = np.zeros(total, np.uint64)
    with np.errstate(over="ignore"):
        full = counts >= n
        if full.any():
            # poly of the window at token g = (P[g+n] - P[g]) · M^(g+n-1), P = prefix sums of
            # t_j · M^-j (M is odd, so invertible mod 2^64): the same value as the sliding
            # Horner polynomial, in a few passes whatever n is
            size = 1 << int(len(tokens) + 1).bit_length()
            prefix = np.zeros(len(tokens) + 1, np.uint64)
            np.cumsum(tokens * _powers(_M_INV, size)[:len(tokens)], out=prefix[1:])
            docs = np.flatnonzero(full)
            reps = n_grams[docs]
            first = np.repeat(offsets[docs] - np.cumsum(np.concatenate([[0], reps[:-1]])), reps)
            dst = np.repeat(out_offsets[docs], reps) + (np.arange(reps.sum()) - np.repeat(
                np.cumsum(np.concatenate([[0], reps[:-1]])), reps))
            g = first + np.arange(reps.sum())
            poly = (prefix[g + n] - prefix[g]) * _powers(int(_M), size)[g + n - 1]
            hashes[dst] = poly + np.uint64(n)
        for d in np.flatnonzero((counts > 0) & ~full):  # short documents: one shingle each
            h = np.uint64(0)
            for t in tokens[offsets[d]:offsets[d + 1]]:
                h = h * _M + t
            hashes[out_offsets[d]] = h + np.uint64(counts[d])
        hashes = fmix64(hashes)
    return hashes, out_offsets


@lru_cache(maxsize=1)
def _alnum_table() -> np.ndarray:
    """Code point → is a letter or number (Unicode categories L*, N*); built once per process."""
    return np.fromiter((unicodedata.category(chr(c))[0] in "LN" for c in range(0x110000)), bool, 0x110000)


def _code_points(texts: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lowercased code points of the texts joined by newlines (so no word spans two
    documents), a letter/number mask, and each document's start (plus the total length)."""
    low = pc.utf8_lower(pc.fill_null(texts, ""))
    lengths = pc.utf8_length(low).to_numpy(zero_copy_only=False).astype(np.int64) + 1
    offsets = np.zeros(len(lengths) + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    codes = np.frombuffer(("\n".join(low.to_pylist()) + "\n").encode("utf-32-le"), np.uint32)
    return codes, _alnum_table()[codes], offsets


@lru_cache(maxsize=1)
def _cjk_table() -> np.ndarray:
    """Code point → is a CJK character (:data:`~webrefinery.pipeline.text.scripts.CJK_CHARS`); built once per process."""
    table = np.zeros(0x110000, bool)
    every = "".join(map(chr, range(0xD800))) + "".join(map(chr, range(0xE000, 0x110000)))
    for m in re.finditer(f"[{CJK_CHARS}]+", every):
        lo, hi = ord(m.group()[0]), ord(m.group()[-1])
        table[lo:hi + 1] = True
    return table


@lru_cache(maxsize=8)
def _powers(base: int, size: int) -> np.ndarray:
    """``base ** i mod 2^64`` for i < size (sizes are rounded up to powers of two)."""
    out = np.ones(size, np.uint64)
    with np.errstate(over="ignore"):
        np.multiply.accumulate(np.full(size - 1, base, np.uint64), out=out[1:])
    return out


_M_INV = pow(int(_M), -1, 1 << 64)


def word_tokens(texts: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """uint64 hashes of the words of each text (lowercased; runs of letters/numbers are
    words) and per-document offsets into them."""
    return word_token_spans(texts)[:2]


def word_token_spans(texts: pa.Array, cjk_chars: bool = False
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`word_tokens` plus each word's ``[start, end)`` code-point position in its
    (lowercased) document. ``cjk_chars``: every CJK character (:data:`~webrefinery.pipeline.text.scripts.CJK_CHARS`)
    is a word of its own, as in the project's ``WORD`` pattern (:mod:`webrefinery.pipeline.text.words`).

    A word's hash is the polynomial ``Σ c_j · M^(end-j)`` of its code points, computed for
    all words at once as ``M^end · Σ c_j · M^-j`` (``M`` is odd, so invertible mod 2^64) with
    one ``np.add.reduceat``, then finished with fmix64: no per-word Python call.
    """
    codes, alnum, offsets = _code_points(texts)
    zero = np.zeros(1, np.int8)
    edges = np.diff(np.concatenate([zero, alnum.view(np.int8), zero]))  # int8: no int64 copy
    if cjk_chars:  # a CJK character is a word of its own: it starts and ends a run
        cjk = _cjk_table()[codes]
        split = np.zeros(len(codes) + 1, bool)  # a run boundary before position i
        split[1:-1] = cjk[1:] | cjk[:-1]
        starts = np.flatnonzero(alnum & ((edges[:-1] == 1) | split[:-1]))
        ends = np.flatnonzero(alnum & ((edges[1:] == -1) | split[1:])) + 1
    else:
        starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    if len(starts) == 0:
        empty = np.zeros(0, np.int64)
        return np.zeros(0, np.uint64), np.zeros(len(offsets), np.int64), empty, empty
    size = 1 << int(len(codes)).bit_length()
    with np.errstate(over="ignore"):
        scaled = codes.astype(np.uint64) * _powers(_M_INV, size)[:len(codes)]
        scaled[~alnum] = 0
        sums = np.add.reduceat(scaled, starts)
        tokens = fmix64(sums * _powers(int(_M), size)[ends - 1] + (ends - starts).astype(np.uint64))
    tok_offsets = np.searchsorted(starts, offsets)
    doc_start = np.repeat(offsets[:-1], np.diff(tok_offsets))
    return tokens, tok_offsets, starts - doc_start, ends - doc_start


def take_docs(values: np.ndarray, offsets: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The segments of documents ``idx`` of a concatenated array, and their new offsets."""
    counts = np.diff(offsets)[idx]
    new = np.zeros(len(idx) + 1, np.int64)
    np.cumsum(counts, out=new[1:])
    pos = np.repeat(offsets[idx] - new[:-1], counts) + np.arange(int(new[-1]))
    return values[pos], new


def word_shingles(texts: pa.Array, n: int = 5) -> Shingles:
    """Hashes of word n-grams of each text."""
    return _ngrams(*word_tokens(texts), n)


def char_shingles(texts: pa.Array, n: int = 5) -> Shingles:
    """Hashes of character n-grams of each text (lowercased; non-letters/numbers removed)."""
    return _ngrams(*char_token_spans(texts)[:2], n)


def char_token_spans(texts: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """uint64 hashes of the letters/numbers of each text (lowercased), per-document offsets
    into them, and each one's ``[start, end)`` code-point position in its document."""
    codes, alnum, offsets = _code_points(texts)
    pos = np.flatnonzero(alnum)
    tokens = fmix64(codes[pos].astype(np.uint64) + np.uint64(0x100000000))
    tok_offsets = np.searchsorted(pos, offsets)
    start = pos - np.repeat(offsets[:-1], np.diff(tok_offsets))
    return tokens, tok_offsets, start, start + 1


def batch_shingles(texts: pa.Array, char_mask: np.ndarray, word_n: int = 5, char_n: int = 5,
                   words: tuple[np.ndarray, np.ndarray] | None = None) -> Shingles:
    """Shingles of a batch, each document by words or by characters as ``char_mask`` says
    (``words``: this batch's :func:`word_tokens`, when the caller has them already)."""
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    idx_c, idx_w = np.flatnonzero(char_mask), np.flatnonzero(~char_mask)
    parts = []
    if len(idx_w):
        tokens, offsets = words if words is not None else word_tokens(texts)
        parts.append((idx_w, _ngrams(*take_docs(tokens, offsets, idx_w), word_n)))
    if len(idx_c):
        parts.append((idx_c, char_shingles(texts.take(pa.array(idx_c)), char_n)))
    if len(parts) == 1 and len(parts[0][0]) == len(texts):
        return parts[0][1]
    counts = np.zeros(len(texts), np.int64)
    for idx, sh in parts:
        counts[idx] = sh.counts()
    offsets = np.zeros(len(texts) + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    hashes = np.empty(int(offsets[-1]), np.uint32)
    for idx, sh in parts:
        dst = np.repeat(offsets[idx] - sh.offsets[:-1], sh.counts()) + np.arange(len(sh.hashes))
        hashes[dst] = sh.hashes
    return Shingles(hashes, offsets)
