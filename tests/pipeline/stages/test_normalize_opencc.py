"""OpenCC conversion and zh-Hant/zh-Hans detection against OpenCC's own test data
(../shared/testdata/opencc: testcases.json cases and the US Constitution golden files)."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from webrefinery.pipeline.stages.normalize import Normalize
from webrefinery.pipeline.stages.opencc_convert import SIMPLIFYING_CONFIGS, ChineseConverter

GOLDEN_PAIRS = {"s2t": "t2s", "s2tw": "tw2s", "s2hk": "hk2s"}  # exact inverse on this text


def cases(shared, configs):
    for line in (shared / "opencc" / "cases.jsonl").read_text(encoding="utf-8").splitlines():
        case = json.loads(line)
        if case["config"] in configs:
            yield case


def test_every_simplifying_opencc_case_passes(shared):
    """100 % of OpenCC's t2s (and tw2s, tw2sp, hk2s) cases through the stage's converter."""
    selected = list(cases(shared, SIMPLIFYING_CONFIGS))
    assert sum(c["config"] == "t2s" for c in selected) == 55
    failures = [c["id"] for c in selected
                if ChineseConverter(c["config"]).convert(c["input"]) != c["expected"]]
    assert failures == []


def test_t2s_cases_through_the_stage(shared):
    t2s = [c for c in cases(shared, {"t2s"}) if c["input"] != c["expected"]]
    table = pa.table({"text": [c["input"] for c in t2s], "language": ["zh"] * len(t2s)})
    stage = Normalize(Normalize.Config(remove_cjk_spaces=False, collapse_whitespace=False, remove_emoji=False))
    result = stage.process(table)
    assert result.kept.column("text").to_pylist() == [c["expected"] for c in t2s]
    assert result.counters["opencc_converted"] == len(t2s)
    detected = [json.loads(m)["script"] for m in result.kept.column("metadata").to_pylist()]
    assert detected.count("zh-Hant") >= len(t2s) - 3  # 3 cases mix both scripts on purpose


@pytest.mark.parametrize("variant", sorted(GOLDEN_PAIRS))
def test_golden_round_trip_and_detection(shared, variant):
    golden = shared / "opencc" / "golden"
    simplified = (golden / "us_constitution_zhs.txt").read_text(encoding="utf-8").splitlines()
    traditional = (golden / f"us_constitution_zhs.{variant}.txt").read_text(encoding="utf-8").splitlines()
    conv = ChineseConverter(GOLDEN_PAIRS[variant])
    assert [conv.convert(t) for t in traditional] == simplified
    lines = [(t, s) for t, s in zip(traditional, simplified) if conv.script(t) is not None]
    assert len(lines) > 140
    assert all(conv.script(t) == "zh-Hant" and conv.script(s) == "zh-Hans" for t, s in lines)


def test_langid_zh_sentences_are_hans_and_their_s2t_hant(shared):
    import opencc

    rows = [json.loads(line) for line in (shared / "langid" / "sentences.jsonl").read_text().splitlines()]
    zh = [r["text"] for r in rows if r["lang"] == "zh"]
    ja = [r["text"] for r in rows if r["lang"] == "ja"]
    conv, s2t = ChineseConverter(), opencc.OpenCC("s2t")
    assert all(conv.script(t) in ("zh-Hans", None) for t in zh)
    assert all(conv.script(s2t.convert(t)) in ("zh-Hant", None) for t in zh)
    assert sum(conv.script(t) is None for t in ja) >= 0.95 * len(ja)  # kana: Japanese, left alone


def test_rejects_non_simplifying_config():
    with pytest.raises(ValueError, match="does not simplify"):
        ChineseConverter("s2t")
