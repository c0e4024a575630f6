"""``executor.work_dir`` (issue 17 item 1): the work files (task parts, dedup keys, task stats,
reduce outputs) elsewhere than ``OUT/_work`` — a local scratch directory, or the moto S3
server (``s3_server`` in tests/conftest.py) — with the output's markers left in ``OUT/_work``.
Same ``data/`` byte for byte, resume, ``--overwrite``, one run per output, no collisions."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from webrefinery.pipeline.core.config import build_config
from webrefinery.pipeline.core.errors import ConfigError
from webrefinery.pipeline.io.manifest import verify
from webrefinery.pipeline.io.storage import StoragePath
from webrefinery.pipeline.runtime import runner
from test_lock import plant_lease
from test_object_storage import KILL_PIPELINE, assert_same
from test_resume_faults import ROOT, SAMPLE_CRAWL, _kill_tree, _refinery, split_warc

#: a reduce (dedup) and a second segment, no models: seconds per run
PIPELINE = ["read", "dedup"]
TEXTS = [f"Document {i} says the council met on day {i % 5} to discuss the library, parks and roads."
         for i in range(10)]


@pytest.fixture
def inputs(tmp_path) -> Path:
    """Three JSONL files (three tasks); documents repeat across them, so dedup drops some."""
    d = tmp_path / "in"
    d.mkdir()
    for f in range(3):
        rows = [{"id": f"{f}-{i}", "text": TEXTS[(i * (f + 1)) % len(TEXTS)], "language": "en"} for i in range(6)]
        (d / f"part{f}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return d


def config(work_dir: str | None):
    return build_config({"pipeline": PIPELINE, "executor": {"batch_size": 4, "work_dir": work_dir}})


def write_config(path: Path, work_dir: str | None, **executor) -> Path:
    path.write_text(yaml.safe_dump({"pipeline": PIPELINE,
                                    "executor": {"batch_size": 4, **executor, "work_dir": work_dir}}))
    return path


def run_json(out: str | Path) -> dict:
    return json.loads((StoragePath.of(out) / "_work/run.json").read_text())


def run_dir(out: str | Path) -> StoragePath:
    """The work directory the output's run.json names."""
    rec = run_json(out)
    return StoragePath.of(rec["work_dir"]) / f"{StoragePath.of(out).name}-{rec['run_id']}"


def assert_work_files_moved(out: str | Path, work: StoragePath) -> None:
    """The markers stay in OUT/_work; task stats and the reduce's files are in ``work``, only."""
    names = sorted(p.name for p in (StoragePath.of(out) / "_work").iterdir())
    assert names == ["complete.json", "run.json"], names
    assert len(work.glob("seg0/stats-*.json")) == 3 and len(work.glob("seg1/stats-*.json")) == 3
    assert (work / "reduce-dedup/done").is_file() and len(work.glob("reduce-dedup/decisions/keys-*.parquet")) == 3
    assert not work.glob("seg*/part-*.parquet")  # intermediate rows deleted at the end, as under OUT/_work


def test_local_work_dir_outside_the_output_gives_identical_output(cli, inputs, tmp_path):
    ref, out, other = tmp_path / "ref", tmp_path / "out", tmp_path / "other"
    scratch = tmp_path / "scratch"
    assert cli("run", "-c", write_config(tmp_path / "ref.yaml", None), "-i", inputs, "-o", ref, "-q")[0] == 0
    config_file = write_config(tmp_path / "c.yaml", str(scratch))
    code, _, err = cli("run", "-c", config_file, "-i", inputs, "-o", out, "-q")
    assert code == 0, err
    assert json.loads((ref / "stats.json").read_text())["stages"][1]["docs_out"] < 18  # dedup dropped some
    assert_same(str(out), str(ref))
    rec = run_json(out)
    assert rec["work_dir"] == str(scratch) and len(rec["run_id"]) == 12
    assert_work_files_moved(out, run_dir(out))
    assert yaml.safe_load((out / "config.yaml").read_text())["executor"]["work_dir"] == str(scratch)
    assert cli("verify", out)[0] == 0
    # a second output with the same work_dir gets its own subdirectory
    assert cli("run", "-c", config_file, "-i", inputs, "-o", other, "-q")[0] == 0
    assert sorted(p.name for p in StoragePath.of(scratch).iterdir()) == sorted(
        [f"out-{rec['run_id']}", f"other-{run_json(other)['run_id']}"])
    assert_same(str(other), str(ref))
    # a finished run: the rerun has nothing to do, even with another work_dir
    before = (out / "manifest.json").read_bytes()
    assert cli("run", "-c", write_config(tmp_path / "d.yaml", str(tmp_path / "x")), "-i", inputs, "-o", out,
               "-q")[0] == 0
    assert (out / "manifest.json").read_bytes() == before and not (tmp_path / "x").exists()


