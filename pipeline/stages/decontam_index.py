"""Benchmark n-grams for the ``decontam`` stage: read benchmark rows, hash their n-grams,
and look a batch's n-grams up in one sorted array.

Normalisation is the dedup one (:mod:`webrefinery.dedup.shingles`): lowercase, every
character that is not a letter or number is a break. Space-delimited text gives word
n-grams (GPT-3, Brown et al. 2020, App. C: 13-grams; datatrove's decontamination), Chinese
and Japanese text character n-grams (word n-grams do not exist there): each CJK character
is a token, and a run of other letters/digits one token, as in the project's ``WORD``
pattern (so "TiDB Dashboard" inside Chinese text is two tokens, not 13 characters). A benchmark row's
text is its chosen fields joined by newlines; a row is Chinese/Japanese by the share of
Han/kana characters in it (``char_mode_mask``, the dedup rule for documents of unknown
language). Rows shorter than ``n`` tokens give no n-gram (they are counted as ``short``).

The normalize stage converts Traditional Chinese documents to Simplified (OpenCC,
:mod:`.opencc_convert`; ``decontam.opencc_config`` names normalize's config) before
decontamination, so a Chinese item with Traditional characters is indexed as written *and*
as that conversion writes it (same converter, same rule: Chinese, not Japanese, any
Traditional-only character): it matches the normalised corpus, and documents that never
passed normalize. Simplified items are indexed as written (0.1 CPU-s once per index to
load the converter's character classes, two regex scans per Chinese item).

The index is two sorted uint64 arrays (word and character n-gram hashes) with a parallel
uint64 bit mask of the benchmarks each n-gram occurs in; a batch is looked up with a Bloom
filter gather and one ``np.searchsorted`` per kind. 64-bit hashes: with 10⁷ benchmark n-grams a random n-gram
collides with probability 10⁷ / 2⁶⁴ ≈ 5·10⁻¹³. Memory: 18 bytes per distinct n-gram.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, Iterator

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from webrefinery.dedup.shingles import char_mode_mask, ngram_hashes, word_token_spans
from webrefinery.pipeline.core.errors import ConfigError
from webrefinery.pipeline.io.readers import FORMATS, format_of
from webrefinery.pipeline.stages.opencc_convert import ChineseConverter

#: at most this many benchmarks per run (one bit each in the index's masks)
MAX_BENCHMARKS = 64


@dataclass
class Benchmark:
    """One benchmark as the index saw it."""

    name: str
    path: str
    items: int = 0
    #: items with fewer tokens than n (no n-gram: too short to be matched)
    short: int = 0
    ngrams: int = 0
    #: Chinese items with Traditional characters, indexed also in their Simplified form
    simplified: int = 0


@dataclass
class NgramSet:
    """Sorted distinct n-gram hashes and, per hash, the bit mask of benchmarks holding it.

    ``filter`` is a one-hash Bloom filter over the top bits of the hashes, 16 bits per
    n-gram (false-positive rate ≈ 1/16): one gather rejects most queries, and only the rest
    are searched in the sorted array (no false positive survives that exact check).
    """

    hashes: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))
    masks: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))
    filter: np.ndarray = field(default_factory=lambda: np.zeros(1, np.uint8))
    shift: np.uint64 = np.uint64(63)

    @classmethod
    def build(cls, hashes: list[np.ndarray], masks: list[np.ndarray]) -> "NgramSet":
        if not hashes or not sum(len(h) for h in hashes):
            return cls()
        h, m = np.concatenate(hashes), np.concatenate(masks)
        order = np.argsort(h, kind="stable")
        h, m = h[order], m[order]
        first = np.ones(len(h), bool)
        first[1:] = h[1:] != h[:-1]
        starts = np.flatnonzero(first)
        h = h[starts]
        bits = min(32, max(16, int(len(h)).bit_length() + 4))
        shift = np.uint64(64 - bits)
        table = np.zeros(1 << bits, bool)
        table[(h >> shift).astype(np.intp)] = True
        return cls(h, np.bitwise_or.reduceat(m, starts), np.packbits(table, bitorder="little"), shift)

    def lookup(self, queries: np.ndarray) -> np.ndarray:
        """Mask of the benchmarks holding each query hash (0 = in none)."""
        out = np.zeros(len(queries), np.uint64)
        if len(self.hashes) == 0 or len(queries) == 0:
            return out
        slot = (queries >> self.shift).astype(np.intp)
        maybe = np.flatnonzero((self.filter[slot >> 3] >> (slot & 7).astype(np.uint8)) & 1)
        q = queries[maybe]
        pos = np.minimum(np.searchsorted(self.hashes, q), len(self.hashes) - 1)
        out[maybe] = np.where(self.hashes[pos] == q, self.masks[pos], np.uint64(0))
        return out


def grams(texts: pa.Array, n: int, chars: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n-gram hashes of each text (word n-grams; with ``chars`` each CJK character is a token
    of its own), their per-document offsets, and each document's token count."""
    tokens, offsets, _, _ = word_token_spans(texts, cjk_chars=chars)
    hashes, gram_offsets = ngram_hashes(tokens, offsets, n)
    return hashes, gram_offsets, np.diff(offsets)


