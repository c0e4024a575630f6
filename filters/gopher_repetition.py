"""Gopher repetition rules (Rae et al. 2021, "Scaling Language Models", table A1).

A document is dropped when more than 30 % of its lines (paragraphs) are duplicates, when
duplicated lines (paragraphs) hold more than 20 % of its characters, when the most frequent
2/3/4-gram covers more than 20/18/16 % of the characters, or when duplicated 5…10-grams
cover more than 15/14/13/12/11/10 % of the characters. Fractions are measured as in
datatrove's ``GopherRepetitionFilter`` (the reference implementation FineWeb used), on the
CJK-aware tokens of :mod:`webrefinery.filters.text_stats`, with n-grams compared through 64-bit rolling
hashes in numpy instead of joined strings. For Chinese the word n-gram rules are switched
off in the profiles (characters are not words); :mod:`webrefinery.filters.chinese` has the 13-gram
character rule instead.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
from pydantic import Field

from webrefinery.filters.base import FilterConfig, RuleFilter
from webrefinery.filters.text_stats import Doc


class GopherRepetitionConfig(FilterConfig):
    dup_line_frac: float | None = Field(0.30, ge=0, le=1)
    dup_para_frac: float | None = Field(0.30, ge=0, le=1)
    dup_line_char_frac: float | None = Field(0.20, ge=0, le=1)
    dup_para_char_frac: float | None = Field(0.20, ge=0, le=1)
    #: n → max character fraction of the most frequent n-gram
    top_n_grams: dict[int, float] = {2: 0.20, 3: 0.18, 4: 0.16}
    #: n → max character fraction covered by duplicated n-grams
    dup_n_grams: dict[int, float] = {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10}


class GopherRepetition(RuleFilter):
    name = "gopher_repetition"
    order = 40
    Config = GopherRepetitionConfig
    config: GopherRepetitionConfig

    def apply(self, doc: Doc, counters: Counter) -> str | None:
        c = self.config
        n_chars = len(doc.text)
        if n_chars == 0:
            return None
        paragraphs = doc.paragraphs
        dups, dup_chars = find_duplicates(paragraphs)
        if c.dup_para_frac is not None and dups / len(paragraphs) > c.dup_para_frac:
            return "gopher_repetition:dup_para_frac"
        if c.dup_para_char_frac is not None and dup_chars / n_chars > c.dup_para_char_frac:
            return "gopher_repetition:dup_para_char_frac"
        lines = doc.nonempty_lines or [""]
        dups, dup_chars = find_duplicates(lines)
        if c.dup_line_frac is not None and dups / len(lines) > c.dup_line_frac:
            return "gopher_repetition:dup_line_frac"
        if c.dup_line_char_frac is not None and dup_chars / n_chars > c.dup_line_char_frac:
            return "gopher_repetition:dup_line_char_frac"
        for n, frac in sorted(c.top_n_grams.items()):
            if top_ngram_chars(doc, n) / n_chars > frac:
                return f"gopher_repetition:top_{n}_gram"
        for n, frac in sorted(c.dup_n_grams.items()):
            hashes = doc.ngram_hashes(n)
            if len(hashes) < 2:
                break
            _, first = np.unique(hashes, return_index=True)
            if len(first) == len(hashes):
                break  # no duplicated n-gram, hence none for any larger n either
            # the characters of all non-first occurrences bound the greedy count from above
            repeats = np.ones(len(hashes), dtype=bool)
            repeats[first] = False
            lengths = doc.ngram_char_lengths(n, with_spaces=False)
            if lengths[repeats].sum() / n_chars <= frac:
                continue
            if duplicated_ngram_chars(doc, n) / n_chars > frac:
                return f"gopher_repetition:dup_{n}_gram"
        return None


def find_duplicates(items: list[str]) -> tuple[int, int]:
    """(number of repeated items, characters in the repeats), first occurrences excluded."""
    seen: set[str] = set()
    dups = dup_chars = 0
    for item in items:
        if item in seen:
            dups += 1
            dup_chars += len(item)
        else:
            seen.add(item)
    return dups, dup_chars


def top_ngram_chars(doc: Doc, n: int) -> int:
    """Characters of the most frequent word n-gram (space-joined) times its count."""
    hashes = doc.ngram_hashes(n)
    if len(hashes) == 0:
        return 0
    _, first, counts = np.unique(hashes, return_index=True, return_counts=True)
    best = counts.max()
    # ties go to the n-gram seen first, like Counter.most_common
    pos = first[counts == best].min()
    return int(doc.ngram_char_lengths(n, with_spaces=True)[pos]) * int(best)


def duplicated_ngram_chars(doc: Doc, n: int) -> int:
    """Characters in duplicated n-grams, scanning left to right and jumping over each
    duplicate so that overlapping repeats are not counted twice (Gopher / datatrove)."""
    hashes = doc.ngram_hashes(n).tolist()
    lengths = doc.ngram_char_lengths(n, with_spaces=False).tolist()
    seen: set[int] = set()
    total, i, end = 0, 0, len(hashes)
    while i < end:
        h = hashes[i]
        if h in seen:
            total += lengths[i]
            i += n
        else:
            seen.add(h)
            i += 1
    return total
