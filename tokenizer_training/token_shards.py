"""On-disk format of token shards written by ``refinery tokenize`` and read by the dataloader.

One input Parquet shard ``part-NNNNN.parquet`` becomes three files in the tokens directory:

- ``part-NNNNN.bin``  — the token ids of every document, in row order, each document followed
  by one end-of-document id (``<|endoftext|>``); little-endian ``uint16`` when the vocabulary
  fits, else ``int32``;
- ``part-NNNNN.idx``  — Megatron-Core's ``MMapIndexedDataset`` index, version 1 (the format
  ``megatron.core.datasets.indexed_dataset.IndexedDataset`` / ``GPTDataset`` read, also
  written by datatrove and NeMo Curator). Little-endian: the magic ``b"MMIDIDX\\x00\\x00"``,
  ``<Q`` version 1, ``<B`` dtype code (Megatron's ``DType``: uint16 = 8, int32 = 4), ``<Q``
  sequence count, ``<Q`` document count, then ``int32`` sequence lengths, ``int64`` byte
  pointers into the ``.bin``, ``int64`` document indices. Each document is one sequence
  (its tokens and its trailing end-of-document id, as Megatron's ``preprocess_data.py
  --append-eod`` writes it), so the document indices are ``0 .. docs``; document ``i`` is
  Parquet row ``i`` (null text is an empty document: just the end-of-document id);
- ``part-NNNNN.json`` — our header: dtype, vocab size, end-of-document id, token/doc/byte
  counts, per-language counts, tokenizer and source fingerprints. Megatron ignores it.

The prefix ``tokens/part-NNNNN`` is what Megatron's ``--data-path`` takes. The format is
written here with NumPy rather than with Megatron-Core's ``IndexedDatasetBuilder``, because
that module imports ``torch`` at import time and ``refinery tokenize`` must not need torch;
the tests read our files back with Megatron-Core's own reader. (Megatron has no ``uint32``
code, hence ``int32`` for vocabularies above 65,536 ids.)

The header is written last, by rename, so its presence marks a finished shard (resume).
"""

from __future__ import annotations

import json
import os
import struct
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from webrefinery.pipeline.io.manifest import atomic_path, write_json_atomic

FORMAT = "webrefinery-tokens"
#: 1: ``.idx`` was a ``.npy`` of document offsets; 2: Megatron's ``.idx``
VERSION = 2
INDEX_FORMAT = "megatron-mmidx-1"

_IDX_MAGIC = b"MMIDIDX\x00\x00"
_IDX_VERSION = 1
#: bytes of the ``.idx`` header: magic, then version, dtype code, sequence and document counts
_IDX_FIELDS = struct.Struct("<QBQQ")
_IDX_HEADER_BYTES = len(_IDX_MAGIC) + _IDX_FIELDS.size
#: ``megatron.core.datasets.indexed_dataset.DType`` codes (the ones a token file can use)
_DTYPE_CODES = {np.dtype("<u1"): 1, np.dtype("<i2"): 3, np.dtype("<i4"): 4, np.dtype("<i8"): 5,
                np.dtype("<u2"): 8}
_CODE_DTYPES = {code: dt for dt, code in _DTYPE_CODES.items()}


def dtype_for_vocab(vocab_size: int) -> np.dtype:
    """``uint16`` when every id fits in 16 bits, else ``int32`` (Megatron has no ``uint32``)."""
    if vocab_size <= 1 << 16:
        return np.dtype("<u2")
    if vocab_size <= 1 << 31:
        return np.dtype("<i4")
    raise ValueError(f"vocabulary of {vocab_size} ids does not fit int32")


def write_index(f: BinaryIO, dtype: np.dtype, doc_lengths: np.ndarray) -> None:
    """Write a Megatron ``.idx`` (version 1) for documents of ``doc_lengths`` tokens, one sequence each."""
    dtype = np.dtype(dtype).newbyteorder("<")
    lengths = np.asarray(doc_lengths, np.int64)
    if lengths.size and int(lengths.max()) > np.iinfo(np.int32).max:
        raise ValueError("a document is longer than 2**31 tokens (Megatron stores int32 lengths)")
    pointers = np.zeros(lengths.size, np.int64)
    np.cumsum(lengths[:-1] * dtype.itemsize, out=pointers[1:])
    f.write(_IDX_MAGIC + _IDX_FIELDS.pack(_IDX_VERSION, _DTYPE_CODES[dtype], lengths.size, lengths.size + 1))
    f.write(lengths.astype("<i4").tobytes())
    f.write(pointers.astype("<i8").tobytes())
    f.write(np.arange(lengths.size + 1, dtype="<i8").tobytes())


@dataclass(frozen=True)
class MegatronIndex:
    """The arrays of a Megatron ``.idx`` (memory-mapped)."""

    dtype: np.dtype
    sequence_lengths: np.ndarray
    sequence_pointers: np.ndarray
    document_indices: np.ndarray


def read_index(path: Path) -> MegatronIndex:
    """Read a Megatron ``.idx``; a file that is not one is a ``ValueError`` naming it."""
    with open(path, "rb") as f:
        head = f.read(_IDX_HEADER_BYTES)
    if len(head) < _IDX_HEADER_BYTES or head[:len(_IDX_MAGIC)] != _IDX_MAGIC:
        raise ValueError(f"{path}: not a Megatron indexed-dataset index (no MMIDIDX header); "
                         "re-run refinery tokenize")
    version, code, n_seq, n_doc = _IDX_FIELDS.unpack(head[len(_IDX_MAGIC):])
    if version != _IDX_VERSION or code not in _CODE_DTYPES:
        raise ValueError(f"{path}: unsupported index version {version} / dtype code {code}")
    buf = np.memmap(path, dtype=np.uint8, mode="r")
    lengths = np.frombuffer(buf, "<i4", n_seq, _IDX_HEADER_BYTES)
    pointers = np.frombuffer(buf, "<i8", n_seq, _IDX_HEADER_BYTES + lengths.nbytes)
    docs = np.frombuffer(buf, "<i8", n_doc, _IDX_HEADER_BYTES + lengths.nbytes + pointers.nbytes)
    return MegatronIndex(_CODE_DTYPES[code], lengths, pointers, docs)


