"""What every rule filter of the ``filter`` stage shares: its config base and its protocol.

A rule filter is built once per (effective) language from its config section and then
called on every document of that language: ``apply(doc, counters)`` returns ``None`` to
keep the document or a specific reason (``"gopher_repetition:dup_line_frac"``) to drop it. A
line-level filter may edit the text with ``doc.replace_text`` and counts what it removed
in ``counters`` (``lines_removed:c4_javascript``).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections import Counter
from importlib.metadata import entry_points
from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from webrefinery.filters.text_stats import Doc

DATA_DIR = Path(__file__).resolve().parent / "data"


class FilterConfig(BaseModel):
    """One filter's section inside ``filter:``; unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    #: languages (ISO 639-1) this filter runs on; null = every language
    apply_to: list[str] | None = None

    def applies(self, lang: str) -> bool:
        return self.enabled and (self.apply_to is None or lang in self.apply_to)


class RuleFilter:
    """Base of one rule filter; subclasses set ``name`` (its config section under ``filter:``,
    which is also the prefix of its drop reasons) and ``Config``."""

    name: ClassVar[str]
    Config: ClassVar[type[FilterConfig]] = FilterConfig
    #: position in the cascade (cheap document rules first, line edits late)
    order: ClassVar[int]

    def __init__(self, config: FilterConfig, lang: str):
        self.config = config
        self.lang = lang

    def check(self) -> None:
        """Validate files the config points at; raise ``ConfigError``."""

    def apply(self, doc: Doc, counters: Counter) -> str | None:
        raise NotImplementedError

    def after_edits(self, doc: Doc) -> str | None:
        """A document-size rule re-checked on the text as it will be published, when line edits
        (this or a later filter) shortened it: the cascade calls it on edited documents only.
        C4 does the same: it counts its minimum 5 sentences on the page left after its line
        removals (Raffel et al. 2020, section 2.2)."""
        return None


#: entry-point group of rule filters from other packages (``module:Class``)
FILTER_GROUP = "webrefinery.filters"


def discover_filters() -> dict[str, type[RuleFilter]]:
    """Every rule filter, in cascade order: the ``RuleFilter`` subclasses of this package's
    modules (adding a filter is one new file) and those of the ``webrefinery.filters``
    entry points. Name → class; the name is the filter's config section and reason prefix."""
    package = importlib.import_module(__package__)
    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{__package__}.{module.name}")
    for ep in entry_points(group=FILTER_GROUP):
        ep.load()
    found: dict[str, type[RuleFilter]] = {}
    todo = list(RuleFilter.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if "name" in cls.__dict__:
            if found.get(cls.name, cls) is not cls:
                raise TypeError(f"two rule filters are named {cls.name!r}: {found[cls.name]} and {cls}")
            found[cls.name] = cls
    return dict(sorted(found.items(), key=lambda kv: (kv[1].order, kv[0])))
