"""The stage protocol shared by every executor.

A stage has a ``name``, a pydantic ``Config`` (unknown keys are errors), and a pure batch
function ``process(table) -> StageResult``: the rows it keeps (possibly modified), the rows
it drops annotated with ``stage``/``reason``, and extra counters (e.g. PII counts). Stages
hold no global state; models load lazily once per worker (``functools.cached_property``).

A ``GlobalStage`` (deduplication) needs to see the whole corpus before it can decide:
``collect`` extracts small keys from every batch, ``reduce`` turns all keys into
decisions written under a work directory, and ``process`` then applies them batch by batch.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar, Sequence

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, ValidationError

from webrefinery.pipeline.core.card import Block, StageCard
from webrefinery.pipeline.core.dataflow import Dataflow
from webrefinery.pipeline.core.errors import StageFailure
from webrefinery.pipeline.core.paths import TaskPaths
from webrefinery.pipeline.core.schema import conform, with_reject_columns


class StageConfig(BaseModel):
    """Base of every stage's config section. Unknown keys are rejected at start-up.

    ``per_language`` maps an ISO 639-1 code to overrides of this section's own fields,
    e.g. ``{"zh": {"min_words": 10}}``; :meth:`for_language` returns the merged config.
    A field that is itself a config model (a sub-section) is merged key by key, so an
    override names only what changes; any other field is replaced whole.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    per_language: dict[str, dict[str, Any]] = {}

    def model_post_init(self, __context: Any) -> None:
        if (__context or {}).get("resolved"):
            return
        # Validate overrides now so a typo fails at start-up, not hours later, named by its
        # full path (``per_language.zh.min_words``), not as if it were this section's own key.
        for lang in self.per_language:
            try:
                self.for_language(lang)
            except ValidationError as e:
                raise ValidationError.from_exception_data(e.title, [
                    {"type": err["type"], "loc": ("per_language", lang, *err["loc"]), "input": err["input"],
                     **({"ctx": err["ctx"]} if "ctx" in err else {})} for err in e.errors()]) from None

    def for_language(self, lang: str | None) -> "StageConfig":
        """This config with the overrides for ``lang`` applied (cached per language)."""
        if not lang or lang not in self.per_language:
            return self
        cache = self.__dict__.setdefault("_lang_cache", {})
        if lang not in cache:
            overrides = self.per_language[lang]
            if "per_language" in overrides:
                raise ValueError(f"per_language.{lang} may not nest per_language")
            merged = self.model_dump(exclude={"per_language"})
            for key, value in overrides.items():
                if isinstance(getattr(self, key, None), BaseModel) and isinstance(value, dict):
                    merged[key] = {**merged[key], **value}
                else:
                    merged[key] = value
            # context "resolved": the merged config is final (no further overrides to check)
            cache[lang] = type(self).model_validate({**merged, "per_language": {}}, context={"resolved": True})
        return cache[lang]


@dataclass
class StageResult:
    """What one call of ``process`` returns."""

    kept: pa.Table
    rejected: pa.Table | None = None
    counters: Counter = field(default_factory=Counter)


@dataclass
class RunContext:
    """Where a run writes and how chatty it is; handed to every stage."""

    output_dir: Path
    work_dir: Path
    quiet: bool = False
    languages: tuple[str, ...] = ("en", "zh")

    @property
    def paths(self) -> TaskPaths:
        return TaskPaths(self.work_dir, self.output_dir)