class TokenShardWriter:
    """Streams one token shard to temporary files; :meth:`close` renames them into place.

    ``add(ids, doc_lengths)`` appends a batch: ``ids`` already contains the end-of-document id
    after each document, ``doc_lengths`` the token count of each document (with its EOD).
    """

    def __init__(self, out_dir: Path, stem: str, dtype: np.dtype) -> None:
        self.out_dir, self.stem, self.dtype = Path(out_dir), stem, np.dtype(dtype)
        if self.dtype not in _DTYPE_CODES:
            raise ValueError(f"token dtype {self.dtype} has no Megatron code")
        self.bin_path = self.out_dir / f"{stem}.bin"
        # the .bin is streamed to a temporary name and renamed into place by ``close``
        self._commit = ExitStack()
        self._f = self._commit.enter_context(open(self._commit.enter_context(atomic_path(self.bin_path)), "wb"))
        self._lengths: list[np.ndarray] = []
        self.tokens = 0

    def add(self, ids: np.ndarray, doc_lengths: np.ndarray) -> None:
        ids = np.asarray(ids)
        if ids.size and (int(ids.max()) > np.iinfo(self.dtype).max or int(ids.min()) < 0):
            raise ValueError(f"token ids {int(ids.min())}..{int(ids.max())} do not fit {self.dtype}")
        self._f.write(ids.astype(self.dtype, copy=False).tobytes())
        self._lengths.append(np.asarray(doc_lengths, dtype=np.int64))
        self.tokens += int(ids.size)

    def close(self, header: dict[str, Any]) -> dict[str, Any]:
        """Finish the shard: rename ``.bin``, write ``.idx``, then the header (commit marker)."""
        lengths = np.concatenate(self._lengths) if self._lengths else np.zeros(0, np.int64)
        assert int(lengths.sum()) == self.tokens, "document lengths do not add up to the token count"
        self._commit.close()  # closes the .bin and renames it into place
        idx_path = self.out_dir / f"{self.stem}.idx"
        with atomic_path(idx_path) as tmp_idx, open(tmp_idx, "wb") as f:
            write_index(f, self.dtype, lengths)
        header = {"format": FORMAT, "version": VERSION, "index_format": INDEX_FORMAT, "dtype": self.dtype.name,
                  "tokens": self.tokens, "docs": int(lengths.size),
                  "bin": self.bin_path.name, "index": idx_path.name, **header}
        write_json_atomic(self.out_dir / f"{self.stem}.json", header)
        return header

    def abort(self) -> None:
        """Close and delete the unfinished ``.bin``."""
        self._commit.__exit__(RuntimeError, RuntimeError("token shard aborted"), None)


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
        """Token offset of each document's start, plus the token count at the end (``docs + 1``)."""
        index = read_index(self.bin_path.with_suffix(".idx"))
        return np.append(index.sequence_pointers // index.dtype.itemsize, self.tokens)


def read_header(path: Path) -> dict[str, Any] | None:
    """The header at ``path`` if it is a finished shard of this format (any version), else None."""
    try:
        header = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return header if isinstance(header, dict) and header.get("format") == FORMAT else None


def shard_damage(header_path: Path, header: dict[str, Any]) -> str | None:
    """What is wrong with the files of the finished shard whose header this is (a missing file,
    or a ``.bin`` / ``.idx`` whose size is not what ``tokens`` and ``docs`` give), else None."""
    itemsize, docs = np.dtype(header["dtype"]).itemsize, int(header["docs"])
    expected = {header["bin"]: int(header["tokens"]) * itemsize,
                header["index"]: _IDX_HEADER_BYTES + docs * (4 + 8) + (docs + 1) * 8}
    for name, size in expected.items():
        path = header_path.parent / name
        if not path.is_file():
            return f"{path} is missing"
        actual = path.stat().st_size
        if actual != size:
            return f"{path} is {actual} bytes, its header {header_path.name} says {size} (truncated or overwritten?)"
    return None


def list_shards(tokens_dir: str | os.PathLike[str]) -> list[TokenShard]:
    """Finished shards under ``tokens_dir`` in name order (unfinished ones, without a header, are
    ignored); a finished shard whose files are damaged is a ``ValueError`` naming the file."""
    tokens_dir = Path(tokens_dir)
    if not tokens_dir.is_dir():
        raise FileNotFoundError(f"token directory {tokens_dir} does not exist")
    shards = []
    for header_path in sorted(tokens_dir.glob("*.json")):
        header = read_header(header_path)
        if header is None:
            continue
        if header.get("version") != VERSION:
            raise ValueError(f"{header_path}: token shard of format version {header.get('version')}, this "
                             f"version reads {VERSION} (Megatron .idx); re-run refinery tokenize into {tokens_dir}")
        damage = shard_damage(header_path, header)
        if damage:
            raise ValueError(f"token shard {header_path}: {damage}; re-run refinery tokenize into {tokens_dir} "
                             "(it redoes damaged shards)")
        bin_path = tokens_dir / header["bin"]
        shards.append(TokenShard(bin_path, np.dtype(header["dtype"]).newbyteorder("<"),
                                 int(header["tokens"]), header))
    return shards
