"""Per-document statistics shared by every rule filter, each computed at most once.

A :class:`Doc` wraps one document's text and language; its statistics (lines, paragraphs,
word tokens, word n-gram hashes, Chinese character counts) are lazy ``cached_property``
values, so a cascade of filters pays for each statistic once, and only for the ones the
enabled filters use. A line-level filter that edits the text calls :meth:`Doc.replace_text`,
which drops the cached statistics.

Words are CJK-aware: every Han/kana/hangul character is a word of its own (Chinese has no
spaces between words), other words are runs of word characters (``\w+``), and each run of
punctuation is one token, as the NLTK/spaCy tokenizers used by datatrove also emit
punctuation tokens. Text without CJK characters takes a simpler, 2× faster regex that gives
the same tokens.
"""

from __future__ import annotations

import re
from functools import cached_property

import numpy as np

from webrefinery.pipeline.text.scripts import CJK_CHARS, HAN


_TOKEN = re.compile(rf"[{CJK_CHARS}]|[^\W{CJK_CHARS}]+|[^\w\s]+")
_TOKEN_NO_CJK = re.compile(r"\w+|[^\w\s]+")
_HAS_CJK = re.compile(f"[{CJK_CHARS}]")
_PARAGRAPH = re.compile(r"\n{2,}")
_HAN = re.compile(f"[{HAN}]")
_MULT = np.uint64(0x9E3779B97F4A7C15)  # odd 64-bit multiplier of the n-gram rolling hash


class Doc:
    """One document's text with lazily computed, cached statistics."""

    def __init__(self, text: str, lang: str | None = None):
        self.text = text
        self.lang = lang

    def replace_text(self, text: str) -> None:
        """Set a new text (after a line-level correction) and forget the old statistics."""
        lang = self.lang
        self.__dict__.clear()
        self.text, self.lang = text, lang

    # -- lines and paragraphs ----------------------------------------------------------------
    @cached_property
    def lines(self) -> list[str]:
        """``text.split("\\n")`` (empty lines included)."""
        return self.text.split("\n")

    @cached_property
    def stripped_lines(self) -> list[str]:
        return [line.strip() for line in self.lines]

    @cached_property
    def nonempty_lines(self) -> list[str]:
        return [line for line in self.stripped_lines if line]

    @cached_property
    def paragraphs(self) -> list[str]:
        return _PARAGRAPH.split(self.text.strip())

    # -- words --------------------------------------------------------------------------------
    @cached_property
    def words(self) -> list[str]:
        """All tokens: CJK characters, words, numbers, punctuation runs."""
        text = self.text
        return (_TOKEN if _HAS_CJK.search(text) else _TOKEN_NO_CJK).findall(text)

    @cached_property
    def word_lengths(self) -> np.ndarray:
        return np.fromiter(map(len, self.words), dtype=np.int64, count=len(self.words))

    @cached_property
    def word_ids(self) -> np.ndarray:
        """A 64-bit id per token (equal tokens share an id) for n-gram hashing."""
        ids = np.fromiter(map(hash, self.words), dtype=np.int64, count=len(self.words))
        return ids.view(np.uint64)

    def ngram_hashes(self, n: int) -> np.ndarray:
        """Rolling hash of every word n-gram (built from the (n-1)-gram hashes, cached)."""
        cache = self.__dict__.setdefault("_ngram_cache", {})
        if n not in cache:
            if n == 1:
                cache[1] = self.word_ids
            else:
                prev = self.ngram_hashes(n - 1)
                with np.errstate(over="ignore"):
                    cache[n] = prev[:-1] * _MULT + self.word_ids[n - 1:] if len(prev) > 1 \
                        else np.empty(0, np.uint64)
        return cache[n]

    def ngram_char_lengths(self, n: int, with_spaces: bool) -> np.ndarray:
        """Characters of each word n-gram joined with single spaces (or with nothing)."""
        cum = self.word_cumlen
        lengths = cum[n:] - cum[:-n] if len(cum) > n else np.empty(0, np.int64)
        return lengths + (n - 1) if with_spaces else lengths

    @cached_property
    def word_cumlen(self) -> np.ndarray:
        return np.concatenate(([0], np.cumsum(self.word_lengths)))

    # -- Chinese -------------------------------------------------------------------------------
    @cached_property
    def han_count(self) -> int:
        """Number of Han (Chinese) characters."""
        return 0 if self.text.isascii() else len(_HAN.findall(self.text))

    @cached_property
    def non_space_count(self) -> int:
        return len(self.text) - sum(map(self.text.count, (" ", "\n", "\t", "\u3000", "\r")))
