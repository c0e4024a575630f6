"""Rule filters at their thresholds (just above / just below), English and Chinese."""

from __future__ import annotations

from collections import Counter

import pyarrow as pa
import pytest
from pydantic import ValidationError

from webrefinery.filters.c4 import C4, C4Config
from webrefinery.filters.cascade import RuleFilters, RuleFiltersConfig
from webrefinery.filters.chinese import _ISOLATED_HAN, ChineseConfig, ChineseRules, char_ngram_repetition
from webrefinery.filters.fineweb import FineWeb, FineWebConfig
from webrefinery.filters.gopher_quality import GopherQuality, GopherQualityConfig
from webrefinery.filters.gopher_repetition import GopherRepetition
from webrefinery.filters.mojibake import Mojibake, MojibakeConfig
from webrefinery.filters.refinedweb_lines import RefinedWebLines, RefinedWebLinesConfig
from webrefinery.filters.sensitive_words import SensitiveWords, SensitiveWordsConfig
from webrefinery.filters.text_stats import Doc
from webrefinery.pipeline.core.errors import ConfigError

from conftest import ROOT

EN = ("The city council met on Tuesday to discuss the new library on Main Street. "
      "Residents said they were pleased with the plans, although some worried about parking. "
      "The building will have a reading room, a children's corner and a small café. "
      "Construction is expected to begin next spring and to last about eighteen months.\n"
      "Funding comes from a state grant and from private donations collected over five years. "
      "The mayor thanked the volunteers who organised book sales and charity runs for the project. "
      "Architects presented drawings that show large windows facing the river and a garden.\n"
      "Critics argued that the money could have been spent on roads, but most speakers disagreed. "
      "A final vote on the contract with the builder is planned for the meeting in March.")
ZH = ("市议会周二开会讨论了在主街修建新图书馆的计划。居民们表示对这个方案感到满意，但也有人担心停车问题。"
      "新馆将设有阅览室、儿童角和一家小咖啡馆。工程预计明年春天开工，工期大约十八个月。\n"
      "建设资金来自州政府的拨款，以及过去五年里收集的私人捐款。市长感谢了为这个项目组织义卖和慈善跑的志愿者。"
      "建筑师展示的图纸显示，面向河流的一侧是大窗户和一个花园。\n"
      "批评者认为这笔钱本可以用来修路，但大多数发言者并不同意。与施工方签订合同的最终投票计划在三月的会议上进行。")


def run(flt, text: str, lang: str = "en") -> tuple[str | None, Doc, Counter]:
    counters: Counter = Counter()
    doc = Doc(text, lang)
    return flt.apply(doc, counters), doc, counters


def only(cls, **kw):
    """A filter of ``cls`` with every threshold off except those given."""
    off = {name: None for name, f in cls.Config.model_fields.items()
           if name not in ("enabled", "apply_to") and isinstance(f.default, (int, float))
           and not isinstance(f.default, bool) and "None" in str(f.annotation)}
    if cls is GopherRepetition:
        off.update(top_n_grams={}, dup_n_grams={})
    return cls(cls.Config(**{**off, **kw}), "en")


@pytest.mark.parametrize("n,expected", [(50, None), (49, "gopher_quality:too_few_words")])
def test_gopher_min_words(n, expected):
    assert run(only(GopherQuality, min_doc_words=50), " ".join((["the", "cat"] * 30)[:n]))[0] == expected


@pytest.mark.parametrize("short,expected", [(0, None), (1, "gopher_quality:short_words")])
def test_gopher_mean_word_length(short, expected):
    words = ["the"] * (60 - short) + ["ab"] * short     # mean exactly 3.0, then 2.98
    assert run(only(GopherQuality, min_avg_word_length=3), " ".join(words))[0] == expected


@pytest.mark.parametrize("hashes,expected", [(10, None), (11, "gopher_quality:hash_ratio")])
def test_gopher_hash_ratio(hashes, expected):
    text = " ".join(["word"] * 100) + " #" * hashes       # '#' tokens are not words: 100 words
    assert run(only(GopherQuality, max_symbol_word_ratio=0.1), text)[0] == expected


