"""Dataset card (`refinery card`): front matter, numbers equal to stats.json/manifest.json,
plots are real PNGs, sections of stages that did not run say so, clear errors."""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from webrefinery.pipeline.card.frontmatter import MIN_LANGUAGE_SHARE
from webrefinery.pipeline.card.render import write_card
from webrefinery.pipeline.card.sections import TOP_REASONS
from webrefinery.pipeline.core import registry
from webrefinery.pipeline.core.card import StageCard, Table
from webrefinery.pipeline.core.stage import Stage
from webrefinery.pipeline.core.errors import RefineryError
from webrefinery.pipeline.io.manifest import write_json_atomic, write_manifest
from webrefinery.pipeline.core.schema import SCHEMA
from webrefinery.pipeline.io.shards import write_shards

from conftest import DATA

CONFIG = """# zh+en web pipeline used for the card test
languages: [en, zh]
pipeline: [read, urlfilter, extract, langid, normalize, filter, quality, pii, dedup]
langid:
  threshold: 0.65   # FineWeb
"""
SOURCE = "s3://bucket/crawl-data/CC-MAIN-2020-34/segments/x/warc/CC-MAIN-2020-34-00001.warc.gz"
LANG_DOCS = {"en": 300, "zh": 110, "fr": 6, "de": 3, "unknown": 1}  # de < 1%: not in the front matter
PII = {"pii:EMAIL": 40, "pii:PHONE": 12, "pii:CN_ID": 3, "pii_docs": 30}
CLUSTERS = {"cluster_size:2": 20, "cluster_size:3": 10, "cluster_size:17": 1}
TOKENS = {"tokenizer": "tok/tokenizer.json", "total": 123_456, "by_language": {"en": 80_000, "zh": 43_000, "fr": 456},
          "shards": 3, "output": "/tmp/tokens", "dtype": "uint16"}
LANGID_DROPS = {f"language:{c}": n for c, n in zip("ru ja ko es it pt nl pl tr vi th ar hi sv".split(),
                                                   range(20, 6, -1))}


def _docs() -> pa.Table:
    rows = []
    i = 0
    for lang, n in LANG_DOCS.items():
        for _ in range(n):
            word = "数据清洗" if lang == "zh" else "refinery "
            rows.append({"id": f"{i:08x}", "text": word * (5 + (i * 37) % 900), "url": f"https://ex.com/{i}",
                         "source": SOURCE,
                         "crawl_date": f"2020-08-{3 + i % 12:02d}T10:00:00Z",
                         "language": None if lang == "unknown" else lang, "language_score": 0.9,
                         "quality_score": (i % 97) / 97, "metadata": "{}"})
            i += 1
    return pa.Table.from_pylist(rows, schema=SCHEMA)


def _stage(name, docs_in, docs_out, chars_in, chars_out, dropped=None, counters=None):
    return {"name": name, "docs_in": docs_in, "docs_out": docs_out, "chars_in": chars_in, "chars_out": chars_out,
            "dropped": dropped or {}, "counters": counters or {}, "time_s": 1.25}


