"""MinHash signatures (Broder 1997) and LSH banding, vectorised over a batch.

The permutation scheme is datasketch's ``affine32`` (its default since 2.0): each 32-bit
shingle hash is pre-mixed with the MurmurHash3 finalizer and mapped by ``a_k * h + b_k mod
2^32`` with datasketch's own parameters for ``(num_perm, seed)``. So a signature here is
exactly ``datasketch.MinHash(num_perm, seed, hashfunc=<identity>)`` fed the same shingle
hashes, and can be loaded with ``MinHash(hashvalues=sig, scheme="affine32")``.

Bands × rows for a Jaccard threshold are the ones datasketch's ``MinHashLSH`` picks
(minimising the weighted false-positive + false-negative area under the LSH S-curve).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from datasketch import MinHash, MinHashLSH

from webrefinery.dedup.shingles import Shingles, fmix32, fmix64

#: shingles per chunk: the (num_perm × chunk) uint32 buffer stays cache-sized (8 MiB at 128)
_CHUNK = 16384
EMPTY = np.uint32(0xFFFFFFFF)


@lru_cache(maxsize=8)
def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's affine32 permutation parameters ``(a, b)`` (uint32 arrays)."""
    a, b = MinHash(num_perm=num_perm, seed=seed, scheme="affine32").permutations
    return a.astype(np.uint32), b.astype(np.uint32)


def signatures(sh: Shingles, num_perm: int = 128, seed: int = 1) -> np.ndarray:
    """MinHash signatures of a batch: (docs, num_perm) uint32; a document without shingles
    gets the all-``0xFFFFFFFF`` (empty) signature."""
    a, b = permutations(num_perm, seed)
    counts = sh.counts()
    n_docs = len(counts)
    sig_t = np.full((num_perm, n_docs), EMPTY, np.uint32)
    if len(sh.hashes) == 0:
        return sig_t.T.copy()
    hv = fmix32(sh.hashes.astype(np.uint32))
    a, b = a[:, None], b[:, None]
    buf = np.empty((num_perm, _CHUNK), np.uint32)
    d0 = 0
    while d0 < n_docs:
        # whole documents until the chunk holds about _CHUNK shingles (at least one document)
        s0 = sh.offsets[d0]
        d1 = int(np.searchsorted(sh.offsets, s0 + _CHUNK, side="right")) - 1
        d1 = min(max(d1, d0 + 1), n_docs)
        s1 = int(sh.offsets[d1])
        width = s1 - s0
        if width:
            out = buf[:, :width] if width <= _CHUNK else np.empty((num_perm, width), np.uint32)
            np.multiply(a, hv[None, s0:s1], out=out)
            out += b  # uint32 wrap-around is the mod 2^32 of the affine permutation
            nonempty = np.flatnonzero(counts[d0:d1] > 0)
            sig_t[:, d0 + nonempty] = np.minimum.reduceat(out, sh.offsets[d0:d1][nonempty] - s0, axis=1)
        d0 = d1
    return sig_t.T.copy()


def lsh_params(threshold: float, num_perm: int, fp_weight: float = 0.5, fn_weight: float = 0.5) -> tuple[int, int]:
    """(bands, rows) minimising weighted FP/FN probability for ``threshold`` (datasketch)."""
    total = fp_weight + fn_weight  # datasketch wants weights that sum to 1; the optimum is scale-free
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm, weights=(fp_weight / total, fn_weight / total))
    return int(lsh.b), int(lsh.r)


def band_keys(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(docs, bands) uint64 bucket keys: a stable hash of each band's ``rows`` values, seeded
    by the band index so keys of different bands never meet in one bucket."""
    n = sig.shape[0]
    keys = np.empty((n, bands), np.uint64)
    s64 = sig.astype(np.uint64)
    with np.errstate(over="ignore"):
        for j in range(bands):
            h = np.full(n, np.uint64(j + 1) * np.uint64(0x9E3779B97F4A7C15), np.uint64)
            for c in range(j * rows, (j + 1) * rows):
                h = fmix64(h ^ s64[:, c])
            keys[:, j] = h
    return keys


def estimated_jaccard(sig_a: np.ndarray, sig_b: np.ndarray) -> np.ndarray:
    """Row-wise fraction of equal signature values (the MinHash Jaccard estimate)."""
    return (sig_a == sig_b).mean(axis=1)