@pytest.mark.parametrize("bullets,expected", [(9, None), (10, "gopher_quality:bullet_lines")])
def test_gopher_bullet_lines(bullets, expected):
    lines = [("- " if i < bullets else "") + "an item of the list" for i in range(10)]
    assert run(only(GopherQuality, max_bullet_lines_ratio=0.9), "\n".join(lines))[0] == expected


@pytest.mark.parametrize("ending,expected", [(3, None), (4, "gopher_quality:ellipsis_lines")])
def test_gopher_ellipsis_lines(ending, expected):
    lines = ["a line of some text" + ("…" if i < ending else ".") for i in range(10)]
    assert run(only(GopherQuality, max_ellipsis_lines_ratio=0.3), "\n".join(lines))[0] == expected


@pytest.mark.parametrize("numbers,expected", [(20, None), (21, "gopher_quality:alpha_words")])
def test_gopher_alpha_words(numbers, expected):
    text = " ".join(["word."] * (100 - numbers) + ["1999"] * numbers)   # punctuation is not a word
    assert run(only(GopherQuality, min_alpha_words_ratio=0.8), text)[0] == expected


@pytest.mark.parametrize("numbers,expected", [(20, None), (21, "gopher_quality:alpha_words")])
def test_gopher_alpha_words_counts_whitespace_words(numbers, expected):
    # Gopher's words are whitespace-separated: "$2.53", "3-1" and "2019-11-19" are one word without a
    # letter each, not two or three digit tokens (counted on tokens, 20 such words gave 0.64, not 0.80)
    nums = ["$2.53", "3-1", "2019-11-19", "(1-0):"]
    text = " ".join(["price"] * (100 - numbers) + [nums[i % 4] for i in range(numbers)])
    assert run(only(GopherQuality, min_alpha_words_ratio=0.8), text)[0] == expected


@pytest.mark.parametrize("stops,expected", [(2, None), (1, "gopher_quality:stop_words")])
def test_gopher_stop_words(stops, expected):
    text = " ".join(["The"] * stops + ["word"] * 60)
    assert run(only(GopherQuality, min_stop_words=2), text)[0] == expected


def test_gopher_quality_keeps_article():
    assert run(GopherQuality(GopherQualityConfig(), "en"), EN)[0] is None


@pytest.mark.parametrize("same,expected", [(4, None), (5, "gopher_repetition:dup_line_frac")])
def test_gopher_dup_line_frac(same, expected):
    lines = [f"line number {i} is unique" for i in range(10 - same)] + ["the same line"] * same
    # 3 duplicates in 10 lines (0.3) keeps, 4 (0.4) drops
    assert run(only(GopherRepetition, dup_line_frac=0.3), "\n".join(lines))[0] == expected


def _naive_top(words, n):
    grams = [" ".join(words[i:i + n]) for i in range(len(words) - n + 1)]
    g, c = Counter(grams).most_common(1)[0]
    return len(g) * c


def _naive_dup(words, n):
    seen, total, i = set(), 0, 0
    while i < len(words) - n + 1:
        g = "".join(words[i:i + n])
        if g in seen:
            total += len(g)
            i += n
        else:
            seen.add(g)
            i += 1
    return total


@pytest.mark.parametrize("reps", [3, 5, 8, 12, 20])
def test_gopher_ngram_stats_match_reference(reps):
    words = [f"w{i}" for i in range(60)] + ["alpha", "beta", "gamma", "delta", "eps", "zeta"] * reps
    doc = Doc(" ".join(words))
    from webrefinery.filters.gopher_repetition import duplicated_ngram_chars, top_ngram_chars
    for n in (2, 3, 4):
        assert top_ngram_chars(doc, n) == _naive_top(words, n)
    for n in range(5, 11):
        assert duplicated_ngram_chars(doc, n) == _naive_dup(words, n)


