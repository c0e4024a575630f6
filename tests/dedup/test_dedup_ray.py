"""The Ray reduce gives the same clusters, kept documents and repeated units as the local one."""

from __future__ import annotations

import os
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from webrefinery.dedup.decisions import read_all
from webrefinery.dedup.stage import Dedup, DedupConfig
from webrefinery.pipeline.core.config import build_config
from webrefinery.pipeline.runtime.executors.local import LocalExecutor
from webrefinery.pipeline.runtime.executors.ray import RayExecutor
from webrefinery.pipeline.core.stage import RunContext

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def ray_local():
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_ray_reduce_matches_local(tmp_path, ray_local):
    rng = random.Random(7)
    vocab = [f"w{i}" for i in range(2000)]
    base = [" ".join(rng.choices(vocab, k=120)) for _ in range(120)]
    boiler = "Read more stories like this one in our weekly digest of local news"
    texts = list(base)
    for i in range(40):  # chains of near copies (transitive clusters) and exact copies
        words = texts[i].split()
        words[rng.randrange(len(words))] = "changed"
        texts.append(" ".join(words))
    texts += [base[50].upper(), base[51]] + [f"{b}\n{boiler}" for b in base[60:66]]
    table = pa.table({"id": [f"doc-{i:04d}" for i in range(len(texts))], "text": texts,
                      "quality_score": pa.array([rng.choice([0.1, 0.5, None]) for _ in texts], pa.float32())})
    stage = Dedup(DedupConfig(subdoc="line", subdoc_max_removed_frac=None))
    files = []
    for i in range(3):
        files.append(tmp_path / f"keys-{i}.parquet")
        pq.write_table(stage.collect(table.slice(i * 60, 60 if i < 2 else None)), files[-1])
    ctx = RunContext(tmp_path, tmp_path / "_work", quiet=True)
    for name, executor in (("local", LocalExecutor(build_config({}), ctx)), ("ray", RayExecutor(build_config({}), ctx))):
        executor.reduce(stage, files, tmp_path / name)
    for name in ("local", "ray"):  # one decisions file per key file
        assert sorted(p.name for p in (tmp_path / name / "decisions").iterdir()) == [f.name for f in files]
    for f in files:
        local, ray = (pq.read_table(tmp_path / name / "decisions" / f.name) for name in ("local", "ray"))
        assert local.equals(ray), f.name
    assert read_all(tmp_path / "local").num_rows >= 84
    assert pq.read_table(tmp_path / "local" / "units.parquet").equals(pq.read_table(tmp_path / "ray" / "units.parquet"))
