"""dedup against earlier outputs: run A, then B with ``against: [A]``; B keeps no duplicate of
A, B's own duplicates are handled as before, A is unchanged and still verifies; the index is
in A's manifest; other MinHash settings are refused; local and Ray give the same B."""

from __future__ import annotations

import hashlib
import json
import os
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from webrefinery.pipeline.core.config import build_config
from webrefinery.pipeline.core.errors import ConfigError
from webrefinery.pipeline.io.manifest import verify
from webrefinery.pipeline.runtime.runner import run
from test_dedup_stage import doc, edit  # the same random-word documents and edits


def write_jsonl(path: Path, rows: list[tuple[str, str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in rows))
    return path


@pytest.fixture
def corpora(tmp_path):
    rng = random.Random(11)
    a = [doc(rng) for _ in range(40)]
    a_rows = [(f"a{i:02d}", t) for i, t in enumerate(a)] + [("a_copy", a[0])]  # A's own exact dup
    b_new = [doc(rng) for _ in range(30)]
    b_rows = ([(f"b{i:02d}", t) for i, t in enumerate(b_new)]
              + [("b_exact_a5", a[5].upper()), ("b_near_a6", edit(a[6], 2, rng)), ("b_near_a7", edit(a[7], 1, rng)),
                 ("b_own_exact", b_new[3]), ("b_own_near", edit(b_new[4], 2, rng))])
    return (write_jsonl(tmp_path / "in" / "a.jsonl", a_rows), write_jsonl(tmp_path / "in" / "b.jsonl", b_rows))


def digest(out: Path) -> dict[str, str]:
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.rglob("*")) if p.is_file() and "_work" not in p.parts}


def rejected(out: Path) -> dict[str, tuple[str, str]]:
    files = sorted((out / "rejected").glob("*.parquet"))
    t = pa.concat_tables([pq.read_table(f) for f in files]) if files else None
    if t is None:
        return {}
    return {i: (r, json.loads(m).get("duplicate_of")) for i, r, m in
            zip(t.column("id").to_pylist(), t.column("reason").to_pylist(), t.column("metadata").to_pylist())}


def test_b_against_a(tmp_path, corpora):
    a_in, b_in = corpora
    run(build_config({}), [str(a_in)], tmp_path / "A", stages=["dedup"], quiet=True)
    manifest = json.loads((tmp_path / "A" / "manifest.json").read_text())
    assert [e["path"] for e in manifest["dedup_index"]] == ["dedup_index/index-00000.parquet"]  # one key file
    assert manifest["dedup_index"][0]["rows"] == 40  # A's kept documents (its own copy removed)
    before = digest(tmp_path / "A")

    run(build_config({"dedup": {"against": [str(tmp_path / "A")]}}), [str(b_in)], tmp_path / "B",
        stages=["dedup"], quiet=True)
    run(build_config({}), [str(b_in)], tmp_path / "B_alone", stages=["dedup"], quiet=True)
    rej = rejected(tmp_path / "B")
    assert rej["b_exact_a5"] == ("exact_dup_prior", "a05")
    assert rej["b_near_a6"] == ("near_dup_prior", "a06") and rej["b_near_a7"] == ("near_dup_prior", "a07")
    alone = rejected(tmp_path / "B_alone")
    assert {k: v for k, v in rej.items() if not v[0].endswith("_prior")} == alone  # B's own dups as before
    assert sorted(r for r, _ in alone.values()) == ["exact_dup", "near_dup"]
    b_ids = set(pq.read_table(tmp_path / "B" / "data").column("id").to_pylist())
    assert not b_ids & {"b_exact_a5", "b_near_a6", "b_near_a7"} and len(b_ids) == 35 - 2 - 3
    st = next(s for s in json.loads((tmp_path / "B" / "stats.json").read_text())["stages"] if s["name"] == "dedup")
    assert st["counters"]["exact_prior_removed"] == 1 and st["counters"]["near_prior_removed"] == 2
    assert "earlier output" in (tmp_path / "B" / "README.md").read_text()
    # B's own index: its kept documents only; A untouched and still verifies
    assert pq.read_metadata(tmp_path / "B" / "dedup_index" / "index-00000.parquet").num_rows == len(b_ids)
    assert digest(tmp_path / "A") == before and verify(tmp_path / "A") == [] and verify(tmp_path / "B") == []


