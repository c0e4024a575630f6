"""C4 rules (Raffel et al. 2020, "Exploring the Limits of Transfer Learning", section 2.2,
and the reference code ``tensorflow_datasets/text/c4_utils.py``).

Line level (the kept lines replace the text, with one paragraph break where blank lines
separated them; C4's code and datatrove drop the blank lines): lines not ending in terminal
punctuation (``. ! ? "`` , or an ellipsis) are removed, lines with fewer than 3 words,
lines mentioning "javascript", lines with cookie/terms-of-use/privacy-policy notices and lines
with a word longer than 1,000 characters; Wikipedia citation marks (``[1]``, ``[edit]``) are deleted.
Document level: pages containing "lorem ipsum" are dropped, and pages left with fewer than 5
sentences. C4's rule that drops every page with a curly bracket (to remove code) is off by
default (``filter_curly_bracket: true`` restores it): like Dolma (Soldaini et al. 2024, which
kept only C4's line rules) and RefinedWeb (no such rule), code in prose pages is kept. On the
visible sets it dropped 9 of 30 good documentation pages, 5 of 78 Readability articles and 2
of 89 WCXB articles, and no junk document that another rule does not drop
(benchmarks/RESULTS.md, issue 20). Sentences are counted with a punctuation regex instead
of NLTK's punkt (a dependency and ~50× slower); ``。！？`` count for CJK text.
FineWeb runs this filter with ``filter_no_terminal_punct: false`` (its own line-punctuation
rule replaces it).
"""

from __future__ import annotations

import re
from collections import Counter

from pydantic import Field

from webrefinery.filters.base import FilterConfig, RuleFilter
from webrefinery.filters.text_stats import Doc
from webrefinery.pipeline.text.sentences import C4_SENTENCE_END as _SENTENCE_END
from webrefinery.pipeline.text.words import WORD as _WORD

_CITATION = re.compile(r"\[\d*\]|\[edit\]|\[citation needed\]", re.IGNORECASE)
_END_PUNCT = (".", "?", "!", '"', "'", "。", "！", "？", "”", "」")
_ELLIPSIS = ("...", "…")
POLICY_SUBSTRINGS = ("terms of use", "privacy policy", "cookie policy", "uses cookies",
                     "use of cookies", "use cookies")


class C4Config(FilterConfig):
    apply_to: list[str] | None = ["en"]
    remove_citations: bool = True
    filter_no_terminal_punct: bool = True
    #: -1 or null disables
    min_num_sentences: int | None = Field(5, ge=-1)
    min_words_per_line: int | None = Field(3, ge=-1)
    max_word_length: int | None = Field(1000, ge=-1)
    filter_lorem_ipsum: bool = True
    filter_javascript: bool = True
    filter_curly_bracket: bool = False
    filter_policy: bool = True


class C4(RuleFilter):
    name = "c4"
    order = 70
    Config = C4Config
    config: C4Config

    def apply(self, doc: Doc, counters: Counter) -> str | None:
        c = self.config
        text = doc.text
        lowered = text.lower()
        if c.filter_lorem_ipsum and "lorem ipsum" in lowered:
            return "c4:lorem_ipsum"
        if c.filter_curly_bracket and "{" in text:
            return "c4:curly_bracket"
        check_js = c.filter_javascript and "javascript" in lowered
        check_policy = c.filter_policy and any(p in lowered for p in POLICY_SUBSTRINGS)
        min_words = c.min_words_per_line if c.min_words_per_line and c.min_words_per_line > 0 else 0
        max_len = c.max_word_length if c.max_word_length and c.max_word_length > 0 else 0
        kept: list[str] = []
        sentences = 0
        need = c.min_num_sentences if c.min_num_sentences and c.min_num_sentences > 0 else 0
        new_paragraph = False  # a blank line came since the last kept line: keep the paragraph break
        for line in doc.stripped_lines:
            if not line:
                new_paragraph = bool(kept)
                continue
            why = None
            if max_len and len(line) > max_len and any(len(w) > max_len for w in line.split()):
                why = "c4_long_word"
            else:
                if c.remove_citations and "[" in line:
                    line = _CITATION.sub("", line).strip()
                if c.filter_no_terminal_punct and (not line.endswith(_END_PUNCT) or line.endswith(_ELLIPSIS)):
                    why = "c4_no_terminal_punct"
                elif min_words and _too_few_words(line, min_words):
                    why = "c4_too_few_words"
                elif check_js and "javascript" in line.lower():
                    why = "c4_javascript"
                elif check_policy and any(p in line.lower() for p in POLICY_SUBSTRINGS):
                    why = "c4_policy"
            if why:
                counters[f"lines_removed:{why}"] += 1
                continue
            kept.append("\n" + line if new_paragraph else line)
            new_paragraph = False
            if sentences < need:  # counting stops once the minimum is reached
                sentences += max(1, len(_SENTENCE_END.findall(line)))
        if sentences < need:
            return "c4:too_few_sentences"
        new_text = "\n".join(kept)
        if new_text != text:
            doc.replace_text(new_text)
            counters["docs_edited:c4"] += 1
        return None


def _too_few_words(line: str, n: int) -> bool:
    """Fewer than ``n`` whitespace-separated words, each CJK character counting as a word
    (Chinese puts no spaces between words)."""
    if line.isascii():
        return line.count(" ") + 1 < n and len(line.split()) < n
    return len(_WORD.findall(line)) < n
