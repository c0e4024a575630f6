"""Multi-node Ray without a shared disk (issue 17 item 3): ``ray.cluster_utils.Cluster`` with
a head (no CPUs: the driver only) and two worker nodes of 1 CPU each, every node with its
own temporary directory; input files are local to the driver's machine only in the sense
that this is one test machine — the output, ``_work/`` (task markers, dedup keys and
decisions) and everything the nodes exchange go through the moto S3 server.

Starting three raylets takes about 30 s on a 2-core machine, so the module is marked
``slow`` as well as ``ray``.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from webrefinery.pipeline.core.config import build_config
from webrefinery.pipeline.io.manifest import verify
from webrefinery.pipeline.io.storage import StoragePath
from webrefinery.pipeline.runtime.runner import run
from test_object_storage import assert_same
from test_resume_faults import SAMPLE_CRAWL, split_warc

ray = pytest.importorskip("ray")
cluster_utils = pytest.importorskip("ray.cluster_utils")
pytestmark = [pytest.mark.ray, pytest.mark.slow]

#: the map stages and the dedup reduce (the global step runs as Ray Data shuffles on the nodes)
PIPELINE = ["read", "urlfilter", "extract", "langid", "dedup"]


def config(kind: str):
    return build_config({"pipeline": PIPELINE, "executor": {"kind": kind, "batch_size": 2, "max_retries": 3}})


@pytest.fixture(scope="module")
def cluster(s3_server, tmp_path_factory):
    """Head + 2 worker nodes; each node's own temp dir. The S3 endpoint and credentials are
    in the environment the raylets (and so their workers) inherit."""
    base = tmp_path_factory.mktemp("nodes")
    c = cluster_utils.Cluster(initialize_head=True, head_node_args={
        "num_cpus": 0, "temp_dir": str(base / "head"), "include_dashboard": False})
    for i in range(2):
        c.add_node(num_cpus=1, temp_dir=str(base / f"worker{i}"))
    ray.init(address=c.address, log_to_driver=False)
    c.base = base
    yield c
    ray.shutdown()
    c.shutdown()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("warcs")
    split_warc(SAMPLE_CRAWL, d, 3, copies=2)
    return d


@pytest.fixture(scope="module")
def reference(inputs, tmp_path_factory) -> str:
    out = str(tmp_path_factory.mktemp("local") / "out")
    run(config("local"), [str(inputs)], out, quiet=True)
    return out


def test_three_node_cluster_on_s3_is_identical_to_local(cluster, inputs, reference, s3_bucket):
    out = f"{s3_bucket}/out"
    stats = run(config("ray"), [str(inputs)], out, quiet=True)
    assert stats["run"]["executor"] == "ray"
    assert_same(out, reference)
    assert verify(out) == []
    nodes = {n["NodeID"] for n in ray.nodes() if n["Alive"] and n["Resources"].get("CPU")}
    assert len(nodes) == 2


def _busy_worker(cluster):
    """A worker node whose CPU is taken (it runs an actor of the pool)."""
    from ray._private.state import available_resources_per_node

    free = available_resources_per_node()
    return next((n for n in cluster.worker_nodes if free.get(n.unique_id, {}).get("CPU", 0) < 1), None)


def test_a_worker_node_lost_mid_run_still_ends_identical(cluster, inputs, reference, s3_bucket):
    """``cluster.remove_node`` of a worker that runs an actor, once the first task is done:
    its raylet and every process on it die, as when a VM is lost. A spare node (added before
    the run, as an autoscaler would add one) takes the restarted actor; the lost task is
    retried; the output is the same."""
    cluster.add_node(num_cpus=1, temp_dir=str(cluster.base / "spare"))
    cfg = build_config({"pipeline": PIPELINE, "executor": {"kind": "ray", "batch_size": 2, "max_retries": 3,
                                                           "ray": {"actor_pool_size": 2}}})
    out = f"{s3_bucket}/out"
    seg0 = StoragePath.of(out) / "_work" / "seg0"
    removed: list[str] = []

    def lose_a_node() -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            victim = _busy_worker(cluster) if seg0.glob("stats-*.json") else None
            if victim is not None:
                cluster.remove_node(victim, allow_graceful=False)
                removed.append(victim.unique_id)
                return
            time.sleep(0.05)

    watcher = threading.Thread(target=lose_a_node)
    watcher.start()
    run(cfg, [str(inputs)], out, quiet=True)
    watcher.join()
    assert removed, "no busy worker node was found to remove"
    assert len(seg0.glob("stats-*.json")) == 6
    assert_same(out, reference)
    assert verify(out) == []
