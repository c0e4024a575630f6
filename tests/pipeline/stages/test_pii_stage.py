"""The pii stage: typed placeholders, per-type counts, switches, validators, CLI end to end."""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from webrefinery.pipeline.core.config import build_config
from webrefinery.pipeline.core.errors import ConfigError
from webrefinery.pipeline.stages.pii import PRIORITY, PIIRedact, find_pii
from webrefinery.pipeline.stages.pii_patterns import luhn_ok, valid_card, valid_id_number

ALL = frozenset(PRIORITY)


def kinds(text: str, enabled=ALL) -> list[tuple[str, str]]:
    return [(s.kind, text[s.start:s.end]) for s in find_pii(text, enabled)]


def test_redacts_each_type_with_placeholders_and_counts():
    text = ("邮箱 zhang@example.cn 手机13812345678 身份证11010519491231002X QQ：12345678 "
            "IP 192.168.0.1 卡号 4111 1111 1111 1111 和 lee@example.com")
    table = pa.table({"text": [text, "nothing here"], "metadata": [json.dumps({"title": "x"}), None]})
    result = PIIRedact().process(table)
    assert result.rejected is None and result.kept.num_rows == 2
    out = result.kept.column("text")[0].as_py()
    assert out == ("邮箱 <EMAIL> 手机<PHONE> 身份证<ID_NUMBER> QQ：<QQ> "
                   "IP <IP_ADDRESS> 卡号 <CREDIT_CARD> 和 <EMAIL>")
    meta = json.loads(result.kept.column("metadata")[0].as_py())
    assert meta == {"title": "x", "pii": {"CREDIT_CARD": 1, "EMAIL": 2, "ID_NUMBER": 1, "IP_ADDRESS": 1,
                                          "PHONE": 1, "QQ": 1}}
    assert result.kept.column("metadata")[1].as_py() is None
    assert result.counters["pii:EMAIL"] == 2 and result.counters["pii:QQ"] == 1
    assert result.counters["pii_docs"] == 1


def test_types_switch_off_and_placeholders_configurable():
    cfg = PIIRedact.Config(phone=False, placeholders={"EMAIL": "[email]"})
    out = PIIRedact(cfg).process(pa.table({"text": ["a@b.com 13812345678"]}))
    assert out.kept.column("text")[0].as_py() == "[email] 13812345678"


def test_per_language_override():
    cfg = PIIRedact.Config(per_language={"en": {"ip_address": False}})
    out = PIIRedact(cfg).process(pa.table({"text": ["ip 10.0.0.1", "ip 10.0.0.1"], "language": ["en", "zh"]}))
    assert out.kept.column("text").to_pylist() == ["ip 10.0.0.1", "ip <IP_ADDRESS>"]


def test_id_number_checksum_date_and_legacy():
    assert valid_id_number("11010519491231002X")
    assert not valid_id_number("110105194912310021")  # wrong check digit
    assert not valid_id_number("110105199002300026")  # 30 February
    assert not valid_id_number("990105194912310021")  # no such province
    assert not valid_id_number("110105209901010028", today=dt.date(2026, 1, 1))  # born in the future
    assert valid_id_number("110105491231002")  # 15-digit pre-1999 form
    assert not valid_id_number("110105491331002")  # month 13


def test_cards_luhn_issuer_grouping():
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert valid_card("6212 3456 7890 1232")  # UnionPay 62, Luhn-valid
    assert valid_card("3782 822463 10005")  # Amex 4-6-5
    assert not valid_card("9787111213826")  # ISBN-13 (EAN) is not a card
    assert not valid_card("41 11111111 111111")  # odd grouping
    assert not valid_card("9111111111111111")  # no issuer starts with 9


@pytest.mark.parametrize("text", [
    "Meeting on 2023-10-15 at 13:45:00, room 1203.",
    "Price ¥13800.00 or $1,299.99; version 10.15.7.2 released.",
    "ISBN 978-7-111-21382-6 and ISBN 0-306-40615-2",
    "订单号：13812345678901 快递单号 SF1234567890123",
    "Located at 39.904211, 116.407396 (Beijing).",
    "See https://example.com/user/13812345678/profile?ip=10.0.0.1",
    "Population 1411750000 in 2023; timestamp 20231015123045.",
    "QQ群 12345678 和 QQ音乐 2023",
])
def test_hard_negatives_untouched(text):
    assert kinds(text) == []


def test_glued_chinese_and_lists():
    assert kinds("请拨打13812345678或0755-86013388咨询") == [("PHONE", "13812345678"), ("PHONE", "0755-86013388")]
    assert kinds("Numbers: 13800138000 13900139000") == [("PHONE", "13800138000"), ("PHONE", "13900139000")]
    assert kinds("发邮件至zhangsan@163.com，谢谢") == [("EMAIL", "zhangsan@163.com")]


def test_idn_email_and_ipv6():
    assert kinds("写信给 用户@例子.中国 或 a@xn--d1acufc.xn--p1ai") == [("EMAIL", "用户@例子.中国"),
                                                                   ("EMAIL", "a@xn--d1acufc.xn--p1ai")]
    assert kinds("v6 2001:db8::10.0.0.1 and ::1; time 12:34:56") == [("IP_ADDRESS", "2001:db8::10.0.0.1"),
                                                                    ("IP_ADDRESS", "::1")]


def test_config_errors_are_clear():
    with pytest.raises(ConfigError, match="pii.phone_regions"):
        build_config({"pii": {"phone_regions": ["XX"]}})
    with pytest.raises(ConfigError, match="pii.placeholders"):
        build_config({"pii": {"placeholders": {"SSN": "<SSN>"}}})


def test_cli_end_to_end(cli, tmp_path):
    src = tmp_path / "in.jsonl"
    rows = [{"id": "a", "text": "Write to jane@example.com or call +1 (212) 555-0123.", "language": "en"},
            {"id": "b", "text": "没有个人信息，只有日期2023-10-15。", "language": "zh"}]
    src.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    code, _, err = cli("pii", "--input", src, "--output", out, "-q")
    assert code == 0, err
    table = pa.concat_tables([pq.read_table(p) for p in sorted((out / "data").glob("*.parquet"))])
    texts = dict(zip(table.column("id").to_pylist(), table.column("text").to_pylist()))
    assert texts == {"a": "Write to <EMAIL> or call <PHONE>.", "b": rows[1]["text"]}
    stats = json.loads((out / "stats.json").read_text())
    pii = next(s for s in stats["stages"] if s["name"] == "pii")
    assert pii["counters"]["pii:EMAIL"] == 1 and pii["counters"]["pii:PHONE"] == 1
    assert pii["docs_out"] == 2


def test_cli_normalize_end_to_end(cli, tmp_path):
    src = tmp_path / "in.jsonl"
    rows = [{"id": "t", "text": "我們 說 的 話&nbsp;<br>後來😀", "language": "zh"}]
    src.write_text(json.dumps(rows[0], ensure_ascii=False) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    code, _, err = cli("normalize", "--input", src, "--output", out, "-q")
    assert code == 0, err
    table = pq.read_table(next((out / "data").glob("*.parquet")))
    assert table.column("text").to_pylist() == ["我们说的话\n后来"]
    assert json.loads(table.column("metadata")[0].as_py())["script"] == "zh-Hant"
    stats = json.loads((out / "stats.json").read_text())
    counters = next(s for s in stats["stages"] if s["name"] == "normalize")["counters"]
    assert counters["opencc_converted"] == 1 and counters["emoji_removed"] == 1
