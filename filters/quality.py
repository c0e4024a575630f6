"""The ``quality`` stage: a fastText quality classifier (RefinedWeb/GPT-3 style: reference
text against random crawl, Brown et al. 2020 appendix A; Penedo et al. 2023) trained with
``refinery train-quality``.

Every document gets ``quality_score`` = the model's probability of the high-quality label
and ``metadata.quality_label`` = its top label (``hq``/``lq``). With ``threshold: null`` (the
default) the stage only annotates, so a cut-off can be picked later from the score
histogram in stats.json; with a threshold, documents scoring below it are dropped
(``quality:low_score``). ``per_language`` can point a language at its own model
(``{zh: {model_path: quality_zh.bin}}``). Without ``model_path`` the stage passes documents
through unscored (counted as ``quality:unscored``) and says so at start-up.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from functools import cached_property
from pathlib import Path
from typing import Any

import pyarrow as pa
from pydantic import Field

from webrefinery.pipeline.core.card import StageCard
from webrefinery.pipeline.core.models import check_fasttext, load_fasttext
from webrefinery.filters.fasttext_text import LABEL_POSITIVE, fasttext_line
from webrefinery.pipeline.core.errors import ConfigError
from webrefinery.pipeline.core.schema import dump_metadata, metadata_dicts, set_column
from webrefinery.pipeline.core.stage import PROBE_TEXT, Stage, StageConfig, StageResult

log = logging.getLogger("refinery")

#: what to do about a missing or damaged quality model
TRAIN_FIX = "train one with `refinery train-quality --positive P --negative N --output MODEL`"


class QualityConfig(StageConfig):
    """Config section ``quality:``."""

    #: fastText model written by ``refinery train-quality``; null = pass through unscored
    model_path: str | None = None
    #: drop documents scoring below this; null = annotate only
    threshold: float | None = Field(None, ge=0, le=1)
    #: characters of each document fed to the model
    max_chars: int = Field(10_000, ge=100)


class QualityFilter(Stage):
    name = "quality"
    card = StageCard(
        notes={"quality": "Score of the fastText quality classifier trained with `refinery train-quality` "
                          "(higher = closer to the reference corpus).",
               "limitations": "The model-based quality classifier favours text resembling its positive examples "
                              "(Wikipedia-like, formal registers) and disfavours informal, dialectal and "
                              "minority voices."},
        absent={"quality": "The model-based quality filter did not run in this pipeline: `quality_score` is null "
                           "for every document."})
    Config = QualityConfig
    backend = "fasttext"
    probe = {"text": [PROBE_TEXT], "language": ["en"]}
    config: QualityConfig

    def _configs(self) -> list[QualityConfig]:
        langs = self.config.per_language
        return [self.config] + [self.config.for_language(lang) for lang in langs]  # type: ignore[misc]

    def check(self) -> None:
        for cfg in self._configs():
            if cfg.model_path is None:
                if cfg.threshold is not None:
                    raise ConfigError("quality.threshold is set but quality.model_path is not; train a model "
                                      "with `refinery train-quality` and set model_path")
                continue
            if not Path(cfg.model_path).is_file():
                raise ConfigError(f"quality.model_path: {cfg.model_path} not found; {TRAIN_FIX}")
            check_fasttext(cfg.model_path, "quality.model_path", TRAIN_FIX)
        if self.config.model_path is None and not (self.context and self.context.quiet):
            log.warning("quality: no model_path set; documents pass through unscored")

    @cached_property
    def _models(self) -> dict[str, Any]:
        return {}

    def model(self, path: str) -> Any:
        if path not in self._models:
            self._models[path] = load_fasttext(path, "quality.model_path", TRAIN_FIX)
        return self._models[path]

    def score(self, path: str, texts: list[str], max_chars: int) -> tuple[list[float], list[str]]:
        """P(high quality) and the top label for each text."""
        model = self.model(path)
        labels, probs = model.predict([fasttext_line(t, max_chars) for t in texts], k=-1)
        scores, tops = [], []
        for labs, ps in zip(labels, probs):
            p = dict(zip(labs, ps))
            scores.append(float(min(p.get(LABEL_POSITIVE, 0.0), 1.0)))
            tops.append(labs[0].removeprefix("__label__") if len(labs) else "")
        return scores, tops

    def process(self, table: pa.Table) -> StageResult:
        n = table.num_rows
        texts = [t or "" for t in table.column("text").to_pylist()]
        langs = table.column("language").to_pylist() if "language" in table.column_names else [None] * n
        cfgs: list[QualityConfig] = [self.config.for_language(lang) for lang in langs]  # type: ignore[misc]
        groups: dict[tuple[str, int], list[int]] = defaultdict(list)
        counters: Counter = Counter()
        for i, cfg in enumerate(cfgs):
            if cfg.model_path is None:
                counters["quality:unscored"] += 1
            else:
                groups[(cfg.model_path, cfg.max_chars)].append(i)
        scores: list[float | None] = (table.column("quality_score").to_pylist() if "quality_score" in table.column_names
                                      else [None] * n)
        metas = metadata_dicts(table)
        for (path, max_chars), rows in groups.items():
            got, tops = self.score(path, [texts[i] for i in rows], max_chars)
            for i, s, top in zip(rows, got, tops):
                scores[i] = s
                metas[i]["quality_label"] = top
                counters[f"quality_label:{top}"] += 1
        reasons = [None if cfg.threshold is None or s is None or s >= cfg.threshold else "quality:low_score"
                   for cfg, s in zip(cfgs, scores)]
        table = set_column(table, "quality_score", pa.array(scores, pa.float32()))
        if groups:
            table = set_column(table, "metadata", dump_metadata(metas))
        return self.split(table, reasons, counters)
