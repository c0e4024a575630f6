"""Chinese web-text rules, after the WuDao (Yuan et al. 2021), ChineseWebText (Chen et al.
2023) and MNBVC cleaning recipes. Chinese has no spaces between words, so every measure
here works on characters.

- ``chinese:cjk_ratio``: Chinese characters (Han, plus CJK punctuation when
  ``punctuation_counts_as_chinese``) below ``min_cjk_ratio`` of the non-space characters
  (WuDao keeps pages that are mostly Chinese; ChineseWebText's "proportion of Chinese
  characters"). Default 0.40, from good data: the lowest ratio among the tuning half of
  ``zh_articles`` (technical docs full of English names and numbers) is 0.48, its 1st
  percentile 0.62 (``benchmarks/bench_zh_filters.py``); junk that this rule is for (lorem
  ipsum, script residue, symbol runs) is below 0.06.
- ``chinese:too_few_cjk``: fewer than 80 Han characters: Gopher's 50-word document minimum
  (Rae et al. 2021) at about 1.6 characters per Chinese word. ChineseWebText uses 200 for its
  corpus (``min_cjk_chars: 200`` follows it); the shortest of the 200 ``zh_articles`` has 300.
  Checked again on the text left after line edits (a keyword page cut to one line).
- ``chinese:non_cjk_run``: WuDao's "more than ten consecutive non-Chinese characters", aimed
  at what it is for (embedded foreign boilerplate, garbled bytes), not at every URL or
  product name: URLs and e-mail addresses are set aside, a run is a stretch without Han
  characters, CJK punctuation or a newline, and only its *letters* count (digits,
  punctuation and spaces do not). Runs of more than ``max_non_cjk_run`` (10) letters are
  long; the document is dropped when the letters of long runs exceed
  ``max_non_cjk_run_frac`` of its non-space characters (0.35: the tuning half of
  ``zh_articles`` peaks at 0.27, its 95th percentile is 0.14; script residue and lorem
  ipsum junk is above 0.5). ChineseWebText and FineWeb-2's ``cmn_Hani`` have no such run rule; they rely on the
  Chinese-character proportion and language id, which this coverage form approaches.
- ``chinese:char_ngram_rep``: repeated 13-character n-grams make up more than 50 % of all
  13-grams (the BLOOM/Data-Juicer character-repetition ratio: the occurrences of n-grams
  seen more than once over all n-gram occurrences; whitespace ignored).
- ``chinese:isolated_han``: more than ``max_isolated_han_frac`` (0.2) of the Han characters
  stand alone between punctuation marks (``【随】【着】【经】【济】``, ``随/着/经/济``), the
  character-by-character boxing that Chinese SEO spam uses to slip scraped news past keyword
  and duplicate filters. No published recipe has this rule; the threshold is from data: among
  the 304 good texts of ``zh_articles`` and the Readability zh pages the share peaks at 0.051
  (an encyclopedia entry on the surname 丘（邱）), its 99th percentile is 0.010, and the boxed
  spam page of the bundled sample crawl is at 0.80 (``benchmarks/bench_zh_filters.py``).
- ``chinese:stop_words``: fewer than 2 occurrences of the Chinese function words of
  ``filters/data/stopwords/zh.txt`` (Gopher's stop-word rule carried over to Chinese:
  keyword lists and link farms have no 的/了/是; FineWeb-2's ``cmn_Hani`` list starts with
  the same words: 的 年 在 月 是 和).
- trailing incomplete sentence: text after the last ``。！？…`` (and closing quotes) is
  removed (MNBVC / ChineseWebText keep complete sentences), counted as
  ``zh_trailing_removed``.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import cached_property
from pathlib import Path

import numpy as np
from pydantic import Field

from webrefinery.filters.base import DATA_DIR, FilterConfig, RuleFilter
from webrefinery.filters.text_stats import Doc
from webrefinery.pipeline.core.errors import ConfigError
from webrefinery.pipeline.stages.pii_patterns import EMAIL
from webrefinery.pipeline.text.scripts import CJK_PUNCT, HAN
from webrefinery.pipeline.text.sentences import ZH_SENTENCE_END as _SENTENCE_END
from webrefinery.pipeline.text.words import read_word_list

_CJK_PUNCT = re.compile(f"[{CJK_PUNCT}]")
_MULT = np.uint64(0x100000001B3)
_LINK = re.compile(rf"(?:(?:https?|ftp)://|www\.)[^\s{HAN}{CJK_PUNCT}]+", re.IGNORECASE)
_LETTER = re.compile(rf"(?![{HAN}])[^\W\d_]")
#: a Han character with a punctuation mark or symbol (not a letter, digit, Han or space) on each side
_ISOLATED_HAN = re.compile(rf"(?<=[^\w\s])[{HAN}](?=[^\w\s])")


class ChineseConfig(FilterConfig):
    apply_to: list[str] | None = ["zh"]
    min_cjk_ratio: float | None = Field(0.40, ge=0, le=1)
    punctuation_counts_as_chinese: bool = True
    min_cjk_chars: int | None = Field(80, ge=0)
    #: letters in a run of non-Chinese text above which the run counts as long (WuDao: 10)
    max_non_cjk_run: int | None = Field(10, ge=1)
    #: share of non-space characters that the letters of long runs may cover
    max_non_cjk_run_frac: float = Field(0.35, ge=0, le=1)
    char_ngram_size: int = Field(13, ge=2)
    max_char_ngram_rep: float | None = Field(0.50, ge=0, le=1)
    #: share of Han characters that may stand alone between punctuation marks
    max_isolated_han_frac: float | None = Field(0.2, ge=0, le=1)
    min_stop_words: int | None = Field(2, ge=0)
    #: null = filters/data/stopwords/zh.txt
    stop_words_file: str | None = None
    remove_trailing_fragment: bool = True


class ChineseRules(RuleFilter):
    name = "chinese"
    order = 20
    Config = ChineseConfig
    config: ChineseConfig

    @property
    def stop_words_path(self) -> Path:
        c = self.config
        return Path(c.stop_words_file) if c.stop_words_file else DATA_DIR / "stopwords" / "zh.txt"

    def check(self) -> None:
        if self.config.min_stop_words and not self.stop_words_path.is_file():
            raise ConfigError(f"filter.chinese.stop_words_file: {self.stop_words_path} not found")

    @cached_property
    def _stop_words(self) -> re.Pattern[str]:
        words = sorted(read_word_list(self.stop_words_path), key=len, reverse=True)
        return re.compile("|".join(map(re.escape, words)))

    @cached_property
    def _non_cjk_run(self) -> re.Pattern[str]:
        # candidate runs: more than K characters that are neither Chinese nor a newline
        return re.compile(f"[^\n{HAN}{CJK_PUNCT}]{{{self.config.max_non_cjk_run + 1},}}")

    def non_cjk_run_frac(self, doc: Doc) -> float:
        """Share of the non-space characters that are letters of runs of more than
        ``max_non_cjk_run`` non-Chinese letters (URLs and e-mail addresses left out)."""
        text = doc.text
        if "@" in text or "http" in text or "www." in text:
            text = EMAIL.sub(" ", _LINK.sub(" ", text))
        limit = self.config.max_non_cjk_run or 0
        letters = 0
        for m in self._non_cjk_run.finditer(text):
            n = len(_LETTER.findall(m.group()))
            if n > limit:
                letters += n
        return letters / max(doc.non_space_count, 1)

    def apply(self, doc: Doc, counters: Counter) -> str | None:
        c = self.config
        text = doc.text
        han = doc.han_count
        if c.min_cjk_ratio is not None:
            chinese = han + (len(_CJK_PUNCT.findall(text)) if c.punctuation_counts_as_chinese else 0)
            if chinese < c.min_cjk_ratio * max(doc.non_space_count, 1):
                return "chinese:cjk_ratio"
        if c.min_cjk_chars is not None and han < c.min_cjk_chars:
            return "chinese:too_few_cjk"
        if c.max_non_cjk_run is not None and self.non_cjk_run_frac(doc) > c.max_non_cjk_run_frac:
            return "chinese:non_cjk_run"
        if c.max_char_ngram_rep is not None and char_ngram_repetition(text, c.char_ngram_size) > c.max_char_ngram_rep:
            return "chinese:char_ngram_rep"
        if c.max_isolated_han_frac is not None and \
                len(_ISOLATED_HAN.findall(text)) > c.max_isolated_han_frac * max(han, 1):
            return "chinese:isolated_han"
        if c.min_stop_words and not _has_n_matches(self._stop_words, text, c.min_stop_words):
            return "chinese:stop_words"
        if c.remove_trailing_fragment:
            cut = trailing_fragment_start(text)
            if cut is not None:
                counters["zh_trailing_removed"] += 1
                counters["chars_removed:zh_trailing"] += len(text) - cut
                doc.replace_text(text[:cut])
        return None


    def after_edits(self, doc: Doc) -> str | None:
        """The Han-character minimum holds for the text left after line edits too."""
        c = self.config
        if c.min_cjk_chars is not None and doc.han_count < c.min_cjk_chars:
            return "chinese:too_few_cjk"
        return None


def _has_n_matches(pattern: re.Pattern[str], text: str, n: int) -> bool:
    for i, _ in enumerate(pattern.finditer(text), 1):
        if i >= n:
            return True
    return False


def char_ngram_repetition(text: str, n: int) -> float:
    """Share of character n-gram occurrences (whitespace removed) whose n-gram occurs more
    than once; 0 for texts shorter than ``n``."""
    codes = np.frombuffer("".join(text.split()).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    if len(codes) < n + 1:
        return 0.0
    m = len(codes) - n + 1
    h = np.zeros(m, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in range(n):
            h = h * _MULT + codes[k:k + m]
    _, counts = np.unique(h, return_counts=True)
    return float(counts[counts > 1].sum()) / m


def trailing_fragment_start(text: str) -> int | None:
    """Where a trailing incomplete sentence starts (just after the last ``。！？…``), or
    None when the text ends with a complete sentence or has no sentence end at all."""
    end = len(text.rstrip())
    last = None
    for last in _SENTENCE_END.finditer(text):
        pass
    if last is None or last.end() >= end:
        return None
    return last.end()