def make_run(out: Path, *, full: bool = True, config: bool = True) -> dict:
    """A finished run directory as the runner writes it (real shard and manifest writers)."""
    table = _docs()
    out.mkdir(parents=True)
    part = out / "part.parquet"
    pq.write_table(table, part)
    shards, summary = write_shards([part], out / "data", 200, 2**30, "zstd", 3, quiet=True)
    part.unlink()
    output = summary.to_dict()
    n, c = output["docs"], output["chars"]
    langid_out = n + 80 + 100 + 200 if full else n
    stages = [
        _stage("read", 1200, 1190, 0, 60 * c, {"too_large": 4, "binary": 6},
               {"charset:utf-8": 1100, "charset:gb18030": 90}),
        _stage("urlfilter", 1190, 1160, 60 * c, 58 * c, {"blocklist:adult": 20, "banned_word": 10}),
        _stage("extract", 1160, 1100, 58 * c, 3 * c, {"empty": 60}),
        _stage("langid", 1100, langid_out, 3 * c, 2 * c if full else c, {} if not full else
               dict(LANGID_DROPS, **{"language:fa": 1100 - langid_out - sum(LANGID_DROPS.values())})),
    ]
    if full:
        stages += [
            _stage("normalize", langid_out, langid_out, 2 * c, 2 * c - 500, None,
                   {"opencc_converted": 12, "mojibake_repaired": 3}),
            _stage("filter", langid_out, n + 180, 2 * c - 500, c + c // 2, {"gopher_quality:word_count": 150,
                                                                           "c4:lorem_ipsum": 50}),
            _stage("quality", n + 180, n + 80, c + c // 2, c + c // 4, {"low_quality": 100}),
            _stage("pii", n + 80, n + 80, c + c // 4, c + c // 4 - 300, None, PII),
            _stage("dedup", n + 80, n, c + c // 4 - 300, c, {"exact_dup": 50, "near_dup": 30},
                   {"exact_removed": 50, "near_removed": 30, **CLUSTERS}),
        ]
    else:
        output["quality_hist"] = None
    stats = {
        "version": 1, "stages": stages,
        "input": {"files": [f"s3://bucket/crawl-data/CC-MAIN-2020-34/CC-MAIN-2020-34-0000{i}.warc.gz"
                            for i in range(2)] + ["/data/extra/pages.jsonl"], "bytes": 3 * 2**30},
        "errors": {"count": 2, "samples": [
            {"file": "/data/a.warc.gz", "offset": 1234, "stage": "read", "error": "truncated gzip | member"},
            {"file": "/data/a.warc.gz", "offset": 99999, "stage": "read", "error": "bad WARC header"}]},
        "output": output | {"shards": len(shards), "bytes": sum(p.stat().st_size for p in shards),
                            "rejected_docs": 1200 - n},
        "run": {"started": "2026-11-24T10:00:00+00:00", "finished": "2026-11-24T10:05:00+00:00", "wall_s": 300.5,
                "executor": "local", "workers": 2, "config_hash": "ab" * 32,
                "command": "refinery run -c zh_en.yaml -i crawl/ -o out", "config": {"languages": ["en"]}},
    }
    write_json_atomic(out / "stats.json", stats)
    if full:  # as `refinery tokenize` writes it
        write_json_atomic(out / "tokens.json", TOKENS)
    if config:
        (out / "config.yaml").write_text(CONFIG, encoding="utf-8")
    write_manifest(out, shards, [], stats["run"]["config_hash"])
    return stats


# ------------------------------------------------------------------ reading the card back

def front_matter(card: str) -> dict:
    m = re.match(r"---\n(.*?)\n---\n", card, re.S)
    assert m, "card must start with YAML front matter"
    return yaml.safe_load(m.group(1))


def section(card: str, title: str) -> str:
    m = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", card, re.S | re.M)
    assert m, f"no section {title!r}"
    return m.group(1)


def tables(text: str) -> list[list[dict[str, str]]]:
    """Every markdown table in ``text`` as a list of {header: cell} rows."""
    out, lines = [], text.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].startswith("|") and i + 1 < len(lines) and re.match(r"^\|[ :\-|]+\|$", lines[i + 1]):
            head = [c.strip() for c in lines[i].strip("|").split("|")]
            rows, i = [], i + 2
            while i < len(lines) and lines[i].startswith("|"):
                cells = [c.strip() for c in re.split(r"(?<!\\)\|", lines[i].strip()[1:-1])]
                rows.append(dict(zip(head, cells)))
                i += 1
            out.append(rows)
        else:
            i += 1
    return out


def num(cell: str) -> int:
    return int(cell.replace(",", ""))


def key(cell: str) -> str:
    return cell.strip("`")


@pytest.fixture
def run_dir(tmp_path) -> tuple[Path, dict, dict, str]:
    out = tmp_path / "out"
    stats = make_run(out)
    write_card(out)
    manifest = json.loads((out / "manifest.json").read_text())
    return out, stats, manifest, (out / "README.md").read_text(encoding="utf-8")


# ------------------------------------------------------------------ tests

def test_front_matter_parses_and_has_hub_keys(run_dir):
    out, stats, manifest, card = run_dir
    fm = front_matter(card)
    for k in ("pretty_name", "language", "license", "size_categories", "task_categories", "configs",
              "dataset_info"):
        assert k in fm, k
    langs = stats["output"]["languages"]
    total = sum(v["docs"] for v in langs.values())
    assert fm["language"] == ["en", "zh", "fr"]  # by size; de is under the share, unknown is no code
    assert all(langs[x]["docs"] / total >= MIN_LANGUAGE_SHARE for x in fm["language"])
    assert fm["license"] == "other" and "commoncrawl.org" in fm["license_link"]
    assert fm["task_categories"] == ["text-generation"] and fm["size_categories"] == ["n<1K"]
    assert fm["configs"][0]["data_files"][0] == {"split": "train", "path": "data/*.parquet"}
    info = fm["dataset_info"]
    assert info["splits"][0]["num_examples"] == sum(e["rows"] for e in manifest["shards"]) == 420
    assert info["download_size"] == sum(e["bytes"] for e in manifest["shards"])
    assert [f["name"] for f in info["features"]] == SCHEMA.names
    assert {f["name"]: f["dtype"] for f in info["features"]}["quality_score"] == "float32"
    assert len(list((out / "data").glob("*.parquet"))) == len(manifest["shards"]) == 3
    from huggingface_hub import DatasetCard
    assert DatasetCard.load(out / "README.md").data.pretty_name == "out (webrefinery)"


