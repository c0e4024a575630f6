"""`refinery run` and stage commands end to end through the CLI, and start-up errors."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import ROOT, article, warc_record, write_warc

CORE = ROOT / "tests" / "data" / "core.yaml"  # read → urlfilter → extract → langid


def read_out(out: Path) -> pa.Table:
    return pa.concat_tables([pq.read_table(p) for p in sorted((out / "data").glob("*.parquet"))])


def test_run_sample_end_to_end(cli, sample_warc, tmp_path):
    out = tmp_path / "out"
    code, stdout, err = cli("run", "-c", CORE, "-i", sample_warc, "-o", out)
    assert code == 0, err
    assert "langid" in stdout and "% kept" in stdout
    table = read_out(out)
    stats = json.loads((out / "stats.json").read_text())
    manifest = json.loads((out / "manifest.json").read_text())
    assert [s["name"] for s in stats["stages"]] == ["read", "urlfilter", "extract", "langid"]
    assert stats["stages"][0]["docs_in"] == 16
    assert table.num_rows == stats["output"]["docs"] == stats["stages"][-1]["docs_out"] == 12
    assert set(table.column("language").to_pylist()) <= {"en", "zh"}
    assert table.column_names[:9] == ["id", "text", "url", "source", "crawl_date", "language",
                                      "language_score", "quality_score", "metadata"]
    assert sum(s["rows"] for s in manifest["shards"]) == 12
    assert len(manifest["config_hash"]) == 64 and "trafilatura" in manifest["versions"]
    rejected = pa.concat_tables([pq.read_table(p) for p in (out / "rejected").glob("*.parquet")])
    assert rejected.num_rows == 4 and set(rejected.column("stage").to_pylist()) == {"langid"}
    # every input response is either in data/ or rejected/, exactly once
    assert sorted(table.column("id").to_pylist() + rejected.column("id").to_pylist()) == \
        sorted(set(table.column("id").to_pylist() + rejected.column("id").to_pylist()))
    assert pq.ParquetFile(out / "data" / "part-00000.parquet").metadata.row_group(0).column(1).compression == "ZSTD"
    code, stdout, _ = cli("verify", out)
    assert code == 0 and "OK 1 shards, 12 rows" in stdout


def test_deterministic_and_resume_noop(cli, tmp_path):
    # the default pipeline on the quickstart sample (2 documents published)
    a, b = tmp_path / "a", tmp_path / "b"
    assert cli("run", "-i", ROOT / "samples", "-o", a, "-q")[0] == 0
    assert cli("run", "-i", ROOT / "samples", "-o", b, "-q")[0] == 0
    assert (a / "data" / "part-00000.parquet").read_bytes() == (b / "data" / "part-00000.parquet").read_bytes()
    before = (a / "manifest.json").read_text()
    assert cli("run", "-i", ROOT / "samples", "-o", a, "-q")[0] == 0  # already complete: nothing redone
    assert (a / "manifest.json").read_text() == before


def test_changed_config_refuses_to_mix(cli, sample_warc, tmp_path):
    out = tmp_path / "o"
    assert cli("run", "-i", sample_warc, "-o", out, "-q")[0] == 0
    cfg = tmp_path / "c.yaml"
    cfg.write_text("langid: {threshold: 0.9}\n")
    code, _, err = cli("run", "-c", cfg, "-i", sample_warc, "-o", out, "-q")
    assert code == 2 and "different config" in err and "--overwrite" in err
    assert cli("run", "-c", cfg, "-i", sample_warc, "-o", out, "-q", "--overwrite")[0] == 0


def test_rows_per_shard(cli, sample_warc, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(CORE.read_text() + "output: {rows_per_shard: 5}\n")
    out = tmp_path / "o"
    assert cli("run", "-c", cfg, "-i", sample_warc, "-o", out, "-q")[0] == 0
    shards = sorted((out / "data").glob("*.parquet"))
    assert [pq.ParquetFile(p).metadata.num_rows for p in shards] == [5, 5, 2]
    assert [p.name for p in shards] == ["part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]


@pytest.mark.parametrize("yaml_text,expect", [
    ("langid: {threshhold: 0.5}\n", "langid.threshhold: unknown key; did you mean 'threshold'? (valid keys here: "),
    ("executor: {ray: {adress: x}}\n", "executor.ray.adress: unknown key; did you mean 'address'?"),
    ("langid: {threshold: high}\n", "langid.threshold: Input should be a valid number"),
    ("executor: {kind: spark}\n", "executor.kind"),
    ("pipeline: [read, nosuchstage]\n", "unknown stage 'nosuchstage'"),
    ("bogus: 1\n", "unknown key 'bogus'"),
    ("langid: [unclosed\n", "is not valid YAML at line"),
    ("langid: {model_path: /missing/lid.bin}\n", "langid.model_path: /missing/lid.bin not found"),
])
def test_config_errors_are_one_clear_line(cli, sample_warc, tmp_path, yaml_text, expect):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml_text)
    code, _, err = cli("run", "-c", cfg, "-i", sample_warc, "-o", tmp_path / "o")
    assert code == 2
    assert err.startswith("refinery: error: ") and expect in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o" / "data").exists()


def test_missing_input_and_config_file(cli, tmp_path):
    code, _, err = cli("run", "-i", tmp_path / "nope.warc.gz", "-o", tmp_path / "o")
    assert code == 2 and "does not exist" in err
    code, _, err = cli("run", "-c", tmp_path / "none.yaml", "-i", tmp_path, "-o", tmp_path / "o")
    assert code == 2 and "not found" in err


def test_bad_input_counted_run_continues(cli, tmp_path):
    good = [warc_record(f"http://site.com/{i}", article(f"Town news {i}")) for i in range(4)]
    members = [gzip.compress(r, mtime=0) for r in good]
    corrupt = bytearray(members[1])
    corrupt[40:80] = bytes(40)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.warc.gz").write_bytes(members[0] + bytes(corrupt) + b"".join(members[2:]))
    (tmp_path / "in" / "b.warc.gz").write_bytes(b"garbage, not a WARC")
    write_warc(tmp_path / "in" / "c.warc.gz", [warc_record("http://site.com/c", article("Other news"))])
    out = tmp_path / "o"
    code, _, err = cli("run", "-c", CORE, "-i", tmp_path / "in", "-o", out, "-q")
    assert code == 0, err
    assert "a.warc.gz @ " in err and "b.warc.gz @ 0" in err
    stats = json.loads((out / "stats.json").read_text())
    assert stats["errors"]["count"] == 2
    assert stats["stages"][0]["counters"]["error:corrupt"] == 2
    assert sorted(read_out(out).column("url").to_pylist()) == [
        "http://site.com/0", "http://site.com/2", "http://site.com/3", "http://site.com/c"]


def test_stage_commands_on_jsonl_and_passthrough(cli, tmp_path):
    rows = [{"id": "d1", "url": "http://a.com/1", "html": article("Harbour festival").decode(), "batch": 7},
            {"id": "d2", "url": "http://a.com/2", "html": article("北京图书馆", lang="zh").decode(), "batch": 8}]
    src = tmp_path / "pages.jsonl"
    src.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    code, _, err = cli("extract", "-i", src, "-o", tmp_path / "ex", "-q")
    assert code == 0, err
    ex = read_out(tmp_path / "ex")
    assert ex.column("id").to_pylist() == ["d1", "d2"]
    assert ex.column("batch").to_pylist() == [7, 8]          # extra input columns pass through
    assert "html" not in ex.column_names and ex.column("text")[1].as_py().startswith("北京图书馆")
    code, _, err = cli("langid", "-i", tmp_path / "ex" / "data", "-o", tmp_path / "li", "-q")
    assert code == 0, err
    assert read_out(tmp_path / "li").column("language").to_pylist() == ["en", "zh"]


def test_stage_command_on_warc_runs_read_first(cli, sample_warc, tmp_path):
    code, _, err = cli("urlfilter", "-i", sample_warc, "-o", tmp_path / "u")
    assert code == 0 and "running read → urlfilter" in err
    t = read_out(tmp_path / "u")
    assert t.num_rows == 16 and "html" in t.column_names


def test_stage_command_on_a_directory_of_warcs_extracts_first(cli, sample_warc, tmp_path):
    """A directory (or glob) of WARC files is WARC input: the stage gets extracted text, not
    empty rows it would reject or pass as empty documents."""
    (tmp_path / "crawl").mkdir()
    (tmp_path / "crawl" / sample_warc.name).write_bytes(sample_warc.read_bytes())
    code, _, err = cli("langid", "-i", tmp_path / "crawl", "-o", tmp_path / "li")
    assert code == 0 and "running read → extract → langid (WARC input" in err, err
    t = read_out(tmp_path / "li")
    assert t.num_rows > 0 and all(t.column("text").to_pylist())
    assert set(t.column("language").to_pylist()) <= {"en", "zh"}


def test_same_named_files_in_subdirectories_get_different_ids_and_a_moved_tree_the_same(cli, tmp_path):
    """Ids hash a file's path inside the input directory, not its base name alone: two
    ``part-0.jsonl`` of different months are two documents, and the same tree read from
    another place gives the same ids."""
    for month, text in (("2024-10", "The harbour festival opened on Sunday with boats."),
                        ("2024-18", "A new library opened in the old town hall this week.")):
        (tmp_path / "coll" / month).mkdir(parents=True)
        (tmp_path / "coll" / month / "part-0.jsonl").write_text(json.dumps({"text": text}) + "\n")
    code, _, err = cli("pii", "-i", tmp_path / "coll", "-o", tmp_path / "a", "-q")
    assert code == 0, err
    ids = read_out(tmp_path / "a").column("id").to_pylist()
    assert len(ids) == 2 and len(set(ids)) == 2
    (tmp_path / "coll").rename(tmp_path / "moved")
    code, _, err = cli("pii", "-i", tmp_path / "moved", "-o", tmp_path / "b", "-q")
    assert code == 0, err
    assert sorted(read_out(tmp_path / "b").column("id").to_pylist()) == sorted(ids)


def test_whirlwind_warc(cli, shared, tmp_path):
    warc = shared / "warc" / "whirlwind-CC-MAIN-2024-22.warc.gz"
    code, _, err = cli("run", "-i", warc, "-o", tmp_path / "o", "-q")
    assert code == 0, err
    stats = json.loads((tmp_path / "o" / "stats.json").read_text())
    assert stats["stages"][0]["counters"]["warc_records:response"] == 1
    # the page is Aragonese (an.wikipedia.org): extracted, then dropped by langid (keep en, zh)
    assert stats["stages"][2]["docs_out"] == 1 and stats["output"]["docs"] == 0


def test_card_license_from_config(cli, sample_warc, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("output: {card_license: odc-by, card_name: sample-clean}\n")
    out = tmp_path / "o"
    assert cli("run", "-c", cfg, "-i", sample_warc, "-o", out, "-q")[0] == 0
    card = (out / "README.md").read_text()
    front = card.split("---")[1]
    assert "license: odc-by" in front and "pretty_name: sample-clean" in front
    assert cli("card", out)[0] == 0  # re-rendering keeps the configured license
    assert "license: odc-by" in (out / "README.md").read_text().split("---")[1]


def test_text_rows_pass_extract_and_rows_without_text_are_rejected_once(cli, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    (src / "docs.jsonl").write_text(json.dumps({"id": "t1", "text": "The harbour festival returns this weekend "
                                                "with music, food stalls and boat races for all ages."}) + "\n")
    (src / "index.jsonl").write_text("".join(json.dumps({"file": f"x{i}", "offset": i}) + "\n" for i in range(30)))
    out = tmp_path / "o"
    code, _, err = cli("run", "-c", CORE, "-i", src, "-o", out, "-q")
    assert code == 0, err
    assert read_out(out).column("id").to_pylist() == ["t1"]
    assert err.count("needs column 'text'") == 1
    stats = json.loads((out / "stats.json").read_text())
    assert stats["stages"][-1]["dropped"] == {"missing_column:text": 30}


def test_quickstart_runs_all_stages_and_accounts_for_every_page(cli, tmp_path):
    """README quickstart 1 (configs/default.yaml on samples/) runs all nine stages; each of the 18
    pages ends in data/ or rejected/ once: the Wikipedia and gmw.cn articles are published, and the
    last spam page to go, scraped news boxed character by character, has its own reason."""
    out = tmp_path / "o"
    code, _, err = cli("run", "-c", ROOT / "configs" / "default.yaml", "-i", ROOT / "samples", "-o", out, "-q")
    assert code == 0, err
    stats = json.loads((out / "stats.json").read_text())
    assert [s["name"] for s in stats["stages"]] == ["read", "urlfilter", "extract", "langid", "normalize",
                                                     "filter", "quality", "pii", "dedup"]
    for before, after in zip(stats["stages"], stats["stages"][1:]):
        assert after["docs_in"] == before["docs_out"]
    kept = read_out(out)
    rejected = pa.concat_tables([pq.read_table(p) for p in (out / "rejected").glob("*.parquet")])
    ids = kept.column("id").to_pylist() + rejected.column("id").to_pylist()
    assert len(ids) == len(set(ids)) == 18
    assert sum(sum(s["dropped"].values()) for s in stats["stages"]) == rejected.num_rows == 16
    assert sorted(zip(kept.column("language").to_pylist(), kept.column("url").to_pylist())) == [
        ("en", "https://en.wikipedia.org/wiki/Hermitian_matrix"),
        ("zh", "https://github.com/mozilla/readability/blob/ab4027a8b37669745016869a37a504727992b2ba/"
               "test/test-pages/gmw/source.html")]
    reasons = dict(zip(rejected.column("url").to_pylist(), rejected.column("reason").to_pylist()))
    assert reasons["http://003338.cn/l41/481397.html"] == "chinese:isolated_han"


def test_split_warc_into_byte_ranges_gives_the_same_output(cli, sample_warc, tmp_path):
    """A WARC cut into 4 KiB ranges (34 tasks) reads every record exactly once, in order."""
    whole, split = tmp_path / "whole", tmp_path / "split"
    cfg = tmp_path / "c.yaml"
    cfg.write_text(CORE.read_text() + "executor: {split_bytes: null}\n")
    assert cli("run", "-c", cfg, "-i", sample_warc, "-o", whole, "-q")[0] == 0
    cfg.write_text(CORE.read_text() + "executor: {split_bytes: 4096}\n")
    assert cli("run", "-c", cfg, "-i", sample_warc, "-o", split, "-q")[0] == 0
    assert (whole / "data" / "part-00000.parquet").read_bytes() == (split / "data" / "part-00000.parquet").read_bytes()
    a, b = (json.loads((d / "stats.json").read_text()) for d in (whole, split))
    strip = [{k: v for k, v in st.items() if k != "time_s"} for st in a["stages"]]
    assert strip == [{k: v for k, v in st.items() if k != "time_s"} for st in b["stages"]]
    assert len(list((split / "_work" / "seg0").glob("stats-*.json"))) == 34
    assert a["errors"]["count"] == b["errors"]["count"] == 0


def test_max_shard_bytes_cuts_shards_in_order(cli, sample_warc, tmp_path):
    from webrefinery.pipeline.io.shards import row_bytes

    whole, cut = tmp_path / "whole", tmp_path / "cut"
    assert cli("run", "-c", CORE, "-i", sample_warc, "-o", whole, "-q")[0] == 0
    cfg = tmp_path / "c.yaml"
    cfg.write_text(CORE.read_text() + "output: {max_shard_bytes: 10000}\n")
    assert cli("run", "-c", cfg, "-i", sample_warc, "-o", cut, "-q")[0] == 0
    shards = [pq.read_table(p) for p in sorted((cut / "data").glob("*.parquet"))]
    assert len(shards) > 2
    assert pa.concat_tables(shards).equals(read_out(whole))
    for t in shards[:-1]:  # each closed shard crossed the budget with its last row, not before
        sizes = row_bytes(t)
        assert sizes.sum() >= 10000 and sizes[:-1].sum() < 10000


def test_a_run_without_a_card_imports_no_extra_command(sample_warc, tmp_path):
    """`refinery run` builds no parser of the extra commands, and without a card it never
    imports the card renderer (matplotlib, jinja2: about 0.8 s of every run's start-up)."""
    import subprocess
    import sys

    cfg = tmp_path / "c.yaml"
    cfg.write_text("pipeline: [read, urlfilter, extract]\noutput: {card: false}\n")
    probe = ("import sys\nfrom webrefinery.pipeline.cli import main\n"
             f"rc = main(['run', '-c', {str(cfg)!r}, '-i', {str(sample_warc)!r}, '-o', {str(tmp_path / 'o')!r}, '-q'])\n"
             "heavy = sorted(m for m in sys.modules if m.startswith(('matplotlib', 'webrefinery.pipeline.card.render',"
             " 'webrefinery.tokenizer_training', 'webrefinery.filters.train_quality')))\n"
             "print(rc, heavy)\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.split("\n")[-2] == "0 []", done.stderr[-2000:]
    assert (tmp_path / "o" / "stats.json").exists() and not (tmp_path / "o" / "README.md").exists()


def test_help_and_a_mistyped_command_still_list_every_command(cli):
    from webrefinery.pipeline.core.registry import COMMANDS

    code, out, _ = cli("--help")
    assert code == 0 and all(name in out for name in COMMANDS)
    code, _, err = cli("tokenise", "x")
    assert code == 2 and "invalid choice" in err and all(name in err for name in COMMANDS)
    assert cli("card", "--help")[0] == 0


def test_command_help_shows_defaults_but_not_none(cli):
    code, out, _ = cli("tokenize", "--help")
    assert code == 0 and "(default: 1024)" in " ".join(out.split())
    code, out, _ = cli("train-tokenizer", "--help")
    assert code == 0 and "(default: 50257)" in " ".join(out.split())
    for command in ("run", "tokenize", "train-tokenizer", "dedup"):
        out = cli(command, "--help")[1]
        assert "(default: None)" not in out and "(default: False)" not in out, command


def test_a_run_that_drops_every_document_says_so(cli, tmp_path):
    src = tmp_path / "short.jsonl"
    src.write_text("".join(json.dumps({"text": t}) + "\n" for t in ("hi", "ok")))
    code, _, err = cli("filter", "-i", src, "-o", tmp_path / "f")
    assert code == 0, err
    assert "published 0 documents: it dropped all 2 documents it read" in err
