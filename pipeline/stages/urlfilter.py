"""URL filter after RefinedWeb (Penedo et al. 2023, §G.1): domain blocklist + URL word scoring.

* ``blocklist_files``: domain lists (one per line, UT1 format); a domain blocks its subdomains.
* ``banned_words``: a URL token (split on non-alphanumerics) equal to one of these drops the page.
* ``soft_banned_words``: dropped when at least ``soft_threshold`` tokens are in this list
  (RefinedWeb weighs words by severity; two mild words together are needed to drop a page).
* ``banned_subwords``: substrings of the host name that drop the page (``porn``, ``xxx``).

Defaults are deliberately short to keep false positives low (RefinedWeb reports its URL
filter removing ≈2% of pages); plug in a full list for production crawls.
"""

from __future__ import annotations

from collections import Counter
from functools import cached_property
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

import pyarrow as pa
import regex

from webrefinery.pipeline.core.card import StageCard
from webrefinery.pipeline.core.errors import ConfigError
from webrefinery.pipeline.core.stage import PROBE_TEXT, Stage, StageConfig, StageResult
from webrefinery.pipeline.text.words import read_word_list

DEFAULT_BLOCKLIST = str(resources.files("webrefinery.pipeline") / "data" / "url_blocklist.txt")
_TOKEN = regex.compile(r"[^\p{L}\p{N}]+")


class URLFilterConfig(StageConfig):
    blocklist_files: list[str] = [DEFAULT_BLOCKLIST]
    banned_words: list[str] = ["porn", "porno", "xxx", "sex", "hentai", "nsfw", "camgirl", "escort", "milf"]
    soft_banned_words: list[str] = ["adult", "nude", "naked", "gay", "lesbian", "hot", "dating", "casino",
                                    "gambling", "bet", "viagra", "cialis", "erotic", "fetish"]
    soft_threshold: int = 2
    banned_subwords: list[str] = ["porn", "xxx", "hentai"]


class URLFilter(Stage):
    name = "urlfilter"
    card = StageCard(notes={"limitations": (
        "URL and word blocklists both under-block (unlisted domains, obfuscated words) and over-block "
        "(medical, LGBTQ+ or educational pages that mention listed words).")})
    Config = URLFilterConfig
    requires = ()
    probe = {"url": ["https://news.example.org/2024/05/library-budget"]}

    def check(self) -> None:
        for f in self.config.blocklist_files:
            if not Path(f).is_file():
                raise ConfigError(f"urlfilter.blocklist_files: {f} not found; fix the path or remove it from the list")

    @cached_property
    def blocked_domains(self) -> frozenset[str]:
        domains: set[str] = set()
        for f in self.config.blocklist_files:
            domains.update(line.lower() for line in read_word_list(f, errors="replace"))
        return frozenset(domains)

    @cached_property
    def _words(self) -> tuple[frozenset[str], frozenset[str]]:
        return frozenset(self.config.banned_words), frozenset(self.config.soft_banned_words)

    def reason(self, url: str | None) -> str | None:
        """Why ``url`` is dropped, or None to keep it."""
        if not url:
            return None
        host = (urlsplit(url).hostname or "").lower()
        labels = host.split(".")
        for i in range(len(labels) - 1):
            if ".".join(labels[i:]) in self.blocked_domains:
                return "url:blocklist"
        if any(s in host for s in self.config.banned_subwords):
            return "url:banned_subword"
        hard, soft = self._words
        tokens = [t for t in _TOKEN.split(url.lower()) if t]
        if any(t in hard for t in tokens):
            return "url:banned_word"
        if sum(t in soft for t in tokens) >= self.config.soft_threshold:
            return "url:soft_words"
        return None

    def process(self, table: pa.Table) -> StageResult:
        if "url" not in table.column_names:
            return StageResult(table)
        return self.split(table, [self.reason(u) for u in table.column("url").to_pylist()], Counter())
