"""Mistakes a user can fix end with one line and exit 2, found at start-up where possible
(issue 16, items 5, 11 and 13): an output directory that cannot be written, a full disk in
the dedup reduce (and the rerun resumes), language names the LID model does not know, a
model_path that is not a model, and config typos named by their full path and file."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from conftest import ROOT

CORE = ROOT / "tests" / "data" / "core.yaml"  # read → urlfilter → extract → langid


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("refinery: error: "), err
    return lines[0]


@pytest.fixture
def unwritable_dir(tmp_path) -> Path:
    """A directory this process may not create entries in: a read-only one, or, for root
    (which ignores permission bits), /sys, where even root cannot make a directory."""
    d = tmp_path / "ro"
    d.mkdir()
    d.chmod(0o555)
    if not os.access(d, os.W_OK):
        yield d
        d.chmod(0o755)
        return
    probe = Path("/sys/refinery-probe")
    try:
        probe.mkdir()
    except OSError:
        yield Path("/sys")
        return
    probe.rmdir()
    pytest.skip("no directory here refuses writes to this user")


def test_unwritable_output_is_one_line(cli, sample_warc, unwritable_dir):
    out = unwritable_dir / "out"
    code, _, err = cli("run", "-c", CORE, "-i", sample_warc, "-o", out, "-q")
    assert code == 2
    line = one_error_line(err)
    assert f"no permission for {out}" in line and "--output must be a writable directory" in line


def write_jsonl(path: Path, n: int) -> Path:
    """``n`` documents of unrelated words, every fourth one a copy of the one before (dedup
    removes those)."""
    vocab = [f"w{j}" for j in range(500)]
    texts = [" ".join(random.Random(i).choices(vocab, k=60)) for i in range(n)]
    texts = [texts[i - 1] if i % 4 == 3 else t for i, t in enumerate(texts)]
    path.write_text("".join(json.dumps({"id": f"d{i}", "text": t}) + "\n" for i, t in enumerate(texts)))
    return path


def test_disk_full_in_dedup_reduce_is_one_line_and_the_rerun_resumes(cli, tmp_path, monkeypatch):
    from webrefinery.dedup import local_reduce

    src = write_jsonl(tmp_path / "docs.jsonl", 40)
    cfg = tmp_path / "c.yaml"
    cfg.write_text("pipeline: [read, dedup]\n")
    clean, out = tmp_path / "clean", tmp_path / "out"
    assert cli("run", "-c", cfg, "-i", src, "-o", clean, "-q")[0] == 0

    real_path = local_reduce.Arrays.path
    # the reduce's first per-document file lands on /dev/full: every write fails with ENOSPC,
    # as on a full disk (numpy's tofile reported it as "N requested and 0 written", no errno)
    monkeypatch.setattr(local_reduce.Arrays, "path",
                        lambda self, name: Path("/dev/full") if name == "exact" else real_path(self, name))
    code, _, err = cli("run", "-c", cfg, "-i", src, "-o", out, "-q")
    assert code == 2
    assert "disk full while writing" in one_error_line(err) and "rerun the same command to resume" in err
    assert not (out / "_work" / "complete.json").exists()

    monkeypatch.undo()
    code, _, err = cli("run", "-c", cfg, "-i", src, "-o", out)
    assert code == 0, err
    assert "1 of 1 tasks already done (resuming)" in err
    assert (out / "data" / "part-00000.parquet").read_bytes() == (clean / "data" / "part-00000.parquet").read_bytes()
    assert pq.read_table(out / "data").num_rows == 30


def test_language_names_are_refused_at_start_up(cli, sample_warc, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(CORE.read_text() + "languages: [english, zh]\n")
    code, _, err = cli("run", "-c", cfg, "-i", sample_warc, "-o", tmp_path / "o", "-q")
    assert code == 2
    assert "languages: 'english' is not a label of the language-ID model lid.176.ftz; write 'en'" in one_error_line(err)
    assert not (tmp_path / "o" / "data").exists()


@pytest.mark.parametrize("content", [b"not a model\n", b"WARC/1.0\r\nWARC-Type: warcinfo\r\n\r\n" * 50])
def test_model_path_to_a_non_model_file_fails_the_start_up_check(cli, sample_warc, tmp_path, content):
    model = tmp_path / "lid.bin"
    model.write_bytes(content)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(CORE.read_text() + f"langid: {{model_path: {model}}}\n")
    code, _, err = cli("run", "-c", cfg, "-i", sample_warc, "-o", tmp_path / "o", "-q")
    assert code == 2
    assert f"langid.model_path: {model} is not a fastText model" in one_error_line(err)


@pytest.mark.parametrize("yaml_text,expect", [
    ("filter:\n  per_language:\n    zh: {min_wordz: 3}\n", "filter.per_language.zh.min_wordz: unknown key"),
    ("langid:\n  per_language:\n    zh: {threshold: 3}\n", "langid.per_language.zh.threshold: Input should be less"),
    ("pipeline: [read, extrct]\n", "pipeline: unknown stage 'extrct'"),
])
def test_config_typos_name_the_file_and_the_full_path(cli, sample_warc, tmp_path, yaml_text, expect):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml_text)
    code, _, err = cli("run", "-c", cfg, "-i", sample_warc, "-o", tmp_path / "o")
    assert code == 2
    assert f"config {cfg}: {expect}" in one_error_line(err)
