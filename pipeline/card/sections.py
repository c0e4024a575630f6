"""The card's sections as data: plain values and :class:`Table` rows computed from a
:class:`RunRecord` and the card declarations of the stages it lists. The prose is in
``templates/card.md.j2``; nothing here names a stage."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from webrefinery.pipeline.card.frontmatter import COMMON_CRAWL_TERMS, SNAPSHOT, card_languages, hf_dtype, snapshots
from webrefinery.pipeline.card.run import RunRecord
from webrefinery.pipeline.core.card import Block, StageCard, Table, num, pct
from webrefinery.pipeline.core.config import DEFAULT_PIPELINE
from webrefinery.pipeline.core.errors import ConfigError
from webrefinery.pipeline.core.registry import stage_class

#: table lengths: drop reasons per stage, languages, error samples, input files
TOP_REASONS = 10
MAX_LANGUAGE_ROWS = 25
MAX_ERROR_ROWS = 10
MAX_FILE_ROWS = 20
COLUMN_DOCS = {
    "id": "stable document id (hash of source file and record offset)",
    "text": "cleaned document text (UTF-8, NFC)",
    "url": "page URL (may be null)",
    "source": "input file the document came from",
    "crawl_date": "crawl time (WARC-Date) when known",
    "language": "ISO 639-1 code from language identification",
    "language_score": "language identification confidence",
    "quality_score": "model-based quality score (null when that stage did not run)",
    "metadata": "JSON: HTML title, charset, WARC record id, PII counts, …",
}


@dataclass(frozen=True)
class Section:
    """A section a stage declares: its heading and blocks."""

    title: str
    blocks: list[Block]


@dataclass
class StageDeclarations:
    """The card declarations of a run's stages (and of default stages it did not run)."""

    #: common section → sentences of the stages that ran, in run order
    notes: dict[str, list[str]] = field(default_factory=dict)
    #: common section → sentences of the default stages that did not run
    absent: dict[str, list[str]] = field(default_factory=dict)
    sections: list[Section] = field(default_factory=list)
    #: stage name → regex of the counters its own section shows
    own_counters: dict[str, re.Pattern[str]] = field(default_factory=dict)


def _card_of(name: str) -> tuple[type | None, StageCard]:
    """The registered class of ``name`` and its card declarations (none for an unknown name)."""
    try:
        cls = stage_class(name)
    except ConfigError:  # a stage of a package that is no longer installed
        return None, StageCard()
    return cls, cls.card


def declarations(run: RunRecord) -> StageDeclarations:
    """Collect notes and sections: those of the stages that ran, then the `absent` texts of
    default-pipeline stages that did not."""
    out = StageDeclarations()
    published = run.stats["output"]["docs"]
    for st in run.stats["stages"]:
        cls, card = _card_of(st["name"])
        for where, note in card.notes.items():
            out.notes.setdefault(where, []).append(note.format(**st, published=published))
        if card.title and cls is not None:
            out.sections.append(Section(card.title, cls.card_section(st, run.stats["output"])))
        if card.counters:
            out.own_counters[st["name"]] = re.compile(card.counters)
    for name in (n for n in DEFAULT_PIPELINE if n not in run.stage_names):
        _, card = _card_of(name)
        for where, note in card.absent.items():
            out.absent.setdefault(where, []).append(note)
        if card.title:
            out.sections.append(Section(card.title, [card.missing]))
    return out


# ---------------------------------------------------------------- helpers

def _bin_label(edges: list[float], i: int, integer: bool) -> str:
    lo, hi = edges[i], edges[i + 1]
    if not integer:
        return f"{lo:.2f}–{hi:.2f}"
    a, b = math.ceil(lo), math.ceil(hi) - 1
    if i == 0:
        return f"≤ {num(b)}"
    if i == len(edges) - 2:
        return f"≥ {num(a)}"
    return num(a) if a == b else f"{num(a)}–{num(b)}"


def _median_bin(counts: list[int]) -> int | None:
    total, acc = sum(counts), 0
    for i, c in enumerate(counts):
        acc += c
        if total and acc * 2 >= total:
            return i
    return None


