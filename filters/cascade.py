"""The ``filter`` stage: the rule-filter cascade, per language.

Each filter has its own sub-section of ``filter:`` with ``enabled``, ``apply_to`` (the
languages it runs on; null = all) and its thresholds (published defaults, cited in each
filter's module). ``per_language: {zh: {c4: {enabled: false}}}`` overrides thresholds for
one language; sub-sections are merged key by key, so an override only names what changes.
A document whose language is null, or a language no ``apply_to``/``per_language`` names,
is filtered with the profile of ``fallback_language`` (English by default); a document
whose language is null but whose non-space characters are at least ``han_profile_ratio``
(0.5) Han takes the ``zh`` profile instead, so that ``refinery filter`` on a JSONL without
a ``language`` field does not judge Chinese by English word rules.

Filters run cheapest-first and stop at the first that drops a document; statistics
(lines, words, n-gram hashes) are computed once per document and shared
(:class:`webrefinery.filters.text_stats.Doc`). Line-level filters (RefinedWeb corrections, C4, the
Chinese trailing-sentence rule) rewrite ``text`` of kept documents and count what they
removed (``lines_removed:c4_javascript``); a document they edited is checked once more by
each filter's document-size rule (``RuleFilter.after_edits``: the 80-Han minimum for zh).
"""

from __future__ import annotations

from collections import Counter
from functools import cached_property
from typing import Any

import pyarrow as pa
from pydantic import Field, ValidationInfo, create_model, model_validator

from webrefinery.pipeline.core.card import StageCard
from webrefinery.filters.base import RuleFilter, discover_filters
from webrefinery.filters.text_stats import Doc
from webrefinery.pipeline.core.schema import column_values, set_column
from webrefinery.pipeline.core.stage import PROBE_TEXT, Stage, StageConfig, StageResult

#: config section (= ``RuleFilter.name``, the prefix of its drop reasons) → filter class, in
#: cascade order (``RuleFilter.order``: cheap document rules first, line edits late); every
#: filter module of this package registers itself by defining its class
FILTERS: dict[str, type[RuleFilter]] = discover_filters()


#: built-in language overrides; a config's own ``per_language`` is merged over them
DEFAULT_PER_LANGUAGE: dict[str, dict[str, dict[str, Any]]] = {
    "zh": {
        # word n-gram repetition assumes words; for Chinese the characters stand in for words and
        # the 13-gram character rule of filters/chinese.py measures repetition instead. Line rules
        # as FineWeb-2 ran them for cmn_Hani (fineweb-2-pipeline.py, configs/cmn_Hani.yml): paragraph
        # and line-character rules off, dup_line_frac 0.287
        "gopher_repetition": {"top_n_grams": {}, "dup_n_grams": {}, "dup_line_frac": 0.287,
                              "dup_para_frac": None, "dup_para_char_frac": None, "dup_line_char_frac": None},
        # FineWeb-2 cmn_Hani: line_punct_thr 0.106, char_duplicates_ratio 0.1; short lines are
        # measured in characters: 10 Han characters ≈ 30 English characters (filters/fineweb.py)
        "fineweb": {"line_punct_thr": 0.106, "char_duplicates_ratio": 0.1, "short_line_length": 10},
    },
}


