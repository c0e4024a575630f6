"""RefinedWeb line-wise corrections (Penedo et al. 2023, "The RefinedWeb Dataset for Falcon
LLM", section 3.3 and appendix G.2).

Lines are removed when they are "mainly composed of uppercase characters" (the paper's words:
upper-case letters are more than half of the line's non-space characters, so
``11-29-2024, 09:03 AM`` is not one; never a line with Han characters: a Chinese sentence naming
"AI" or "GDP" is not an upper-case line), only numbers/number punctuation,
a counter ("3 likes", "1.2K views", "128 阅读"), or a single word (not a snake_case
identifier); short lines (≤ 10 words) lose
navigation leftovers matched at their start ("Sign in", "登录"), end ("Read more", "阅读全文")
or anywhere ("items in cart", "返回顶部"); a line left empty is removed. If the corrections
remove more than 5 % of the document, the document is dropped
(``refinedweb_lines:lines_removed_frac``). The paper measures the 5 % in words; this filter
measures characters (the project's spec, and the only unit that works for unspaced Chinese).
"""

from __future__ import annotations

import re
from collections import Counter

from pydantic import Field

from webrefinery.filters.base import FilterConfig, RuleFilter
from webrefinery.filters.text_stats import Doc
from webrefinery.pipeline.text.scripts import HAN
from webrefinery.pipeline.text.words import WORD as _WORD

_COUNTER = re.compile(
    r"^[\d.,]+\s*[kKmM万千]?\+?\s*(?:likes?|views?|comments?|shares?|followers?|replies|reply|retweets?"
    r"|votes?|points?|reads?|subscribers?|stars?|reactions?"
    r"|次|人|条|赞|评论|阅读|浏览|转发|收藏|点击|点赞|回复)"
    r"(?:\s*[|·•/,]\s*[\d.,]+\s*[kKmM万千]?\+?\s*\w+)*$"
    r"|^(?:likes?|views?|comments?|shares?|阅读|浏览|评论|点赞|回复|点击)\s*[:：]?\s*[\d.,]+[kKmM万千]?$",
    re.IGNORECASE,
)
_NUMERIC = re.compile(r"^[\d\s.,:;/%+\-–—()$€£¥#]+$")
_NAV_START = (r"(?:sign[ -]?in|sign[ -]?up|log[ -]?in|log[ -]?out|register (?:now|here)|subscribe|skip to (?:main )?content"
              r"|share (?:this|on)|follow us|click here)\b|home\s*[›>»/|]|登录|注册|首页\s*[>›»/|]"
              r"|设为首页|加入收藏|当前位置")
_NAV_END = (r"read more|continue reading|see more|show more|load more|learn more|view more|more\.\.\.|阅读全文"
            r"|查看更多|更多\s*[>›»]+|展开全文|点击查看")
_NAV_ANY = (r"items? in (?:your )?cart|add to (?:cart|basket|wishlist)|shopping cart|back to top"
            r"|all rights reserved|返回顶部|购物车|版权所有|上一篇|下一篇")
_NAV = re.compile(rf"^(?:{_NAV_START})[\s:：|»›>.,-]*|[\s:：|»›>.,-]*(?:{_NAV_END})\W*$|(?:{_NAV_ANY})",
                  re.IGNORECASE)
_HAN = re.compile(f"[{HAN}]")
_DROP_UPPER = str.maketrans("", "", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_DROP_SPACE = str.maketrans("", "", " \t\u00a0\u3000")


class RefinedWebLinesConfig(FilterConfig):
    #: a line whose non-space characters are more than this share upper-case letters is removed
    max_uppercase_frac: float | None = Field(0.5, ge=0, le=1)
    remove_numeric: bool = True
    remove_counters: bool = True
    remove_single_word: bool = True
    remove_navigation: bool = True
    #: navigation patterns are only removed from lines of at most this many words
    navigation_max_words: int = Field(10, ge=1)
    #: drop the document when corrections remove more than this share of its characters
    max_removed_frac: float | None = Field(0.05, ge=0, le=1)


class RefinedWebLines(RuleFilter):
    name = "refinedweb_lines"
    order = 60
    Config = RefinedWebLinesConfig
    config: RefinedWebLinesConfig

    def apply(self, doc: Doc, counters: Counter) -> str | None:
        c = self.config
        text = doc.text
        if not text:
            return None
        nav = c.remove_navigation
        out: list[str] = []
        removed_chars = 0
        edits: Counter = Counter()
        for line in doc.lines:
            s = line.strip()
            why = self._line_reason(s) if s else None
            if why is None and nav and s:
                new = _edit_navigation(s, c.navigation_max_words)
                if new != s:
                    removed_chars += len(s) - len(new)
                    if new:
                        edits["rw_navigation_edited"] += 1
                        out.append(new)
                    else:
                        edits["lines_removed:rw_navigation"] += 1
                    continue
            if why is not None:
                edits[f"lines_removed:{why}"] += 1
                removed_chars += len(line)
                continue
            out.append(line)
        if not edits:
            return None
        if c.max_removed_frac is not None and removed_chars / len(text) > c.max_removed_frac:
            return "refinedweb_lines:lines_removed_frac"
        counters.update(edits)
        counters["docs_edited:refinedweb_lines"] += 1
        doc.replace_text("\n".join(out).strip())
        return None

    def _line_reason(self, s: str) -> str | None:
        c = self.config
        if c.remove_counters and s[0].isalnum() and _COUNTER.match(s):
            return "rw_counter"
        if c.remove_numeric and s[0] in "0123456789+-–—($€£¥#.,:%/" and _NUMERIC.match(s):
            return "rw_numeric"
        if c.max_uppercase_frac is not None and not s.islower() and _upper_frac(s) > c.max_uppercase_frac:
            return "rw_uppercase"
        if c.remove_single_word and _is_single_word(s):
            return "rw_single_word"
        return None


def _upper_frac(s: str) -> float:
    """Share of upper-case letters among the non-space characters of the stripped line ``s``
    (digits and punctuation count in the whole: a date with ``AM`` is not an upper-case line;
    0 for a line with Han characters: Chinese has no case, so a Chinese sentence naming ``AI``
    or ``IMPORT INTO`` is not an upper-case line)."""
    if s.isascii():  # str.translate runs in C: count by deleting
        upper = len(s) - len(s.translate(_DROP_UPPER))
    elif _HAN.search(s):
        return 0.0
    else:
        upper = sum(map(str.isupper, s))
    return upper / len(s.translate(_DROP_SPACE)) if upper else 0.0


def _is_single_word(s: str) -> bool:
    """A stripped line of one word (a lone CJK character counts as one word). A snake_case
    identifier (``tidb_batch_insert``) is not one: the rule is for navigation leftovers
    ("Home", "Menu"), which never hold an underscore, and documentation pages list their
    settings and API names one per line."""
    if " " in s or "\t" in s or "_" in s.strip("_"):
        return False
    return s.isascii() or len(_WORD.findall(s)) == 1


def _edit_navigation(s: str, max_words: int) -> str:
    """``s`` without navigation leftovers when it is a short line; unchanged otherwise."""
    if s.isascii():
        if s.count(" ") >= max_words:
            return s
    elif len(_WORD.findall(s)) > max_words:
        return s
    return _NAV.sub("", s).strip()
