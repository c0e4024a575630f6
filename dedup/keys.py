"""The small per-document key table that ``Dedup.collect`` writes and ``reduce`` reads.

Columns: ``id``, ``quality_score``, ``length`` (characters), ``exact`` (uint64 normalised
text hash), ``sig`` (MinHash signature as fixed-size binary, ``num_perm`` little-endian
uint32; empty signature = no shingles) and, with sub-document dedup, ``units`` (uint64
hashes of the document's lines or sentence spans).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa

from webrefinery.pipeline.io.storage import parquet_file

def sig_array(sig: np.ndarray) -> pa.Array:
    """(docs, num_perm) uint32 → fixed_size_binary column (zero-copy)."""
    sig = np.ascontiguousarray(sig, np.uint32)
    return pa.Array.from_buffers(pa.binary(4 * sig.shape[1]), sig.shape[0], [None, pa.py_buffer(sig)])


def sig_numpy(col: pa.Array | pa.ChunkedArray, num_perm: int) -> np.ndarray:
    """fixed_size_binary column → (docs, num_perm) uint32."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    width = 4 * num_perm
    data = np.frombuffer(col.buffers()[1], np.uint8)[col.offset * width:(col.offset + len(col)) * width]
    return data.view(np.uint32).reshape(len(col), num_perm)


def file_rows(key_files: list[Path]) -> np.ndarray:
    """Global row offset of each key file (from parquet footers): doc index = offset + row."""
    counts = [parquet_file(f).metadata.num_rows for f in key_files]
    return np.concatenate([[0], np.cumsum(counts, dtype=np.int64)])


def iter_keys(key_files: list[Path], columns: list[str]) -> Iterator[tuple[int, pa.Table]]:
    """(global index of the first row, table) for every row group of every key file, in order."""
    start = 0
    for f in key_files:
        pf = parquet_file(f)
        for g in range(pf.num_row_groups):
            t = pf.read_row_group(g, columns=columns)
            yield start, t
            start += t.num_rows