def histogram(hist: dict[str, list] | None, integer: bool, what: str) -> dict[str, Any] | None:
    """Median bin label and the table of non-empty bins; None when no document is counted."""
    if not hist or not sum(hist["counts"]):
        return None
    edges, counts = hist["edges"], hist["counts"]
    total = sum(counts)
    median = _median_bin(counts)
    return {"median": _bin_label(edges, median, integer) if median is not None else None,
            "table": Table.of([what, "docs", "% docs"], [[_bin_label(edges, i, integer), num(c), pct(c, total)]
                                                         for i, c in enumerate(counts) if c])}


# ---------------------------------------------------------------- sections

def summary(run: RunRecord) -> dict[str, Any]:
    s, out = run.stats, run.stats["output"]
    return {"docs": out["docs"], "chars": out["chars"], "languages": card_languages(out["languages"]),
            "shards": out["shards"], "bytes": out["bytes"], "files": len(s["input"]["files"]),
            "input_bytes": s["input"]["bytes"], "snapshots": list(snapshots(s["input"]["files"])),
            "version": run.manifest.get("versions", {}).get("webrefinery", ""), "stages": run.stage_names,
            "rejected_docs": out["rejected_docs"], "rejected_kept": bool(run.manifest["rejected"]),
            "errors": s["errors"]["count"], "run": s["run"]}


def structure(run: RunRecord) -> Table:
    return Table.of(["column", "type", "meaning"],
                    [[f"`{f.name}`", hf_dtype(f.type), COLUMN_DOCS.get(f.name, "")] for f in run.schema],
                    right=set())


def sources(run: RunRecord) -> dict[str, Any]:
    files = run.stats["input"]["files"]
    dates = [d[:10] for d in run.crawl_dates] if run.crawl_dates else None
    rows = [[f"`{Path(f).name}`", (m.group(0) if (m := SNAPSHOT.search(f)) else "–")] for f in files[:MAX_FILE_ROWS]]
    return {"files": len(files), "bytes": run.stats["input"]["bytes"], "snapshots": snapshots(files),
            "dates": dates, "table": Table.of(["input file", "snapshot"], rows, right=set()),
            "more": max(0, len(files) - MAX_FILE_ROWS)}


def funnel(run: RunRecord) -> Table:
    return Table.of(["stage", "docs in", "docs out", "% kept", "chars in", "chars out", "% chars kept", "time (s)"],
                    [[f"`{st['name']}`", num(st["docs_in"]), num(st["docs_out"]), pct(st["docs_out"], st["docs_in"]),
                      num(st["chars_in"]), num(st["chars_out"]), pct(st["chars_out"], st["chars_in"]),
                      f"{st['time_s']:,.2f}"] for st in run.stats["stages"]])


def drops(run: RunRecord) -> dict[str, Any]:
    """Per stage that dropped documents: the count and its top reasons; the stages that dropped none."""
    stages = []
    for st in run.stats["stages"]:
        if not st["dropped"]:
            continue
        ranked = sorted(st["dropped"].items(), key=lambda kv: (-kv[1], kv[0]))
        rows = [[f"`{k}`", num(v), pct(v, st["docs_in"])] for k, v in ranked[:TOP_REASONS]]
        rest = sum(v for _, v in ranked[TOP_REASONS:])
        if ranked[TOP_REASONS:]:
            rows.append([f"{len(ranked) - TOP_REASONS} other reasons", num(rest), pct(rest, st["docs_in"])])
        stages.append({"name": st["name"], "dropped": st["docs_in"] - st["docs_out"],
                       "table": Table.of(["reason", "docs", "% of stage input"], rows)})
    return {"stages": stages, "quiet": [st["name"] for st in run.stats["stages"] if not st["dropped"]]}