@pytest.mark.parametrize("reps", [3, 4, 5, 6, 8, 10])
def test_gopher_top_and_dup_ngram_boundaries(reps):
    words = [f"word{i}" for i in range(80)] + ["red", "fox"] * reps
    text = " ".join(words)
    top2 = _naive_top(words, 2) / len(text)
    expected = "gopher_repetition:top_2_gram" if top2 > 0.2 else None
    assert run(only(GopherRepetition, top_n_grams={2: 0.2}), text)[0] == expected
    dup5 = _naive_dup(words, 5) / len(text)
    expected = "gopher_repetition:dup_5_gram" if dup5 > 0.15 else None
    assert run(only(GopherRepetition, dup_n_grams={5: 0.15}), text)[0] == expected


def test_gopher_top_ngram_threshold_straddled():
    base = " ".join(f"word{i}" for i in range(40))
    got = []
    for reps in range(1, 30):
        text = base + " red fox" * reps
        words = text.split()
        got.append((_naive_top(words, 2) / len(text) > 0.2,
                    run(only(GopherRepetition, top_n_grams={2: 0.2}), text)[0] is not None))
    assert all(a == b for a, b in got) and {a for a, _ in got} == {True, False}


@pytest.mark.parametrize("same,expected", [(4, None), (5, "gopher_repetition:dup_para_frac")])
def test_gopher_dup_para_frac(same, expected):
    paras = [f"paragraph {i} text" for i in range(10 - same)] + ["same paragraph"] * same
    assert run(only(GopherRepetition, dup_para_frac=0.3), "\n\n".join(paras))[0] == expected


# -- C4 ------------------------------------------------------------------------------------------
def test_c4_line_removal_and_counters():
    text = ("Menu\nThis site uses cookies to improve the experience.\nPlease enable JavaScript in your browser now.\n"
            "Ok.\n" + "\n".join(f"This is complete sentence number {i}." for i in range(5)) + "\nSee [1] the end.")
    reason, doc, counters = run(C4(C4Config(), "en"), text)
    assert reason is None
    assert doc.text.split("\n") == [f"This is complete sentence number {i}." for i in range(5)] + ["See  the end."]
    assert counters["lines_removed:c4_no_terminal_punct"] == 1
    assert counters["lines_removed:c4_policy"] == 1
    assert counters["lines_removed:c4_javascript"] == 1
    assert counters["lines_removed:c4_too_few_words"] == 1


def test_c4_keeps_one_paragraph_break_where_blank_lines_were():
    """Kept lines are rejoined with the page's paragraph breaks (runs of blank lines become one,
    a removed line between paragraphs leaves the break), not as one block of lines."""
    text = ("First sentence of the opening paragraph.\nIts second sentence.\n\n\n"
            "Share this\n\nThe second paragraph starts here.\nAnd it goes on.\n\nThe last paragraph ends it.")
    reason, doc, counters = run(C4(C4Config(), "en"), text)
    assert reason is None and counters["lines_removed:c4_no_terminal_punct"] == 1
    assert doc.text == ("First sentence of the opening paragraph.\nIts second sentence.\n\n"
                        "The second paragraph starts here.\nAnd it goes on.\n\nThe last paragraph ends it.")


@pytest.mark.parametrize("n,expected", [(5, None), (4, "c4:too_few_sentences")])
def test_c4_min_sentences(n, expected):
    text = "\n".join(f"Sentence number {i} ends here." for i in range(n))
    assert run(C4(C4Config(), "en"), text)[0] == expected


@pytest.mark.parametrize("text,curly,expected", [(EN + "\nLorem ipsum dolor sit amet.", False, "c4:lorem_ipsum"),
                                                 (EN + "\nvar x = {a: 1};", True, "c4:curly_bracket"),
                                                 (EN + "\nvar x = {a: 1};", False, None), (EN, True, None)])
def test_c4_document_rules(text, curly, expected):
    """The curly-bracket rule is C4's, off by default (code in prose pages stays)."""
    assert run(C4(C4Config(filter_curly_bracket=curly), "en"), text)[0] == expected


