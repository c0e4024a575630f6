"""Rule filters register themselves: the package's own by their module, others by entry point."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pyarrow.parquet as pq

from webrefinery.filters.base import FILTER_GROUP, RuleFilter
from webrefinery.filters.cascade import FILTERS, RuleFiltersConfig

PLUGIN = '''
from pydantic import Field
from webrefinery.filters.base import FilterConfig, RuleFilter


class NoDigitsConfig(FilterConfig):
    max_digits: int = Field(3, ge=0)


class NoDigits(RuleFilter):
    """A third-party rule: drops documents with more than ``max_digits`` digits."""

    name = "no_digits"
    order = 5
    Config = NoDigitsConfig

    def apply(self, doc, counters):
        return "no_digits:too_many" if sum(ch.isdigit() for ch in doc.text) > self.config.max_digits else None
'''


def test_builtin_filters_in_cascade_order_each_with_its_section():
    assert list(FILTERS) == ["mojibake", "chinese", "sensitive_words", "gopher_repetition", "gopher_quality",
                             "refinedweb_lines", "c4", "fineweb"]
    config = RuleFiltersConfig()
    for name, cls in FILTERS.items():
        assert issubclass(cls, RuleFilter) and isinstance(getattr(config, name), cls.Config)


def test_third_party_filter_is_one_file_and_an_entry_point(tmp_path):
    site = tmp_path / "site"
    (site / "nodigits-0.1.dist-info").mkdir(parents=True)
    (site / "nodigits.py").write_text(PLUGIN)
    (site / "nodigits-0.1.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: nodigits\nVersion: 0.1\n")
    (site / "nodigits-0.1.dist-info" / "entry_points.txt").write_text(f"[{FILTER_GROUP}]\nno_digits = nodigits:NoDigits\n")
    rows = [{"id": "a", "text": "no numbers here at all", "language": "xx"},
            {"id": "b", "text": "call 555 1234 now", "language": "xx"}]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    # every built-in filter off except the plugin: its config section is validated like any other
    off = {name: {"enabled": False} for name in FILTERS}
    (tmp_path / "c.yaml").write_text(json.dumps({"pipeline": ["filter"], "filter": {**off, "no_digits": {"max_digits": 2}}}))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-m", "webrefinery.pipeline.cli", "run", "-c", tmp_path / "c.yaml",
                           "-i", tmp_path / "in.jsonl", "-o", tmp_path / "out", "-q"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert pq.read_table(tmp_path / "out" / "data" / "part-00000.parquet").column("id").to_pylist() == ["a"]
    rejected = pq.read_table(next((tmp_path / "out" / "rejected").glob("*.parquet")))
    assert rejected.column("reason").to_pylist() == ["no_digits:too_many"]