def test_funnel_and_drop_reasons_equal_stats(run_dir):
    _, stats, _, card = run_dir
    [funnel] = tables(section(card, "Processing funnel"))
    assert [key(r["stage"]) for r in funnel] == [s["name"] for s in stats["stages"]]
    for row, st in zip(funnel, stats["stages"]):
        assert num(row["docs in"]) == st["docs_in"] and num(row["docs out"]) == st["docs_out"]
        assert num(row["chars in"]) == st["chars_in"] and num(row["chars out"]) == st["chars_out"]
        assert row["% kept"] == f"{100 * st['docs_out'] / st['docs_in']:.1f}%"
    drops = section(card, "Drop reasons by stage")
    by_stage = dict(zip(re.findall(r"^### `(\w+)`", drops, re.M), tables(drops)))
    assert set(by_stage) == {s["name"] for s in stats["stages"] if s["dropped"]}
    langid = next(s for s in stats["stages"] if s["name"] == "langid")
    ranked = sorted(langid["dropped"].items(), key=lambda kv: (-kv[1], kv[0]))
    rows = by_stage["langid"]
    assert [(key(r["reason"]), num(r["docs"])) for r in rows[:TOP_REASONS]] == ranked[:TOP_REASONS]
    assert rows[-1]["reason"] == f"{len(ranked) - TOP_REASONS} other reasons"
    assert num(rows[-1]["docs"]) == sum(v for _, v in ranked[TOP_REASONS:])
    assert {key(r["reason"]): num(r["docs"]) for r in by_stage["read"]} == {"too_large": 4, "binary": 6}
    assert "No documents were dropped by `normalize`, `pii`." in drops


def test_languages_pii_dedup_tokens_equal_stats(run_dir):
    _, stats, _, card = run_dir
    langs = stats["output"]["languages"]
    [rows] = tables(section(card, "Languages"))
    assert {key(r["language"]): (num(r["docs"]), num(r["chars"])) for r in rows} == \
        {k: (v["docs"], v["chars"]) for k, v in langs.items()}
    total = sum(v["docs"] for v in langs.values())
    assert {key(r["language"]): r["% docs"] for r in rows} == \
        {k: f"{100 * v['docs'] / total:.1f}%" for k, v in langs.items()}

    pii = section(card, "PII redaction")
    [rows] = tables(pii)
    assert {f"pii:{key(r['type'])}": num(r["redactions"]) for r in rows} == \
        {k: v for k, v in PII.items() if k.startswith("pii:")}
    assert "55 spans" in pii and "in 30 documents" in pii

    dedup = section(card, "Deduplication")
    removed, clusters = tables(dedup)
    assert [num(r["docs"]) for r in removed] == [50, 30]
    assert {f"cluster_size:{num(r['cluster size'])}": num(r["clusters"]) for r in clusters} == CLUSTERS

    [rows] = tables(section(card, "Token counts"))
    assert {key(r["language"]): num(r["tokens"]) for r in rows} == TOKENS["by_language"]
    assert "123,456 tokens" in section(card, "Token counts")


def test_every_tokenize_run_of_the_output_is_on_the_card(run_dir):
    """tokens.json ``runs`` (two tokenizers into two token directories): both tables are shown;
    a tokens.json written before ``runs`` existed (the fixture's) shows its one run."""
    out = run_dir[0]
    big = TOKENS | {"tokenizer": "tok64k/tokenizer.json", "total": 99_000, "output": "/tmp/tokens64k",
                    "by_language": {"en": 60_000, "zh": 39_000}}
    write_json_atomic(out / "tokens.json", big | {"runs": [TOKENS, big]})
    write_card(out)
    tok = section((out / "README.md").read_text(encoding="utf-8"), "Token counts")
    assert "123,456 tokens with tokenizer `tok/tokenizer.json`" in tok and "`/tmp/tokens`" in tok
    assert "99,000 tokens with tokenizer `tok64k/tokenizer.json`" in tok and "`/tmp/tokens64k`" in tok
    first, second = tables(tok)
    assert {key(r["language"]): num(r["tokens"]) for r in second} == big["by_language"]


