"""The ``normalize`` stage: one canonical form for every document's text.

Steps, in order (each can be switched off in the ``normalize:`` config section):

1. mojibake repair with ftfy's ``fix_encoding`` (UTF-8 read as Latin-1/cp1252), only on
   documents that contain a mojibake telltale pair, so clean text costs one regex scan;
2. HTML residue: ``<script>``/``<style>`` blocks, tags of real HTML elements, entities;
3. Unicode NFC (DESIGN.md: text is UTF-8 NFC);
4. whole lines that are CSS rules or JavaScript statements;
5. emoji and pictographic symbols (on by default for ``zh`` only, as WuDao (Yuan et al.,
   2021) removes them from its Chinese corpus; ©, ®, ™ and arrows are kept);
6. Traditional → Simplified with OpenCC for ``zh`` documents: metadata ``script`` records
   the original script (``zh-Hant``/``zh-Hans``, by the share of Traditional-only characters);
   any Traditional-only character is converted; Japanese and non-zh text are never touched;
7. whitespace: runs of horizontal space become one space, lines are stripped, more than one
   blank line becomes one (paragraph breaks survive), zero-width characters go;
8. spaces between two Chinese characters (or CJK punctuation) are removed; spaces next to
   Latin words and numbers stay.

Documents left empty are rejected with reason ``empty_after_normalize``.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from functools import cached_property
from typing import Literal

import ftfy
import pyarrow as pa
import regex
from pydantic import Field

from webrefinery.pipeline.stages.html_residue import strip_code_lines, strip_html
from webrefinery.pipeline.stages.opencc_convert import ChineseConverter
from webrefinery.pipeline.core.schema import column_values, dump_metadata, metadata_dicts, set_column
from webrefinery.pipeline.core.stage import Stage, StageConfig, StageResult
from webrefinery.pipeline.text.mojibake import MOJIBAKE_PAIR
from webrefinery.pipeline.text.scripts import CJK_SPACING


class NormalizeConfig(StageConfig):
    """Config section ``normalize:``."""

    fix_mojibake: bool = True
    strip_html: bool = True
    nfc: bool = True
    strip_code: bool = True
    #: null = on for zh only (WuDao removes emoji/pictographs from its Chinese corpus),
    #: true/false = on/off for every language (``per_language`` can still override)
    remove_emoji: bool | None = None
    #: convert zh-Hant documents to Simplified (only documents whose language is ``zh``)
    opencc: bool = True
    opencc_config: Literal["t2s", "tw2s", "tw2sp", "hk2s"] = "t2s"
    #: share of script-specific Han characters that must be Traditional-only for zh-Hant
    hant_ratio: float = Field(0.5, gt=0.0, le=1.0)
    collapse_whitespace: bool = True
    remove_cjk_spaces: bool = True


# Mojibake telltale: a Latin-1 lead byte of a UTF-8 sequence followed by a continuation
# byte as Latin-1 or cp1252 shows it (``Ã©``, ``â€™``, ``ä¸­``). ftfy decides the rest.
_MOJIBAKE = re.compile(MOJIBAKE_PAIR)
_KEEP_SYMBOLS = "\u00a9\u00ae\u203c\u2049\u2122\u2139\u2194\u2195\u2196\u2197\u2198\u2199\u21a9\u21aa"


def _pictographic_class() -> str:
    """``[...]`` of Unicode Extended_Pictographic characters (via ``regex``) minus ©, ®, ™, arrows.

    Built once at import and compiled with the stdlib ``re``, which scans ~10x faster than
    ``regex`` with a property class.
    """
    blocks = [range(0x2000, 0x3300), range(0x1F000, 0x20000)]
    text = "".join(chr(c) for block in blocks for c in block)
    codes = [ord(c) for c in regex.findall(r"\p{Extended_Pictographic}", text) if c not in _KEEP_SYMBOLS]
    ranges: list[list[int]] = []
    for c in codes:  # as ranges: ``re`` tests astral characters against each item in turn
        if ranges and c == ranges[-1][1] + 1:
            ranges[-1][1] = c
        else:
            ranges.append([c, c])
    return "[" + "".join(f"{chr(a)}-{chr(b)}" if a < b else chr(a) for a, b in ranges) + "]"


_PICT = _pictographic_class()
_EMOJI = re.compile(
    rf"(?:{_PICT}|[\U0001F1E6-\U0001F1FF])"
    rf"(?:[\uFE0E\uFE0F\U0001F3FB-\U0001F3FF\u20E3\U000E0020-\U000E007F]|\u200D{_PICT})*"
    r"|[\uFE0F\U0001F3FB-\U0001F3FF]\u20E3?"
)
#: the blocks where every Extended_Pictographic character lives (a cheap first test)
_EMOJI_BLOCKS = re.compile("[\u203c-\u2bff\u3030\u303d\u3297\u3299\ufe0f\U0001F000-\U0001FFFF]")
#: zero-width space, word joiner, BOM, soft hyphen (ZWJ/ZWNJ are kept: scripts need them)
_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u2060\ufeff\u00ad"))
_CJK = CJK_SPACING
_CJK_SPACE = re.compile(rf"(?<=[{_CJK}]) (?=[{_CJK}])")
_HAS_CJK = re.compile(rf"[{_CJK}] [{_CJK}]")


def fix_mojibake(text: str) -> str:
    """ftfy's encoding repair, run only when a mojibake telltale is present."""
    if text.isascii() or not _MOJIBAKE.search(text):
        return text
    return ftfy.fix_encoding(text)


