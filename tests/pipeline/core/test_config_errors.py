"""Config mistakes that used to pass silently are errors naming the line (issue 16, item 13)."""

from __future__ import annotations

import pytest

from conftest import ROOT
from webrefinery.pipeline.core.config import load_config
from webrefinery.pipeline.core.errors import ConfigError


def test_duplicate_key_is_an_error_naming_its_line(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("langid:\n  threshold: 0.5\nfilter: {}\nlangid:\n  threshold: 0.9\n")
    with pytest.raises(ConfigError, match=r"c.yaml is not valid YAML at line 4, column 1: duplicate key 'langid'"):
        load_config(cfg)
    nested = tmp_path / "n.yaml"
    nested.write_text("langid:\n  threshold: 0.5\n  threshold: 0.9\n")
    with pytest.raises(ConfigError, match="line 3, column 3: duplicate key 'threshold'"):
        load_config(nested)


def test_configs_shipped_with_the_project_have_no_duplicate_keys():
    from conftest import ROOT

    for cfg in sorted((ROOT / "configs").glob("*.yaml")):
        load_config(cfg)


def test_configs_default_yaml_is_the_built_in_defaults():
    """`refinery run` without --config says it uses the same settings as configs/default.yaml."""
    assert load_config(ROOT / "configs" / "default.yaml").hash() == load_config(None).hash()