def test_histograms_sources_config_and_errors(run_dir):
    _, stats, manifest, card = run_dir
    [rows] = tables(section(card, "Document length"))
    assert sum(num(r["docs"]) for r in rows) == stats["output"]["docs"]
    assert [num(r["docs"]) for r in rows] == [c for c in stats["output"]["length_hist"]["counts"] if c]
    [rows] = tables(section(card, "Quality scores"))
    assert [num(r["docs"]) for r in rows] == [c for c in stats["output"]["quality_hist"]["counts"] if c]
    assert "![Histogram of quality scores](plots/quality.png)" in card

    sources = section(card, "Sources")
    assert "`CC-MAIN-2020-34` (2 files)" in sources
    assert "2020-08-03 to 2020-08-14" in sources  # from the shards' crawl_date statistics
    assert "`pages.jsonl` | –" in sources

    cfg = section(card, "Configuration and software")
    assert CONFIG.rstrip() in cfg and "from `config.yaml`" in cfg
    [versions] = tables(cfg)
    assert {key(r["package"]): r["version"] for r in versions} == manifest["versions"]
    errors = section(card, "Input errors")
    assert "2 input records were skipped (corrupt, truncated or undecodable); all of them:" in errors
    assert "truncated gzip \\| member" in errors
    assert "`opencc_converted` | 12" in section(card, "Other stage counters")
    summary = card.split("## Dataset structure")[0]
    assert "**420 documents**" in summary and "languages `en`, `zh`, `fr`)" in summary
    assert "input files of Common Crawl snapshot CC-MAIN-2020-34)" in summary
    assert "780 documents were dropped on the way (not kept: `output.write_rejected` was off)" in summary


def test_plots_are_valid_pngs(run_dir):
    out, _, _, card = run_dir
    for name in ("funnel", "languages", "length", "quality"):
        p = out / "plots" / f"{name}.png"
        data = p.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", name
        width, height = struct.unpack(">II", data[16:24])
        assert width > 300 and height > 150 and len(data) > 5000, name
        assert f"](plots/{name}.png)" in card


def test_stages_that_did_not_run_say_so(tmp_path):
    out = tmp_path / "small"
    make_run(out, full=False, config=False)
    (out / "plots").mkdir()
    (out / "plots" / "quality.png").write_bytes(b"stale")  # from an earlier card of another run
    write_card(out)
    card = (out / "README.md").read_text()
    assert "did not run" in section(card, "Quality scores") and not tables(section(card, "Quality scores"))
    assert "PII redaction did not run" in section(card, "PII redaction")
    assert "Deduplication did not run" in section(card, "Deduplication")
    assert not tables(section(card, "Deduplication")) and "removed" not in section(card, "Deduplication")
    assert "Not tokenized yet" in section(card, "Token counts")
    assert "PII was not redacted." in section(card, "Known limitations and biases")
    assert not (out / "plots" / "quality.png").exists()
    cfg = section(card, "Configuration and software")
    assert "from `stats.json run.config`" in cfg and "languages:\n- en" in cfg


def test_cli_card_license_and_name(tmp_path, cli):
    out = tmp_path / "o"
    make_run(out)
    code, stdout, err = cli("card", out, "--license", "odc-by", "--name", "ZH-EN web sample")
    assert code == 0, err
    fm = front_matter((out / "README.md").read_text())
    assert fm["license"] == "odc-by" and "license_name" not in fm and fm["pretty_name"] == "ZH-EN web sample"
    assert "wrote" in stdout


def test_missing_stats_is_a_clear_error(tmp_path, cli):
    (tmp_path / "manifest.json").write_text("{}")
    with pytest.raises(RefineryError, match=r"stats\.json not found"):
        write_card(tmp_path)
    code, _, err = cli("card", tmp_path)
    assert code == 2 and err.startswith("refinery: error: ") and "stats.json not found" in err
    code, _, err = cli("card", tmp_path / "nope")
    assert code == 2 and "is not a directory" in err


