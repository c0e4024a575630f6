"""pipeline/text: the one definition of script classes, sentence ends, words, word lists."""

import re

import regex

from webrefinery.pipeline.stages.langid import cjk_label
from webrefinery.pipeline.text import scripts
from webrefinery.pipeline.text.mojibake import MOJIBAKE_PAIR
from webrefinery.pipeline.text.sentences import C4_SENTENCE_END, LINE_SPLIT, ZH_SENTENCE_END
from webrefinery.pipeline.text.words import WORD, read_word_list


def test_sentence_patterns_keep_their_tested_forms():
    assert C4_SENTENCE_END.pattern == r"[.!?]+['\"’”)\]]*(?=\s|$)|[。！？]+[”」』）]*"
    assert ZH_SENTENCE_END.pattern == r"[。！？!?…][”’」』）)]*"
    assert LINE_SPLIT.pattern == r"(?<=[.!?。！？])\s*"
    assert len(C4_SENTENCE_END.findall("Pi is 3.14. See example.com! 好的。真的？")) == 4


def test_han_covers_the_supplementary_planes_and_agrees_with_the_script_property():
    han = re.compile(f"[{scripts.HAN}]")
    for c in "中文漢字㐀\U00020000\U0002a6d6\U00030000":
        assert han.fullmatch(c) and regex.fullmatch(f"[{scripts.HAN_PROP}]", c)
    assert not han.search("かなカナ한글abc，。")
    bmp = "".join(chr(c) for lo, hi in scripts.HAN_BMP_BLOCKS for c in range(lo, hi))
    assert len(han.findall(bmp)) == len(bmp)


def test_kana_is_letters_only():
    kana = re.compile(f"[{scripts.KANA}]")
    assert len(kana.findall("ひらがなカタカナｶﾀｶﾅㇰ")) == 13
    assert not kana.search("・ー中")  # shared with Chinese text: not evidence of Japanese


def test_langid_kana_rule_counts_ext_b_han():
    assert cjk_label("ja", "\U00020000\U00020001") == "zh"  # Han outside the BMP, no kana
    assert cjk_label("zh", "列夫・托尔斯泰") == "zh"


def test_word_counts_each_cjk_character():
    assert WORD.findall("hello 世界 ok") == ["hello", "世", "界", "ok"]


def test_read_word_list(tmp_path):
    p = tmp_path / "w.txt"
    p.write_bytes(b"# header\nfoo  # note\n\n bar \n\xff\n")
    assert read_word_list(p, errors="replace") == ["foo", "bar", "\ufffd"]


def test_mojibake_pair():
    pair = re.compile(MOJIBAKE_PAIR)
    assert pair.search("cafÃ©") and pair.search("itâ€™s") and not pair.search("café it’s")
