"""Gopher quality rules (Rae et al. 2021, "Scaling Language Models", appendix A.1.1).

Defaults are the published values, as also used by datatrove's ``GopherQualityFilter``
and the FineWeb recipe: 50–100,000 words, mean word length 3–10 characters, ``#`` and
ellipsis to word ratio ≤ 0.1, ≤ 90 % of lines starting with a bullet, ≤ 30 % of lines
ending with an ellipsis, ≥ 80 % of words with an alphabetic character, ≥ 2 stop words
(Gopher's list: the, be, to, of, and, that, have, with; lists per language in
``filters/data/stopwords/<lang>.txt``). Words are the CJK-aware tokens of
:mod:`webrefinery.filters.text_stats` without the pure punctuation tokens, which matches the paper's
whitespace-separated words (where "end." is an alphabetic word): datatrove divides by all
tokens of a punctuation-splitting tokenizer instead; measured that way, 27 of the 181 pages
of the Zyte extraction benchmark (15 %) failed the alphabetic-word rule. The alphabetic-word
rule itself takes the paper's whitespace-separated words: a number such as ``$2.53``, ``3-1`` or
``2019-11-19`` is one word without a letter, not two or three digit tokens (counted on tokens,
an article quoting prices or scores lost up to 0.08 of its ratio against the paper's count).
"""

from __future__ import annotations

from collections import Counter
from functools import cached_property
from pathlib import Path

import re

import numpy as np
from pydantic import Field

from webrefinery.filters.base import DATA_DIR, FilterConfig, RuleFilter
from webrefinery.filters.text_stats import Doc
from webrefinery.pipeline.core.errors import ConfigError
from webrefinery.pipeline.text.words import read_word_list

_BULLETS = ("•", "-", "*", "·", "●", "▪", "‣", "◦")
#: a whitespace-separated word without an ASCII letter (a fast first pass), and a letter of any script
_NO_ASCII_LETTER_WORD = re.compile(r"(?<!\S)[^\sA-Za-z]+(?!\S)")
_LETTER = re.compile(r"[^\W\d_]")


def no_alpha_words(text: str) -> int:
    """Whitespace-separated words without a letter of any script (numbers, punctuation)."""
    return sum(1 for w in _NO_ASCII_LETTER_WORD.findall(text) if w.isascii() or not _LETTER.search(w))


class GopherQualityConfig(FilterConfig):
    apply_to: list[str] | None = ["en"]
    min_doc_words: int | None = Field(50, ge=0)
    max_doc_words: int | None = Field(100_000, ge=1)
    min_avg_word_length: float | None = Field(3, ge=0)
    max_avg_word_length: float | None = Field(10, ge=0)
    max_symbol_word_ratio: float | None = Field(0.1, ge=0)
    max_bullet_lines_ratio: float | None = Field(0.9, ge=0, le=1)
    max_ellipsis_lines_ratio: float | None = Field(0.3, ge=0, le=1)
    min_alpha_words_ratio: float | None = Field(0.8, ge=0, le=1)
    min_stop_words: int | None = Field(2, ge=0)
    #: stop-word list file; null = filters/data/stopwords/<language>.txt
    stop_words_file: str | None = None


class GopherQuality(RuleFilter):
    name = "gopher_quality"
    order = 50
    Config = GopherQualityConfig
    config: GopherQualityConfig

    @property
    def stop_words_path(self) -> Path:
        c = self.config
        return Path(c.stop_words_file) if c.stop_words_file else DATA_DIR / "stopwords" / f"{self.lang}.txt"

    def check(self) -> None:
        if self.config.min_stop_words and not self.stop_words_path.is_file():
            raise ConfigError(f"filter.gopher_quality: stop-word list {self.stop_words_path} not found; set "
                              "stop_words_file or min_stop_words: null for this language")

    @cached_property
    def stop_words(self) -> frozenset[str]:
        return frozenset(w.lower() for w in read_word_list(self.stop_words_path))

    def apply(self, doc: Doc, counters: Counter) -> str | None:
        c = self.config
        words = doc.words
        n_words = len(words)
        if n_words == 0:
            return "gopher_quality:too_few_words"
        lengths = doc.word_lengths
        # a token is a run of word characters or a run of punctuation: ``isalnum`` tells them
        # apart (in C) except for words with an underscore, which take the exact test
        flags = list(map(str.isalnum, words))
        if "_" in doc.text:
            flags = [w[0].isalnum() or w[0] == "_" for w in words]
        is_word = np.array(flags, dtype=bool)
        n_real = int(is_word.sum())
        if c.min_doc_words is not None and n_real < c.min_doc_words:
            return "gopher_quality:too_few_words"
        if c.max_doc_words is not None and n_real > c.max_doc_words:
            return "gopher_quality:too_many_words"
        mean_len = float(lengths[is_word].mean()) if n_real else 0.0
        if c.min_avg_word_length is not None and mean_len < c.min_avg_word_length:
            return "gopher_quality:short_words"
        if c.max_avg_word_length is not None and mean_len > c.max_avg_word_length:
            return "gopher_quality:long_words"
        text = doc.text
        if c.max_symbol_word_ratio is not None:
            if text.count("#") / max(n_real, 1) > c.max_symbol_word_ratio:
                return "gopher_quality:hash_ratio"
            if (text.count("...") + text.count("…")) / max(n_real, 1) > c.max_symbol_word_ratio:
                return "gopher_quality:ellipsis_ratio"
        lines = doc.nonempty_lines or [""]
        if c.max_bullet_lines_ratio is not None:
            if sum(line.startswith(_BULLETS) for line in lines) / len(lines) > c.max_bullet_lines_ratio:
                return "gopher_quality:bullet_lines"
        if c.max_ellipsis_lines_ratio is not None:
            ends = sum(line.endswith(("...", "…")) for line in lines)
            if ends / len(lines) > c.max_ellipsis_lines_ratio:
                return "gopher_quality:ellipsis_lines"
        if c.min_alpha_words_ratio is not None:
            n_spaced = len(text.split())
            alpha = n_spaced - no_alpha_words(text)
            if alpha / max(n_spaced, 1) < c.min_alpha_words_ratio:
                return "gopher_quality:alpha_words"
        if c.min_stop_words:
            stop = self.stop_words
            if sum(map(stop.__contains__, map(str.lower, words))) < c.min_stop_words:
                return "gopher_quality:stop_words"
        return None