def test_refinery_run_writes_card(cli, sample_warc, tmp_path):
    out = tmp_path / "run"
    core = DATA / "core.yaml"  # read → urlfilter → extract → langid
    code, _, err = cli("run", "-c", core, "-i", sample_warc, "-o", out, "-q")
    assert code == 0, err
    stats = json.loads((out / "stats.json").read_text())
    card = (out / "README.md").read_text()
    [funnel] = tables(section(card, "Processing funnel"))
    assert [(key(r["stage"]), num(r["docs out"])) for r in funnel] == \
        [(s["name"], s["docs_out"]) for s in stats["stages"]]
    assert front_matter(card)["language"] == ["zh", "en"]
    assert "`CC-MAIN-2020-34` (1 file)" in card and "2020-08-08" in card
    assert (out / "plots" / "funnel.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "config.yaml").read_text().strip() in card
    assert "4 documents were dropped on the way; they are kept in `rejected/`" in card


def test_empty_output_card(cli, sample_warc, tmp_path):
    cfg = tmp_path / "sw.yaml"
    cfg.write_text("languages: [sw]\n")  # nothing in the sample is Swahili
    out = tmp_path / "empty"
    code, _, err = cli("run", "-c", cfg, "-i", sample_warc, "-o", out, "-q")
    assert code == 0, err
    card = (out / "README.md").read_text()
    fm = front_matter(card)
    assert "language" not in fm and "multilinguality" not in fm
    assert fm["dataset_info"]["splits"][0]["num_examples"] == 0
    assert "**0 documents**" in card and "The dataset is empty." in card
    assert sorted(p.name for p in (out / "plots").iterdir()) == ["funnel.png"]


class _Toxicity(Stage):
    """A third-party stage that declares a card section, a note and the counters it explains."""

    name = "toxicity"
    card = StageCard(title="Toxicity", counters=r"^toxic:", notes={"limitations": "Toxicity scores are {docs_in:,} guesses."})

    @classmethod
    def card_section(cls, stats, output):
        return ["Documents by toxicity:", Table.of(["label", "docs"], [[k, v] for k, v in stats["counters"].items()])]


def test_stage_declared_section_only_when_the_stage_ran(tmp_path, monkeypatch):
    monkeypatch.setitem(registry.STAGES, "toxicity", f"{__name__}:_Toxicity")
    without = tmp_path / "without"
    make_run(without)
    write_card(without)
    card = (without / "README.md").read_text()
    assert "## Toxicity" not in card and "Toxicity scores" not in card

    with_it = tmp_path / "with"
    make_run(with_it)
    stats = json.loads((with_it / "stats.json").read_text())
    stats["stages"].append(_stage("toxicity", 420, 420, 1, 1, None, {"toxic:high": 7, "scored": 420}))
    write_json_atomic(with_it / "stats.json", stats)
    write_card(with_it)
    card = (with_it / "README.md").read_text()
    [rows] = tables(section(card, "Toxicity"))
    assert {r["label"]: num(r["docs"]) for r in rows} == {"toxic:high": 7, "scored": 420}
    assert "- Toxicity scores are 420 guesses." in section(card, "Known limitations and biases")
    other = section(card, "Other stage counters")
    assert "`scored` | 420" in other and "toxic:high" not in other  # its section explains that one
    assert card.index("## Deduplication") < card.index("## Toxicity") < card.index("## Token counts")


def test_card_of_an_empty_run(tmp_path):
    out = tmp_path / "zero"
    out.mkdir()
    stats = {"version": 1, "stages": [], "input": {"files": [], "bytes": 0}, "errors": {"count": 0, "samples": []},
             "output": {"docs": 0, "chars": 0, "shards": 0, "bytes": 0, "rejected_docs": 0, "languages": {},
                        "length_hist": None, "quality_hist": None},
             "run": {"finished": "2026-11-24T10:05:00+00:00", "wall_s": 0, "executor": "local", "workers": 1,
                     "config_hash": "0" * 64}}
    write_json_atomic(out / "stats.json", stats)
    write_manifest(out, [], [], "0" * 64)
    write_card(out)
    card = (out / "README.md").read_text()
    assert front_matter(card)["dataset_info"]["splits"][0]["num_examples"] == 0
    assert "**0 documents** (0 characters) in 0 Parquet shards" in card
    assert "The dataset is empty." in card and "Not tokenized yet" in card
    assert "PII redaction did not run" in section(card, "PII redaction")
    assert "## Other stage counters" not in card and "\n\n\n" not in card
