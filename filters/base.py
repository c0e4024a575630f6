"""What every rule filter of the ``filter`` stage shares: its config base and its protocol.

A rule filter is built once per (effective) language from its config section and then
called on every document of that language: ``apply(doc, counters)`` returns ``None`` to
keep the document or a specific reason (``"gopher_repetition:dup_line_frac"``) to drop it. A
line-level filter may edit the text with ``doc.replace_text`` and counts what it removed
in ``counters`` (``lines_removed:c4_javascript``).
"""

from __future__ import annotations

from collections import Counter
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

    def __init__(self, config: FilterConfig, lang: str):
        self.config = config
        self.lang = lang

    def check(self) -> None:
        """Validate files the config points at; raise ``ConfigError``."""

    def apply(self, doc: Doc, counters: Counter) -> str | None:
        raise NotImplementedError


def read_word_list(path: Path) -> list[str]:
    """A UTF-8 word list: one entry per line; blank lines and ``#`` comments are ignored."""
    words = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            words.append(line)
    return words
