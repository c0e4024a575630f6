"""The ``pii`` stage: redact personal data with typed placeholders, never drop documents.

Types (each on/off in the ``pii:`` config section): EMAIL, PHONE, ID_NUMBER (Chinese resident
ID, GB 11643-1999), QQ (only next to a keyword), IP_ADDRESS (v4/v6), CREDIT_CARD (Luhn).
Candidates come from compiled regexes and are validated (checksums, calendar,
``phonenumbers``, ``ipaddress``); digit types run only when the document has a run of ≥ 7
digits, so most text costs a few scans. Precision guards: numbers inside URLs are left
alone, and so are numbers right after order/tracking/ISBN/version/currency words.

Per document, metadata ``pii`` holds ``{TYPE: count}`` (only when something was redacted);
stats get counters ``pii:TYPE`` and ``pii_docs``. datatrove's ``PIIFormatter`` (the reference)
handles emails and IPv4/IPv6 only.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal

import phonenumbers
import pyarrow as pa
from pydantic import field_validator

from webrefinery.pipeline.core.card import Block, StageCard, Table, num, pct
from webrefinery.pipeline.stages import pii_patterns as pp
from webrefinery.pipeline.core.schema import column_values, dump_metadata, metadata_dicts, set_column
from webrefinery.pipeline.core.stage import PROBE_TEXT, Stage, StageConfig, StageResult

#: the PII types, defined here once; when spans overlap, the earlier type in this order wins.
#: ``PIIConfig`` has one on/off switch per type, named ``type.lower()``.
PRIORITY: tuple[str, ...] = ("EMAIL", "ID_NUMBER", "CREDIT_CARD", "QQ", "PHONE", "IP_ADDRESS")
PIIType = Literal[PRIORITY]  # type: ignore[valid-type]
DEFAULT_PLACEHOLDERS = {t: f"<{t}>" for t in PRIORITY}

_DIGIT_TYPES = frozenset({"PHONE", "ID_NUMBER", "CREDIT_CARD", "IP_ADDRESS"})
#: a maximal run of digits and number separators, ≥ 7 characters (the shortest IPv4 / phone)
_CLUSTER = re.compile(r"\d[\d .()/:-]{5,}\d")
_IPV6_HINT = re.compile(r":[0-9A-Fa-f]{1,4}:[0-9A-Fa-f]{1,4}:")


class PIIConfig(StageConfig):
    """Config section ``pii:``."""

    email: bool = True
    phone: bool = True
    id_number: bool = True
    qq: bool = True
    ip_address: bool = True
    credit_card: bool = True
    #: replacement text per type; types not given keep the default ``<TYPE>``
    placeholders: dict[PIIType, str] = {}
    #: regions tried for numbers written without +country code (ISO 3166 alpha-2)
    phone_regions: list[str] = ["CN", "US", "GB"]
    # (one bool switch per PII type: kept as fields so each is a documented config key;
    # the import-time check after the class keeps them in step with PRIORITY)

    @field_validator("phone_regions")
    @classmethod
    def _known_regions(cls, v: list[str]) -> list[str]:
        bad = [r for r in v if r not in phonenumbers.SUPPORTED_REGIONS]
        if bad:
            raise ValueError(f"unknown phone region(s) {bad}; use ISO 3166 alpha-2 codes such as CN, US, GB")
        return v

    def enabled(self) -> frozenset[str]:
        return frozenset(t for t in PRIORITY if getattr(self, t.lower()))

    def placeholder(self, kind: str) -> str:
        return self.placeholders.get(kind, DEFAULT_PLACEHOLDERS[kind])  # type: ignore[call-overload]


if {t.lower() for t in PRIORITY} - set(PIIConfig.model_fields):  # pragma: no cover
    raise TypeError("PIIConfig needs one bool field per PII type in PRIORITY")


@dataclass(frozen=True)
class Span:
    kind: str
    start: int
    end: int


def find_pii(text: str, enabled: frozenset[str], regions: tuple[str, ...] = ("CN", "US", "GB")) -> list[Span]:
    """All PII spans in ``text`` of the ``enabled`` types, non-overlapping, sorted by start.

    Type regexes never scan the whole document: emails are searched in a window around each
    ``@``, digit types inside "numeric clusters" (maximal runs of digits and separators of
    ≥ 7 characters, one cheap scan), IPv6 only when a ``:hex:hex:`` shape occurs, QQ only
    when a keyword occurs.
    """
    found: list[Span] = []
    if "EMAIL" in enabled and "@" in text:
        _emails(text, found)
    if enabled & _DIGIT_TYPES:
        for c in _CLUSTER.finditer(text):
            _digit_pii(text, c.start(), c.end(), enabled, regions, found)
    if "QQ" in enabled and ("QQ" in text or "qq" in text or "Qq" in text or "扣扣" in text or "企鹅号" in text):
        found.extend(Span("QQ", *m.span(1)) for m in pp.QQ.finditer(text))
    if "IP_ADDRESS" in enabled and ":" in text and ("::" in text or _IPV6_HINT.search(text)):
        found.extend(Span("IP_ADDRESS", *m.span()) for m in pp.IPV6.finditer(text) if pp.valid_ipv6(m.group()))
    if not found:
        return found
    return _resolve(text, found)


def _emails(text: str, found: list[Span]) -> None:
    at = text.find("@")
    seen_end = 0
    while at != -1:
        lo = max(seen_end, at - 64)  # RFC 5321: local part ≤ 64 octets
        for m in pp.EMAIL.finditer(text, lo, min(len(text), at + 256)):
            if m.start() <= at < m.end():
                if m.group().rsplit(".", 1)[-1].lower() not in pp.FILE_SUFFIXES:
                    found.append(Span("EMAIL", *m.span()))
                seen_end = m.end()
        at = text.find("@", max(at + 1, seen_end))


def _digit_pii(text: str, start: int, end: int, enabled: frozenset[str], regions: tuple[str, ...],
               found: list[Span]) -> None:
    """Run the digit-type regexes on one numeric cluster ``text[start:end]``."""
    lo = start - 1 if start and text[start - 1] in "+(" else start
    hi = min(len(text), end + 3)  # lookaheads see up to 2 characters past the cluster
    ndigits = sum(ch.isdigit() for ch in text[start:end])
    if ndigits >= 7:
        if "ID_NUMBER" in enabled and ndigits >= 14:
            for m in pp.ID_NUMBER.finditer(text, lo, hi):
                if pp.valid_id_number(m.group()) and pp.number_context_ok(text, m.start()):
                    found.append(Span("ID_NUMBER", *m.span()))
        if "CREDIT_CARD" in enabled and ndigits >= 13:
            for m in pp.CARD.finditer(text, lo, hi):
                if pp.valid_card(m.group()) and pp.number_context_ok(text, m.start()):
                    found.append(Span("CREDIT_CARD", *m.span()))
        if "PHONE" in enabled:
            for m in pp.PHONE.finditer(text, lo, hi):
                found.extend(_phones(text, m, regions))
    if "IP_ADDRESS" in enabled and ndigits >= 4 and text.count(".", start, end) >= 3:
        for m in pp.IPV4.finditer(text, lo, hi):
            if not pp.version_context(text, m.start()):
                found.append(Span("IP_ADDRESS", *m.span()))


def _phones(text: str, m: re.Match, regions: tuple[str, ...]) -> list[Span]:
    """Validate one phone candidate; a run of several numbers is tried part by part."""
    if not pp.number_context_ok(text, m.start()):
        return []
    if pp.valid_phone(m.group(), regions):
        return [Span("PHONE", *m.span())]
    parts = []
    if " " in m.group():
        for part in re.finditer(r"[^ ]+", m.group()):
            if sum(c.isdigit() for c in part.group()) >= 7 and pp.valid_phone(part.group(), regions):
                parts.append(Span("PHONE", m.start() + part.start(), m.start() + part.end()))
    return parts


def _resolve(text: str, spans: list[Span]) -> list[Span]:
    """Drop non-email spans inside URLs, then overlaps by type priority (longer first)."""
    kept: list[Span] = []
    rank = {k: i for i, k in enumerate(PRIORITY)}
    for s in sorted(spans, key=lambda s: (rank[s.kind], s.start, s.start - s.end)):
        if s.kind != "EMAIL" and pp.inside_url(text, s.start):
            continue
        if any(k.start < s.end and s.start < k.end for k in kept):
            continue
        kept.append(s)
    return sorted(kept, key=lambda s: s.start)


def redact(text: str, spans: list[Span], cfg: PIIConfig) -> str:
    out, pos = [], 0
    for s in spans:
        out.append(text[pos:s.start])
        out.append(cfg.placeholder(s.kind))
        pos = s.end
    out.append(text[pos:])
    return "".join(out)


class PIIRedact(Stage):
    """Replace emails, phones, CN resident IDs, QQ numbers, IPs and payment cards by placeholders."""

    name = "pii"
    Config = PIIConfig
    backend = "phonenumbers"
    probe = {"text": [PROBE_TEXT + " Call +1 650-253-0000."], "language": ["en"]}
    card = StageCard(
        title="PII redaction",
        missing="PII redaction did not run in this pipeline: the text may contain email addresses, phone "
                "numbers, ID numbers and other personal data.",
        notes={"limitations": "PII redaction is best-effort pattern matching: it misses names, addresses and "
                              "unusual formats, and may redact numbers that are not personal data."},
        absent={"limitations": "PII was not redacted."},
        counters=r"^(pii:.*|pii_docs)$")

    @classmethod
    def card_section(cls, stats: dict[str, Any], output: dict[str, Any]) -> list[Block]:
        """Redactions by type, and how many published documents had any."""
        counts = {k: v for k, v in stats["counters"].items() if k.startswith("pii:")}
        if not counts:
            return ["PII redaction ran and found nothing to redact."]
        total = sum(counts.values())
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        intro = f"{num(total)} spans were replaced by placeholders"
        docs = stats["counters"].get("pii_docs")
        if docs is not None:
            intro += f" in {num(docs)} documents ({pct(docs, output['docs'] or docs)} of the published ones)"
        return [intro + ".", Table.of(["type", "redactions", "% of redactions"],
                                      [[f"`{k.split(':', 1)[1]}`", num(v), pct(v, total)] for k, v in ranked])]

    def process(self, table: pa.Table) -> StageResult:
        counters: Counter = Counter()
        texts = table.column("text").to_pylist()
        langs = column_values(table, "language")
        metas = metadata_dicts(table)
        out = []
        changed = False
        for text, lang, meta in zip(texts, langs, metas):
            cfg: PIIConfig = self.config.for_language(lang)  # type: ignore[assignment]
            spans = find_pii(text, cfg.enabled(), tuple(cfg.phone_regions)) if text else []
            if spans:
                counts = Counter(s.kind for s in spans)
                meta["pii"] = dict(sorted(counts.items()))
                counters.update({f"pii:{k}": v for k, v in counts.items()})
                counters["pii_docs"] += 1
                text = redact(text, spans, cfg)
                changed = True
            out.append(text)
        if changed:
            table = set_column(table, "text", pa.array(out, pa.string()))
            table = set_column(table, "metadata", dump_metadata(metas))
        return StageResult(table, None, counters)