def languages(run: RunRecord) -> Table | None:
    langs = run.stats["output"]["languages"]
    if not langs:
        return None
    total_docs = sum(v["docs"] for v in langs.values())
    total_chars = sum(v["chars"] for v in langs.values())
    ranked = sorted(langs.items(), key=lambda kv: (-kv[1]["docs"], kv[0]))
    rows = [[f"`{k}`", num(v["docs"]), pct(v["docs"], total_docs), num(v["chars"]), pct(v["chars"], total_chars)]
            for k, v in ranked[:MAX_LANGUAGE_ROWS]]
    rest = ranked[MAX_LANGUAGE_ROWS:]
    if rest:
        d, c = sum(v["docs"] for _, v in rest), sum(v["chars"] for _, v in rest)
        rows.append([f"{len(rest)} other languages", num(d), pct(d, total_docs), num(c), pct(c, total_chars)])
    return Table.of(["language", "docs", "% docs", "chars", "% chars"], rows)


def tokens(run: RunRecord) -> list[dict[str, Any]]:
    """The counts of each ``refinery tokenize`` run of this output (tokens.json ``runs``; a file
    written before ``runs`` existed is one run) per language, with characters per token."""
    if not run.tokens:
        return []
    langs, out = run.stats["output"]["languages"], []
    for tok in run.tokens.get("runs", [run.tokens]):
        total, rows = tok["total"], []
        for lang, n in sorted(tok["by_language"].items(), key=lambda kv: (-kv[1], kv[0])):
            chars = langs.get(lang, {}).get("chars")
            rows.append([f"`{lang}`", num(n), pct(n, total), f"{chars / n:.2f}" if chars and n else "–"])
        out.append({"total": total, "tokenizer": tok["tokenizer"], "dtype": tok.get("dtype", ""),
                    "output": tok.get("output", ""),
                    "table": Table.of(["language", "tokens", "% tokens", "chars per token"], rows)})
    return out


def errors(run: RunRecord) -> dict[str, Any]:
    err = run.stats["errors"]
    rows = [[f"`{Path(str(e.get('file', ''))).name}`", e.get("offset", ""), e.get("stage", ""),
             str(e.get("error", ""))[:160]] for e in err["samples"][:MAX_ERROR_ROWS]]
    return {"count": err["count"], "all": len(rows) == err["count"], "shown": len(rows),
            "table": Table.of(["file", "offset", "stage", "error"], rows, right={1})}


def other_counters(run: RunRecord, own: dict[str, re.Pattern[str]]) -> list[dict[str, Any]]:
    """Per stage, the counters no section of the card shows."""
    blocks = []
    for st in run.stats["stages"]:
        shown = own.get(st["name"])
        rows = [[f"`{k}`", num(v)] for k, v in sorted(st["counters"].items()) if not (shown and shown.match(k))]
        if rows:
            blocks.append({"name": st["name"], "table": Table.of(["counter", "count"], rows)})
    return blocks


def config(run: RunRecord) -> dict[str, Any]:
    versions = run.manifest.get("versions", {})
    return {"text": run.config_text, "origin": run.config_origin, "hash": run.stats["run"]["config_hash"],
            "command": run.stats["run"].get("command"),
            "versions": Table.of(["package", "version"], [[f"`{k}`", v] for k, v in versions.items()], right=set())
            if versions else None}


def context(run: RunRecord, license: str, pretty_name: str, plots: dict[str, str]) -> dict[str, Any]:
    """Everything the template renders."""
    decl = declarations(run)
    out = run.stats["output"]
    return {"name": pretty_name, "license": license, "plots": plots, "notes": decl.notes,
            "absent": decl.absent, "common_crawl_terms": COMMON_CRAWL_TERMS,
            "summary": summary(run), "structure": structure(run), "sources": sources(run), "funnel": funnel(run),
            "drops": drops(run), "languages": languages(run),
            "length": histogram(out.get("length_hist"), True, "length (chars)"),
            "quality": histogram(out.get("quality_hist"), False, "quality score"),
            "stage_sections": decl.sections, "tokens": tokens(run), "errors": errors(run),
            "other_counters": other_counters(run, decl.own_counters), "config": config(run)}