# -- FineWeb -------------------------------------------------------------------------------------
@pytest.mark.parametrize("ended,expected", [(3, "fineweb:line_punct_ratio"), (4, None)])
def test_fineweb_line_punct(ended, expected):
    lines = [f"this is a fairly long line number {i} of text" + ("." if i < ended else "") for i in range(25)]
    assert run(only(FineWeb, line_punct_thr=0.12), "\n".join(lines))[0] == expected  # 3/25 = 0.12 drops


@pytest.mark.parametrize("short,expected", [(66, None), (67, "fineweb:short_line_ratio")])
def test_fineweb_short_lines(short, expected):
    lines = ["x" * 30 if i < short else "y" * 31 + f" {i}" for i in range(100)]
    assert run(only(FineWeb, short_line_thr=0.67), "\n".join(lines))[0] == expected


@pytest.mark.parametrize("last,expected", [("h i j", None), ("h i", "fineweb:list_ratio")])
def test_fineweb_list_ratio(last, expected):
    text = "\n".join(["a b c", "d e", "f g", last])      # 3 newlines / 10 words keeps, / 9 drops
    assert run(only(FineWeb, new_line_ratio=0.3), text)[0] == expected
    # blank lines between paragraphs (which C4's filter keeps) are not list items
    assert run(only(FineWeb, new_line_ratio=0.3), text.replace("\n", "\n\n"))[0] == expected


def test_fineweb_char_dup_ratio():
    lines = [f"unique line {i} with some text." for i in range(30)]
    assert run(only(FineWeb, char_duplicates_ratio=0.01), "\n".join(lines))[0] is None
    lines.append(lines[0])
    assert run(only(FineWeb, char_duplicates_ratio=0.01), "\n".join(lines))[0] == "fineweb:char_dup_ratio"


def test_fineweb_counts_chinese_sentence_ends():
    assert run(FineWeb(FineWebConfig(), "zh"), ZH, "zh")[0] is None


@pytest.mark.parametrize("body_len,expected", [(208, None), (207, "refinedweb_lines:lines_removed_frac")])
def test_refinedweb_five_percent(body_len, expected):
    body = ("the quick brown fox jumps over the lazy dog " * 6)[:body_len - 1] + "."
    text = body + "\n12345 likes"            # the counter line is 11 of 220 chars (5 %) or of 219
    reason, doc, counters = run(RefinedWebLines(RefinedWebLinesConfig(), "en"), text)
    assert reason == expected
    if expected is None:
        assert counters["lines_removed:rw_counter"] == 1 and doc.text == body


def test_refinedweb_line_kinds():
    lines = [EN, "BREAKING NEWS FROM THE CITY", "2024-05-18 12:00", "Share", "Read more", "3.2K views", "128 阅读",
             "11-29-2024, 09:03 AM"]
    reason, doc, counters = run(RefinedWebLines(RefinedWebLinesConfig(max_removed_frac=None), "en"),
                                "\n".join(lines))
    assert reason is None and doc.text == EN + "\n11-29-2024, 09:03 AM"  # 2 of 17 characters upper case
    assert counters["lines_removed:rw_uppercase"] == 1 and counters["lines_removed:rw_numeric"] == 1
    assert counters["lines_removed:rw_single_word"] == 1 and counters["lines_removed:rw_navigation"] == 1
    assert counters["lines_removed:rw_counter"] == 2


@pytest.mark.parametrize("line,removed", [("tidb_batch_insert", False), ("max_removed_frac", False),
                                          ("Menu", True), ("_", True)])
def test_refinedweb_single_word_not_identifier(line, removed):
    """A snake_case identifier on its own line (docs list settings so) is not a navigation word."""
    reason, doc, counters = run(RefinedWebLines(RefinedWebLinesConfig(max_removed_frac=None), "en"),
                                f"{EN}\n{line}")
    assert reason is None and (line not in doc.text.split("\n")) is removed
    assert counters["lines_removed:rw_single_word"] == int(removed)


# -- Chinese rules -------------------------------------------------------------------------------
def zh_only(**kw):
    base = dict(min_cjk_ratio=None, min_cjk_chars=None, max_non_cjk_run=None, max_char_ngram_rep=None,
                min_stop_words=None, remove_trailing_fragment=False)
    return ChineseRules(ChineseConfig(**{**base, **kw}), "zh")