def test_work_dir_on_s3_with_a_local_output(cli, inputs, tmp_path, s3_bucket, s3_server):
    ref, out = tmp_path / "ref", tmp_path / "out"
    assert cli("run", "-c", write_config(tmp_path / "ref.yaml", None), "-i", inputs, "-o", ref, "-q")[0] == 0
    work = f"{s3_bucket}/scratch"  # given on the command line this time, over the config's null
    code, _, err = cli("run", "-c", write_config(tmp_path / "c.yaml", None), "-i", inputs, "-o", out, "--work-dir", work)
    assert code == 0, err
    assert_same(str(out), str(ref))
    assert run_json(out)["work_dir"] == work
    assert_work_files_moved(out, run_dir(out))
    secret = s3_server["AWS_SECRET_ACCESS_KEY"]
    assert secret not in err
    for p in [*out.glob("*.*"), *out.glob("_work/*.json")]:
        assert secret.encode() not in p.read_bytes(), p


def test_local_work_dir_with_the_output_on_s3(cli, inputs, tmp_path, s3_bucket):
    ref, out = tmp_path / "ref", f"{s3_bucket}/out"
    assert cli("run", "-c", write_config(tmp_path / "ref.yaml", None), "-i", inputs, "-o", ref, "-q")[0] == 0
    config_file = write_config(tmp_path / "c.yaml", str(tmp_path / "scratch"))
    code, _, err = cli("run", "-c", config_file, "-i", inputs, "-o", out, "-q")
    assert code == 0, err
    assert_same(out, str(ref))
    assert_work_files_moved(out, run_dir(out))
    assert cli("verify", out)[0] == 0


def _killed_before_finish(monkeypatch, config, inputs: Path, out: Path) -> None:
    """Run until the shards would be written, stop as a kill would, and drop the markers of
    one task of each segment and of the reduce, so that the rerun redoes exactly those."""
    def killed(state):
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(runner, "finish", killed)
        with pytest.raises(KeyboardInterrupt):
            runner.run(config, [str(inputs)], out, quiet=True)
    work = run_dir(out)
    for name in ("seg0/stats-00001.json", "seg1/stats-00002.json", "reduce-dedup/done"):
        (work / name).unlink()


def test_resume_keeps_the_work_dir_and_refuses_another(inputs, tmp_path, monkeypatch):
    ref, out = tmp_path / "ref", tmp_path / "out"
    a, b = str(tmp_path / "scratch-a"), str(tmp_path / "scratch-b")
    runner.run(config(None), [str(inputs)], ref, quiet=True)
    _killed_before_finish(monkeypatch, config(a), inputs, out)
    kept = {p.name: p.read_bytes() for p in run_dir(out).glob("seg0/stats-*.json")}
    assert len(kept) == 2
    for other, shown in ((b, b), (None, "null")):
        with pytest.raises(ConfigError, match=f"started with executor.work_dir {a}.*this run has {shown}.*same "
                                              "executor.work_dir, or use --overwrite"):
            runner.run(config(other), [str(inputs)], out, quiet=True)
    assert not Path(b).exists()
    runner.run(config(a), [str(inputs)], out, quiet=True)  # the same work_dir: resumes
    assert {n: (run_dir(out) / "seg0" / n).read_bytes() for n in kept} == kept, "finished tasks were redone"
    assert_same(str(out), str(ref))
    assert verify(out) == []


def test_overwrite_deletes_the_recorded_work_dir(cli, inputs, tmp_path):
    out = tmp_path / "out"
    a, b = tmp_path / "scratch-a", tmp_path / "scratch-b"
    (a / "unrelated").mkdir(parents=True)  # another user of the same scratch root: left alone
    assert cli("run", "-c", write_config(tmp_path / "a.yaml", str(a)), "-i", inputs, "-o", out, "-q")[0] == 0
    first = run_dir(out)
    assert first.is_dir()
    code, _, err = cli("run", "-c", write_config(tmp_path / "b.yaml", str(b)), "-i", inputs, "-o", out, "-q",
                       "--overwrite")
    assert code == 0, err
    assert not first.exists() and (a / "unrelated").is_dir()
    assert run_json(out)["work_dir"] == str(b) and run_dir(out).is_dir()
    assert_work_files_moved(out, run_dir(out))


def test_second_run_on_one_output_is_refused_whatever_its_work_dir(cli, inputs, tmp_path):
    out, a, b = tmp_path / "out", tmp_path / "scratch-a", tmp_path / "scratch-b"
    assert cli("run", "-c", write_config(tmp_path / "a.yaml", str(a)), "-i", inputs, "-o", out, "-q")[0] == 0
    first = run_dir(out)
    plant_lease(out)  # the parent process (alive) holds the output: the lease is in OUT/_work
    for extra in ([], ["--overwrite"]):
        code, _, err = cli("run", "-c", write_config(tmp_path / "b.yaml", str(b)), "-i", inputs, "-o", out, *extra)
        assert code == 2 and "in use by another run" in err
    assert first.is_dir() and (out / "manifest.json").is_file() and not b.exists()


