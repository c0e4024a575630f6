"""What a run may do to its output directory (issue 16, items 6 and 13)."""

from __future__ import annotations

import json

from conftest import ROOT

PII_ONLY = ROOT / "tests" / "data" / "pii_only.yaml"


def write_input(path):
    path.write_text(json.dumps({"id": "a", "text": "hello world", "language": "en"}) + "\n")
    return path


def test_overwrite_refuses_a_directory_that_is_not_a_refinery_output(cli, tmp_path):
    out = tmp_path / "precious"
    out.mkdir()
    (out / "thesis.tex").write_text("years of work")
    code, _, err = cli("run", "-c", PII_ONLY, "-i", write_input(tmp_path / "in.jsonl"), "-o", out, "--overwrite")
    assert code == 2 and "not a refinery output" in err and "not deleted" in err
    assert (out / "thesis.tex").read_text() == "years of work"
    code, _, err = cli("run", "-c", PII_ONLY, "-i", tmp_path / "in.jsonl", "-o", out)
    assert code == 2 and "not a refinery run" in err and "--overwrite" not in err


def test_overwrite_replaces_a_refinery_output(cli, tmp_path):
    src = write_input(tmp_path / "in.jsonl")
    out = tmp_path / "out"
    assert cli("run", "-c", PII_ONLY, "-i", src, "-o", out, "-q")[0] == 0
    (out / "stray.txt").write_text("left by hand")
    assert cli("run", "-c", PII_ONLY, "-i", src, "-o", out, "-q", "--overwrite")[0] == 0
    assert not (out / "stray.txt").exists() and (out / "manifest.json").is_file()


def test_input_inside_the_output_is_refused_and_kept(cli, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    src = write_input(out / "in.jsonl")
    for extra in ([], ["--overwrite"]):
        code, _, err = cli("run", "-c", PII_ONLY, "-i", src, "-o", out, *extra)
        assert code == 2 and "lies inside the output directory" in err
    assert src.is_file()


def test_output_that_is_a_file_is_a_clear_error(cli, tmp_path):
    out = tmp_path / "out"
    out.write_text("")
    code, _, err = cli("run", "-c", PII_ONLY, "-i", write_input(tmp_path / "in.jsonl"), "-o", out)
    assert code == 2 and "is a file" in err


def test_verify_says_a_run_killed_after_the_manifest_is_incomplete(cli, tmp_path):
    out = tmp_path / "out"
    assert cli("run", "-c", PII_ONLY, "-i", write_input(tmp_path / "in.jsonl"), "-o", out, "-q")[0] == 0
    assert cli("verify", out)[0] == 0
    (out / "_work" / "complete.json").unlink()  # as if killed between manifest.json and the end
    code, stdout, _ = cli("verify", out)
    assert code == 1 and "run incomplete" in stdout


def test_verify_tells_a_wrong_path_an_unfinished_run_and_another_directory_apart(cli, tmp_path):
    code, _, err = cli("verify", tmp_path / "nowhere")
    assert code == 2 and "does not exist" in err
    (tmp_path / "photos").mkdir()
    code, _, err = cli("verify", tmp_path / "photos")
    assert code == 2 and "is not a refinery output" in err
    out = tmp_path / "out"
    assert cli("run", "-c", PII_ONLY, "-i", write_input(tmp_path / "in.jsonl"), "-o", out, "-q")[0] == 0
    (out / "manifest.json").unlink()  # as if killed before the manifest
    code, stdout, _ = cli("verify", out)
    assert code == 1 and "the run has not finished (rerun the same command" in stdout