@pytest.mark.parametrize("latin,expected", [(30, None), (31, "chinese:cjk_ratio")])
def test_zh_cjk_ratio(latin, expected):
    text = "中" * (100 - latin) + "a" * latin          # 70 % Chinese keeps, 69 % drops
    assert run(zh_only(min_cjk_ratio=0.7), text, "zh")[0] == expected


def test_zh_cjk_ratio_counts_chinese_punctuation():
    text = "中" * 60 + "，" * 10 + "a" * 30
    assert run(zh_only(min_cjk_ratio=0.7), text, "zh")[0] is None
    assert run(zh_only(min_cjk_ratio=0.7, punctuation_counts_as_chinese=False), text, "zh")[0] == "chinese:cjk_ratio"


@pytest.mark.parametrize("n,expected", [(10, None), (9, "chinese:too_few_cjk")])
def test_zh_min_chars(n, expected):
    assert run(zh_only(min_cjk_chars=10), "中" * n + "。", "zh")[0] == expected


@pytest.mark.parametrize("run_text,expected", [("abcdefghij", None), ("abcdefghijk", "chinese:non_cjk_run"),
                                               ("iPhone 15 Pro Max", "chinese:non_cjk_run"), ("abc de fgh ijk", "chinese:non_cjk_run"),
                                               ("abc de fgh ij", None), ("abcde\nfghijk", None),
                                               ("2023-05-12 10:23:45 #123456789012", None),
                                               ("https://www.example.com/news/2023", None), ("zhang.san@example.com", None)])
def test_zh_non_cjk_run_counts_letters(run_text, expected):
    """Letters only (digits, punctuation, spaces, URLs and e-mails do not count): a run of 11
    letters is long, 10 is not; any long run drops at ``max_non_cjk_run_frac: 0``."""
    f = zh_only(max_non_cjk_run=10, max_non_cjk_run_frac=0.0)
    assert run(f, f"中文内容{run_text}中文内容。", "zh")[0] == expected


@pytest.mark.parametrize("n_runs,expected", [(6, None), (7, "chinese:non_cjk_run")])
def test_zh_non_cjk_run_coverage(n_runs, expected):
    """Letters of long runs over non-space characters: 6 × 11 / 242 = 0.273 keeps, 7 × 11 / 254 = 0.303 drops."""
    text = "。".join(["中" * 170] + ["Lorem ipsums"] * n_runs)
    f = zh_only(max_non_cjk_run=10, max_non_cjk_run_frac=0.30)
    assert run(f, text, "zh")[0] == expected


def test_zh_char_ngram_repetition_boundary():
    unique = "".join(chr(0x4E00 + i) for i in range(200))
    for reps in range(1, 12):
        text = unique + "重复的一段话在这里出现了很多次。" * reps
        ratio = char_ngram_repetition(text, 13)
        expected = "chinese:char_ngram_rep" if ratio > 0.5 else None
        assert run(zh_only(max_char_ngram_rep=0.5), text, "zh")[0] == expected
    assert char_ngram_repetition(unique, 13) == 0.0
    assert char_ngram_repetition("重复的一段话在这里出现了很多次。" * 20, 13) > 0.9


@pytest.mark.parametrize("boxed,expected", [(40, None), (41, "chinese:isolated_han")])
def test_zh_isolated_han(boxed, expected):
    # 200 Han characters of prose, `boxed` of them each in its own 【】: the limit is 0.2 of all Han
    prose = "".join(chr(0x4E00 + i) for i in range(200 - boxed))
    text = prose + "".join(f"【{chr(0x5000 + i)}】" for i in range(boxed))
    assert run(zh_only(max_isolated_han_frac=0.2), text, "zh")[0] == expected


def test_zh_isolated_han_counts_only_characters_between_punctuation():
    # a Han character next to a digit, letter or space is not boxed: only 丘 and 邱 of 丘（邱） count
    text = "2023年5月12日，丘（邱）姓的人、A股和B股 一 二 " + ZH
    assert len(_ISOLATED_HAN.findall(text)) == 2
    assert run(zh_only(max_isolated_han_frac=0.2), text, "zh")[0] is None


