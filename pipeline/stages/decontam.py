"""The ``decontam`` stage: remove benchmark text from the corpus (English and Chinese).

A document is contaminated when it shares at least ``min_matches`` n-grams with a
benchmark: word 13-grams on normalised text (lowercase, punctuation stripped) as in GPT-3
(Brown et al. 2020, App. C) and datatrove's n-gram decontamination, character n-grams for
Chinese and Japanese documents (language in ``char_languages``, or unknown language and
≥ 30 % Han/kana; :mod:`.decontam_index`). ``char_ngram`` was chosen on data:
benchmarks/bench_decontam.py and benchmarks/RESULTS.md.

``action: drop`` rejects the document with reason ``decontam:<benchmark>`` (the benchmark
with the most matching n-grams). ``action: cut`` removes each matching n-gram and
``margin`` characters on both sides (widened to whole words), GPT-3 style: the pieces left
that are shorter than ``min_piece`` characters are discarded, and a document cut into more
than ``max_pieces`` pieces (or with nothing left) is dropped. Matched documents get
``metadata.decontam`` = ``{"benchmark", "ngrams"}``. Counters per benchmark: ``matched:<b>``
(documents), ``cut:<b>``, ``removed_chars:<b>``; ``ngrams:<b>``, ``items:<b>``,
``short_items:<b>``, ``simplified_items:<b>`` (Traditional items also indexed in Simplified,
as normalize converts documents: :mod:`.decontam_index`) and ``index_builds`` are added once
per built index (the card divides by ``index_builds``).

The index is built once per worker from the benchmark files (measured ≈ 4 CPU-s per million
benchmark n-grams, linear; 18 bytes each) and shared by every task the worker runs.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import cached_property
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, model_validator

from webrefinery.dedup.shingles import char_mode_mask, word_token_spans
from webrefinery.pipeline.core.card import Block, StageCard, Table, num
from webrefinery.pipeline.core.errors import ConfigError
from webrefinery.pipeline.core.schema import dump_metadata, metadata_dicts, set_column
from webrefinery.pipeline.core.stage import PROBE_TEXT, Stage, StageConfig, StageResult
from webrefinery.pipeline.stages.decontam_index import BenchmarkIndex, grams
from webrefinery.pipeline.stages.opencc_convert import SIMPLIFYING_CONFIGS
from webrefinery.pipeline.text.scripts import CJK_CHARS


class DecontamConfig(StageConfig):
    """Config section ``decontam:``."""

    #: benchmark files or directories (JSONL / Parquet, local or fsspec URLs); name = file/dir name
    benchmarks: list[str] = []
    #: fields of a benchmark row whose text is matched (null = every string or list-of-strings field)
    fields: list[str] | None = None
    #: word n-grams for space-delimited text (GPT-3: 13)
    ngram: int = Field(13, ge=1)
    #: character n-grams for char_languages (benchmarks/RESULTS.md, "Decontamination")
    char_ngram: int = Field(13, ge=1)
    char_languages: list[str] = ["zh", "ja"]
    #: OpenCC config that Traditional benchmark items are also indexed through: the normalize
    #: stage's ``opencc_config`` (its documents are converted with it before decontam)
    opencc_config: Literal[SIMPLIFYING_CONFIGS] = "t2s"  # type: ignore[valid-type]
    #: distinct matching n-grams that make a document contaminated (GPT-3, datatrove: 1)
    min_matches: int = Field(1, ge=1)
    action: Literal["drop", "cut"] = "drop"
    #: cut: characters removed on each side of a matching n-gram (GPT-3: 200)
    margin: int = Field(200, ge=0)
    #: cut: pieces shorter than this are discarded (GPT-3: 200 characters)
    min_piece: int = Field(200, ge=0)
    #: cut: a document split into more pieces than this is dropped whole (GPT-3: 10)
    max_pieces: int = Field(10, ge=1)

    @model_validator(mode="after")
    def _no_overrides(self) -> "DecontamConfig":
        if self.per_language:
            raise ValueError("decontam takes no per_language overrides (one benchmark index serves every language)")
        return self


class Decontam(Stage):
    """Drop documents that contain benchmark text, or cut the benchmark text out."""

    name = "decontam"
    Config = DecontamConfig
    backend = "numpy"
    probe = {"text": [PROBE_TEXT], "language": ["en"]}
    card = StageCard(
        title="Decontamination",
        notes={"limitations": "Decontamination matches benchmark n-grams verbatim after lowercasing and removing "
                              "punctuation: paraphrased or translated benchmark items are not found."},
        counters=r"^(index_builds|(ngrams|items|short_items|simplified_items|matched|cut|removed_chars):.*)$")

    @classmethod
    def card_section(cls, stats: dict[str, Any], output: dict[str, Any]) -> list[Block]:
        """Each benchmark: its items and n-grams, and the documents and characters removed."""
        c = stats["counters"]
        builds = max(1, c.get("index_builds", 1))
        names = sorted(k.split(":", 1)[1] for k in c if k.startswith("ngrams:"))
        rows = [[f"`{b}`", num(c.get(f"items:{b}", 0) // builds), num(c.get(f"ngrams:{b}", 0) // builds),
                 num(c.get(f"matched:{b}", 0)), num(stats["dropped"].get(f"decontam:{b}", 0)),
                 num(c.get(f"cut:{b}", 0)), num(c.get(f"removed_chars:{b}", 0))] for b in names]
        return ["Documents sharing benchmark n-grams (word n-grams; character n-grams for Chinese and Japanese) "
                "were removed or had the matching text cut out:",
                Table.of(["benchmark", "items", "n-grams", "docs matched", "docs dropped", "docs cut",
                          "chars removed"], rows)]

    def check(self) -> None:
        if not self.config.benchmarks:
            raise ConfigError("decontam: no benchmarks; give decontam.benchmarks: [PATH, ...] in the config "
                              "(JSONL or Parquet files or directories)")
        self.index  # reads every benchmark file now: a bad path or field fails at start-up

    #: the index's figures went into the counters of this object's first batch
    _reported: bool = False

    @cached_property
    def index(self) -> BenchmarkIndex:
        c: DecontamConfig = self.config
        return BenchmarkIndex.build(list(c.benchmarks), c.fields, c.ngram, c.char_ngram, c.opencc_config)

    def process(self, table: pa.Table) -> StageResult:
        c: DecontamConfig = self.config
        counters: Counter = Counter()
        if not self._reported:  # first batch of this stage object: report its index once
            self._reported = True
            counters["index_builds"] += 1
            for b in self.index.benchmarks:
                counters.update({f"ngrams:{b.name}": b.ngrams, f"items:{b.name}": b.items,
                                 f"short_items:{b.name}": b.short, f"simplified_items:{b.name}": b.simplified})
        texts = pc.fill_null(table.column("text").combine_chunks(), "")
        matches = self._matches(table, texts)
        if not matches:
            return StageResult(table, None, counters)
        names = [b.name for b in self.index.benchmarks]
        reasons: list[str | None] = [None] * table.num_rows
        metas = metadata_dicts(table)
        out = texts.to_pylist()
        for d, hits in sorted(matches.items()):
            bench = names[_top_benchmark([m for _, _, m in hits])]
            counters[f"matched:{bench}"] += 1
            metas[d]["decontam"] = {"benchmark": bench, "ngrams": len(hits)}
            new = self._cut(out[d], hits) if c.action == "cut" else None
            if new is None:
                reasons[d] = f"decontam:{bench}"
                counters[f"removed_chars:{bench}"] += len(out[d])
            else:
                counters[f"cut:{bench}"] += 1
                counters[f"removed_chars:{bench}"] += len(out[d]) - len(new)
                out[d] = new
        table = set_column(table, "metadata", dump_metadata(metas))
        if c.action == "cut":
            table = set_column(table, "text", pa.array(out, pa.string()))
        return self.split(table, reasons, counters)

    def _matches(self, table: pa.Table, texts: pa.Array) -> dict[int, list[tuple[str, int, int]]]:
        """Contaminated documents → their matching n-grams as (kind, index in the document, mask)."""
        c: DecontamConfig = self.config
        langs = table.column("language").combine_chunks() if "language" in table.column_names else None
        cjk = np.flatnonzero(char_mode_mask(texts, langs, tuple(c.char_languages)))
        found: dict[int, list[tuple[str, int, int]]] = {}
        for kind, n, ngrams, docs in (("word", c.ngram, self.index.word, None),
                                      ("char", c.char_ngram, self.index.char, cjk)):
            if len(ngrams.hashes) == 0 or (docs is not None and len(docs) == 0):
                continue
            hashes, offsets, _ = grams(texts if docs is None else texts.take(pa.array(docs)), n, kind == "char")
            masks = ngrams.lookup(hashes)
            pos = np.flatnonzero(masks)
            sub = np.searchsorted(offsets, pos, side="right") - 1
            for p, s, m in zip(pos.tolist(), sub.tolist(), masks[pos].tolist()):
                d = s if docs is None else int(docs[s])
                found.setdefault(d, []).append((kind, p - int(offsets[s]), m))
        return {d: hits for d, hits in found.items() if len({(k, j) for k, j, _ in hits}) >= c.min_matches}

    def _cut(self, text: str, hits: list[tuple[str, int, int]]) -> str | None:
        """``text`` without the matching n-grams and their margins (GPT-3), or None to drop it."""
        c: DecontamConfig = self.config
        one = pa.array([text], pa.string())
        if pc.utf8_length(pc.utf8_lower(one))[0].as_py() != len(text):
            return None  # lowercasing changed the length (e.g. "İ"): positions would not fit the text
        spans = []
        for kind, n in (("word", c.ngram), ("char", c.char_ngram)):
            js = [j for k, j, _ in hits if k == kind]
            if js:
                _, _, starts, ends = word_token_spans(one, cjk_chars=kind == "char")
                last = len(ends) - 1
                spans += [(int(starts[j]) - c.margin, int(ends[min(j + n - 1, last)]) + c.margin) for j in js]
        pieces, pos = [], 0
        for lo, hi in sorted(_whole_words(text, lo, hi) for lo, hi in spans):
            if lo > pos:
                pieces.append(text[pos:lo])
            pos = max(pos, hi)
        pieces.append(text[pos:])
        pieces = [p.strip() for p in pieces if p.strip()]
        if len(pieces) > c.max_pieces:
            return None
        kept = [p for p in pieces if len(p) >= c.min_piece]
        return "\n".join(kept) if kept else None


#: a character inside a space-separated word (CJK characters are words of their own)
_IN_WORD = re.compile(f"[^\\s{CJK_CHARS}]")


def _whole_words(text: str, lo: int, hi: int) -> tuple[int, int]:
    """The span ``[lo, hi)`` clipped to the text and widened to whole words: a margin counted in
    characters must not leave half a word at the edge of a kept piece."""
    lo, hi = max(lo, 0), min(hi, len(text))
    while 0 < lo < len(text) and _IN_WORD.match(text, lo - 1) and _IN_WORD.match(text, lo):
        lo -= 1
    while 0 < hi < len(text) and _IN_WORD.match(text, hi - 1) and _IN_WORD.match(text, hi):
        hi += 1
    return lo, hi


def _top_benchmark(masks: list[int]) -> int:
    """Index of the benchmark with the most matching n-grams (the lowest index on a tie)."""
    counts = Counter(b for m in masks for b in range(64) if m >> b & 1)
    return min(counts, key=lambda b: (-counts[b], b))
