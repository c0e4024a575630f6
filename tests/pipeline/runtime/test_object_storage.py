"""``--output s3://…`` end to end against a real S3 protocol server (moto server mode, the
``s3_server`` fixture of tests/conftest.py): byte-identical to a local run, a killed run
resumes, ``verify`` on the bucket (issue 17); resume with another worker count and what
``split_bytes`` changes (issue 16 item 10)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from webrefinery.pipeline.core.config import build_config
from webrefinery.pipeline.core.errors import ConfigError
from webrefinery.pipeline.io.manifest import verify
from webrefinery.pipeline.io.storage import StoragePath
from webrefinery.pipeline.runtime import runner
from webrefinery.pipeline.runtime.runner import run
from test_resume_faults import ROOT, SAMPLE, SAMPLE_CRAWL, _kill_tree, _refinery, counts, split_warc

#: the default pipeline, dedup (a global reduce and a second segment) included
CONFIG = {"executor": {"batch_size": 4}}
#: the killed run: fewer models to load in each process, a reduce and a second segment still
KILL_PIPELINE = ["read", "urlfilter", "extract", "langid", "dedup"]


def tree(root: str, sub: str) -> dict[str, bytes]:
    """name → bytes of every Parquet file under ``root/sub`` (local or a URL)."""
    return {p.name: p.read_bytes() for p in (StoragePath.of(root) / sub).glob("*.parquet")}


def assert_same(a: str, b: str) -> None:
    assert tree(a, "data") and tree(a, "data") == tree(b, "data")
    assert tree(a, "rejected") == tree(b, "rejected")
    load = lambda p: json.loads((StoragePath.of(p) / "stats.json").read_text())  # noqa: E731
    assert counts(load(a)) == counts(load(b))
    shards = lambda p: json.loads((StoragePath.of(p) / "manifest.json").read_text())["shards"]  # noqa: E731
    assert shards(a) == shards(b)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    return Path(split_warc(SAMPLE_CRAWL, tmp_path_factory.mktemp("warcs"), 3)[0]).parent


@pytest.fixture(scope="module")
def s3_run(s3_server, inputs, tmp_path_factory) -> tuple[str, str]:
    """The same run to a local directory and to s3://BUCKET/out."""
    import fsspec

    fsspec.filesystem("s3").mkdir("runs")
    local = str(tmp_path_factory.mktemp("local") / "out")
    run(build_config(CONFIG), [str(inputs)], local, quiet=True)
    run(build_config(CONFIG), [str(inputs)], "s3://runs/out", quiet=True)
    return local, "s3://runs/out"


def test_run_to_s3_is_byte_identical_to_local(s3_run, s3_server):
    local, remote = s3_run
    assert_same(local, remote)
    out = StoragePath.of(remote)
    for name in ("README.md", "config.yaml", "stats.json", "manifest.json", "_work/complete.json",
                 "plots/funnel.png"):
        assert (out / name).is_file(), name
    keyed = [json.loads(p.read_text())["outputs"]["keys"] for p in out.glob("_work/seg0/stats-*.json")]
    assert any(keyed) and sorted(p.name for p in out.glob("_work/reduce-dedup/decisions/*.parquet")) == sorted(k for k in keyed if k)
    assert (out / "plots/funnel.png").read_bytes() == (StoragePath.of(local) / "plots/funnel.png").read_bytes()
    assert not (out / "_work/lock.json").exists() and not out.glob("_work/seg*/part-*.parquet")
    secret = s3_server["AWS_SECRET_ACCESS_KEY"]
    for p in [*out.glob("*.*"), *out.glob("_work/*.json")]:  # nothing secret in what the run wrote
        assert secret.encode() not in p.read_bytes(), p


def test_verify_on_the_bucket_passes_and_fails_after_one_object_changes(s3_run, cli):
    remote = s3_run[1]
    code, out, _ = cli("verify", remote)
    assert code == 0 and out.startswith("OK 1 shards")
    shard = StoragePath.of(remote) / "data" / "part-00000.parquet"
    good = shard.read_bytes()
    try:
        shard.write_bytes(good[:-9] + bytes([good[-9] ^ 1]) + good[-8:])  # one bit of the footer
        code, out, _ = cli("verify", remote)
        assert code == 1 and "FAIL data/part-00000.parquet: checksum mismatch" in out
    finally:
        shard.write_bytes(good)
    assert verify(remote) == []


