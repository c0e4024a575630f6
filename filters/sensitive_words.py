"""Sensitive-word filter (WuDao, Yuan et al. 2021, drops pages containing words of a
sensitive-word list; C4 does the same with its bad-words list).

The list is a UTF-8 text file, one word or phrase per line; blank lines and everything after
``#`` are ignored; matching is case-insensitive; entries of Chinese (or any non-ASCII)
characters match anywhere, ASCII entries only as whole words. A document is dropped
(``sensitive_words:words``) when the total number of matches is above ``max_matches``
(default 2: one stray word in an article is tolerated; 0 drops on any match, as WuDao).
``filters/data/sensitive_words_zh.txt`` is a small example list of gambling and spam terms
written for this project (see ``filters/data/README.md``); point ``words_file`` at your own.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import cached_property
from pathlib import Path

from pydantic import Field

from webrefinery.filters.base import DATA_DIR, FilterConfig, RuleFilter
from webrefinery.filters.text_stats import Doc
from webrefinery.pipeline.core.errors import ConfigError
from webrefinery.pipeline.text.words import read_word_list


class SensitiveWordsConfig(FilterConfig):
    apply_to: list[str] | None = ["zh"]
    #: null = the bundled example list filters/data/sensitive_words_zh.txt
    words_file: str | None = None
    max_matches: int = Field(2, ge=0)


class SensitiveWords(RuleFilter):
    name = "sensitive_words"
    order = 30
    Config = SensitiveWordsConfig
    config: SensitiveWordsConfig

    @property
    def path(self) -> Path:
        return Path(self.config.words_file) if self.config.words_file else DATA_DIR / "sensitive_words_zh.txt"

    def check(self) -> None:
        if not self.path.is_file():
            raise ConfigError(f"filter.sensitive_words.words_file: {self.path} not found; point it at a "
                              "UTF-8 list with one word per line")
        if not read_word_list(self.path):
            raise ConfigError(f"filter.sensitive_words.words_file: {self.path} has no words")

    @cached_property
    def pattern(self) -> re.Pattern[str]:
        words = sorted({w.lower() for w in read_word_list(self.path)}, key=len, reverse=True)
        alts = [re.escape(w) if not w.isascii() else rf"\b{re.escape(w)}\b" for w in words]
        return re.compile("|".join(alts), re.IGNORECASE)

    def apply(self, doc: Doc, counters: Counter) -> str | None:
        limit = self.config.max_matches
        for i, _ in enumerate(self.pattern.finditer(doc.text), 1):
            if i > limit:
                return "sensitive_words:words"
        return None