def test_work_dir_that_cannot_work_is_refused_at_start(cli, inputs, tmp_path, monkeypatch):
    out = tmp_path / "out"
    code, _, err = cli("run", "-c", write_config(tmp_path / "c.yaml", str(out / "tmp")), "-i", inputs, "-o", out)
    assert code == 2 and "lies inside the output" in err
    scratch = str(tmp_path / "scratch")
    config_file = write_config(tmp_path / "ray.yaml", scratch, kind="ray")
    for args, env in ((["--address", "ray://head:10001"], None), ([], "10.0.0.1:6379")):
        with monkeypatch.context() as m:
            if env:
                m.setenv("RAY_ADDRESS", env)  # as `ray job submit` sets it
            else:
                m.delenv("RAY_ADDRESS", raising=False)
            code, _, err = cli("run", "-c", config_file, "-i", inputs, "-o", out, *args)
        assert code == 2 and "is a local path, but the Ray executor joins the cluster" in err
        assert f"file://{scratch}" in err and not out.exists()
    shared = build_config({"executor": {"kind": "ray", "work_dir": f"file://{scratch}",
                                        "ray": {"address": "ray://head:10001"}}})
    assert runner._work_root(shared, StoragePath.of(out)) == StoragePath.of(scratch)  # every node mounts it
    own_ray = build_config({"executor": {"kind": "ray", "work_dir": scratch}})
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert runner._work_root(own_ray, StoragePath.of(out)) == StoragePath.of(scratch)  # one machine


def test_password_in_the_work_dir_url_is_refused():
    with pytest.raises(ConfigError, match="executor.work_dir: .*password.*environment"):
        build_config({"executor": {"work_dir": "s3://AKIA:hunter2@bucket/scratch"}})
    with pytest.raises(ConfigError, match="executor.work_dir: .*at least 1 character"):
        build_config({"executor": {"work_dir": ""}})


@pytest.mark.slow  # ≈60 s on a 2-core machine: two subprocess runs that load the langid model, and a reference
def test_killed_run_resumes_from_the_external_work_dir(tmp_path):
    """SIGKILL ``refinery run`` once a task's marker is in the external work directory; the
    rerun skips that task and ends identical to an undisturbed run."""
    inputs = tmp_path / "in"
    split_warc(SAMPLE_CRAWL, inputs, 3, copies=2)
    work = tmp_path / "scratch"
    config = tmp_path / "config.yaml"
    config.write_text(json.dumps({"pipeline": KILL_PIPELINE,
                                  "executor": {"batch_size": 2, "workers": 2, "work_dir": str(work)}}))
    out = tmp_path / "out"
    proc = subprocess.Popen(_refinery(inputs, out, config), env=dict(os.environ), cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 180
    while not list(work.glob("*/seg0/stats-*.json")):
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        assert time.monotonic() < deadline, "no task finished in time"
        time.sleep(0.02)
    _kill_tree(proc)
    seg = run_dir(out) / "seg0"
    done = {p.name: p.read_bytes() for p in seg.glob("stats-*.json")}
    assert 0 < len(done) < 6 and not (out / "_work/complete.json").exists()
    assert (out / "_work/lock.json").is_file() and not (out / "_work/seg0").exists()
    rerun = subprocess.run(_refinery(inputs, out, config), env=dict(os.environ), cwd=ROOT, capture_output=True,
                           timeout=180)
    assert rerun.returncode == 0, rerun.stderr.decode()[-2000:]
    assert {n: (seg / n).read_bytes() for n in done} == done, "finished tasks were redone"
    ref = tmp_path / "ref"
    runner.run(build_config({"pipeline": KILL_PIPELINE, "executor": {"batch_size": 2}}), [str(inputs)], ref,
               quiet=True)
    assert_same(str(out), str(ref))
    assert verify(out) == []


@pytest.mark.ray
def test_ray_executor_with_the_work_dir_on_s3(inputs, tmp_path, s3_bucket, monkeypatch):
    """Ray's actors write the parts and keys to the bucket, its distributed dedup reduce reads
    them there: the same output as the local executor with the default work directory."""
    monkeypatch.delenv("RAY_ADDRESS", raising=False)  # the run starts a Ray of its own
    ref, out = tmp_path / "ref", tmp_path / "out"
    runner.run(config(None), [str(inputs)], ref, quiet=True)
    ray_config = build_config({"pipeline": PIPELINE, "executor": {
        "kind": "ray", "batch_size": 4, "work_dir": f"{s3_bucket}/scratch",
        "ray": {"actor_pool_size": 2, "object_store_memory_mb": 128}}})
    stats = runner.run(ray_config, [str(inputs)], out, quiet=True)
    assert stats["run"]["executor"] == "ray"
    assert_same(str(out), str(ref))
    assert_work_files_moved(out, run_dir(out))
