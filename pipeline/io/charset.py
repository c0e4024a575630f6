"""Decode HTML bytes to text: HTTP header charset, then ``<meta>``, then detection.

Labels are mapped the way browsers do (WHATWG Encoding Standard): GB2312/GBK → GB18030,
Big5 → Big5-HKSCS, ISO-8859-1/ASCII → windows-1252, Shift_JIS → cp932, EUC-KR → cp949.
Detection uses ``charset_normalizer`` and only runs when the declared charsets fail.
"""

from __future__ import annotations

import codecs

import charset_normalizer
import regex

#: WHATWG label → Python codec for the labels whose naive mapping decodes wrongly
_WHATWG = {
    "gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "gb_2312-80": "gb18030",
    "chinese": "gb18030", "csgb2312": "gb18030", "iso-ir-58": "gb18030",
    "big5": "big5hkscs", "x-x-big5": "big5hkscs", "big5-hkscs": "big5hkscs", "cn-big5": "big5hkscs",
    "iso-8859-1": "cp1252", "latin1": "cp1252", "l1": "cp1252", "ascii": "cp1252",
    "us-ascii": "cp1252", "iso8859-1": "cp1252", "iso_8859-1": "cp1252",
    "shift_jis": "cp932", "shift-jis": "cp932", "sjis": "cp932", "x-sjis": "cp932", "ms_kanji": "cp932",
    "windows-31j": "cp932", "euc-kr": "cp949", "ks_c_5601-1987": "cp949",
    "tis-620": "cp874", "iso-8859-11": "cp874", "windows-874": "cp874",
    "utf8": "utf-8", "unicode-1-1-utf-8": "utf-8",
}
_META = regex.compile(
    rb"""<meta[^>]+?charset\s*=\s*["']?\s*([a-zA-Z0-9_:.\-]+)""", regex.IGNORECASE)
#: bytes that never appear in text: NUL and most C0 controls
_BINARY = regex.compile(rb"[\x00-\x08\x0e-\x1a\x1c-\x1f]")


def codec_for(label: str | None) -> str | None:
    """Python codec name for a charset label, or None when unknown."""
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    label = _WHATWG.get(label, label)
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def meta_charset(html: bytes) -> str | None:
    """Charset declared in a ``<meta>`` tag within the first 4 KiB."""
    m = _META.search(html[:4096])
    return m.group(1).decode("ascii", "ignore") if m else None


#: byte-order marks, longest first (the UTF-32-LE mark begins with the UTF-16-LE one)
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"), (codecs.BOM_UTF8, "utf-8"),
         (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))


def bom_codec(data: bytes) -> tuple[str, int] | None:
    """(codec, length of the mark) when ``data`` starts with a Unicode byte-order mark."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return codec, len(bom)
    return None


def binary_fraction(data: bytes, sample: int = 4096) -> float:
    """Share of control bytes in the first ``sample`` bytes (images served as text/html);
    0 for text behind a byte-order mark (UTF-16 text is half NUL bytes)."""
    if bom_codec(data):
        return 0.0
    head = data[:sample]
    return len(_BINARY.findall(head)) / max(1, len(head))


def decode_html(data: bytes, header_charset: str | None = None) -> tuple[str, str, str]:
    """Decode ``data``; returns ``(text, codec, how)`` with how ∈ bom|utf8|header|meta|detected|fallback.

    Bytes that are valid UTF-8 are decoded as UTF-8 whatever the page declares: servers
    often send a default ``iso-8859-1``/``gb2312`` label for UTF-8 pages, and valid
    multi-byte UTF-8 almost never occurs by chance in legacy encodings. Otherwise a
    declared charset (HTTP header, then ``<meta>``) is used if it decodes without errors,
    then detection decides, and as a last resort UTF-8 with replacement characters.
    """
    bom = bom_codec(data)
    if bom:
        return data[bom[1]:].decode(bom[0], "replace"), bom[0], "bom"
    try:
        return data.decode("utf-8"), "utf-8", "utf8"
    except UnicodeDecodeError:
        pass
    for how, label in (("header", header_charset), ("meta", meta_charset(data))):
        codec = codec_for(label)
        if codec and codec != "utf-8":
            try:
                return data.decode(codec), codec, how
            except UnicodeDecodeError:
                continue
    best = charset_normalizer.from_bytes(data[:200_000]).best()
    if best is not None:
        codec = codec_for(best.encoding) or best.encoding
        return data.decode(codec, "replace"), codec, "detected"
    return data.decode("utf-8", "replace"), "utf-8", "fallback"
