"""decontam stage: benchmark files the tests write (English and Chinese); verbatim and
re-cased/re-punctuated quotes are caught, common phrases are not, GPT-3 cutting, stats,
card section, config errors and the ``refinery decontam`` command."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from webrefinery.pipeline.core.config import build_config
from webrefinery.pipeline.core.errors import ConfigError
from webrefinery.pipeline.stages.decontam import Decontam, DecontamConfig

QUESTION = ("Which of the following best describes the primary function of the mitochondria in eukaryotic "
            "cells during aerobic respiration")
CHOICES = ["Synthesis of proteins", "Production of ATP", "Storage of genetic material", "Breakdown of lipids"]
ZH_QUESTION = "下列关于光合作用暗反应阶段的叙述中，正确的是二氧化碳的固定需要消耗光反应产生的能量"
ZH_CHOICES = ["叶绿体基质中进行", "需要光照直接参与"]
FILLER = ("The weather in the valley was mild this spring, and farmers planted their fields early. Local "
          "markets reported good prices for vegetables, and the town council approved a new road. ") * 3
ZH_FILLER = "今年春天山谷里的天气比较温和，农民们很早就开始播种。当地市场的蔬菜价格不错，镇政府批准修建一条新路。" * 3


def write_benchmarks(tmp: Path) -> list[str]:
    mmlu = tmp / "mmlu_bio.jsonl"
    mmlu.write_text(json.dumps({"question": QUESTION, "choices": CHOICES, "answer": 1}) + "\n"
                    + json.dumps({"question": "What is two plus two?", "choices": ["3", "4"], "answer": 1}) + "\n")
    ceval = tmp / "ceval"
    ceval.mkdir()
    pq.write_table(pa.table({"question": [ZH_QUESTION], "A": [ZH_CHOICES[0]], "B": [ZH_CHOICES[1]],
                             "answer": ["A"]}), ceval / "val.parquet")
    return [str(mmlu), str(ceval)]


def run(stage: Decontam, texts: list[str], langs: list[str | None] | None = None):
    table = pa.table({"id": [f"d{i}" for i in range(len(texts))], "text": texts,
                      "language": langs or [None] * len(texts)})
    return stage.process(table)


@pytest.fixture
def stage(tmp_path) -> Decontam:
    s = Decontam(DecontamConfig(benchmarks=write_benchmarks(tmp_path)))
    s.check()
    return s


def test_verbatim_recased_and_repunctuated_quotes_are_caught(stage):
    recased = QUESTION.upper().replace(" of the ", ", of the: ").replace("cells", "cells!") + "?"
    texts = [FILLER + QUESTION + "? " + FILLER, FILLER + recased + " " + FILLER, FILLER]
    r = run(stage, texts, ["en", "en", "en"])
    assert r.rejected.column("id").to_pylist() == ["d0", "d1"]
    assert set(r.rejected.column("reason").to_pylist()) == {"decontam:mmlu_bio"}
    assert r.kept.column("id").to_pylist() == ["d2"]
    assert r.counters["matched:mmlu_bio"] == 2 and r.counters["index_builds"] == 1
    meta = json.loads(r.rejected.column("metadata")[0].as_py())
    assert meta["decontam"]["benchmark"] == "mmlu_bio" and meta["decontam"]["ngrams"] >= 1


def test_common_phrases_are_not_caught(stage):
    common = ("Which of the following best describes the weather in the valley? The primary function of the "
              "council is to approve roads, and of the following options the farmers chose the first one.")
    zh_common = "下列关于天气的叙述中，正确的是今年春天比较温和。光合作用是植物生长的基础，农民需要光照和水。"
    r = run(stage, [FILLER + common, ZH_FILLER + zh_common], ["en", "zh"])
    assert r.rejected is None and r.kept.num_rows == 2
    assert not any(k.startswith("matched:") for k in r.counters)


def test_chinese_benchmark_item_is_caught(stage):
    quoted = ZH_QUESTION.replace("，", ",") + "。A." + ZH_CHOICES[0]
    r = run(stage, [ZH_FILLER + quoted + ZH_FILLER, ZH_FILLER], [None, "zh"])  # language unknown: Han ratio
    assert r.rejected.column("id").to_pylist() == ["d0"]
    assert r.rejected.column("reason").to_pylist() == ["decontam:ceval"]
    assert r.counters["matched:ceval"] == 1
    assert r.counters["ngrams:ceval"] > 0 and r.counters["items:ceval"] == 1
    assert r.counters["items:mmlu_bio"] == 2 and r.counters["short_items:mmlu_bio"] == 1  # "two plus two" < 13 words


def test_cut_removes_the_span_with_a_margin(tmp_path):
    benches = write_benchmarks(tmp_path)
    s = Decontam(DecontamConfig(benchmarks=benches, action="cut", margin=20, min_piece=50))
    head, tail = FILLER, FILLER[::-1]
    r = run(s, [head + QUESTION + " " + tail, "Too short. " + QUESTION], ["en", "en"])
    assert r.kept.column("id").to_pylist() == ["d0"]
    new = r.kept.column("text")[0].as_py()
    assert "mitochondria" not in new and new.startswith(head[:100]) and new.endswith(tail[-100:])
    assert len(new) < len(head) + len(tail) - 30  # the margins went too
    assert set(new.split()) <= set(head.split()) | set(tail.split())  # no half word at a cut's edge
    for margin in range(15, 26):  # wherever the margin ends, inside a word or not
        s = Decontam(DecontamConfig(benchmarks=benches, action="cut", margin=margin, min_piece=50))
        new = run(s, [head + QUESTION + " " + tail], ["en"]).kept.column("text")[0].as_py()
        assert set(new.split()) <= set(head.split()) | set(tail.split()), margin
    assert r.rejected.column("id").to_pylist() == ["d1"]  # nothing ≥ min_piece left: dropped
    assert r.counters["cut:mmlu_bio"] == 1 and r.counters["removed_chars:mmlu_bio"] > len(QUESTION)


def test_config_errors_are_clear(tmp_path):
    with pytest.raises(ConfigError, match="no benchmarks"):
        Decontam(DecontamConfig()).check()
    with pytest.raises(ConfigError, match="does not exist"):
        Decontam(DecontamConfig(benchmarks=[str(tmp_path / "nope.jsonl")])).check()
    with pytest.raises(ConfigError, match="no row has field 'query'"):
        Decontam(DecontamConfig(benchmarks=write_benchmarks(tmp_path)[:1], fields=["query"])).check()
    with pytest.raises(ConfigError, match="action"):
        build_config({"decontam": {"action": "delete"}})
    short = tmp_path / "short.jsonl"
    short.write_text(json.dumps({"question": "What is two plus two?"}) + "\n")
    with pytest.raises(ConfigError, match="short.jsonl gives nothing to match \\(1 items, all shorter"):
        Decontam(DecontamConfig(benchmarks=[str(short)])).check()


def test_cli_refuses_an_empty_benchmark_file(tmp_path, cli):
    (tmp_path / "empty.jsonl").write_text("")
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": "a", "text": FILLER}) + "\n")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"decontam:\n  benchmarks: [{json.dumps(str(tmp_path / 'empty.jsonl'))}]\n")
    code, _, err = cli("decontam", "-i", src, "-o", tmp_path / "out", "-c", cfg, "--quiet")
    assert code == 2 and "empty.jsonl" in err and ("nothing to match" in err or "no row" in err), err
    assert not (tmp_path / "out" / "data").exists()


def test_cli_decontam_and_card(tmp_path, cli):
    benches = write_benchmarks(tmp_path)
    rows = [{"id": "clean", "text": FILLER}, {"id": "dirty", "text": FILLER + QUESTION},
            {"id": "zh", "text": ZH_FILLER + ZH_QUESTION, "language": "zh"}]
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"decontam:\n  benchmarks: {json.dumps(benches)}\n")
    code, _, err = cli("decontam", "-i", src, "-o", tmp_path / "out", "-c", cfg, "--quiet")
    assert code == 0, err
    assert pq.read_table(tmp_path / "out" / "data").column("id").to_pylist() == ["clean"]
    st = next(s for s in json.loads((tmp_path / "out" / "stats.json").read_text())["stages"]
              if s["name"] == "decontam")
    assert st["dropped"] == {"decontam:ceval": 1, "decontam:mmlu_bio": 1}
    card = (tmp_path / "out" / "README.md").read_text()
    assert "Decontamination" in card and "`ceval`" in card and "`mmlu_bio`" in card


@pytest.mark.ray
def test_local_and_ray_give_the_same_output(tmp_path):
    ray = pytest.importorskip("ray")
    from webrefinery.pipeline.runtime.runner import run

    benches = write_benchmarks(tmp_path)
    rows = [{"id": f"c{i}", "text": FILLER + str(i)} for i in range(6)] + [
        {"id": "dirty", "text": FILLER + QUESTION + " " + FILLER}, {"id": "zh", "text": ZH_FILLER + ZH_QUESTION}]
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        for kind in ("local", "ray"):
            run(build_config({"executor": {"kind": kind, "batch_size": 3},
                              "decontam": {"benchmarks": benches, "action": "cut", "min_piece": 20}}),
                [str(src)], tmp_path / kind, stages=["decontam"], quiet=True)
    finally:
        ray.shutdown()
    for sub in ("data", "rejected"):
        for f in sorted((tmp_path / "local" / sub).glob("*.parquet")):
            assert pq.read_table(f).equals(pq.read_table(tmp_path / "ray" / sub / f.name)), f
    stats = {k: json.loads((tmp_path / k / "stats.json").read_text())["stages"][0] for k in ("local", "ray")}
    assert stats["local"]["counters"]["cut:mmlu_bio"] == 1 and stats["local"]["dropped"] == stats["ray"]["dropped"]
    assert {k: v for k, v in stats["local"]["counters"].items() if not k.startswith(("ngrams", "items", "short", "index"))} \
        == {k: v for k, v in stats["ray"]["counters"].items() if not k.startswith(("ngrams", "items", "short", "index"))}
