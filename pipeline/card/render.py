"""``refinery card OUT``: the Hugging Face dataset card (``OUT/README.md``) and its plots.

Every number in the card is read from ``OUT/stats.json`` and ``OUT/manifest.json`` of the
run; the only other inputs are the config the run used (``OUT/config.yaml``, verbatim), the
column names/types and the ``crawl_date`` min/max statistics of the shards' Parquet footers.
The YAML front matter is rendered with ``huggingface_hub.DatasetCardData`` (offline) in the
format the Hub reads (``configs``/``data_files``, ``dataset_info``); the layout of the body
follows the Hub's dataset card template and the data statements of FineWeb and RefinedWeb.
"""

from __future__ import annotations

import argparse
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from huggingface_hub import DatasetCard, DatasetCardData

from webrefinery.pipeline.card import plots as card_plots
from webrefinery.pipeline.core.errors import RefineryError
from webrefinery.pipeline.io.manifest import atomic_path
from webrefinery.pipeline.core.schema import SCHEMA

CARD_FILE = "README.md"
PLOTS_DIR = "plots"
#: a language goes into the front matter when it holds at least this share of the documents
MIN_LANGUAGE_SHARE = 0.01
#: table lengths: drop reasons per stage, languages, cluster sizes, error samples, input files
TOP_REASONS = 10
MAX_LANGUAGE_ROWS = 25
MAX_CLUSTER_ROWS = 20
MAX_ERROR_ROWS = 10
MAX_FILE_ROWS = 20
COMMON_CRAWL_TERMS = "https://commoncrawl.org/terms-of-use"
SNAPSHOT = re.compile(r"CC-MAIN-(\d{4})-(\d{2})")
#: Hub size buckets (huggingface.co/docs/hub/datasets-cards): upper bound → label
SIZE_CATEGORIES = [(10 ** 3, "n<1K"), (10 ** 4, "1K<n<10K"), (10 ** 5, "10K<n<100K"), (10 ** 6, "100K<n<1M"),
                   (10 ** 7, "1M<n<10M"), (10 ** 8, "10M<n<100M"), (10 ** 9, "100M<n<1B"),
                   (10 ** 10, "1B<n<10B"), (10 ** 11, "10B<n<100B"), (10 ** 12, "100B<n<1T")]
#: counters that have their own section; the rest go to "Other stage counters"
_OWN_SECTION = re.compile(r"^(pii:.*|pii_docs|exact_removed|near_removed|cluster_size:\d+)$")
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


@dataclass
class RunRecord:
    """What the card is made of: one finished run directory."""

    out_dir: Path
    stats: dict[str, Any]
    manifest: dict[str, Any]
    config_text: str
    config_origin: str
    schema: pa.Schema
    crawl_dates: tuple[str, str] | None

    @property
    def stage_names(self) -> list[str]:
        return [s["name"] for s in self.stats["stages"]]

    def counters(self, pattern: re.Pattern[str]) -> dict[str, int]:
        """Counters of every stage whose key matches ``pattern``, summed over stages."""
        out: dict[str, int] = {}
        for st in self.stats["stages"]:
            for k, v in st["counters"].items():
                if pattern.match(k):
                    out[k] = out.get(k, 0) + v
        return out


def load_run(out_dir: Path) -> RunRecord:
    """Read a finished run directory; a clear :class:`RefineryError` when it is not one."""
    if not out_dir.is_dir():
        raise RefineryError(f"{out_dir} is not a directory; pass the --output directory of a finished run")
    parsed = {}
    for name in ("stats.json", "manifest.json"):
        p = out_dir / name
        if not p.is_file():
            raise RefineryError(f"{p} not found: the card needs a finished run (rerun `refinery run` "
                                "with the same arguments to finish it)")
        try:
            parsed[name] = json.loads(p.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise RefineryError(f"{p} is not valid JSON ({e.msg} at line {e.lineno}); rerun the pipeline") from None
    config_text, origin = _config_text(out_dir, parsed["stats.json"])
    shards = [out_dir / e["path"] for e in parsed["manifest.json"]["shards"]]
    schema = pq.read_schema(shards[0]) if shards and shards[0].is_file() else SCHEMA
    return RunRecord(out_dir, parsed["stats.json"], parsed["manifest.json"], config_text, origin, schema,
                     _crawl_date_range(shards))


def _config_text(out_dir: Path, stats: dict[str, Any]) -> tuple[str, str]:
    p = out_dir / "config.yaml"
    if p.is_file():
        return p.read_text(encoding="utf-8"), "config.yaml"
    cfg = stats["run"].get("config")
    if isinstance(cfg, str):
        return cfg, "stats.json run.config"
    if cfg:
        return yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True), "stats.json run.config"
    return "", ""