@pytest.mark.parametrize("stops,expected", [(2, None), (1, "chinese:stop_words")])
def test_zh_stop_words(stops, expected):
    text = "北京上海广州深圳" * 3 + "的" * stops
    assert run(zh_only(min_stop_words=2), text, "zh")[0] == expected


def test_zh_trailing_fragment_removed():
    reason, doc, counters = run(zh_only(remove_trailing_fragment=True), "第一句话说完了。第二句话也说完了！相关阅读", "zh")
    assert reason is None and doc.text == "第一句话说完了。第二句话也说完了！"
    assert counters["zh_trailing_removed"] == 1
    for complete in ("第一句话说完了。", "他说：“走吧。”", "没有标点的一行"):
        assert run(zh_only(remove_trailing_fragment=True), complete, "zh")[1].text == complete


@pytest.mark.parametrize("head,expected", [("市议会开会讨论了在主街修建新图书馆的计划。", None),   # 80 Han left
                                           ("市议会开会讨论了在主街修建图书馆的计划。", "chinese:too_few_cjk")])  # 79
def test_zh_min_chars_after_line_edits(head, expected):
    # 93-94 Han characters pass the 80 minimum, but the trailing fragment (14) is cut: the minimum
    # holds for the text that is kept (C4 counts its 5 sentences after line removals the same way)
    body = "居民们表示对这个方案感到满意，但也有人担心停车问题。新馆将设有阅览室、儿童角和一家小咖啡馆。工程预计明年春天开工，工期大约十八个月。"
    text, reason = RuleFilters().filter_one(head + body + "建筑师展示的图纸显示面向河流", "zh", Counter())
    assert reason == expected and (expected or text == head + body)


def test_zh_defaults_keep_article():
    reason, doc, _ = run(ChineseRules(ChineseConfig(), "zh"), ZH, "zh")
    assert reason is None and doc.text == ZH


# -- mojibake and sensitive words -------------------------------------------------------------------
def test_mojibake_roundtrip_and_patterns():
    garbled = ZH.encode("utf-8").decode("gbk", errors="replace")
    m = Mojibake(MojibakeConfig(), "zh")
    assert run(m, garbled, "zh")[0] in ("mojibake:roundtrip", "mojibake:pattern")
    assert run(m, "澳洲".encode("utf-8").decode("gbk") * 3 + ZH, "zh")[0] is None   # 6 of ~260 chars < 1 %
    assert run(m, "锟斤拷" * 3 + ZH, "zh")[0] == "mojibake:pattern"
    assert run(m, "The cafÃ© is open. " * 10, "en")[0] == "mojibake:pattern"
    assert run(m, "烫烫烫 屯屯屯 \ufffd" + EN, "en")[0] == "mojibake:pattern"   # 7 of 643 chars > 1 %
    assert run(m, "烫烫 屯屯屯 \ufffd" + EN, "en")[0] is None   # 6 of 642 chars
    assert run(m, "烫 屯屯 é" * 3 + EN, "en")[0] is None   # a lone 烫, two 屯 and é are not garbled
    assert run(m, ZH, "zh")[0] is None and run(m, EN, "en")[0] is None
    assert run(m, "校园小说" + ZH, "zh")[0] is None   # genuine text whose GBK bytes are valid 2-byte UTF-8


@pytest.mark.parametrize("hits,expected", [(2, None), (3, "sensitive_words:words")])
def test_sensitive_words_threshold(tmp_path, hits, expected):
    path = tmp_path / "words.txt"
    path.write_text("# example\n赌场\n\nCasino  # ascii: whole words only\n", encoding="utf-8")
    f = SensitiveWords(SensitiveWordsConfig(words_file=str(path), max_matches=2), "zh")
    f.check()
    text = ZH + "赌场" * (hits - 1) + " casino" + " casinos"   # 'casinos' is not the word 'casino'
    assert run(f, text, "zh")[0] == expected


