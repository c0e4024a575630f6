"""Mojibake / garbled-text detection for every language (MNBVC and WuDao drop garbled
pages; the normalize stage already repairs the Latin-1 kind it can repair with ftfy).

Garbled characters are counted from
- known patterns: ``锟斤拷`` (U+FFFD written as UTF-8 and read as GBK), ``烫烫烫`` /
  ``屯屯屯`` (uninitialised MSVC memory read as GBK), U+FFFD replacement characters, and
  UTF-8 read as Latin-1/cp1252 (``Ã©``, ``â€™``, ``ä¸­``) → ``mojibake:pattern``;
- a decode round trip: a run of at least 3 non-ASCII characters whose GBK (or cp1252)
  encoding is valid UTF-8 with non-ASCII characters is UTF-8 text that was decoded with the
  wrong codec (genuine Chinese almost never forms valid UTF-8 that way) →
  ``mojibake:roundtrip``.
A document is dropped when garbled characters exceed 1 % of its non-space characters.
"""

from __future__ import annotations

import re
from collections import Counter

from pydantic import Field

from webrefinery.filters.base import FilterConfig, RuleFilter
from webrefinery.filters.text_stats import Doc
from webrefinery.pipeline.text.mojibake import LATIN1_LEAD, MOJIBAKE_PAIR

# the lookahead on the first characters lets ``re`` skip clean text by a character-set scan
# (without it the alternation is tried at every position: 8x slower on English text)
_PATTERN = re.compile(
    f"(?=[锟烫屯\ufffd{LATIN1_LEAD}])(?:(?:锟斤拷)+|(?:烫){{2,}}|(?:屯){{3,}}|\ufffd+|{MOJIBAKE_PAIR})"
)
_NON_ASCII_RUN = re.compile(r"[^\x00-\x7f]{3,}")
_CODECS = ("gbk", "cp1252")


def _gbk_telltales() -> str:
    """Characters that UTF-8 lead bytes (E0–EF) plus a continuation byte (80–BF) become when
    read as GBK: every second character of UTF-8 Chinese mis-decoded as GBK is one of them."""
    chars = set()
    for lead in range(0xE0, 0xF0):
        for trail in range(0x80, 0xC0):
            try:
                chars.add(bytes((lead, trail)).decode("gbk"))
            except UnicodeDecodeError:
                pass
    return "".join(sorted(chars))


# a run needs a round-trip test only if it holds a GBK telltale or Latin-1 lead character
_SUSPECT = re.compile(f"[{re.escape(_gbk_telltales())}{LATIN1_LEAD}]")


class MojibakeConfig(FilterConfig):
    max_garbled_frac: float = Field(0.01, ge=0, le=1)
    roundtrip: bool = True


class Mojibake(RuleFilter):
    name = "mojibake"
    order = 10
    Config = MojibakeConfig
    config: MojibakeConfig

    def apply(self, doc: Doc, counters: Counter) -> str | None:
        text = doc.text
        if text.isascii():
            return None
        limit = self.config.max_garbled_frac * max(doc.non_space_count, 1)
        garbled = sum(len(m) for m in _PATTERN.findall(text))
        if garbled > limit:
            return "mojibake:pattern"
        if self.config.roundtrip:
            if _SUSPECT.search(text):
                garbled += sum(len(run) for run in _NON_ASCII_RUN.findall(text)
                               if _SUSPECT.search(run) and roundtrips(run))
            if garbled > limit:
                return "mojibake:roundtrip"
        return None


def roundtrips(run: str) -> bool:
    """True when ``run`` re-encoded as GBK or cp1252 is valid, non-ASCII UTF-8."""
    for codec in _CODECS:
        try:
            raw = run.encode(codec)
        except UnicodeEncodeError:
            continue
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            continue
        return True
    return False
