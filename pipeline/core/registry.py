"""Stage and command registry: names → ``module:object``, imported lazily.

Every stage and extra command of the project is listed here once, so the CLI, the config
validator and both executors find them without importing heavy modules up front.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

from webrefinery.pipeline.core.errors import ConfigError

#: stage name → "module:Class"; order = the default pipeline order of DESIGN.md
STAGES: dict[str, str] = {
    "read": "webrefinery.pipeline.stages.read:Read",
    "urlfilter": "webrefinery.pipeline.stages.urlfilter:URLFilter",
    "extract": "webrefinery.pipeline.stages.extract:Extract",
    "langid": "webrefinery.pipeline.stages.langid:LangID",
    "normalize": "webrefinery.pipeline.stages.normalize:Normalize",
    "filter": "webrefinery.filters.cascade:RuleFilters",
    "quality": "webrefinery.filters.quality:QualityFilter",
    "pii": "webrefinery.pipeline.stages.pii:PIIRedact",
    "dedup": "webrefinery.dedup.stage:Dedup",
}

#: extra CLI commands: name → "module:add_parser" (a function that adds its subparser)
COMMANDS: dict[str, str] = {
    "train-quality": "webrefinery.filters.train_quality:add_parser",
    "train-tokenizer": "webrefinery.tokenizer_training.train:add_parser",
    "tokenize": "webrefinery.tokenizer_training.tokenize:add_parser",
    "card": "webrefinery.pipeline.card.render:add_parser",
    "verify": "webrefinery.pipeline.io.manifest:add_verify_parser",
}


def load_object(spec: str) -> Any:
    module, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module), attr)


def stage_class(name: str) -> type:
    """The Stage class registered as ``name`` (ConfigError naming the choices if unknown)."""
    if name not in STAGES:
        raise ConfigError(f"unknown stage {name!r}; known stages: {', '.join(STAGES)}")
    return load_object(STAGES[name])


def available(spec: str) -> bool:
    """True when the module behind ``spec`` exists (lets a partial checkout still run)."""
    return importlib.util.find_spec(spec.partition(":")[0]) is not None