def test_sensitive_words_missing_file():
    with pytest.raises(ConfigError, match="not found"):
        SensitiveWords(SensitiveWordsConfig(words_file="/no/such/list.txt"), "zh").check()


# -- the stage --------------------------------------------------------------------------------------
def _table(texts, langs):
    return pa.table({"id": [str(i) for i in range(len(texts))], "text": texts, "language": langs})


def test_stage_profiles_reasons_and_edits():
    spam = "\n".join(["Buy now!"] * 20)
    texts = [EN, ZH, EN, spam, ZH + "\n相关阅读", None]
    res = RuleFilters().process(_table(texts, ["en", "zh", None, "en", "zh", "en"]))
    assert res.kept.column("id").to_pylist() == ["0", "1", "2", "4"]
    assert res.kept.column("text").to_pylist()[3] == ZH        # trailing fragment removed
    reasons = dict(zip(res.rejected.column("id").to_pylist(), res.rejected.column("reason").to_pylist()))
    assert reasons["3"].startswith("gopher_repetition:") and reasons["5"] == "filter:empty"
    assert set(res.rejected.column("stage").to_pylist()) == {"filter"}
    assert res.counters["zh_trailing_removed"] == 1


def test_stage_language_routing():
    cfg = RuleFiltersConfig()
    assert cfg.profile(None) == "en" and cfg.profile("de") == "en" and cfg.profile("zh") == "zh"
    st = RuleFilters(cfg)
    names = lambda lang: [type(f).__name__ for f in st.filters_for(lang)]  # noqa: E731
    assert "GopherQuality" in names("en") and "ChineseRules" not in names("en")
    assert "ChineseRules" in names("zh") and "GopherQuality" not in names("zh") and "C4" not in names("zh")
    zh_rep = cfg.for_language("zh").gopher_repetition
    assert zh_rep.top_n_grams == {} and zh_rep.dup_line_frac == 0.287 and zh_rep.dup_para_frac is None


def test_stage_per_language_override_merges():
    cfg = RuleFiltersConfig(c4={"min_num_sentences": 3},
                            per_language={"zh": {"chinese": {"min_cjk_chars": 200}},
                                          "de": {"gopher_quality": {"apply_to": None}}})
    assert cfg.for_language("zh").chinese.min_cjk_chars == 200
    assert cfg.for_language("zh").chinese.max_non_cjk_run == 10            # untouched keys survive
    assert cfg.for_language("zh").gopher_repetition.top_n_grams == {}       # built-in zh default kept
    assert cfg.for_language("de").c4.min_num_sentences == 3
    assert cfg.profile("de") == "de"


def test_stage_config_errors():
    with pytest.raises(ValidationError):
        RuleFiltersConfig(c4={"min_sentences": 3})
    with pytest.raises(ValidationError):
        RuleFiltersConfig(per_language={"zh": {"chinese": {"min_cjk_ratio": 2}}})
    st = RuleFilters(RuleFiltersConfig(gopher_quality={"stop_words_file": "/no/such.txt", "apply_to": ["en"]}))
    with pytest.raises(ConfigError, match="stop-word list"):
        st.check()
    RuleFilters().check()


@pytest.mark.parametrize("name", ["en", "zh", "zh_en"])
def test_profiles_load_and_route(name):
    from pathlib import Path

    from webrefinery.pipeline.core.config import load_config

    config = load_config(ROOT / "configs" / f"{name}.yaml")
    assert config.pipeline.index("filter") < config.pipeline.index("quality") < config.pipeline.index("pii")
    stage = RuleFilters(config.stage_config("filter"))
    stage.check()
    zh = [type(f).__name__ for f in stage.filters_for("zh")]
    assert "ChineseRules" in zh and "GopherQuality" not in zh and "C4" not in zh
    assert stage.config.for_language("zh").gopher_repetition.dup_n_grams == {}
    res = stage.process(_table([EN, ZH], ["en", "zh"]))
    assert res.kept.num_rows == 2