def remove_emoji(text: str) -> str:
    """Remove emoji (with modifiers, ZWJ sequences and flags) and pictographic symbols."""
    if text.isascii() or not _EMOJI_BLOCKS.search(text):
        return text
    return _EMOJI.sub("", text)


def collapse_whitespace(text: str) -> str:
    """One space per horizontal run, stripped lines, at most one blank line between paragraphs.

    ``str.splitlines``/``str.split`` know every Unicode line break and blank (NBSP, U+3000 …).
    """
    if not text.isascii() and any(chr(z) in text for z in _ZERO_WIDTH):
        text = text.translate(_ZERO_WIDTH)
    out: list[str] = []
    blank = False
    for line in text.splitlines():
        line = " ".join(line.split())
        if not line:
            blank = True
            continue
        if blank and out:
            out.append("")
        out.append(line)
        blank = False
    return "\n".join(out)


def remove_cjk_spaces(text: str) -> str:
    """Remove single spaces between two Chinese characters/CJK punctuation (run after collapse)."""
    if text.isascii() or not _HAS_CJK.search(text):
        return text
    return _CJK_SPACE.sub("", text)


class Normalize(Stage):
    """NFC, HTML/CSS/JS residue, emoji, whitespace, CJK spacing, mojibake, OpenCC t2s."""

    name = "normalize"
    Config = NormalizeConfig
    backend = "opencc"
    #: Traditional Chinese, so that the OpenCC converter loads and runs
    probe = {"text": ["圖書館的閱覽室將在冬天延長開放時間，議會要求工作人員報告費用。"], "language": ["zh"]}

    @cached_property
    def _converters(self) -> dict[tuple[str, float], ChineseConverter]:
        return {}

    def _converter(self, cfg: NormalizeConfig) -> ChineseConverter:
        key = (cfg.opencc_config, cfg.hant_ratio)
        if key not in self._converters:
            self._converters[key] = ChineseConverter(*key)
        return self._converters[key]

    def normalize(self, text: str, lang: str | None, counters: Counter) -> tuple[str, str | None]:
        """Normalize one document; returns the text and its zh script (None if not zh)."""
        cfg: NormalizeConfig = self.config.for_language(lang)  # type: ignore[assignment]
        if cfg.fix_mojibake:
            fixed = fix_mojibake(text)
            if fixed != text:
                counters["mojibake_repaired"] += 1
                text = fixed
        if cfg.strip_html:
            text, changed = strip_html(text)
            counters["html_residue_removed"] += changed
        if cfg.nfc and not unicodedata.is_normalized("NFC", text):
            text = unicodedata.normalize("NFC", text)
            counters["nfc_changed"] += 1
        if cfg.strip_code:
            text, changed = strip_code_lines(text)
            counters["code_lines_removed"] += changed
        if cfg.remove_emoji or (cfg.remove_emoji is None and lang == "zh"):
            cleaned = remove_emoji(text)
            if cleaned != text:
                counters["emoji_removed"] += 1
                text = cleaned
        script = None
        if lang == "zh" and cfg.opencc:
            script, converted = self._converter(cfg).simplify(text)
            if script is not None:
                counters[f"script:{script}"] += 1
                if converted != text:
                    counters["opencc_converted"] += 1
                    text = converted
        if cfg.collapse_whitespace:
            text = collapse_whitespace(text)
        if cfg.remove_cjk_spaces:
            text = remove_cjk_spaces(text)
        return text, script

    def process(self, table: pa.Table) -> StageResult:
        counters: Counter = Counter()
        texts = table.column("text").to_pylist()
        langs = column_values(table, "language")
        metas = metadata_dicts(table)
        out: list[str | None] = []
        reasons: list[str | None] = []
        for text, lang, meta in zip(texts, langs, metas):
            if text is None:
                out.append(None)
                reasons.append("empty_after_normalize")
                continue
            new, script = self.normalize(text, lang, counters)
            if script is not None:
                meta["script"] = script
            out.append(new)
            reasons.append(None if new else "empty_after_normalize")
        table = set_column(table, "text", pa.array(out, pa.string()))
        if "metadata" in table.column_names or any(metas):
            table = set_column(table, "metadata", dump_metadata(metas))
        counters = Counter({k: v for k, v in counters.items() if v})
        return self.split(table, reasons, counters)
