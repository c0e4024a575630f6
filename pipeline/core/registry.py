"""Stage and command registry: names → ``module:object``, from the entry-point groups
``webrefinery.stages`` and ``webrefinery.commands`` (``pyproject.toml``), imported lazily.

A package adds a stage without forking webrefinery by declaring an entry point in its own
``pyproject.toml``::

    [project.entry-points."webrefinery.stages"]
    my_filter = "my_package.my_module:MyFilter"

after which ``pipeline: [..., my_filter]`` and ``refinery my_filter`` work. The CLI, the
config validator and both executors find stages here without importing heavy modules up
front. The default pipeline order is defined once, in :mod:`webrefinery.pipeline.core.config`.
"""

from __future__ import annotations

import importlib
import importlib.util
from importlib.metadata import entry_points
from typing import Any

from webrefinery.pipeline.core.errors import ConfigError

STAGE_GROUP = "webrefinery.stages"
COMMAND_GROUP = "webrefinery.commands"


def discover(group: str) -> dict[str, str]:
    """name → "module:object" of every installed entry point in ``group``; two packages
    that register one name differently are an error, never a silent override."""
    found: dict[str, str] = {}
    for ep in entry_points(group=group):
        if found.get(ep.name, ep.value) != ep.value:
            raise ConfigError(f"two installed packages register {ep.name!r} in {group}: {found[ep.name]} and "
                              f"{ep.value}; uninstall one of them")
        found[ep.name] = ep.value
    return found


#: stage name → "module:Class" (tests may add their own)
STAGES: dict[str, str] = discover(STAGE_GROUP)
#: extra CLI commands: name → "module:add_parser" (a function that adds its subparser)
COMMANDS: dict[str, str] = discover(COMMAND_GROUP)


def load_object(spec: str) -> Any:
    module, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module), attr)


def stage_class(name: str) -> type:
    """The Stage class registered as ``name`` (ConfigError naming the choices if unknown)."""
    if name not in STAGES:
        known = ", ".join(sorted(STAGES)) or f"none (no {STAGE_GROUP} entry points: is webrefinery installed?)"
        raise ConfigError(f"unknown stage {name!r}; known stages: {known}")
    return load_object(STAGES[name])


def available(spec: str) -> bool:
    """True when the module behind ``spec`` exists (lets a partial checkout still run)."""
    return importlib.util.find_spec(spec.partition(":")[0]) is not None


def command_description(doc: str) -> str:
    """The description a command's ``--help`` shows: the first paragraph of its module's
    docstring, without reST's double backticks."""
    return doc.split("\n\n")[0].replace("``", "")
