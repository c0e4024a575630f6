"""Candidate regexes and validators for the PII types of the ``pii`` stage.

Each type is found in two steps: a compiled regex proposes candidate spans, and a validator
(checksum, calendar, ``phonenumbers`` metadata, ``ipaddress``) accepts or rejects each one.
Boundaries use ASCII classes, not ``\\w``, because Chinese text puts digits directly
against Han characters (``电话13812345678``).

Sources: GB 11643-1999 (resident ID: 6-digit area code, YYYYMMDD birth date, 3-digit
sequence, ISO 7064 MOD 11-2 check digit); ISO/IEC 7812 (card IIN ranges, Luhn check);
RFC 5322/6531 (email, internationalised addresses); RFC 4291 (IPv6 text form).
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import re

import phonenumbers

# -- email ---------------------------------------------------------------------------------
# Local part: a dot-atom of ASCII/Latin letters, or a run of Han characters (RFC 6531), so
# that ``发邮件至zhangsan@163.com`` yields ``zhangsan@163.com``; domain labels of letters/digits/
# hyphens, Unicode or punycode; a TLD of ≥ 2 letters or ``xn--``.
_LOCAL = r"[0-9A-Za-z\u00c0-\u024f!#$%&'*+/=?^_`{|}~-]+"
EMAIL = re.compile(
    rf"(?<![0-9A-Za-z\u00c0-\u024f.+_-])(?:{_LOCAL}(?:\.{_LOCAL})*|[\u3400-\u9fff]+)"
    r"@(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+(?:[^\W\d_]{2,63}|xn--[a-z0-9-]{2,59})(?![\w-]|\.[^\W_])",
    re.I,
)
#: ``icon@2x.png``-style asset names are not emails
FILE_SUFFIXES = frozenset("png jpg jpeg gif svg webp bmp ico css js json pdf mp4 mp3 avif tif tiff".split())

# -- phone ---------------------------------------------------------------------------------
# +CC / 00CC followed by digit groups, or (area) and groups of ≥ 2 digits separated by one
# space, hyphen or dot. ASCII boundaries so ``电话:13812345678`` matches but ``v1.2.3456789`` does not.
PHONE = re.compile(
    r"(?<![0-9A-Za-z_+./@-])(?<![0-9][ -])"
    r"(?:(?:\+|00)[ ]?[1-9]\d{0,2}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,12}(?:[ .-]\d{1,8}){0,6}"
    r"|(?:1[ .-])?(?:\(\d{1,4}\)[ .-]?)?\d{2,}(?:[ .-]\d{2,}){0,5})"
    r"(?![0-9A-Za-z_@]|[.-]\d|:\d|[ -]\d)"
)
_CN_MOBILE = re.compile(r"1[3-9]\d{9}")
_DATE_LIKE = re.compile(
    r"^(?:(?:19|20)\d{2}[-./](?:0?[1-9]|1[0-2])[-./](?:0?[1-9]|[12]\d|3[01])"
    r"|(?:0?[1-9]|[12]\d|3[01])[-./](?:0?[1-9]|1[0-2])[-./](?:19|20)\d{2}"
    r"|(?:0?[1-9]|1[0-2])[-./](?:0?[1-9]|[12]\d|3[01])[-./](?:19|20)\d{2})$"
)


def valid_phone(candidate: str, regions: tuple[str, ...]) -> bool:
    """True when ``candidate`` is a valid number for some region (``phonenumbers`` metadata)."""
    digits = re.sub(r"\D", "", candidate)
    if not 7 <= len(digits) <= 15 or _DATE_LIKE.match(candidate):
        return False
    text = candidate
    if text.isdigit() and not (text.startswith("0") or _CN_MOBILE.fullmatch(text)):
        return False  # a bare digit run is a phone only as a CN mobile or with a trunk 0
    if text.startswith("00"):
        text = "+" + text[2:]
    tries = (None,) if text.startswith("+") else regions
    for region in tries:
        try:
            num = phonenumbers.parse(text, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(num):
            return True
    return False


# -- Chinese resident identity card (GB 11643-1999) -------------------------------------------
ID_NUMBER = re.compile(
    r"(?<![0-9A-Za-z_])(?:[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx]"
    r"|[1-9]\d{5}\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3})(?![0-9A-Za-z_])"
)
#: first two digits: province-level divisions of GB/T 2260 (71 Taiwan, 81/82 HK/Macau, 83 Taiwan
#: residence permits, 91 foreigners' permanent residence)
_PROVINCES = frozenset(
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 "
    "61 62 63 64 65 71 81 82 83 91".split()
)
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def valid_id_number(s: str, today: _dt.date | None = None) -> bool:
    """GB 11643-1999: province code, a real birth date not in the future, MOD 11-2 check digit.

    The 15-digit form (before 1999) has a 2-digit year (19YY) and no check digit.
    """
    if s[:2] not in _PROVINCES:
        return False
    if len(s) == 15:
        year, month, day = 1900 + int(s[6:8]), int(s[8:10]), int(s[10:12])
    else:
        year, month, day = int(s[6:10]), int(s[10:12]), int(s[12:14])
    try:
        born = _dt.date(year, month, day)
    except ValueError:
        return False
    if born > (today or _dt.date.today()) or year < 1900:
        return False
    if len(s) == 15:
        return True
    total = sum(int(c) * w for c, w in zip(s[:17], _ID_WEIGHTS))
    return _ID_CHECK[total % 11] == s[17].upper()


# -- payment cards (ISO/IEC 7812, Luhn) -------------------------------------------------------
CARD = re.compile(
    r"(?<![0-9A-Za-z_.,-])(?<![0-9][ -])\d{4}(?:[ -]?\d){9,15}(?![0-9A-Za-z_]|[ -]\d|[.,]\d)"
)
# Issuer prefixes and lengths: Visa 4 (13/16/19), Mastercard 51-55 & 2221-2720 (16),
# Amex 34/37 (15), Discover 6011/644-649/65 (16-19), JCB 3528-3589 (16-19), Diners 36/38/300-305
# (14-19), UnionPay 62 & 81 (16-19), Maestro 50/56-58/6304/6759/6761-6763 (12-19), UATP 1 (15), Mir 2200-2204.
_IIN = re.compile(
    r"^(?:4\d{12}(?:\d{3}){0,2}|5[1-5]\d{14}|2(?:2[2-9][1-9]|2[3-9]\d|[3-6]\d\d|7[01]\d|720)\d{12}"
    r"|3[47]\d{13}|6(?:011|4[4-9]\d|5\d\d)\d{12,15}|35(?:2[89]|[3-8]\d)\d{12,15}"
    r"|3(?:0[0-5]|[68]\d)\d{11,16}|62\d{14,17}|81\d{14,17}|5[06-8]\d{11,17}|6(?:304|759|76[1-3])\d{8,15}|1\d{14}"
    r"|220[0-4]\d{12,15})$"
)


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = ord(c) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def valid_card(candidate: str) -> bool:
    """13-19 digits, a known issuer prefix, the Luhn check, and consistent grouping."""
    digits = candidate.replace(" ", "").replace("-", "")
    if not 13 <= len(digits) <= 19 or not _IIN.match(digits) or not luhn_ok(digits):
        return False
    if digits[:3] in ("978", "979") and len(digits) == 13:  # EAN-13 / ISBN-13 barcode
        return False
    groups = re.split(r"[ -]", candidate)
    # ungrouped, or groups of 4 (Visa/MC/UnionPay, last may be shorter), 4-6-5 (Amex), 4-6-4 (Diners)
    return len(groups) == 1 or all(len(g) == 4 for g in groups[:-1]) or [len(g) for g in groups] in ([4, 6, 5], [4, 6, 4])


# -- QQ ------------------------------------------------------------------------------------
# Only next to a keyword (QQ, qq号, 扣扣, 企鹅号), optionally "QQ/微信"; 5-11 digits, no leading 0.
QQ = re.compile(
    r"(?:(?<![A-Za-z])[Qq]{2}(?![A-Za-z])|扣扣|企鹅号)"
    r"[ \t]*(?:号码|号|帐号|账号|number|No\.?|#)?[ \t]*(?:是|为|is)?"
    r"(?:[ \t]*[/／、][ \t]*(?:微信|wechat|WeChat|电话|手机)号?)?"
    r"[ \t]*[:：]?[ \t]*([1-9]\d{4,10})(?![0-9A-Za-z_])"
)

# -- IP addresses ---------------------------------------------------------------------------
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
IPV4 = re.compile(rf"(?<![0-9A-Za-z_.-]){_OCTET}(?:\.{_OCTET}){{3}}(?![0-9A-Za-z_]|\.\d|-\d)")
IPV6 = re.compile(
    r"(?<![0-9A-Za-z_:.-])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:(?:\d{1,3}\.){3}\d{1,3}|[0-9A-Fa-f]{1,4})?"
    r"(?![0-9A-Za-z_:]|\.\d)"
)


def valid_ipv6(candidate: str) -> bool:
    """A real IPv6 text form (RFC 4291) with ≥ 1 digit and a ``::`` or all 8 groups."""
    if "::" not in candidate and candidate.count(":") < 7:
        return False  # times (12:34:56) and MAC addresses (aa:bb:cc:dd:ee:ff)
    if not any(c.isdigit() for c in candidate):
        return False
    try:
        ipaddress.IPv6Address(candidate)
    except ValueError:
        return False
    return True


# -- context that makes a digit string *not* personal data --------------------------------------
#: keywords shortly before a number that mark it as an order/tracking/product/version number
NOT_PII_CONTEXT = re.compile(
    r"(?:第|编码|订单|单号|运单|快递|物流|编号|流水号|交易号|序列号|型号|条码|条形码|发票|批号|货号|工号|版本|合同号"
    r"|\b(?:order|tracking|invoice|isbn|issn|serial|sku|model|part|ref(?:erence)?|barcode|ean|upc"
    r"|version|ver|build|release|doi|patent|case|ticket|transaction|txn|no\.)|#)"
    r"[^0-9A-Za-z\n]{0,4}(?:number|no\.?|id|code|#|号|码)?[^0-9A-Za-z\n]{0,3}$",
    re.I,
)
_CURRENCY_BEFORE = re.compile(r"[$¥￥€£₩]\s*$|(?:USD|RMB|CNY|EUR|HKD)\s*$", re.I)
_VERSION_BEFORE = re.compile(r"(?:\b(?:v|version|ver\.?|release|section|chapter|rfc)|版本号?|§)\s*$", re.I)
_URL_TOKEN = re.compile(r"(?:https?|ftp)://[^\s<>\"'）)\]】，。]*$|www\.[^\s<>\"'）)\]】，。]*$", re.I)


def number_context_ok(text: str, start: int) -> bool:
    """False when the words just before ``start`` say the number is not personal data."""
    before = text[max(0, start - 24):start]
    return not (NOT_PII_CONTEXT.search(before) or _CURRENCY_BEFORE.search(before))


def version_context(text: str, start: int) -> bool:
    """True when the number at ``start`` follows a version/section marker (``v1.2.3.4``)."""
    return _VERSION_BEFORE.search(text[max(0, start - 12):start]) is not None


def inside_url(text: str, start: int) -> bool:
    """True when position ``start`` is inside a URL (``http://``, ``ftp://`` or ``www.``)."""
    return _URL_TOKEN.search(text, max(0, start - 256), start) is not None
