"""The normalize stage: HTML/CSS/JS residue, NFC, whitespace, CJK spacing, emoji, mojibake, OpenCC."""

from __future__ import annotations

import json
import pickle
import unicodedata

import pyarrow as pa
import pytest

from webrefinery.pipeline.core.config import build_config
from webrefinery.pipeline.core.errors import ConfigError
from webrefinery.pipeline.stages.normalize import Normalize, collapse_whitespace, remove_cjk_spaces, remove_emoji
from webrefinery.pipeline.stages.html_residue import strip_code_lines, strip_html


def run(texts, langs=None, config=None):
    table = pa.table({"text": texts, "language": langs or ["en"] * len(texts)})
    stage = Normalize(Normalize.Config.model_validate(config or {}))
    return stage.process(table)


def test_html_tags_entities_and_blocks():
    text, changed = strip_html('<p>Fish &amp; chips&nbsp;<b>today</b></p><script>var a = 1;</script>'
                               '<!-- ad --><style>.x{color:red}</style>done')
    assert changed and "<" not in text and "var a" not in text and ".x" not in text
    assert "Fish & chips\xa0today" in text and text.rstrip().endswith("done")


def test_html_keeps_prose_that_looks_like_markup():
    for prose in ["if a < b and c > d then", "List<String> and Map<K, V> in Java", "AT&T and R&D; x &y;"]:
        assert strip_html(prose) == (prose, False)


def test_code_lines_removed_but_prose_kept():
    text = ("Intro line.\n.nav a { color: #333; padding: 0 }\n@media (max-width: 600px) {\n"
            "var x = document.getElementById('a');\nfunction track() {\n});\n"
            "window.dataLayer.push({event: 'x'});\nI paid (roughly) $5; it was fine.\nOutro.")
    out, changed = strip_code_lines(text)
    assert changed
    assert out.split() == "Intro line. I paid (roughly) $5; it was fine. Outro.".split()


def test_whitespace_collapse_keeps_paragraphs():
    assert collapse_whitespace("  a \t b\u3000c\r\n\r\n\r\n\n d\u200be \u00a0\n\n\nf  ") == "a b c\n\nde\n\nf"
    assert collapse_whitespace("one\ntwo") == "one\ntwo"


def test_cjk_spaces_removed_only_between_chinese():
    assert remove_cjk_spaces("我们 今天 去 北京 ， 好 吗") == "我们今天去北京，好吗"
    assert remove_cjk_spaces("使用 Python 3 编程 和 GPT 模型") == "使用 Python 3 编程和 GPT 模型"
    assert remove_cjk_spaces("hello world 1 2") == "hello world 1 2"


def test_emoji_removed_symbols_kept():
    assert remove_emoji("好的👍🏽 ok 😀 family 👨‍👩‍👧 flag 🇨🇳 ☀️") == "好的 ok  family  flag  "
    assert remove_emoji("© 2024 Acme™ ↔ ★ 1️⃣") == "© 2024 Acme™ ↔ ★ 1"


def test_emoji_default_on_for_zh_only_and_configurable():
    r = run(["你好😀世界", "hi 😀 there"], ["zh", "en"])
    assert r.kept.column("text").to_pylist() == ["你好世界", "hi 😀 there"]
    r = run(["hi 😀 there"], ["en"], {"remove_emoji": True})
    assert r.kept.column("text").to_pylist() == ["hi there"]
    r = run(["你好😀世界"], ["zh"], {"remove_emoji": False})
    assert r.kept.column("text").to_pylist() == ["你好😀世界"]


def test_mojibake_repaired_and_counted():
    r = run(["The cafÃ© serves crÃ¨me brÃ»lÃ©e", "ä¸­æ–‡ç½‘ç«™", "Plain café text"], ["en", "zh", "en"])
    assert r.kept.column("text").to_pylist()[:2] == ["The café serves crème brûlée", "中文网站"]
    assert r.kept.column("text").to_pylist()[2] == "Plain café text"
    assert r.counters["mojibake_repaired"] == 2


