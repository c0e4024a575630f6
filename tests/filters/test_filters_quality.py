"""train-quality on a small corpus built here, and the quality stage that uses the model."""

from __future__ import annotations

import json
import random

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from webrefinery.filters.quality import QualityConfig, QualityFilter
from webrefinery.filters.train_quality import roc_auc, train
from webrefinery.pipeline.core.errors import ConfigError

TOPICS = ["the council", "the museum", "a local school", "the river project", "the orchestra", "the hospital",
          "a small bakery", "the football club", "the railway line", "the city library"]
VERBS = ["announced", "explained", "described", "reviewed", "celebrated", "criticised", "planned", "opened"]
SPAM = ["buy", "cheap", "click", "free", "casino", "win", "now", "best", "price", "deal", "pills", "bonus", "!!!"]


def good_doc(rng: random.Random) -> str:
    return " ".join(f"On {d} {rng.choice(TOPICS)} {rng.choice(VERBS)} how the work of the last year went, "
                    f"and residents said that the results were {rng.choice(['encouraging', 'mixed', 'clear'])}."
                    for d in rng.sample(["Monday", "Tuesday", "Friday", "Sunday", "Wednesday"], 3))


def spam_doc(rng: random.Random) -> str:
    return " ".join(rng.choice(SPAM) for _ in range(40))


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    rng = random.Random(1)
    d = tmp_path_factory.mktemp("quality")
    (d / "pos.txt").write_text("\n".join(good_doc(rng) for _ in range(150)) + "\n", encoding="utf-8")
    with open(d / "neg.jsonl", "w", encoding="utf-8") as f:
        for _ in range(100):
            f.write(json.dumps({"text": spam_doc(rng)}) + "\n")
    pq.write_table(pa.table({"text": [spam_doc(rng) for _ in range(50)]}), d / "neg.parquet")
    report = train([d / "pos.txt"], [d / "neg.jsonl", d / "neg.parquet"], d / "model.bin", holdout=0.2, epoch=10,
                   bucket=10_000)
    return d, report


def test_train_quality_report(model):
    d, report = model
    assert (d / "model.bin").is_file()
    on_disk = json.loads((d / "model.json").read_text())
    assert on_disk == report
    assert report["docs"] == {"positive": 150, "negative": 150, "train": 240, "holdout": 60}
    m = report["holdout_metrics"]
    assert m["precision"] > 0.9 and m["recall"] > 0.9 and m["auc"] > 0.95


def test_roc_auc_reference_values():
    assert roc_auc(np.array([1, 1, 0, 0]), np.array([0.9, 0.8, 0.2, 0.1])) == 1.0
    assert roc_auc(np.array([1, 1, 0, 0]), np.array([0.1, 0.2, 0.8, 0.9])) == 0.0
    assert roc_auc(np.array([1, 0, 1, 0]), np.array([0.5, 0.5, 0.5, 0.5])) == 0.5
    assert roc_auc(np.array([1, 0, 1, 0]), np.array([0.9, 0.8, 0.3, 0.1])) == 0.75


def _docs():
    rng = random.Random(7)
    texts = [good_doc(rng), spam_doc(rng), good_doc(rng), spam_doc(rng)]
    return pa.table({"id": ["g1", "s1", "g2", "s2"], "text": texts, "language": ["en"] * 4,
                     "metadata": [None, json.dumps({"title": "x"}), None, None]})


def test_quality_stage_annotates_only(model):
    d, _ = model
    stage = QualityFilter(QualityConfig(model_path=str(d / "model.bin")))
    stage.check()
    res = stage.process(_docs())
    assert res.rejected is None and res.kept.num_rows == 4
    scores = res.kept.column("quality_score").to_pylist()
    assert res.kept.schema.field("quality_score").type == pa.float32()
    assert scores[0] > 0.5 > scores[1] and scores[2] > 0.5 > scores[3]
    metas = [json.loads(m) for m in res.kept.column("metadata").to_pylist()]
    assert [m["quality_label"] for m in metas] == ["hq", "lq", "hq", "lq"]
    assert metas[1]["title"] == "x"
    assert res.counters["quality_label:hq"] == 2


def test_quality_stage_threshold_drops(model):
    d, _ = model
    res = QualityFilter(QualityConfig(model_path=str(d / "model.bin"), threshold=0.5)).process(_docs())
    assert res.kept.column("id").to_pylist() == ["g1", "g2"]
    assert res.rejected.column("reason").to_pylist() == ["quality:low_score"] * 2
    assert res.rejected.column("quality_score").to_pylist()[0] < 0.5


def test_quality_stage_without_model_and_errors(tmp_path):
    res = QualityFilter().process(_docs())
    assert res.kept.num_rows == 4 and res.counters["quality:unscored"] == 4
    assert res.kept.column("quality_score").null_count == 4
    with pytest.raises(ConfigError, match="not found"):
        QualityFilter(QualityConfig(model_path=str(tmp_path / "missing.bin"))).check()
    with pytest.raises(ConfigError, match="model_path is not"):
        QualityFilter(QualityConfig(threshold=0.5)).check()


def test_train_quality_cli(cli, model, tmp_path):
    d, _ = model
    code, out, err = cli("train-quality", "--positive", d / "pos.txt", "--negative", d / "neg.jsonl",
                         "--output", tmp_path / "m.bin", "--epoch", "5", "--bucket", "10000")
    assert code == 0, err
    assert "precision" in out and "AUC" in out
    assert json.loads((tmp_path / "m.json").read_text())["docs"]["positive"] == 150
    code, _, err = cli("train-quality", "--positive", tmp_path / "none.txt", "--negative", d / "neg.jsonl",
                       "--output", tmp_path / "x.bin")
    assert code == 2 and "not found" in err