@pytest.mark.slow  # ≈110 s on a 2-core machine: two subprocess runs (models load in each) and a reference
def test_killed_run_on_s3_resumes_to_identical_output(s3_bucket, tmp_path):
    """SIGKILL ``refinery run -o s3://…`` once its first task is done; the rerun resumes
    (finished tasks are not redone) and ends identical to an undisturbed local run."""
    inputs = tmp_path / "in"
    split_warc(SAMPLE_CRAWL, inputs, 3, copies=2)
    config = tmp_path / "config.yaml"
    config.write_text(json.dumps({"pipeline": KILL_PIPELINE, "executor": {"batch_size": 2, "kind": "local",
                                                                          "workers": 2}}))
    out = f"{s3_bucket}/out"
    seg = StoragePath.of(out) / "_work" / "seg0"
    proc = subprocess.Popen(_refinery(inputs, out, config), env=dict(os.environ), cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 180
    while not seg.glob("stats-*.json"):
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        assert time.monotonic() < deadline, "no task finished in time"
        time.sleep(0.05)
    _kill_tree(proc)
    done = {p.name: p.read_bytes() for p in seg.glob("stats-*.json")}
    assert 0 < len(done) < 6 and not (StoragePath.of(out) / "_work/complete.json").exists()
    assert not StoragePath.of(out).glob("data/*.parquet"), "shards appeared before all tasks finished"
    for part in seg.glob("part-*.parquet"):  # a committed part is whole
        pq.ParquetFile(part.open("rb")).metadata
    rerun = subprocess.run(_refinery(inputs, out, config), env=dict(os.environ), cwd=ROOT, capture_output=True,
                           timeout=180)
    assert rerun.returncode == 0, rerun.stderr.decode()[-2000:]
    assert {n: (seg / n).read_bytes() for n in done} == done, "finished tasks were redone"
    ref = str(tmp_path / "ref")
    run(build_config({"pipeline": KILL_PIPELINE, "executor": {"batch_size": 2}}), [str(inputs)], ref, quiet=True)
    assert_same(out, ref)
    assert verify(out) == []


def _killed_before_finish(monkeypatch, config, inputs: Path, out: Path) -> None:
    """Run until the shards would be written, then stop as a kill would; drop the markers of
    one task of each segment and of the reduce, so the rerun redoes those."""
    def killed(state):
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(runner, "finish", killed)
        with pytest.raises(KeyboardInterrupt):
            run(config, [str(inputs)], out, quiet=True)
    for p in [out / "_work/seg0/stats-00001.json", out / "_work/seg1/stats-00002.json",
              out / "_work/reduce-dedup/done"]:
        p.unlink()


def test_resume_with_other_workers_is_allowed_other_output_settings_are_not(inputs, tmp_path, monkeypatch):
    ref, out = tmp_path / "ref", tmp_path / "out"
    pipeline = {"pipeline": ["read", "urlfilter", "extract", "langid", "dedup"]}
    run(build_config({**pipeline, "executor": {"batch_size": 4, "workers": 1}}), [str(inputs)], ref, quiet=True)
    _killed_before_finish(monkeypatch, build_config({**pipeline, "executor": {"batch_size": 4, "workers": 1}}),
                          inputs, out)
    with pytest.raises(ConfigError, match="different config"):
        run(build_config({**pipeline, "executor": {"batch_size": 4}, "output": {"rows_per_shard": 5}}),
            [str(inputs)], out, quiet=True)
    with pytest.raises(ConfigError, match="different config"):  # it decides which bytes a task reads
        run(build_config({**pipeline, "executor": {"batch_size": 4, "split_bytes": 8192}}), [str(inputs)], out,
            quiet=True)
    resumed = run(build_config({**pipeline, "executor": {"batch_size": 4, "workers": 2, "max_retries": 1}}),
                  [str(inputs)], out, quiet=True)
    assert resumed["run"]["workers"] == 2
    assert_same(str(out), str(ref))


def test_split_bytes_changes_rejected_files_not_shards(tmp_path):
    """Byte-range splitting (``executor.split_bytes``) gives the same ``data/`` shards, byte
    for byte; ``rejected/`` holds the same rows, cut into one file per task."""
    pipeline = ["read", "urlfilter", "extract", "langid"]
    whole, split = tmp_path / "whole", tmp_path / "split"
    run(build_config({"pipeline": pipeline, "executor": {"split_bytes": None}}), [str(SAMPLE)], whole, quiet=True)
    stats = run(build_config({"pipeline": pipeline, "executor": {"split_bytes": 8192}}), [str(SAMPLE)], split,
                quiet=True)
    assert len(json.loads((split / "_work/seg0/stats-00001.json").read_text())["task"]["input"]) > 0
    assert stats["output"]["docs"] > 0 and tree(str(whole), "data") == tree(str(split), "data")
    a, b = pq.read_table(whole / "rejected"), pq.read_table(split / "rejected")
    assert len(tree(str(split), "rejected")) > len(tree(str(whole), "rejected")) == 1
    assert a.sort_by("id").equals(b.sort_by("id"))
