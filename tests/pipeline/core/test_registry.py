"""Stages come from entry points: the project's own, and a third-party package's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq

from webrefinery.pipeline.core.config import DEFAULT_PIPELINE
from webrefinery.pipeline.core.registry import STAGE_GROUP, STAGES, discover, stage_class
from webrefinery.pipeline.core.stage import Stage

PLUGIN = '''
import pyarrow as pa
from webrefinery.pipeline.core.schema import set_column
from webrefinery.pipeline.core.stage import Stage, StageConfig, StageResult


class ShoutConfig(StageConfig):
    suffix: str = "!"


class Shout(Stage):
    """A third-party stage: upper-cases every document."""

    name = "shout"
    Config = ShoutConfig
    probe = {"text": ["probe"]}

    def process(self, table):
        texts = [(t or "").upper() + self.config.suffix for t in table.column("text").to_pylist()]
        return StageResult(set_column(table, "text", pa.array(texts, pa.string())))
'''


def test_every_default_stage_is_registered_and_is_a_stage():
    assert set(DEFAULT_PIPELINE) <= set(STAGES)
    for name in STAGES:
        cls = stage_class(name)
        assert issubclass(cls, Stage) and cls.name == name


def install_plugin(site: Path) -> None:
    """A package on ``site`` that registers the stage ``shout`` through the entry-point group."""
    (site / "shout_plugin.py").write_text(PLUGIN)
    info = site / "shout_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: shout-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{STAGE_GROUP}]\nshout = shout_plugin:Shout\n")


def test_third_party_stage_registers_through_an_entry_point(tmp_path, monkeypatch):
    site = tmp_path / "site"
    site.mkdir()
    install_plugin(site)
    monkeypatch.syspath_prepend(str(site))
    assert discover(STAGE_GROUP)["shout"] == "shout_plugin:Shout"
    # end to end, as a user would run it: config section validated, stage run, output written
    (tmp_path / "in.jsonl").write_text(json.dumps({"id": "a", "text": "hello", "language": "en"}) + "\n")
    (tmp_path / "c.yaml").write_text("pipeline: [shout]\nshout: {suffix: '?!'}\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    run = [sys.executable, "-m", "webrefinery.pipeline.cli"]
    proc = subprocess.run([*run, "run", "-c", tmp_path / "c.yaml", "-i", tmp_path / "in.jsonl",
                           "-o", tmp_path / "out", "-q"], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert pq.read_table(tmp_path / "out" / "data" / "part-00000.parquet").column("text").to_pylist() == ["HELLO?!"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("pipeline: [shout]\nshout: {sufix: x}\n")
    proc = subprocess.run([*run, "run", "-c", bad, "-i", tmp_path / "in.jsonl", "-o", tmp_path / "out2"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "shout.sufix" in proc.stderr
    assert "shout" in subprocess.run([*run, "--help"], env=env, capture_output=True, text=True).stdout