# -- Chinese text through the line rules and the default cascade (issue 20) ------------------------
ZH_WEB = ("小米公司2023年5月发布了新款手机Xiaomi 13 Ultra，官方网站https://www.mi.com/global/上可以查看详细参数。\n\n"
          "据介绍，这款手机采用了徕卡光学镜头，售价为5999元起。记者在北京的一家门店看到，不少顾客排队购买。"
          "一位顾客告诉记者，他的订单号是202305120001，已经等了两个星期。\n\n"
          "业内人士认为，国产手机在高端市场的竞争力正在提高。不过，也有分析师指出，芯片供应仍然是一个挑战。"
          "如有问题，可以发邮件到service@example.com咨询。\n\n"
          "相关阅读\n\n"
          "二、市场反应\n\n"
          "发布会结束后，公司股价上涨了3.5%。不少投资者表示看好公司未来的发展。")


def test_chinese_web_article_with_url_date_product_and_order_number_kept():
    res = RuleFilters().process(_table([ZH_WEB], ["zh"]))
    assert res.rejected is None or res.rejected.num_rows == 0, res.rejected.column("reason").to_pylist()
    assert "Xiaomi 13 Ultra" in res.kept.column("text")[0].as_py()


@pytest.mark.parametrize("short,expected", [(66, None), (67, "fineweb:short_line_ratio")])
def test_fineweb_short_lines_chinese_profile(short, expected):
    """zh profile: a line of at most 10 characters is short (10 Han ≈ 30 English characters)."""
    cfg = RuleFiltersConfig().for_language("zh").fineweb
    assert cfg.short_line_length == 10
    flt = FineWeb(cfg.model_copy(update={"line_punct_thr": None, "char_duplicates_ratio": None,
                                         "new_line_ratio": None}), "zh")
    lines = ["短句子共十个字了。。" if i < short else f"这一行比十个字长得多了。{i}" for i in range(100)]
    assert run(flt, "\n\n".join(lines), "zh")[0] == expected


@pytest.mark.parametrize("ends,expected", [(11, None), (10, "fineweb:line_punct_ratio")])
def test_fineweb_line_punct_chinese_marks(ends, expected):
    """FineWeb-2 cmn_Hani: at most 10.6 % of lines ending in 。！？；…」』 drops; blank lines not counted."""
    marks = "。！？；…」』"
    lines = [f"第{i}行文字内容{marks[i % len(marks)]}" if i < ends else f"第{i}行文字内容" for i in range(100)]
    assert run(only(FineWeb, line_punct_thr=0.106), "\n\n".join(lines), "zh")[0] == expected


def test_refinedweb_uppercase_latin_in_chinese_line_kept():
    text = "更多信息，请参考 IMPORT INTO 语句的说明。\nBREAKING NEWS FROM THE CITY\n" + ZH
    reason, doc, counters = run(RefinedWebLines(RefinedWebLinesConfig(max_removed_frac=None), "zh"), text, "zh")
    assert reason is None and counters["lines_removed:rw_uppercase"] == 1
    assert doc.text.startswith("更多信息，请参考 IMPORT INTO")


@pytest.mark.parametrize("body,expected", [(113, None), (112, "refinedweb_lines:lines_removed_frac")])
def test_refinedweb_five_percent_chinese(body, expected):
    text = "中" * (body - 1) + "。" + "\n128 阅读"   # the counter line: 6 of 120 chars (5 %) keeps, of 119 drops
    reason, doc, _ = run(RefinedWebLines(RefinedWebLinesConfig(), "zh"), text, "zh")
    assert reason == expected and (expected or doc.text == "中" * (body - 1) + "。")


@pytest.mark.parametrize("ratio,expected", [(0.5, None), (None, "gopher_quality:short_words")])
def test_null_language_han_text_takes_zh_profile(ratio, expected):
    """`refinery filter` on JSONL without `language`: mostly-Han text is judged by the zh rules."""
    res = RuleFilters(RuleFiltersConfig(han_profile_ratio=ratio)).process(_table([ZH, EN], [None, None]))
    reasons = dict(zip(res.rejected.column("id").to_pylist(), res.rejected.column("reason").to_pylist())) \
        if res.rejected is not None else {}
    assert reasons.get("0") == expected and "1" not in reasons