def _crawl_date_range(shards: list[Path]) -> tuple[str, str] | None:
    """Earliest and latest ``crawl_date`` from the Parquet footer statistics (no data read)."""
    lo = hi = None
    for path in shards:
        if not path.is_file():
            continue
        meta = pq.ParquetFile(path).metadata
        names = [meta.schema.column(i).name for i in range(meta.num_columns)]
        if "crawl_date" not in names:
            continue
        col = names.index("crawl_date")
        for g in range(meta.num_row_groups):
            st = meta.row_group(g).column(col).statistics
            if st is None or not st.has_min_max:
                continue
            lo = st.min if lo is None else min(lo, st.min)
            hi = st.max if hi is None else max(hi, st.max)
    return (str(lo), str(hi)) if lo is not None else None


# ---------------------------------------------------------------- formatting helpers

def _n(x: int | float) -> str:
    return f"{x:,}"


def _pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "–"


def _size(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:,} bytes" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: list[list[Any]], right: set[int] | None = None) -> str:
    """A GitHub-flavoured markdown table; columns in ``right`` are right-aligned (numbers)."""
    right = set(range(1, len(header))) if right is None else right
    align = ["---:" if i in right else ":---" for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _fence(text: str, lang: str = "") -> str:
    ticks = "`" * max(3, max((len(m) for m in re.findall(r"`+", text)), default=0) + 1)
    return f"{ticks}{lang}\n{text.rstrip()}\n{ticks}"


def _hf_dtype(t: pa.DataType) -> str:
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "string"
    if pa.types.is_floating(t):
        return f"float{t.bit_width}"
    if pa.types.is_timestamp(t):
        return f"timestamp[{t.unit}]"
    return str(t)


def size_category(n: int) -> str:
    return next((label for bound, label in SIZE_CATEGORIES if n < bound), "n>1T")


def snapshots(files: list[str]) -> dict[str, int]:
    """Common Crawl snapshot (``CC-MAIN-2020-34``) → number of input files named after it."""
    out: dict[str, int] = {}
    for f in files:
        m = SNAPSHOT.search(Path(f).name) or SNAPSHOT.search(f)
        if m:
            out[m.group(0)] = out.get(m.group(0), 0) + 1
    return dict(sorted(out.items()))


def card_languages(languages: dict[str, dict[str, int]]) -> list[str]:
    """Language codes with at least ``MIN_LANGUAGE_SHARE`` of the documents, largest first."""
    total = sum(v["docs"] for v in languages.values())
    keep = [(k, v["docs"]) for k, v in languages.items()
            if k != "unknown" and total and v["docs"] / total >= MIN_LANGUAGE_SHARE]
    return [k for k, _ in sorted(keep, key=lambda kv: (-kv[1], kv[0]))]


def _bin_label(edges: list[float], i: int, integer: bool) -> str:
    lo, hi = edges[i], edges[i + 1]
    if not integer:
        return f"{lo:.2f}–{hi:.2f}"
    a, b = math.ceil(lo), math.ceil(hi) - 1
    if i == 0:
        return f"≤ {_n(b)}"
    if i == len(edges) - 2:
        return f"≥ {_n(a)}"
    return _n(a) if a == b else f"{_n(a)}–{_n(b)}"


# ---------------------------------------------------------------- front matter

def front_matter(run: RunRecord, license: str, pretty_name: str) -> DatasetCardData:
    out = run.stats["output"]
    docs = sum(e["rows"] for e in run.manifest["shards"])
    langs = card_languages(out["languages"])
    extra: dict[str, Any] = {}
    if license == "other":
        extra = {"license_name": "common-crawl-terms-of-use", "license_link": COMMON_CRAWL_TERMS}
    info = {
        "config_name": "default",
        "features": [{"name": f.name, "dtype": _hf_dtype(f.type)} for f in run.schema],
        "splits": [{"name": "train", "num_examples": docs}],
        "download_size": sum(e["bytes"] for e in run.manifest["shards"]),
    }
    return DatasetCardData(
        pretty_name=pretty_name,
        language=langs or None,
        license=license,
        annotations_creators=["no-annotation"],
        language_creators=["found"],
        multilinguality=("multilingual" if len(langs) > 1 else "monolingual") if langs else None,
        size_categories=[size_category(docs)],
        source_datasets=["original"],
        task_categories=["text-generation"],
        task_ids=["language-modeling"],
        tags=["webrefinery", "web-crawl", "pretraining"]
        + (["common-crawl"] if snapshots(run.stats["input"]["files"]) else []),
        configs=[{"config_name": "default", "data_files": [{"split": "train", "path": "data/*.parquet"}]}],
        dataset_info=info,
        **extra,
    )


# ---------------------------------------------------------------- body sections

def _plural(n: int, word: str) -> str:
    return f"{_n(n)} {word}{'' if n == 1 else 's'}"


def _summary(run: RunRecord, pretty_name: str) -> str:
    s, out, r = run.stats, run.stats["output"], run.stats["run"]
    langs = card_languages(out["languages"])
    snaps = snapshots(s["input"]["files"])
    what = f"{_n(out['chars'])} characters"
    if langs:
        what += f"; {'languages' if len(langs) > 1 else 'language'} {', '.join(f'`{x}`' for x in langs)}"
    source = _size(s["input"]["bytes"])
    if snaps:
        source += f"; Common Crawl {'snapshots' if len(snaps) > 1 else 'snapshot'} {', '.join(snaps)}"
    dropped = f"{_plural(out['rejected_docs'], 'document')} were dropped on the way"
    dropped += ("; they are kept in `rejected/` with the stage and reason that dropped them."
                if run.manifest["rejected"] else " (not kept: `output.write_rejected` was off).")
    errors = (f"{_plural(s['errors']['count'], 'input record')} could not be read (see Input errors)."
              if s["errors"]["count"] else "Every input record was read without error.")
    return "\n\n".join([
        f"# {pretty_name}",
        f"**{_plural(out['docs'], 'document')}** ({what}) in {_plural(out['shards'], 'Parquet shard')} "
        f"({_size(out['bytes'])}), cleaned from {_plural(len(s['input']['files']), 'input file')} ({source}) "
        f"by webrefinery {run.manifest.get('versions', {}).get('webrefinery', '')} for language-model pretraining.",
        f"Stages, in order: {' → '.join(f'`{n}`' for n in run.stage_names)}. {dropped} {errors}",
        f"Run finished {r['finished']} after {r['wall_s']:,} s on the `{r['executor']}` executor "
        f"({_plural(r['workers'], 'worker')}); config hash `{r['config_hash'][:12]}`.",
    ])


def _structure(run: RunRecord) -> str:
    rows = [[f"`{f.name}`", _hf_dtype(f.type), COLUMN_DOCS.get(f.name, "")] for f in run.schema]
    return "\n\n".join([
        "## Dataset structure",
        "One row per document, in one `train` split:",
        _table(["column", "type", "meaning"], rows, right=set()),
        _fence('from datasets import load_dataset\n\n'
               'ds = load_dataset("parquet", data_files="data/*.parquet", split="train")', "python"),
    ])


def _sources(run: RunRecord) -> str:
    files = run.stats["input"]["files"]
    snaps = snapshots(files)
    parts = ["## Sources"]
    facts = [f"- Input: {_n(len(files))} file{'s' if len(files) != 1 else ''}, {_size(run.stats['input']['bytes'])}."]
    if snaps:
        facts.append("- Common Crawl snapshots (from the input file names): " + ", ".join(
            f"`{k}` ({_n(v)} file{'s' if v != 1 else ''})" for k, v in snaps.items()) + ".")
    if run.crawl_dates:
        lo, hi = (d[:10] for d in run.crawl_dates)
        facts.append(f"- Crawl dates of the published documents: {lo}" + (f" to {hi}." if hi != lo else "."))
    read = next((st for st in run.stats["stages"] if st["name"] == "read"), None)
    if read:
        facts.append(f"- Documents read: {_n(read['docs_out'])}; published: {_n(run.stats['output']['docs'])}.")
    parts.append("\n".join(facts))
    rows = [[f"`{Path(f).name}`", (SNAPSHOT.search(f).group(0) if SNAPSHOT.search(f) else "–")]
            for f in files[:MAX_FILE_ROWS]]
    parts.append(_table(["input file", "snapshot"], rows, right=set()))
    if len(files) > MAX_FILE_ROWS:
        parts.append(f"… and {_n(len(files) - MAX_FILE_ROWS)} more files (all listed in `stats.json`).")
    return "\n\n".join(parts)


def _funnel(run: RunRecord, plots: dict[str, str]) -> str:
    rows = [[f"`{st['name']}`", _n(st["docs_in"]), _n(st["docs_out"]), _pct(st["docs_out"], st["docs_in"]),
             _n(st["chars_in"]), _n(st["chars_out"]), _pct(st["chars_out"], st["chars_in"]), f"{st['time_s']:,.2f}"]
            for st in run.stats["stages"]]
    parts = ["## Processing funnel", "Every stage in the order it ran. Characters are counted on the document "
             "body: the raw HTML until `extract` has run, the extracted text after it.",
             _table(["stage", "docs in", "docs out", "% kept", "chars in", "chars out", "% chars kept", "time (s)"],
                    rows)]
    if "funnel" in plots:
        parts.append(f"![Processing funnel: documents in and out of each stage]({plots['funnel']})")
    return "\n\n".join(parts)


def _drops(run: RunRecord) -> str:
    parts = ["## Drop reasons by stage"]
    quiet = [f"`{st['name']}`" for st in run.stats["stages"] if not st["dropped"]]
    for st in run.stats["stages"]:
        if not st["dropped"]:
            continue
        ranked = sorted(st["dropped"].items(), key=lambda kv: (-kv[1], kv[0]))
        rows = [[f"`{k}`", _n(v), _pct(v, st["docs_in"])] for k, v in ranked[:TOP_REASONS]]
        rest = ranked[TOP_REASONS:]
        if rest:
            rows.append([f"{len(rest)} other reasons", _n(sum(v for _, v in rest)),
                         _pct(sum(v for _, v in rest), st["docs_in"])])
        parts += [f"### `{st['name']}` — {_n(st['docs_in'] - st['docs_out'])} dropped",
                  _table(["reason", "docs", "% of stage input"], rows)]
    if quiet:
        parts.append(f"No documents were dropped by {', '.join(quiet)}.")
    return "\n\n".join(parts)


def _languages(run: RunRecord, plots: dict[str, str]) -> str:
    langs = run.stats["output"]["languages"]
    parts = ["## Languages"]
    if not langs:
        return "\n\n".join(parts + ["The dataset is empty."])
    if "langid" not in run.stage_names:
        parts.append("Language identification did not run in this pipeline; the `language` column holds what "
                     "the input provided (`unknown` when nothing).")
    total_docs = sum(v["docs"] for v in langs.values())
    total_chars = sum(v["chars"] for v in langs.values())
    ranked = sorted(langs.items(), key=lambda kv: (-kv[1]["docs"], kv[0]))
    rows = [[f"`{k}`", _n(v["docs"]), _pct(v["docs"], total_docs), _n(v["chars"]), _pct(v["chars"], total_chars)]
            for k, v in ranked[:MAX_LANGUAGE_ROWS]]
    rest = ranked[MAX_LANGUAGE_ROWS:]
    if rest:
        d, c = sum(v["docs"] for _, v in rest), sum(v["chars"] for _, v in rest)
        rows.append([f"{len(rest)} other languages", _n(d), _pct(d, total_docs), _n(c), _pct(c, total_chars)])
    parts.append(_table(["language", "docs", "% docs", "chars", "% chars"], rows))
    if "languages" in plots:
        parts.append(f"![Share of documents and characters per language]({plots['languages']})")
    return "\n\n".join(parts)


def _median_bin(counts: list[int]) -> int | None:
    total, acc = sum(counts), 0
    for i, c in enumerate(counts):
        acc += c
        if total and acc * 2 >= total:
            return i
    return None


def _histogram(hist: dict[str, list], integer: bool, what: str, unit: str) -> str:
    edges, counts = hist["edges"], hist["counts"]
    total = sum(counts)
    rows = [[_bin_label(edges, i, integer), _n(c), _pct(c, total)] for i, c in enumerate(counts) if c]
    median = _median_bin(counts)
    lines = [_table([what, "docs", "% docs"], rows)]
    if median is not None:
        lines.insert(0, f"The median document falls in the {_bin_label(edges, median, integer)} {unit} bin.")
    return "\n\n".join(lines)


def _lengths(run: RunRecord, plots: dict[str, str]) -> str:
    hist = run.stats["output"].get("length_hist")
    parts = ["## Document length"]
    if not hist or not sum(hist["counts"]):
        return "\n\n".join(parts + ["No documents were published, so there is no length distribution."])
    parts.append("Length of the published text in characters, on log-spaced bins (four per power of ten).")
    parts.append(_histogram(hist, True, "length (chars)", "characters"))
    if "length" in plots:
        parts.append(f"![Histogram of document length in characters, log scale]({plots['length']})")
    return "\n\n".join(parts)


def _quality(run: RunRecord, plots: dict[str, str]) -> str:
    hist = run.stats["output"].get("quality_hist")
    parts = ["## Quality scores"]
    if not hist or not sum(hist["counts"]):
        if "quality" in run.stage_names:
            return "\n\n".join(parts + ["No published document has a quality score."])
        return "\n\n".join(parts + ["The model-based quality filter did not run in this pipeline: `quality_score` "
                                    "is null for every document."])
    parts.append("Score of the fastText quality classifier trained with `refinery train-quality` "
                 "(higher = closer to the reference corpus).")
    parts.append(_histogram(hist, False, "quality score", "score"))
    if "quality" in plots:
        parts.append(f"![Histogram of quality scores]({plots['quality']})")
    return "\n\n".join(parts)


def _pii(run: RunRecord) -> str:
    parts = ["## PII redaction"]
    if "pii" not in run.stage_names:
        return "\n\n".join(parts + ["PII redaction did not run in this pipeline: the text may contain email "
                                    "addresses, phone numbers, ID numbers and other personal data."])
    counts = run.counters(re.compile(r"^pii:"))
    docs = run.counters(re.compile(r"^pii_docs$")).get("pii_docs")
    if not counts:
        return "\n\n".join(parts + ["PII redaction ran and found nothing to redact."])
    total = sum(counts.values())
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    rows = [[f"`{k.split(':', 1)[1]}`", _n(v), _pct(v, total)] for k, v in ranked]
    intro = f"{_n(total)} spans were replaced by placeholders"
    if docs is not None:
        intro += f" in {_n(docs)} documents ({_pct(docs, run.stats['output']['docs'] or docs)} of the published ones)"
    parts += [intro + ".", _table(["type", "redactions", "% of redactions"], rows)]
    return "\n\n".join(parts)


def _dedup(run: RunRecord) -> str:
    parts = ["## Deduplication"]
    if "dedup" not in run.stage_names:
        return "\n\n".join(parts + ["Deduplication did not run in this pipeline: the dataset may contain exact and "
                                    "near-duplicate documents (mirrors, boilerplate pages, syndicated news)."])
    st = next(s for s in run.stats["stages"] if s["name"] == "dedup")
    c = run.counters(re.compile(r"^(exact_removed|near_removed)$"))
    rows = [[label, _n(c.get(key, 0)), _pct(c.get(key, 0), st["docs_in"])]
            for key, label in (("exact_removed", "exact"), ("near_removed", "near (MinHash LSH)"))]
    parts.append(_table(["duplicates removed", "docs", "% of dedup input"], rows))
    sizes = sorted(((int(k.split(":")[1]), v) for k, v in run.counters(re.compile(r"^cluster_size:\d+$")).items()))
    if sizes:
        rows = [[_n(k), _n(v)] for k, v in sizes[:MAX_CLUSTER_ROWS]]
        rest = sizes[MAX_CLUSTER_ROWS:]
        if rest:
            rows.append([f"≥ {_n(rest[0][0])}", _n(sum(v for _, v in rest))])
        parts += ["Duplicate clusters by size (documents per cluster; one document of each cluster is kept):",
                  _table(["cluster size", "clusters"], rows)]
    return "\n\n".join(parts)


def _tokens(run: RunRecord) -> str:
    parts = ["## Token counts"]
    tok = run.stats.get("tokens")
    if not tok:
        return "\n\n".join(parts + ["Not tokenized yet (`refinery tokenize` adds the counts here)."])
    langs = run.stats["output"]["languages"]
    total = tok["total"]
    rows = []
    for lang, n in sorted(tok["by_language"].items(), key=lambda kv: (-kv[1], kv[0])):
        chars = langs.get(lang, {}).get("chars")
        rows.append([f"`{lang}`", _n(n), _pct(n, total), f"{chars / n:.2f}" if chars and n else "–"])
    parts += [f"{_n(total)} tokens with tokenizer `{tok['tokenizer']}` ({tok.get('dtype', '')} token shards "
              f"in `{tok.get('output', '')}`).",
              _table(["language", "tokens", "% tokens", "chars per token"], rows)]
    return "\n\n".join(parts)


def _other_counters(run: RunRecord) -> str:
    blocks = []
    for st in run.stats["stages"]:
        rows = [[f"`{k}`", _n(v)] for k, v in sorted(st["counters"].items()) if not _OWN_SECTION.match(k)]
        if rows:
            blocks.append(f"**`{st['name']}`**\n\n" + _table(["counter", "count"], rows))
    if not blocks:
        return ""
    return "\n\n".join(["## Other stage counters", "<details><summary>Counters recorded by each stage</summary>",
                        *blocks, "</details>"])


def _errors(run: RunRecord) -> str:
    err = run.stats["errors"]
    parts = ["## Input errors"]
    if not err["count"]:
        return "\n\n".join(parts + ["Every input record was read without error."])
    rows = [[f"`{Path(str(e.get('file', ''))).name}`", e.get("offset", ""), e.get("stage", ""),
             str(e.get("error", ""))[:160]] for e in err["samples"][:MAX_ERROR_ROWS]]
    which = "all of them" if len(rows) == err["count"] else f"the first {len(rows)}"
    parts += [f"{_n(err['count'])} input records were skipped (corrupt, truncated or undecodable); {which}:",
              _table(["file", "offset", "stage", "error"], rows, right={1})]
    return "\n\n".join(parts)


def _config(run: RunRecord) -> str:
    parts = ["## Configuration and software"]
    if run.config_text:
        parts += [f"The exact configuration of this run (from `{run.config_origin}`, "
                  f"hash `{run.stats['run']['config_hash']}`):", _fence(run.config_text, "yaml")]
    else:
        parts.append(f"The config text was not recorded; its hash is `{run.stats['run']['config_hash']}`.")
    if run.stats["run"].get("command"):
        parts += ["Command:", _fence(run.stats["run"]["command"], "bash")]
    versions = run.manifest.get("versions", {})
    if versions:
        parts += ["Package versions:", _table(["package", "version"], [[f"`{k}`", v] for k, v in versions.items()],
                                              right=set())]
    return "\n\n".join(parts)


def _uses() -> str:
    return "\n\n".join(["## Intended uses",
                        "Pretraining and continued pretraining of language models, and research on web-data "
                        "curation (the per-stage statistics and `rejected/` rows make ablations possible). "
                        "It is not a curated, fact-checked or balanced corpus: do not use it as a source of "
                        "truth, as an evaluation set, or to profile the people who wrote or appear in it."])


def _limitations(run: RunRecord) -> str:
    ran = set(run.stage_names)
    items = ["Web text over-represents some languages, regions, topics and registers (commercial, "
             "news, forum) and under-represents others; it contains toxic, biased and false content "
             "that cleaning only partly removes."]
    if "extract" in ran:
        items.append("Main-text extraction (trafilatura) sometimes keeps navigation or cookie text and "
                     "sometimes drops real content such as comments, tables or short pages.")
    if "langid" in ran:
        items.append("Language identification (fastText lid.176) misfires on dialects, short texts, closely "
                     "related languages and code-switched text; such documents may be dropped or mislabelled.")
    if "urlfilter" in ran:
        items.append("URL and word blocklists both under-block (unlisted domains, obfuscated words) and "
                     "over-block (medical, LGBTQ+ or educational pages that mention listed words).")
    if "filter" in ran:
        items.append("Heuristic quality rules (Gopher, C4, FineWeb, Chinese rules) were tuned on English or "
                     "Chinese web text and can remove valid text in other styles: lists, code, poetry, "
                     "dialect writing.")
    if "quality" in ran:
        items.append("The model-based quality classifier favours text resembling its positive examples "
                     "(Wikipedia-like, formal registers) and disfavours informal, dialectal and minority voices.")
    if "pii" in ran:
        items.append("PII redaction is best-effort pattern matching: it misses names, addresses and "
                     "unusual formats, and may redact numbers that are not personal data.")
    else:
        items.append("PII was not redacted.")
    if "dedup" in ran:
        items.append("Deduplication keeps one document per near-duplicate cluster; templated pages that differ "
                     "only slightly may be removed, and paraphrased duplicates remain.")
    else:
        items.append("Duplicates were not removed.")
    return "\n\n".join(["## Known limitations and biases", "\n".join(f"- {i}" for i in items)])


def _license(run: RunRecord, license: str) -> str:
    snaps = snapshots(run.stats["input"]["files"])
    cc = (f" Common Crawl data is provided under the [Common Crawl Terms of Use]({COMMON_CRAWL_TERMS}), which "
          "apply to this derived dataset too." if snaps or license == "other" else "")
    head = (f"License: `{license}`." if license != "other" else
            "License: `other`: no single license covers this data.")
    return "\n\n".join(["## License", f"{head}{cc} The text of each document remains the work of its authors "
                        "and may be protected by copyright; use it in line with the laws that apply to you "
                        "(for example text-and-data-mining exceptions)."])


# ---------------------------------------------------------------- assembly

def _plots(run: RunRecord) -> dict[str, str]:
    """Draw the plots into OUT/plots/; returns name → path relative to OUT (for the markdown)."""
    out, d = run.stats["output"], run.out_dir / PLOTS_DIR
    todo: list[tuple[str, Callable[..., Path], Any]] = []
    if run.stats["stages"]:
        todo.append(("funnel", card_plots.funnel_plot, run.stats["stages"]))
    if out["languages"]:
        todo.append(("languages", card_plots.language_plot, out["languages"]))
    if out.get("length_hist") and sum(out["length_hist"]["counts"]):
        todo.append(("length", card_plots.length_plot, out["length_hist"]))
    if out.get("quality_hist") and sum(out["quality_hist"]["counts"]):
        todo.append(("quality", card_plots.quality_plot, out["quality_hist"]))
    stale = {p.name for p in d.glob("*.png")} if d.is_dir() else set()
    made = {}
    for name, draw, data in todo:
        draw(data, d / f"{name}.png")
        made[name] = f"{PLOTS_DIR}/{name}.png"
        stale.discard(f"{name}.png")
    for name in stale:  # a previous card's plot that this run has no data for
        (d / name).unlink()
    return made


def render_card(run: RunRecord, license: str, pretty_name: str, plots: dict[str, str]) -> DatasetCard:
    body = [_summary(run, pretty_name), _structure(run), _sources(run), _funnel(run, plots), _drops(run),
            _languages(run, plots), _lengths(run, plots), _quality(run, plots), _pii(run), _dedup(run),
            _tokens(run), _errors(run), _other_counters(run), _config(run), _uses(), _limitations(run),
            _license(run, license)]
    data = front_matter(run, license, pretty_name)
    text = "\n\n".join(b for b in body if b)
    return DatasetCard(f"---\n{data.to_yaml()}\n---\n\n{text}\n")


def write_card(out_dir: Path, license: str | None = None, *, pretty_name: str | None = None) -> Path:
    """Write ``out_dir/README.md`` and ``out_dir/plots/*.png`` for the finished run in ``out_dir``.

    ``license`` is an SPDX-style Hub license id; ``None`` takes the run's ``output.card_license``
    and else gives ``other`` with a note on the Common Crawl terms. ``pretty_name`` likewise
    defaults to ``output.card_name``, then the directory name.
    """
    out_dir = Path(out_dir)
    run = load_run(out_dir)
    configured = run.stats.get("run", {}).get("card", {})
    license = license or configured.get("license") or "other"
    name = pretty_name or configured.get("name") or f"{out_dir.resolve().name} (webrefinery)"
    card = render_card(run, license, name, _plots(run))
    path = out_dir / CARD_FILE
    with atomic_path(path) as tmp:
        tmp.write_text(str(card), encoding="utf-8")
    return path


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser("card", help="write OUT/README.md (Hugging Face dataset card) and OUT/plots/",
                              description="Write the dataset card of a finished run from its stats.json and "
                                          "manifest.json (runs automatically at the end of `refinery run`).")
    p.add_argument("out", type=Path, metavar="OUT", help="output directory of a finished run")
    p.add_argument("--license", help="Hub license id, e.g. odc-by or cc-by-4.0 (default: other, with a note "
                                     "on the Common Crawl terms of use)")
    p.add_argument("--name", help="pretty_name of the dataset (default: the directory name)")
    p.set_defaults(func=_card_cmd)
    return p


def _card_cmd(args: argparse.Namespace) -> int:
    path = write_card(args.out, args.license, pretty_name=args.name)
    print(f"wrote {path} and {path.parent / PLOTS_DIR}/")
    return 0