class Stage:
    """Base class of a batch stage. Subclasses set ``name`` and ``Config``."""

    name: ClassVar[str]
    Config: ClassVar[type[StageConfig]] = StageConfig
    #: columns a stage needs in its input (checked before the first batch)
    requires: ClassVar[tuple[str, ...]] = ("text",)
    #: the library that does the stage's work, named when it fails (see :meth:`self_test`)
    backend: ClassVar[str] = "python"
    #: a tiny built-in input (column → values) that :meth:`self_test` runs through ``process``
    probe: ClassVar[dict[str, list[Any]] | None] = None
    #: what the stage adds to the dataset card (its section, notes; :mod:`webrefinery.pipeline.core.card`)
    card: ClassVar[StageCard] = StageCard()

    @classmethod
    def card_section(cls, stats: dict[str, Any], output: dict[str, Any]) -> list[Block]:
        """Body of the stage's own card section (``card.title``) from its stats entry and the
        run's ``output`` stats."""
        return []

    def __init__(self, config: StageConfig | None = None, context: RunContext | None = None):
        self.config = config if config is not None else self.Config()
        self.context = context

    def check(self) -> None:
        """Validate files the config points at (models, word lists); raise ConfigError."""

    def self_test(self) -> StageResult | None:
        """Run ``process`` on :attr:`probe` before any work starts, so that a broken backend
        (a module that cannot be imported, an unreadable model) stops the run in seconds
        with one line naming the stage, the library, the exception and the fix."""
        if self.probe is None:
            return None
        try:
            return self._run_probe(conform(pa.table(self.probe)))
        except Exception as e:
            raise StageFailure(failure_message(self, e, "start-up self-test")) from e

    def _run_probe(self, table: pa.Table) -> StageResult | None:
        return self.process(table)

    def process(self, table: pa.Table) -> StageResult:
        raise NotImplementedError

    # -- helpers shared by filtering stages -------------------------------------------------
    def split(self, table: pa.Table, reasons: Sequence[str | None],
              counters: Counter | None = None) -> StageResult:
        """Keep rows whose reason is None; reject the others with ``stage``/``reason``."""
        mask = pa.array([r is None for r in reasons], pa.bool_())
        kept = table.filter(mask)
        dropped_reasons = [r for r in reasons if r is not None]
        rejected = None
        if dropped_reasons:
            rejected = with_reject_columns(table.filter(pc.invert(mask)), self.name, dropped_reasons)
        return StageResult(kept, rejected, counters or Counter())

    def __getstate__(self) -> dict[str, Any]:
        # Lazily loaded models (cached_property values) are not shipped to workers.
        cached = {k for k, v in type(self).__dict__.items() if isinstance(v, cached_property)}
        return {k: v for k, v in self.__dict__.items() if k not in cached}


#: the probe text of stages that read ``text``: one plain English paragraph
PROBE_TEXT = ("The city council met on Tuesday evening to discuss the new library budget. Members agreed "
              "that the reading rooms should stay open later during the winter, and they asked the staff "
              "to report on the cost of longer hours at the next meeting. Write to desk@example.org.")

#: exceptions that are never a property of one document: the environment is broken
SYSTEMIC_ERRORS: tuple[type[BaseException], ...] = (ImportError, MemoryError, OSError)


def failure_message(stage: Stage, e: BaseException, where: str) -> str:
    """One line for a stage whose backend failed: stage, library, exception, fix."""
    detail = " ".join(str(e).split()).rstrip(".")
    if isinstance(e, ImportError):
        what = f"{stage.backend} cannot import {e.name or 'a module'} ({type(e).__name__}: {detail})"
        fix = "install the missing package, or reinstall from the lock: pip install -c requirements.lock -e ."
    else:
        what = f"{stage.backend} raised {type(e).__name__}: {detail}"
        fix = ("check the model and word-list files the config points at, and free disk space"
               if isinstance(e, OSError) else "the cause is the environment or the stage, not one bad document")
    return f"{stage.name} ({where}): {what}. Fix: {fix}; then rerun the same command to resume"


class GlobalStage(Stage):
    """A stage that decides from the whole corpus (deduplication).

    1. ``collect(table)`` → small key table for every batch that reaches the stage
       (run in the map pass, in parallel);
    2. ``reduce(key_files, work_dir, flow)`` → writes decisions under ``work_dir``. The
       executor calls it: ``flow`` is its distributed dataflow (:mod:`webrefinery.pipeline.core.dataflow`),
       or None to reduce in this process. The stage never learns which executor runs it;
    3. ``load(work_dir, key_file)`` then ``process(table)`` applies the decisions batch by
       batch (in the tasks the plan marks to apply them), each task those of its own documents.
    """

    def collect(self, table: pa.Table) -> pa.Table:
        raise NotImplementedError

    def _run_probe(self, table: pa.Table) -> StageResult | None:
        self.collect(table)  # decisions do not exist before the reduce: exercise the map side
        return None

    def reduce(self, key_files: list[Path], work_dir: Path, flow: Dataflow | None = None) -> None:
        raise NotImplementedError

    def load(self, work_dir: Path, key_file: str | None) -> None:
        """Before a task applies the decisions: those of the documents keyed in ``key_file``
        (the previous segment's key file of this task's input; None when it keyed none)."""
        raise NotImplementedError

