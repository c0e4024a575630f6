"""Han, kana, hangul and CJK character classes: the one definition.

Two forms are given, for two kinds of regex engine:

- **Script properties** (``HAN_PROP``, ``KANA_PROP``, ``CJK_PROP``) for the ``regex`` module
  and RE2 (``pyarrow.compute`` regex kernels): ``\\p{Han}``, ``\\p{Hiragana}``,
  ``\\p{Katakana}``. They follow the Unicode Script property, so every CJK extension block
  (A–I, the compatibility ideographs and their supplement) and new Unicode versions come for
  free, and ``\\p{Han}`` adds the iteration mark ``々``, ``〇`` and the CJK radicals.
  ``ー`` (U+30FC) and ``・`` (U+30FB) are script Common, so they are not kana here.
- **Range strings** (``HAN``, ``KANA``, ...) to go inside ``[...]`` of a stdlib ``re`` pattern,
  for the hot paths (per-document token and character counts), where ``re`` scans several
  times faster than ``regex`` with a property class. They are these code-point ranges:

  ===================  ===================================================================
  ``HAN``              U+3400–4DBF (Ext-A), U+4E00–9FFF (unified), U+F900–FAFF
                       (compatibility), U+20000–3134F (Ext-B … Ext-H, supplementary planes)
  ``KANA``             kana *letters*: U+3041–3096 hiragana, U+30A1–30FA katakana,
                       U+31F0–31FF katakana phonetic extensions, U+FF66–FF9D half-width
                       katakana. Excludes ``・`` and ``ー`` (used in Chinese text too) and
                       the voicing / iteration marks: the set used to decide zh vs ja.
  ``KANA_BLOCKS``      the whole Hiragana and Katakana blocks, U+3040–30FF: a *tokenizer*
                       class (each such character is a token of its own, ``ー`` and ``・``
                       included); kept distinct from ``KANA`` because changing it changes
                       token counts of the Gopher/C4 rules.
  ``HANGUL``           U+AC00–D7AF (syllables)
  ``CJK_CHARS``        ``KANA_BLOCKS`` + ``HAN`` + ``HANGUL``: one character, one token
  ``CJK_PUNCT``        CJK and full-width punctuation (。，、！？：；“”‘’《》「」【】…)
  ``CJK_SPACING``      what :mod:`normalize` removes spaces between: ``HAN`` plus radicals
                       (U+2E80–2FDF), CJK symbols (U+3001–303F), vertical and full-width
                       punctuation
  ===================  ===================================================================

``HAN_BMP_BLOCKS`` is the BMP part of ``HAN`` as ``(start, stop)`` pairs, for code that
enumerates characters (OpenCC's Traditional/Simplified tables are built over it).
"""

from __future__ import annotations

#: ``regex`` / RE2 script properties (put inside ``[...]``)
HAN_PROP = r"\p{Han}"
KANA_PROP = r"\p{Hiragana}\p{Katakana}"
CJK_PROP = HAN_PROP + KANA_PROP

#: BMP Han blocks as half-open ``(start, stop)`` code-point ranges: Ext-A, unified, compatibility
HAN_BMP_BLOCKS: tuple[tuple[int, int], ...] = ((0x3400, 0x4DC0), (0x4E00, 0xA000), (0xF900, 0xFB00))
#: Han outside the BMP: Ext-B … Ext-H
HAN_SUPPLEMENTARY = "\U00020000-\U0003134f"
HAN_BMP = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
HAN = HAN_BMP + HAN_SUPPLEMENTARY

KANA = "\u3041-\u3096\u30a1-\u30fa\u31f0-\u31ff\uff66-\uff9d"
KANA_BLOCKS = "\u3040-\u30ff"
HANGUL = "\uac00-\ud7af"
#: one character = one token
CJK_CHARS = KANA_BLOCKS + HAN + HANGUL

#: CJK and full-width punctuation (。，、！？：；“”‘’《》「」【】…)
CJK_PUNCT = ("\u2018\u2019\u201c\u201d\u2026\u3000-\u303f\ufe30-\ufe4f"
             "\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65")
#: characters between which normalize removes a single space
CJK_SPACING = ("\u2e80-\u2fdf\u3001-\u303f" + HAN_BMP + "\ufe30-\ufe4f"
               "\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65" + HAN_SUPPLEMENTARY)
