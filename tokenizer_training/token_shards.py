"""On-disk format of token shards written by ``refinery tokenize`` and read by the dataloader.

One input Parquet shard ``part-NNNNN.parquet`` becomes three files in the tokens directory:

- ``part-NNNNN.bin``  — the token ids of every document, in row order, each document followed
  by the end-of-text id; little-endian ``uint16`` when the vocabulary fits, else ``uint32``
  (the nanoGPT / Megatron ``.bin`` convention);
- ``part-NNNNN.idx``  — a NumPy ``.npy`` array of ``int64`` document start offsets into the
  ``.bin`` (``docs + 1`` entries, the last is the token count); document ``i`` is Parquet
  row ``i`` (null text counts as an empty document: just the end-of-text id);
- ``part-NNNNN.json`` — the header: dtype, vocab size, end-of-text id, token/doc/byte counts,
  per-language counts, tokenizer and source fingerprints.

The header is written last, by rename, so its presence marks a finished shard (resume).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from webrefinery.pipeline.io.manifest import atomic_path, write_json_atomic

FORMAT = "webrefinery-tokens"
VERSION = 1


def dtype_for_vocab(vocab_size: int) -> np.dtype:
    """``uint16`` when every id fits in 16 bits, else ``uint32``."""
    return np.dtype("<u2") if vocab_size <= 1 << 16 else np.dtype("<u4")


class TokenShardWriter:
    """Streams one token shard to temporary files; :meth:`close` renames them into place.

    ``add(ids, doc_lengths)`` appends a batch: ``ids`` already contains the end-of-text id
    after each document, ``doc_lengths`` the token count of each document (with its EOT).
    """

    def __init__(self, out_dir: Path, stem: str, dtype: np.dtype) -> None:
        self.out_dir, self.stem, self.dtype = Path(out_dir), stem, np.dtype(dtype)
        self.bin_path = self.out_dir / f"{stem}.bin"
        self._tmp_bin = self.bin_path.with_name(self.bin_path.name + ".tmp")
        self._f = open(self._tmp_bin, "wb")
        self._lengths: list[np.ndarray] = []
        self.tokens = 0

    def add(self, ids: np.ndarray, doc_lengths: np.ndarray) -> None:
        ids = np.asarray(ids)
        if ids.size and int(ids.max()) > np.iinfo(self.dtype).max:
            raise ValueError(f"token id {int(ids.max())} does not fit {self.dtype}")
        self._f.write(ids.astype(self.dtype, copy=False).tobytes())
        self._lengths.append(np.asarray(doc_lengths, dtype=np.int64))
        self.tokens += int(ids.size)

    def close(self, header: dict[str, Any]) -> dict[str, Any]:
        """Finish the shard: rename ``.bin``, write ``.idx``, then the header (commit marker)."""
        self._f.close()
        lengths = np.concatenate(self._lengths) if self._lengths else np.zeros(0, np.int64)
        offsets = np.zeros(lengths.size + 1, np.int64)
        np.cumsum(lengths, out=offsets[1:])
        assert offsets[-1] == self.tokens, "document lengths do not add up to the token count"
        os.replace(self._tmp_bin, self.bin_path)
        idx_path = self.out_dir / f"{self.stem}.idx"
        with atomic_path(idx_path) as tmp_idx, open(tmp_idx, "wb") as f:
            np.save(f, offsets)
        header = {"format": FORMAT, "version": VERSION, "dtype": self.dtype.name,
                  "tokens": self.tokens, "docs": int(lengths.size),
                  "bin": self.bin_path.name, "index": idx_path.name, **header}
        write_json_atomic(self.out_dir / f"{self.stem}.json", header)
        return header

    def abort(self) -> None:
        self._f.close()
        self._tmp_bin.unlink(missing_ok=True)


@dataclass(frozen=True)
class TokenShard:
    """A finished shard as the dataloader sees it."""

    bin_path: Path
    dtype: np.dtype
    tokens: int
    header: dict[str, Any]

    def memmap(self) -> np.ndarray:
        """The shard's tokens as a read-only ndarray backed by the file (no copy)."""
        if self.tokens == 0:
            return np.zeros(0, self.dtype)
        return np.memmap(self.bin_path, dtype=self.dtype, mode="r", shape=(self.tokens,)).view(np.ndarray)

    def document_offsets(self) -> np.ndarray:
        return np.load(self.bin_path.with_suffix(".idx"), mmap_mode="r")


def read_header(path: Path) -> dict[str, Any] | None:
    """The header at ``path`` if it is a finished shard of this format, else None."""
    try:
        header = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return header if isinstance(header, dict) and header.get("format") == FORMAT else None


def list_shards(tokens_dir: str | os.PathLike[str]) -> list[TokenShard]:
    """Finished shards under ``tokens_dir`` in name order (unfinished ones are ignored)."""
    tokens_dir = Path(tokens_dir)
    if not tokens_dir.is_dir():
        raise FileNotFoundError(f"token directory {tokens_dir} does not exist")
    shards = []
    for header_path in sorted(tokens_dir.glob("*.json")):
        header = read_header(header_path)
        if header is None:
            continue
        bin_path = tokens_dir / header["bin"]
        if not bin_path.exists():
            continue
        shards.append(TokenShard(bin_path, np.dtype(header["dtype"]).newbyteorder("<"),
                                 int(header["tokens"]), header))
    return shards
