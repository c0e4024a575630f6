"""``--executor ray`` (issue 7): same output as local, poison documents, killed workers.

One local Ray (``num_cpus=2``) for the module; its workers find the fault-injection stages
of ``test_resume_faults`` through a worker setup hook.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from webrefinery.pipeline.core.config import build_config
from webrefinery.pipeline.core.errors import TaskFailedError
from webrefinery.pipeline.runtime.runner import run
from test_resume_faults import assert_same_output, counts
from test_resume_faults import fault_stages, warcs  # noqa: F401 (fixtures)

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.ray
TESTS = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def ray_session():
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    path = os.pathsep.join([str(TESTS), str(TESTS.parents[1]),  # the fault stages; conftest
                          os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": path, "RAY_USAGE_STATS_ENABLED": "0"},
                          "worker_process_setup_hook": "test_resume_faults.register_fault_stages"})
    yield
    ray.shutdown()


def config(kind: str, **sections):
    return build_config({"executor": {"kind": kind, "batch_size": 2, "max_retries": 2}, **sections})


def test_ray_output_and_stats_identical_to_local(ray_session, warcs, tmp_path):
    local = run(config("local"), [str(warcs)], tmp_path / "local", quiet=True)
    remote = run(config("ray"), [str(warcs)], tmp_path / "ray", quiet=True)
    assert remote["run"]["executor"] == "ray"
    assert_same_output(tmp_path / "local", tmp_path / "ray")
    assert counts(local) == counts(remote)
    assert local["stages"][0]["counters"] == remote["stages"][0]["counters"]  # reader counters too
    assert ray.is_initialized()  # the executor joined the running Ray and left it up


def test_ray_poison_document_rejected_run_continues(ray_session, warcs, tmp_path, fault_stages):
    pipe = {"pipeline": ["read", "urlfilter", "extract", "poison"], "poison": {"url_contains": "0755krk.com"}}
    stats = run(config("ray", **pipe), [str(warcs)], tmp_path / "out", quiet=True)
    assert stats["stages"][-1]["dropped"] == {"error:PoisonError": 1}
    assert stats["output"]["docs"] == 17  # 18 sample pages, one poisoned
    rej = pq.read_table(tmp_path / "out" / "rejected")
    assert rej.filter(pc.equal(rej.column("stage"), "poison")).column("reason").to_pylist() == ["error:PoisonError"]


def test_ray_worker_killed_mid_shard_is_retried(ray_session, warcs, tmp_path, fault_stages):
    """The worker dies at the second batch of a file (its first batch already written to the
    part's temporary file); Ray restarts it, the task is redone, the output is unchanged."""
    marker = tmp_path / "killed"
    pipe = {"pipeline": ["read", "urlfilter", "extract", "saboteur"],
            "saboteur": {"source_contains": "crawl-00-01", "after_batches": 2, "marker": str(marker)}}
    run(config("ray", **pipe), [str(warcs)], tmp_path / "ray", quiet=True)
    assert marker.exists(), "the saboteur never fired"
    run(config("local", **pipe), [str(warcs)], tmp_path / "local", quiet=True)  # marker set: no kill
    assert_same_output(tmp_path / "ray", tmp_path / "local")


def test_ray_reports_exactly_the_inputs_that_cannot_finish(ray_session, warcs, tmp_path, fault_stages):
    pipe = {"pipeline": ["read", "saboteur"], "saboteur": {"source_contains": "crawl-00-02"}}
    cfg = build_config({"executor": {"kind": "ray", "max_retries": 1}, **pipe})
    with pytest.raises(TaskFailedError) as err:
        run(cfg, [str(warcs)], tmp_path / "out", quiet=True)
    msg = str(err.value)
    assert msg.startswith("1 of 3 inputs failed") and "crawl-00-02.warc.gz: worker died 4 times" in msg
    assert "crawl-00-00" not in msg and "crawl-00-01" not in msg
    seg = tmp_path / "out" / "_work" / "seg0"
    done = sorted(json.loads(p.read_text())["task"]["input"].rsplit("/", 1)[1] for p in seg.glob("stats-*.json"))
    assert done == ["crawl-00-00.warc.gz", "crawl-00-01.warc.gz"]  # the others finished; a rerun skips them
