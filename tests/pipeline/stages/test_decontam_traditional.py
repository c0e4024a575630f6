"""A Traditional-script benchmark item is found in Simplified text: the normalize stage
converts Traditional documents with OpenCC before decontam, so the index holds such an item
also in that converted form (and still as written). Simplified items keep matching;
Japanese items (kana) are never converted."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq

from webrefinery.pipeline.stages.decontam import Decontam, DecontamConfig
from webrefinery.pipeline.stages.normalize import Normalize

#: a Traditional sentence and what OpenCC t2s makes of it (計畫 → 计划): no 13 characters in a
#: row are the same in both
HANT = "圖書館的閱覽室將在冬天延長開放時間，議會要求工作人員報告費用，並討論明年的預算與書籍採購計畫"
HANS = "图书馆的阅览室将在冬天延长开放时间，议会要求工作人员报告费用，并讨论明年的预算与书籍采购计划"
#: a Simplified benchmark item, and a Japanese one whose kanji OpenCC would take for Traditional
ZH_OTHER = "今年春天山谷里的天气比较温和，农民们很早就开始播种，当地市场的蔬菜价格不错"
JA = "図書館の閲覧室は冬の間も遅くまで開いており、職員は費用について報告するよう求められた"
FILLER = "镇政府批准修建一条新路，居民们都很高兴。" * 4


def _stage(tmp_path, items: dict[str, list[str]]) -> Decontam:
    paths = []
    for name, texts in items.items():
        p = tmp_path / f"{name}.jsonl"
        p.write_text("".join(json.dumps({"question": t}, ensure_ascii=False) + "\n" for t in texts))
        paths.append(str(p))
    stage = Decontam(DecontamConfig(benchmarks=paths))
    stage.check()
    return stage


def _reasons(stage: Decontam, texts: list[str]) -> tuple[dict[str, str], dict[str, int]]:
    r = stage.process(pa.table({"id": [f"d{i}" for i in range(len(texts))], "text": texts,
                                "language": ["zh"] * len(texts)}))
    rej = r.rejected
    return (dict(zip(rej.column("id").to_pylist(), rej.column("reason").to_pylist())) if rej else {}), r.counters


def test_a_traditional_item_matches_the_normalised_text_and_the_text_as_written(tmp_path):
    stage = _stage(tmp_path, {"hant": [HANT], "hans": [ZH_OTHER], "ja": [JA]})
    normalised = Normalize(Normalize.Config()).process(pa.table({"text": [FILLER + HANT], "language": ["zh"]}))
    assert HANS in normalised.kept.column("text")[0].as_py()  # what decontam sees after normalize
    reasons, counters = _reasons(stage, [normalised.kept.column("text")[0].as_py(), FILLER + HANT,
                                         FILLER + ZH_OTHER, FILLER + JA, FILLER])
    assert reasons == {"d0": "decontam:hant", "d1": "decontam:hant", "d2": "decontam:hans", "d3": "decontam:ja"}
    assert counters["simplified_items:hant"] == 1
    assert counters["simplified_items:hans"] == 0 and counters["simplified_items:ja"] == 0


def test_a_simplified_document_quoting_a_traditional_benchmark_is_dropped_by_the_cli(tmp_path, cli, shared):
    """OpenCC's golden US Constitution, line-aligned: Traditional lines as the benchmark, their
    Simplified originals in the corpus."""
    golden = shared / "opencc" / "golden"
    hans = (golden / "us_constitution_zhs.txt").read_text(encoding="utf-8").splitlines()
    hant = (golden / "us_constitution_zhs.s2t.txt").read_text(encoding="utf-8").splitlines()
    pairs = [(t, s) for t, s in zip(hant, hans) if t != s and len(s) >= 30][:10]
    assert len(pairs) == 10
    bench = tmp_path / "constitution.jsonl"
    bench.write_text("".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t, _ in pairs))
    rows = [{"id": f"q{i}", "text": FILLER + s + FILLER, "language": "zh"} for i, (_, s) in enumerate(pairs)]
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n"
                           for r in rows + [{"id": "clean", "text": FILLER, "language": "zh"}]))
    code, _, err = cli("decontam", "-i", src, "-o", tmp_path / "out", "--benchmarks", bench, "--quiet")
    assert code == 0, err
    assert pq.read_table(tmp_path / "out" / "data").column("id").to_pylist() == ["clean"]
    st = next(s for s in json.loads((tmp_path / "out" / "stats.json").read_text())["stages"]
              if s["name"] == "decontam")
    assert st["dropped"] == {"decontam:constitution": 10}
    assert st["counters"]["simplified_items:constitution"] == 10