def test_nfc():
    r = run(["cafe\u0301 and A\u030a"])
    text = r.kept.column("text")[0].as_py()
    assert text == "café and Å" and unicodedata.is_normalized("NFC", text)


def test_traditional_converted_with_script_metadata():
    r = run(["我們說的話，後來變成了歷史。", "我们说的话，后来变成了历史。", "東京都に行きました。", "這個 English 不"],
            ["zh", "zh", "ja", "en"])
    texts = r.kept.column("text").to_pylist()
    metas = [json.loads(m) if m else {} for m in r.kept.column("metadata").to_pylist()]
    assert texts[0] == texts[1] == "我们说的话，后来变成了历史。"
    assert metas[0]["script"] == "zh-Hant" and metas[1]["script"] == "zh-Hans"
    assert texts[2] == "東京都に行きました。" and "script" not in metas[2]
    assert texts[3] == "這個 English 不" and "script" not in metas[3]  # non-zh text untouched
    assert r.counters["opencc_converted"] == 1 and r.counters["script:zh-Hans"] == 1


def test_japanese_labelled_zh_is_not_converted():
    text = "私は東京の大学で歴史を勉強しています。週末には図書館へ行きます。"
    r = run([text], ["zh"])
    assert r.kept.column("text")[0].as_py() == text
    assert r.counters["opencc_converted"] == 0


def test_simplified_doc_quoting_a_traditional_name_is_hans_and_fully_simplified():
    text = "他在台北参观了故宫博物院，门口写着「國立故宮博物院」几个大字，人很多，排队很久才进去。"
    r = run([text], ["zh"])
    assert json.loads(r.kept.column("metadata")[0].as_py())["script"] == "zh-Hans"
    assert r.kept.column("text")[0].as_py() == text.replace("國立故宮", "国立故宫")


@pytest.mark.parametrize("cfg,expected", [("t2s", "鼠标里面的硅与软件"), ("tw2sp", "鼠标里面的硅与软件")])
def test_opencc_config_selectable(cfg, expected):
    r = run(["滑鼠裡面的矽與軟體"] if cfg == "tw2sp" else ["鼠標裡面的硅與軟件"], ["zh"], {"opencc_config": cfg})
    assert r.kept.column("text")[0].as_py() == expected


def test_empty_after_normalize_is_rejected_with_reason():
    r = run(["<br/><p>&nbsp;</p>", "kept"], ["en", "en"])
    assert r.kept.column("text").to_pylist() == ["kept"]
    assert r.rejected.column("reason").to_pylist() == ["empty_after_normalize"]
    assert r.rejected.column("stage").to_pylist() == ["normalize"]


def test_steps_can_be_switched_off():
    r = run(["<b>x</b>  y"], ["en"], {"strip_html": False, "collapse_whitespace": False})
    assert r.kept.column("text")[0].as_py() == "<b>x</b>  y"


def test_existing_metadata_kept_and_stage_pickles():
    table = pa.table({"text": ["後來"], "language": ["zh"], "metadata": [json.dumps({"title": "t"})]})
    stage = Normalize()
    stage.process(table)
    clone = pickle.loads(pickle.dumps(stage))
    meta = json.loads(clone.process(table).kept.column("metadata")[0].as_py())
    assert meta == {"title": "t", "script": "zh-Hant"}


def test_config_errors_are_clear():
    with pytest.raises(ConfigError, match="normalize.opencc_config"):
        build_config({"normalize": {"opencc_config": "s2t"}})
    with pytest.raises(ConfigError, match="normalize.hant_ratio"):
        build_config({"normalize": {"hant_ratio": 0}})
    with pytest.raises(ConfigError, match="unknown key"):
        build_config({"normalize": {"remove_emojis": True}})