def merge_sections(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Two ``per_language`` entries combined; a filter sub-section is updated key by key."""
    return {**base, **{k: {**base[k], **v} if isinstance(v, dict) and isinstance(base.get(k), dict) else v
                       for k, v in overrides.items()}}


class _RuleFiltersBase(StageConfig):
    """Config section ``filter:``: the settings below, plus one sub-section per rule filter."""

    #: profile for documents whose language is null or named nowhere in this section
    fallback_language: str = "en"
    #: a document without language whose Han share is at least this takes the zh profile (null: off)
    han_profile_ratio: float | None = Field(0.5, ge=0, le=1)

    @model_validator(mode="before")
    @classmethod
    def _default_languages(cls, data: Any, info: ValidationInfo) -> Any:
        if isinstance(data, dict) and not (info.context or {}).get("resolved"):
            own = data.get("per_language") or {}
            langs = {lang: merge_sections(DEFAULT_PER_LANGUAGE.get(lang, {}), own.get(lang) or {})
                     for lang in DEFAULT_PER_LANGUAGE.keys() | own.keys()}
            data = {**data, "per_language": langs}
        return data

    @property
    def languages(self) -> set[str]:
        """Languages this section names (in ``per_language`` or any ``apply_to``)."""
        named = set(self.per_language)
        for section in FILTERS:
            named.update(getattr(self, section).apply_to or ())
        return named

    def profile(self, lang: str | None, doc: Doc | None = None) -> str:
        """The language whose settings apply to a document of language ``lang`` (and text ``doc``)."""
        if lang and lang in self.languages:
            return lang
        ratio = self.han_profile_ratio
        if lang is None and doc is not None and ratio is not None and "zh" in self.languages \
                and doc.han_count >= ratio * max(doc.non_space_count, 1):
            return "zh"
        return self.fallback_language


#: the ``filter:`` section: one sub-section per registered filter, its own ``Config`` as default
RuleFiltersConfig = create_model("RuleFiltersConfig", __base__=_RuleFiltersBase, __module__=__name__,
                                 __doc__=_RuleFiltersBase.__doc__,
                                 **{name: (cls.Config, cls.Config()) for name, cls in FILTERS.items()})


class RuleFilters(Stage):
    """Gopher quality/repetition, C4, FineWeb, RefinedWeb lines, Chinese rules, mojibake."""

    name = "filter"
    card = StageCard(notes={"limitations": (
        "Heuristic quality rules (Gopher, C4, FineWeb, Chinese rules) were tuned on English or Chinese web text "
        "and can remove valid text in other styles: lists, code, poetry, dialect writing.")})
    Config = RuleFiltersConfig
    config: RuleFiltersConfig
    backend = "regex"
    probe = {"text": [PROBE_TEXT], "language": ["en"]}

    def check(self) -> None:
        for lang in self.config.languages | {self.config.fallback_language}:
            for f in self.filters_for(lang):
                f.check()

    @cached_property
    def _cascades(self) -> dict[str, list[RuleFilter]]:
        return {}

    def filters_for(self, profile: str) -> list[RuleFilter]:
        """The enabled filters (built once) for documents of language profile ``profile``."""
        if profile not in self._cascades:
            cfg = self.config.for_language(profile)
            self._cascades[profile] = [cls(getattr(cfg, section), profile) for section, cls in FILTERS.items()
                                       if getattr(cfg, section).applies(profile)]
        return self._cascades[profile]

    def filter_one(self, text: str | None, lang: str | None, counters: Counter) -> tuple[str | None, str | None]:
        """(possibly edited text, drop reason or None) for one document."""
        if not text:
            return text, "filter:empty"
        doc = Doc(text, lang)
        profile = self.config.profile(lang, doc)
        doc.lang = profile
        cascade = self.filters_for(profile)
        for f in cascade:
            reason = f.apply(doc, counters)
            if reason is not None:
                return text, reason
        if not doc.text.strip():
            return text, "filter:empty_after_edits"
        if doc.text != text:
            for f in cascade:
                reason = f.after_edits(doc)
                if reason is not None:
                    return text, reason
        return doc.text, None

    def process(self, table: pa.Table) -> StageResult:
        counters: Counter = Counter()
        texts = table.column("text").to_pylist()
        langs = column_values(table, "language")
        out, reasons = [], []
        for text, lang in zip(texts, langs):
            new, reason = self.filter_one(text, lang, counters)
            out.append(new)
            reasons.append(reason)
        if out != texts:
            table = set_column(table, "text", pa.array(out, pa.string()))
        return self.split(table, reasons, counters)

