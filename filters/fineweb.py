"""FineWeb's own quality rules (Penedo et al. 2024, "The FineWeb Datasets", section 3.3,
and datatrove's ``FineWebQualityFilter``), measured on the non-empty lines.

A document is dropped when at most 12 % of its lines end in terminal punctuation, when at
least 67 % of its lines are at most 30 characters long, when duplicated lines hold at least
1 % of its (newline-free) characters, or when it has more than 0.3 newlines per word (a
list). Blank lines (paragraph breaks) are not lines of text and are not counted, as in
datatrove. The Chinese and full-width sentence ends ``。！？；…」』”’`` also count as terminal
punctuation. Line length is in characters with a per-language threshold: a 30-character
English line is about 5 words, and 5 Chinese words are about 8 Han characters, so the
``zh`` profile (``filters/cascade.py``) counts lines of at most 10 characters as short.
The other ``zh`` values are FineWeb-2's ``cmn_Hani`` ones (``configs/cmn_Hani.yml``:
``line_punct_thr`` 0.106; the pipeline's ``char_duplicates_ratio`` 0.1 for every
non-English language).
"""

from __future__ import annotations

from collections import Counter

from pydantic import Field

from webrefinery.filters.base import FilterConfig, RuleFilter
from webrefinery.filters.gopher_repetition import find_duplicates
from webrefinery.filters.text_stats import Doc


class FineWebConfig(FilterConfig):
    line_punct_thr: float | None = Field(0.12, ge=0, le=1)
    line_punct_exclude_zero: bool = False
    #: FineWeb's ``. ' " ! ?`` plus the CJK and full-width sentence ends
    stop_chars: list[str] = [".", "'", '"', "!", "?", "。", "！", "？", "；", "…", "”", "’", "」", "』"]
    short_line_thr: float | None = Field(0.67, ge=0, le=1)
    #: characters (30 for English; the zh profile uses 10, see the module docstring)
    short_line_length: int = Field(30, ge=1)
    char_duplicates_ratio: float | None = Field(0.01, ge=0, le=1)
    new_line_ratio: float | None = Field(0.3, ge=0)


class FineWeb(RuleFilter):
    name = "fineweb"
    order = 80
    Config = FineWebConfig
    config: FineWebConfig

    def apply(self, doc: Doc, counters: Counter) -> str | None:
        c = self.config
        lines = doc.nonempty_lines
        if not lines:
            return None
        if c.line_punct_thr is not None:
            stops = tuple(c.stop_chars)
            ratio = sum(1 for line in lines if line.endswith(stops)) / len(lines)
            if ratio <= c.line_punct_thr and not (ratio == 0 and c.line_punct_exclude_zero):
                return "fineweb:line_punct_ratio"
        if c.short_line_thr is not None:
            short = c.short_line_length
            if sum(1 for line in lines if len(line) <= short) / len(lines) >= c.short_line_thr:
                return "fineweb:short_line_ratio"
        if c.char_duplicates_ratio is not None:
            chars = len(doc.text) - doc.text.count("\n")
            dup_chars = find_duplicates(doc.nonempty_lines)[1]
            if chars and dup_chars / chars >= c.char_duplicates_ratio:
                return "fineweb:char_dup_ratio"
        if c.new_line_ratio is not None:
            # line breaks between non-empty lines: datatrove counts every "\n", but its text comes
            # from C4's filter joined without blank lines; ours keeps blank lines between paragraphs
            words, breaks = len(doc.words), max(len(lines) - 1, 0)
            if words == 0 or breaks / words > c.new_line_ratio:
                return "fineweb:list_ratio"
        return None
