"""Token shards in Megatron-Core's indexed-dataset format, read back by Megatron-Core itself.

These tests are the check that Megatron-Core reads our files, so they run by default: importing
``megatron.core`` costs about 9 CPU-seconds once per test process (it imports torch and most of
the package). ``test_index_bytes_follow_the_spec`` checks the bytes without it."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tokenizers import Tokenizer

from webrefinery.tokenizer_training.token_shards import TokenShardWriter, list_shards, read_index
from webrefinery.tokenizer_training.tokenize import tokenize_corpus
from webrefinery.tokenizer_training.train import train_tokenizer

TEXTS = ["The quick brown fox jumps over the lazy dog. " * 3, "", "数据清洗流水线。网页文本。", None,
         "x <|endoftext|> y", "short", "Ünïcödé " * 50]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("corpus")
    (out / "data").mkdir()
    rng = np.random.default_rng(0)
    for shard in range(2):
        texts = [TEXTS[i] for i in rng.integers(0, len(TEXTS), 150)]
        pq.write_table(pa.table({"id": [f"{shard}-{i}" for i in range(len(texts))], "text": texts,
                                 "language": ["en"] * len(texts)}), out / "data" / f"part-{shard:05d}.parquet")
    (out / "stats.json").write_text(json.dumps({"version": 1}))
    return out


@pytest.fixture(scope="module")
def tokenizer(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tok")
    train_tokenizer([str(corpus)], str(out), vocab_size=300, holdout_fraction=0.0, quiet=True)
    return out / "tokenizer.json"


def megatron_dataset(prefix: Path):  # noqa: ANN201
    indexed = pytest.importorskip("megatron.core.datasets.indexed_dataset",
                                  reason="megatron-core is not installed (test extra)")
    return indexed.IndexedDataset(str(prefix), mmap=True)


def test_megatron_reads_every_document_exactly(corpus: Path, tokenizer: Path, tmp_path: Path) -> None:
    stats = tokenize_corpus([str(corpus)], str(tokenizer), str(tmp_path / "tokens"), workers=1, quiet=True)
    tok = Tokenizer.from_file(str(tokenizer))
    tok.encode_special_tokens = True
    eod = tok.token_to_id("<|endoftext|>")
    mismatches = docs = 0
    for entry in stats["files"]:
        ds = megatron_dataset(tmp_path / "tokens" / entry["prefix"])
        texts = pq.read_table(corpus / "data" / f"{entry['prefix']}.parquet").column("text").to_pylist()
        assert len(ds) == len(texts) == entry["docs"]
        assert ds.document_indices.tolist() == list(range(len(texts) + 1))
        assert int(ds.sequence_lengths.sum()) == entry["tokens"]
        for i, text in enumerate(texts):
            expected = tok.encode(text or "", add_special_tokens=False).ids + [eod]   # one EOD after each doc
            mismatches += ds[i].tolist() != expected
            docs += 1
    assert docs == 300 and mismatches == 0
    files = json.loads((corpus / "tokens.json").read_text())["files"]            # what the card reads
    assert files == stats["files"] and stats["format"] == "megatron-mmidx-1"


def test_index_bytes_follow_the_spec(tmp_path: Path) -> None:
    """Megatron-Core ``_IndexWriter``: magic, <Q version 1, <B dtype code (uint16 = 8), <Q sequences,
    <Q documents (+1), int32 lengths, int64 byte pointers, int64 document indices."""
    w = TokenShardWriter(tmp_path, "p", np.dtype("<u2"))
    w.add(np.array([7, 8, 9, 0, 0]), np.array([4, 1]))
    w.close({})
    expected = (b"MMIDIDX\x00\x00" + struct.pack("<QBQQ", 1, 8, 2, 3) + np.array([4, 1], "<i4").tobytes()
                + np.array([0, 8], "<i8").tobytes() + np.array([0, 1, 2], "<i8").tobytes())
    assert (tmp_path / "p.idx").read_bytes() == expected
    assert (tmp_path / "p.bin").read_bytes() == np.array([7, 8, 9, 0, 0], "<u2").tobytes()


@pytest.mark.parametrize("dtype", ["<u2", "<i4"])
def test_writer_dtypes_round_trip(tmp_path: Path, dtype: str) -> None:
    big = np.iinfo(dtype).max
    docs = [np.array([5, 6, big, 0]), np.array([0]), np.arange(1, 1001) % 7 + 1]
    w = TokenShardWriter(tmp_path, "part-00000", np.dtype(dtype))
    w.add(np.concatenate(docs[:2]), np.array([4, 1]))
    w.add(docs[2], np.array([1000]))
    w.close({"vocab_size": big + 1, "eot_id": 0})
    ds = megatron_dataset(tmp_path / "part-00000")
    assert ds.index.dtype == np.dtype(dtype).type
    assert [ds[i].tolist() for i in range(len(ds))] == [d.tolist() for d in docs]
    ours = read_index(tmp_path / "part-00000.idx")
    assert np.array_equal(ours.sequence_pointers, ds.index.sequence_pointers)
    shard = list_shards(tmp_path)[0]
    assert shard.document_offsets().tolist() == [0, 4, 5, 1005]


def test_old_npy_index_is_refused_clearly(tmp_path: Path) -> None:
    (tmp_path / "part-00000.json").write_text(json.dumps({"format": "webrefinery-tokens", "version": 1,
                                                          "bin": "part-00000.bin", "dtype": "uint16", "tokens": 3}))
    with pytest.raises(ValueError, match="re-run refinery tokenize"):
        list_shards(tmp_path)
    (tmp_path / "x.idx").write_bytes(b"\x93NUMPY\x01\x00" + bytes(40))
    with pytest.raises(ValueError, match="not a Megatron"):
        read_index(tmp_path / "x.idx")


def test_tokenize_does_not_import_torch(corpus: Path, tokenizer: Path, tmp_path: Path) -> None:
    code = ("import sys; from webrefinery.tokenizer_training.tokenize import tokenize_corpus; "
            f"tokenize_corpus([{str(corpus)!r}], {str(tokenizer)!r}, {str(tmp_path / 't')!r}, workers=1, quiet=True); "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
