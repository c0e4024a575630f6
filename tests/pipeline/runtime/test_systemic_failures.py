"""A broken environment fails loudly: the start-up self-test, the circuit breaker, exit
codes, and a resume that processes the documents once the cause is fixed (issue 13)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import ROOT
from webrefinery.pipeline.cli import EXIT_SYSTEMIC
from webrefinery.pipeline.core.errors import StageFailure
from webrefinery.pipeline.stages.extract import Extract
from webrefinery.pipeline.stages.pii import PIIRedact
from webrefinery.pipeline.core.registry import STAGES, stage_class
from webrefinery.pipeline.core.stage import PROBE_TEXT, RunContext
from webrefinery.pipeline.core.stats import StageStats
from webrefinery.pipeline.runtime.task import StageRunner

PII_ONLY = ROOT / "tests" / "data" / "pii_only.yaml"


def write_docs(path: Path, n: int, poison_every: int | None = None) -> Path:
    """``n`` JSONL documents; every ``poison_every``-th one carries the word POISON."""
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            bad = poison_every is not None and i % poison_every == poison_every - 1
            text = f"Document {i}. {PROBE_TEXT}" + (" POISON" if bad else "")
            f.write(json.dumps({"id": f"d{i:04d}", "text": text, "language": "en"}) + "\n")
    return path


@pytest.fixture
def poisoned_pii(monkeypatch):
    """PII redaction raises ValueError on every document that contains POISON."""
    original = PIIRedact.process

    def process(self, table):
        if any("POISON" in (t or "") for t in table.column("text").to_pylist()):
            raise ValueError("backend exploded")
        return original(self, table)

    monkeypatch.setattr(PIIRedact, "process", process)
    return monkeypatch


def out_ids(out: Path) -> list[str]:
    return sorted(pa.concat_tables([pq.read_table(p) for p in (out / "data").glob("*.parquet")])
                  .column("id").to_pylist())


def test_every_stage_passes_its_self_test(tmp_path):
    """In the project's own environment every registered stage's backend works."""
    ctx = RunContext(tmp_path, tmp_path / "_work", quiet=True)
    bench = tmp_path / "bench.jsonl"  # decontam has no default benchmark: it needs one to start
    question = "which planet of the solar system is known as the red planet because of its iron oxide dust"
    bench.write_text(json.dumps({"question": question}) + "\n")
    for name in STAGES:
        cls = stage_class(name)
        stage = cls(cls.Config(benchmarks=[str(bench)]) if name == "decontam" else None, ctx)
        stage.check()
        stage.self_test()


def test_import_error_stops_run_at_start_up(cli, tmp_path, monkeypatch):
    def broken(self, html, url):
        raise ModuleNotFoundError("No module named 'lxml_html_clean'", name="lxml_html_clean")

    monkeypatch.setattr(Extract, "_trafilatura", broken)
    t0 = time.perf_counter()
    code, _, err = cli("run", "-i", write_docs(tmp_path / "in.jsonl", 5), "-o", tmp_path / "out")
    assert code == EXIT_SYSTEMIC
    assert time.perf_counter() - t0 < 30
    assert "extract (start-up self-test): trafilatura cannot import lxml_html_clean" in err
    assert "ModuleNotFoundError" in err and "pip install -c requirements.lock" in err
    assert not (tmp_path / "out" / "data").exists()


def test_engine_that_extracts_nothing_fails_self_test(monkeypatch, tmp_path):
    monkeypatch.setattr(Extract, "_trafilatura", lambda self, html, url: (None, None))
    with pytest.raises(StageFailure, match="extracted no text"):
        Extract(None, RunContext(tmp_path, tmp_path)).self_test()


def test_unimportable_module_in_a_real_subprocess(tmp_path, sample_warc):
    """The defect as a new user met it: lxml_html_clean missing → exit ≠ 0 in seconds."""
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "lxml_html_clean.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'lxml_html_clean'\", name='lxml_html_clean')\n")
    env = {**os.environ, "PYTHONPATH": str(shadow)}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "webrefinery.pipeline.cli", "run", "-c", ROOT / "configs" / "default.yaml",
                           "-i", sample_warc, "-o", tmp_path / "out"], env=env, capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert proc.returncode == EXIT_SYSTEMIC, proc.stderr
    assert time.perf_counter() - t0 < 30
    assert "extract" in proc.stderr and "lxml_html_clean" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_systemic_error_mid_run_fails_the_task(tmp_path, monkeypatch):
    """ImportError raised while processing (not at start-up) fails at once, not per document."""
    runner = StageRunner(PIIRedact(), StageStats("pii"))

    def process(table):
        raise ImportError("No module named 'phonenumbers'", name="phonenumbers")

    monkeypatch.setattr(runner.stage, "process", process)
    table = pa.table({"id": ["a", "b"], "text": ["x", "y"]})
    with pytest.raises(StageFailure, match="pii .*f.jsonl, document a.*phonenumbers cannot import phonenumbers"):
        runner(table, "f.jsonl")
    assert runner.seen == 1


def test_breaker_trips_on_every_document_then_resume_processes_them(cli, tmp_path, poisoned_pii):
    src = write_docs(tmp_path / "in.jsonl", 200, poison_every=1)
    out = tmp_path / "out"
    code, _, err = cli("run", "-c", PII_ONLY, "-i", src, "-o", out, "-q")
    assert code == EXIT_SYSTEMIC
    assert "pii: phonenumbers raised ValueError on 20 documents in a row" in err
    assert not (out / "_work" / "complete.json").exists() and not (out / "manifest.json").exists()
    # the environment is fixed: the same command resumes and processes every document
    poisoned_pii.undo()
    code, _, err = cli("run", "-c", PII_ONLY, "-i", src, "-o", out, "-q")
    assert code == 0, err
    assert out_ids(out) == [f"d{i:04d}" for i in range(200)]


def test_breaker_trips_on_error_fraction(cli, tmp_path, poisoned_pii):
    """One document in 10 raising is never 20 in a row, but is far above 5 %."""
    code, _, err = cli("run", "-c", PII_ONLY, "-i", write_docs(tmp_path / "in.jsonl", 600, poison_every=10),
                       "-o", tmp_path / "out", "-q")
    assert code == EXIT_SYSTEMIC
    assert "ValueError on 51 of 512 documents (> executor.max_error_fraction=0.05)" in err


def test_one_poison_document_in_500_is_rejected_and_run_succeeds(cli, tmp_path, poisoned_pii):
    out = tmp_path / "out"
    code, _, err = cli("run", "-c", PII_ONLY, "-i", write_docs(tmp_path / "in.jsonl", 500, poison_every=500),
                       "-o", out, "-q")
    assert code == 0, err
    assert len(out_ids(out)) == 499
    rejected = pq.read_table(next((out / "rejected").glob("*.parquet")))
    assert rejected.column("id").to_pylist() == ["d0499"]
    assert rejected.column("reason").to_pylist() == ["error:ValueError"]
    stats = json.loads((out / "stats.json").read_text())
    assert stats["errors"]["count"] == 1


def test_zero_published_with_errors_warns(cli, tmp_path, poisoned_pii):
    """Three documents, all raising: below the breaker's thresholds, so the run finishes —
    and says that it published nothing although it counted errors."""
    src = write_docs(tmp_path / "in.jsonl", 3, poison_every=1)
    code, _, err = cli("run", "-c", PII_ONLY, "-i", src, "-o", tmp_path / "out")
    assert code == 0, err
    assert "published 0 documents: it had 3 errors" in err
