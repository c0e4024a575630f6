"""What a stage may contribute to the dataset card (:mod:`webrefinery.pipeline.card`).

A stage declares it on its class: ``card`` (a :class:`StageCard`: its own section's title,
the text of that section when the stage did not run, notes for the card's common sections,
the counters its section explains) and ``card_section`` (the body of its own section, made
from its own stats entry). The card never names a stage; it asks the registry for the
classes of the stages a run lists. Blocks are markdown paragraphs or :class:`Table` rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence, Union


@dataclass(frozen=True)
class Table:
    """A markdown table: formatted cells; columns in ``right`` are right-aligned (numbers)."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    right: frozenset[int]

    @classmethod
    def of(cls, header: Sequence[str], rows: Sequence[Sequence[object]],
           right: set[int] | None = None) -> "Table":
        """``right`` defaults to every column but the first."""
        return cls(tuple(header), tuple(tuple(str(c) for c in r) for r in rows),
                   frozenset(range(1, len(header)) if right is None else right))


#: a block of a card section: one markdown paragraph or one table
Block = Union[str, Table]


@dataclass(frozen=True)
class StageCard:
    """A stage's declarations for the card.

    ``notes`` and ``absent`` map a common section of the card (``sources``, ``funnel``,
    ``languages``, ``quality``, ``limitations``) to a sentence added there when the stage ran,
    resp. did not run (only stages of the default pipeline are reported as not run). A note
    is a ``str.format`` template over the stage's stats entry (``docs_in``, ``docs_out``, …)
    and ``published`` (documents in the output).
    """

    #: heading of the stage's own section (its body: ``Stage.card_section``); None = no section
    title: str | None = None
    #: body of that section when the stage did not run
    missing: str = ""
    notes: Mapping[str, str] = field(default_factory=dict)
    absent: Mapping[str, str] = field(default_factory=dict)
    #: regex of the counters the stage's own section shows (kept out of "Other stage counters")
    counters: str = ""


def num(x: int | float) -> str:
    """A count with thousands separators."""
    return f"{x:,}"


def pct(part: float, whole: float) -> str:
    """``part`` as a percentage of ``whole`` with one decimal; an en dash when ``whole`` is 0."""
    return f"{100 * part / whole:.1f}%" if whole else "–"