@dataclass
class BenchmarkIndex:
    benchmarks: list[Benchmark]
    word: NgramSet
    char: NgramSet

    @classmethod
    def build(cls, paths: list[str], fields: list[str] | None, word_n: int, char_n: int,
              opencc_config: str = "t2s") -> "BenchmarkIndex":
        names = [benchmark_name(p) for p in paths]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ConfigError(f"decontam.benchmarks: two benchmarks are named {dup[0]!r} (the name is the file "
                              "or directory name); rename one of them")
        if len(paths) > MAX_BENCHMARKS:
            raise ConfigError(f"decontam.benchmarks: {len(paths)} benchmarks, at most {MAX_BENCHMARKS}; "
                              "merge some into one directory")
        benchmarks, parts = [], {"word": ([], []), "char": ([], [])}
        converter = ChineseConverter(opencc_config)
        for b, (name, path) in enumerate(zip(names, paths)):
            bench = Benchmark(name, path)
            texts = pa.array(list(benchmark_texts(path, fields)), pa.string())
            bench.items = len(texts)
            cjk = char_mode_mask(texts, None, ()) if len(texts) else np.zeros(0, bool)
            for kind, n, sel in (("word", word_n, ~cjk), ("char", char_n, cjk)):
                idx = np.flatnonzero(sel)
                if not len(idx):
                    continue
                items = texts.take(pa.array(idx))
                hashes, offsets, counts = grams(items, n, kind == "char")
                long_enough = np.repeat(counts >= n, np.diff(offsets))
                bench.short += int((counts < n).sum())
                h = hashes[long_enough]
                if kind == "char":
                    simplified = simplified_items(items, converter)
                    bench.simplified += len(simplified)
                    s_hashes, s_offsets, s_counts = grams(simplified, n, True)
                    h = np.concatenate([h, s_hashes[np.repeat(s_counts >= n, np.diff(s_offsets))]])
                h = np.unique(h)
                bench.ngrams += len(h)
                parts[kind][0].append(h)
                parts[kind][1].append(np.full(len(h), np.uint64(1) << np.uint64(b), np.uint64))
            if not bench.ngrams:  # an empty file, the wrong field: a run would report "nothing found"
                what = "no item" if not bench.items else f"{bench.items} items, all shorter than the n-gram length"
                raise ConfigError(f"decontam.benchmarks: {path} gives nothing to match ({what}: word n {word_n}, "
                                  f"char n {char_n}); check the file and decontam.fields")
            benchmarks.append(bench)
        return cls(benchmarks, NgramSet.build(*parts["word"]), NgramSet.build(*parts["char"]))


def simplified_items(items: pa.Array, converter: ChineseConverter) -> pa.Array:
    """The Simplified form of each item that the normalize stage would convert
    (:meth:`ChineseConverter.simplify`)."""
    out = []
    for text in items.to_pylist():
        converted = converter.simplify(text)[1]
        if converted != text:
            out.append(converted)
    return pa.array(out, pa.string())


def benchmark_name(path: str) -> str:
    """The benchmark's name: its file name without extensions, or its directory name."""
    name = PurePosixPath(path.rstrip("/").split("://", 1)[-1]).name
    fmt_ext = next((e for e in sorted(FORMATS, key=len, reverse=True) if name.lower().endswith(e)), "")
    return name[:len(name) - len(fmt_ext)] or name


def benchmark_files(path: str) -> list[str]:
    """The JSONL/Parquet files of a benchmark path (a file or a directory, local or fsspec)."""
    fs, root = fsspec.core.url_to_fs(path)
    proto = path.split("://", 1)[0] + "://" if "://" in path else ""
    if fs.isdir(root):
        found = sorted(m for m in fs.find(root) if format_of(m) in ("jsonl", "parquet"))
        if not found:
            raise ConfigError(f"decontam.benchmarks: {path} holds no JSONL or Parquet file")
        return [proto + m if proto and not m.startswith(proto) else m for m in found]
    if not fs.exists(root):
        raise ConfigError(f"decontam.benchmarks: {path} does not exist; give a JSONL/Parquet file or a directory")
    if format_of(root) not in ("jsonl", "parquet"):
        raise ConfigError(f"decontam.benchmarks: {path} is not JSONL or Parquet (.jsonl, .jsonl.gz, .parquet)")
    return [path]


def benchmark_texts(path: str, fields: list[str] | None) -> Iterator[str]:
    """One text per benchmark row: the ``fields`` (default: every string field) joined by
    newlines; a list of strings (``choices``) counts as its items joined."""
    for f in benchmark_files(path):
        seen: set[str] = set()
        rows = 0
        for lineno, row in _rows(f):
            rows += 1
            if not isinstance(row, dict):
                raise ConfigError(f"decontam benchmark {f}, row {lineno}: not a JSON object; one object per line")
            keys = fields if fields is not None else list(row)
            parts = [_field_text(row[k]) for k in keys if k in row]
            seen.update(k for k in keys if k in row)
            text = "\n".join(p for p in parts if p)
            if text:
                yield text
        missing = [k for k in (fields or []) if k not in seen]
        if rows and missing:
            raise ConfigError(f"decontam benchmark {f}: no row has field {missing[0]!r} (decontam.fields); "
                              "check the field names or drop `fields` to use every string field")


def _field_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        return "\n".join(v for v in value if isinstance(v, str))
    return ""


def _rows(path: str) -> Iterator[tuple[int, Any]]:
    if format_of(path) == "parquet":
        with fsspec.open(path, "rb") as fh:
            for i, row in enumerate(pq.read_table(fh).to_pylist(), 1):
                yield i, row
        return
    with fsspec.open(path, "rt", encoding="utf-8", compression="infer") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield lineno, json.loads(line)
            except json.JSONDecodeError as e:
                raise ConfigError(f"decontam benchmark {path}, line {lineno}: bad JSON ({e.msg}); fix the file") from None
