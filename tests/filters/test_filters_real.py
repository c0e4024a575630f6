"""Rule filters on real extracted text from ../shared/testdata, and `refinery filter` end to end."""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from webrefinery.filters.cascade import FILTERS, RuleFilters
from test_filters_rules import EN, ZH


def _keep(texts: list[str], lang: str) -> tuple[float, Counter]:
    res = RuleFilters().process(pa.table({"text": texts, "language": [lang] * len(texts)}))
    reasons = Counter(res.rejected.column("reason").to_pylist()) if res.rejected is not None else Counter()
    return res.kept.num_rows / len(texts), reasons


@pytest.mark.slow
def test_english_news_articles_mostly_kept(shared):
    import trafilatura

    from webrefinery.pipeline.stages.langid import LangID

    texts = []
    for p in sorted((shared / "extraction_en" / "html").glob("*.html.gz"))[:80]:
        text = trafilatura.extract(gzip.decompress(p.read_bytes()).decode("utf-8", "replace"), fast=True)
        if text:
            texts.append(text)
    langs, _ = LangID().predict(texts)
    english = [t for t, lang in zip(texts, langs) if lang == "en"]
    assert len(english) > 50
    kept, reasons = _keep(english, "en")
    assert kept >= 0.85, reasons


def test_chinese_prose_kept(shared):
    text = (shared / "opencc" / "golden" / "us_constitution_zhs.txt").read_text(encoding="utf-8")
    articles = [p.strip() for p in re.split(r"\n\s*第\s*[一二三四五六七八九十]+\s*条\s*\n", text) if len(p.strip()) > 200]
    assert len(articles) >= 5
    kept, reasons = _keep(articles, "zh")
    assert kept >= 0.8, reasons


def test_chinese_spam_pages_dropped(shared, tmp_path):
    from webrefinery.pipeline.core.config import build_config
    from webrefinery.pipeline.runtime.runner import run

    config = build_config({"pipeline": ["read", "extract", "langid", "normalize", "filter"], "langid": {"keep": ["zh"]}})
    stats = run(config, [str(shared / "warc" / "CC-MAIN-2020-34-fragment.warc.gz")], tmp_path / "out", quiet=True)
    stage = next(s for s in stats["stages"] if s["name"] == "filter")
    # the 11 Chinese pages of this crawl slice are gambling, adult and link-farm pages; 1 passes the
    # rules (a page of 【逐】【字】 bracketed text); the company keyword line that is under 80 Han
    # characters once the line rules have cut it is dropped by the re-check after edits — see issue 20
    assert stage["docs_in"] >= 10 and stage["docs_out"] <= 1
    assert all(r.split(":")[0] in FILTERS for r in stage["dropped"])   # reason prefix = config section
    rejected = pa.concat_tables([pq.read_table(p) for p in (tmp_path / "out" / "rejected").rglob("*.parquet")])
    assert set(rejected.filter(pa.compute.equal(rejected["stage"], "filter"))["reason"].to_pylist()) \
        == set(stage["dropped"])


def test_refinery_filter_cli(cli, tmp_path):
    rows = [{"id": "en-good", "text": EN, "language": "en"},
            {"id": "zh-good", "text": ZH + "\n相关阅读", "language": "zh"},
            {"id": "en-spam", "text": "\n".join(["Buy cheap pills now!"] * 30), "language": "en"},
            {"id": "zh-latin", "text": "Hello world " * 20 + "中文", "language": "zh"},
            {"id": "en-short", "text": "Too short.", "language": None}]
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    code, _, err = cli("filter", "--input", src, "--output", tmp_path / "out", "--quiet")
    assert code == 0, err
    out = tmp_path / "out"
    kept = pa.concat_tables([pq.read_table(p) for p in sorted((out / "data").glob("*.parquet"))])
    assert sorted(kept["id"].to_pylist()) == ["en-good", "zh-good"]
    assert dict(zip(kept["id"].to_pylist(), kept["text"].to_pylist()))["zh-good"] == ZH
    stage = json.loads((out / "stats.json").read_text())["stages"][-1]
    assert stage["name"] == "filter" and stage["docs_in"] == 5 and stage["docs_out"] == 2
    assert stage["dropped"].get("chinese:cjk_ratio") == 1 and stage["counters"]["zh_trailing_removed"] == 1
    assert any(r.startswith("gopher") for r in stage["dropped"])
