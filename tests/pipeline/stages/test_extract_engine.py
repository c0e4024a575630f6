"""The ``extract.engine`` choice: trafilatura (default) and resiliparse give the same contract."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest
from pydantic import ValidationError

from conftest import article
from webrefinery.pipeline.stages.extract import Extract, ExtractConfig


def _table(pages: list[str]) -> pa.Table:
    return pa.table({"id": [str(i) for i in range(len(pages))], "url": [f"http://e.com/{i}" for i in range(len(pages))],
                     "html": pages, "metadata": [None] * len(pages)})


def test_default_engine_is_trafilatura():
    assert ExtractConfig().engine == "trafilatura"
    with pytest.raises(ValidationError):
        ExtractConfig(engine="boilerpipe")


@pytest.mark.parametrize("engine", ["trafilatura", "resiliparse"])
def test_engine_keeps_title_and_body_drops_boilerplate(engine):
    pytest.importorskip(engine)
    html = article("Library plans approved").decode()
    script_only = "<html><body><script>var x = 1;</script></body></html>"
    res = Extract(ExtractConfig(engine=engine)).process(_table([html, "", script_only]))
    assert res.kept.num_rows == 1
    text = res.kept.column("text")[0].as_py()
    assert text.startswith("Library plans approved\n")
    assert "Paragraph 11 about Library plans approved" in text
    assert "Copyright 2024" not in text and "Home" not in text.split("\n")
    assert json.loads(res.kept.column("metadata")[0].as_py())["title"] == "Library plans approved"
    assert "html" not in res.kept.column_names
    assert res.rejected.column("reason").to_pylist() == ["empty", "no_text"]


def test_resiliparse_title_switch_and_chinese():
    body = "".join(f"<p>这是关于图书馆的第{i}段文字，内容介绍了城市的发展历史和今天的生活情况。</p>" for i in range(8))
    html = f"<html><head><title>市图书馆新闻</title></head><body><article>{body}</article></body></html>"
    for include_title, first in [(True, "市图书馆新闻"), (False, "这是关于图书馆的第0段文字")]:
        res = Extract(ExtractConfig(engine="resiliparse", include_title=include_title)).process(_table([html]))
        text = res.kept.column("text")[0].as_py()
        assert text.startswith(first)
        assert "这是关于图书馆的第7段文字" in text


def test_missing_engine_is_a_config_error(monkeypatch):
    import importlib.util

    from webrefinery.pipeline.core.errors import ConfigError

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "resiliparse" else real(name, *a))
    Extract(ExtractConfig(fallback="full")).check()
    with pytest.raises(ConfigError, match="extract.engine: resiliparse is not installed"):
        Extract(ExtractConfig(engine="resiliparse")).check()
    with pytest.raises(ConfigError, match="extract.fallback: resiliparse is not installed"):
        Extract(ExtractConfig()).check()