def test_index_checked_by_verify_and_other_settings_refused(tmp_path, corpora):
    a_in, b_in = corpora
    run(build_config({}), [str(a_in)], tmp_path / "A", stages=["dedup"], quiet=True)
    with pytest.raises(ConfigError, match=r"other dedup settings \(num_perm: 128 there, 64 here"):
        run(build_config({"dedup": {"against": [str(tmp_path / "A")], "num_perm": 64}}), [str(b_in)],
            tmp_path / "B", stages=["dedup"], quiet=True)
    with pytest.raises(ConfigError, match="has no manifest.json"):
        run(build_config({"dedup": {"against": [str(tmp_path / "nope")]}}), [str(b_in)], tmp_path / "B2",
            stages=["dedup"], quiet=True)
    index = tmp_path / "A" / "dedup_index" / "index-00000.parquet"
    pq.write_table(pq.read_table(index).slice(1), index)
    assert any("dedup_index/index-00000.parquet" in p for p in verify(tmp_path / "A"))


@pytest.mark.ray
def test_local_and_ray_give_the_same_b(tmp_path, corpora):
    ray = pytest.importorskip("ray")
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    a_in, b_in = corpora
    run(build_config({}), [str(a_in)], tmp_path / "A", stages=["dedup"], quiet=True)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        for kind in ("local", "ray"):
            run(build_config({"executor": {"kind": kind}, "dedup": {"against": [str(tmp_path / "A")]}}),
                [str(b_in)], tmp_path / kind, stages=["dedup"], quiet=True)
    finally:
        ray.shutdown()
    for sub in ("data", "rejected", "dedup_index"):
        for f in sorted((tmp_path / "local" / sub).glob("*.parquet")):
            assert pq.read_table(f).equals(pq.read_table(tmp_path / "ray" / sub / f.name)), f


def test_refinery_dedup_against_on_the_command_line(cli, tmp_path, corpora):
    """`refinery dedup --against A` is `dedup: {against: [A]}` without a config file."""
    a_in, b_in = corpora
    a, b = tmp_path / "A", tmp_path / "B"
    assert cli("dedup", "-i", a_in, "-o", a, "-q")[0] == 0
    code, _, err = cli("dedup", "-i", b_in, "-o", b, "--against", a, "-q")
    assert code == 0, err
    reasons = {i: r for i, (r, _) in rejected(b).items()}
    assert reasons["b_exact_a5"] == "exact_dup_prior" and reasons["b_own_exact"] == "exact_dup"
    assert str(a) in (b / "config.yaml").read_text()  # the run records what it was deduplicated against


def test_an_output_where_nothing_reached_dedup_can_still_be_named(tmp_path, corpora):
    """Its index is one empty file: a later run dedups against it and removes nothing for it."""
    a_in, b_in = corpora
    empty = write_jsonl(tmp_path / "in0" / "short.jsonl", [("x", "too short")])
    run(build_config({}), [str(empty)], tmp_path / "A", stages=["filter", "dedup"], quiet=True)
    manifest = json.loads((tmp_path / "A" / "manifest.json").read_text())
    assert [(e["path"], e["rows"]) for e in manifest["dedup_index"]] == [("dedup_index/index-00000.parquet", 0)]
    run(build_config({"dedup": {"against": [str(tmp_path / "A")]}}), [str(b_in)], tmp_path / "B",
        stages=["dedup"], quiet=True)
    assert not [r for r, _ in rejected(tmp_path / "B").values() if r.endswith("_prior")]
