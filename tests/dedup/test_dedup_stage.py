"""Dedup stage: hashing stability, datasketch compatibility, exact/near/sub-document
decisions, keep rule, disk spill, config errors, and the ``refinery dedup`` command."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datasketch import MinHash
from datasketch.lsh import _optimal_param

from webrefinery.dedup.decisions import read_all
from webrefinery.dedup.local_reduce import reduce_local
from webrefinery.dedup.minhash import signatures
from webrefinery.dedup.shingles import batch_shingles, char_shingles, word_shingles
from webrefinery.dedup.stage import Dedup, DedupConfig
from webrefinery.pipeline.core.config import build_config
from webrefinery.pipeline.core.errors import ConfigError

VOCAB = [f"w{i}" for i in range(3000)]
ZH = "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可也你说年"


def doc(rng: random.Random, n: int = 150) -> str:
    return " ".join(rng.choices(VOCAB, k=n))


def edit(text: str, k: int, rng: random.Random) -> str:
    words = text.split()
    for i in rng.sample(range(len(words)), k):
        words[i] = "edited"
    return " ".join(words)


def run_dedup(tmp: Path, table: pa.Table, split: int | None = None, **config) -> tuple[Dedup, list]:
    """collect on two batches → key files → reduce → load each batch's decisions → process
    (what the runner does)."""
    stage = Dedup(DedupConfig(**config))
    tmp.mkdir(parents=True, exist_ok=True)
    split = split or table.num_rows // 2
    parts, files = [table.slice(0, split), table.slice(split)], []
    for i, part in enumerate(parts):
        files.append(tmp / f"keys-{i}.parquet")
        pq.write_table(stage.collect(part), files[-1])
    stage.reduce(files, tmp / "reduce")
    results = []
    for f, part in zip(files, parts):
        stage.load(tmp / "reduce", f.name)
        results.append(stage.process(part))
    return stage, results


def merged(results) -> tuple[pa.Table, pa.Table, dict]:
    kept = pa.concat_tables([r.kept for r in results])
    rejected = [r.rejected for r in results if r.rejected is not None]
    rej = pa.concat_tables(rejected) if rejected else None
    counters = {}
    for r in results:
        for k, v in r.counters.items():
            counters[k] = counters.get(k, 0) + v
    return kept, rej, counters


def test_signature_is_datasketch_affine32_over_our_shingles():
    texts = pa.array(["The quick brown fox jumps over the lazy dog again and again.", "short", "中文字符测试一下吧"])
    sh = batch_shingles(texts, np.array([False, False, True]))
    sig = signatures(sh, 128, 1)
    for d in range(3):
        m = MinHash(num_perm=128, seed=1, hashfunc=lambda x: x)
        m.update_batch([int(h) for h in sh.hashes[sh.offsets[d]:sh.offsets[d + 1]]])
        assert (m.hashvalues == sig[d]).all()


def test_shingle_hashes_are_stable_and_normalised():
    a = word_shingles(pa.array(["Hello, World! foo bar baz"]))
    b = word_shingles(pa.array(["hello world   FOO bar baz."]))
    assert a.hashes.tolist() == b.hashes.tolist() == [2609009625]  # fixed value: same on every machine
    c = char_shingles(pa.array(["中文测试，你好世界"]))
    assert c.hashes.tolist() == [2841429025, 3426603316, 2854832152, 2884328180]
    assert len(word_shingles(pa.array([""])).hashes) == 0


def test_default_lsh_is_datasketch_optimum_for_the_configured_weights():
    c = DedupConfig()
    assert c.lsh() == _optimal_param(0.8, 128, 0.05, 0.95) == (16, 8)
    assert DedupConfig(fp_weight=0.5, fn_weight=0.5).lsh() == (9, 13)
    assert DedupConfig(bands=20, rows=6).lsh() == (20, 6)


def test_exact_near_and_unrelated(tmp_path):
    rng = random.Random(0)
    base = [doc(rng) for _ in range(20)]
    texts = base + [base[0].upper().replace(" ", "  ") + " !!", edit(base[1], 3, rng), doc(rng)]
    ids = [f"d{i:02d}" for i in range(len(texts))]
    _, results = run_dedup(tmp_path, pa.table({"id": ids, "text": texts}), split=11)
    kept, rej, counters = merged(results)
    reasons = dict(zip(rej.column("id").to_pylist(), rej.column("reason").to_pylist()))
    meta = {i: json.loads(m) for i, m in zip(rej.column("id").to_pylist(), rej.column("metadata").to_pylist())}
    # the copies are longer ("  ", " !!", "edited" for "wNNNN"), so they are kept
    assert reasons == {"d00": "exact_dup", "d01": "near_dup"}
    assert meta["d00"]["duplicate_of"] == "d20" and meta["d01"]["duplicate_of"] == "d21"
    assert counters["exact_removed"] == 1 and counters["near_removed"] == 1 and counters["cluster_size:2"] == 2
    kmeta = {i: json.loads(m) if m else {} for i, m in zip(kept.column("id").to_pylist(),
                                                            kept.column("metadata").to_pylist())}
    assert kmeta["d20"] == {"dup_cluster": "d20", "dup_cluster_size": 2}
    assert kmeta["d05"] == {} and kept.num_rows == len(texts) - 2


def test_keep_rule_quality_then_length_then_id(tmp_path):
    rng = random.Random(1)
    t = doc(rng)
    texts = [t, t + " extra", t, t + " extra"]
    table = pa.table({"id": ["b", "a", "c", "d"], "text": texts,
                      "quality_score": pa.array([0.9, 0.5, 0.9, None], pa.float32())})
    _, results = run_dedup(tmp_path / "q", table)
    assert merged(results)[0].column("id").to_pylist() == ["b"]  # highest quality, smaller id than c
    _, results = run_dedup(tmp_path / "l", table, keep=["length"])
    assert merged(results)[0].column("id").to_pylist() == ["a"]  # longest, then smallest id


def test_chinese_near_duplicates_use_character_ngrams(tmp_path):
    rng = random.Random(2)
    base = ["".join(rng.choices(ZH, k=400)) for _ in range(10)]
    copy = list(base[0])
    for i in rng.sample(range(400), 4):
        copy[i] = "改"
    texts = base + ["".join(copy)]
    # language given for some, unknown (Han ratio fallback) for others
    table = pa.table({"id": [f"z{i}" for i in range(11)], "text": texts,
                      "language": ["zh"] * 5 + [None] * 6})
    _, results = run_dedup(tmp_path, table)
    kept, rej, counters = merged(results)
    assert rej.column("reason").to_pylist() == ["near_dup"] and counters["near_removed"] == 1


def test_disk_spill_gives_the_same_decisions(tmp_path):
    rng = random.Random(3)
    base = [doc(rng, 80) for _ in range(200)]
    texts = base + [edit(b, 1, rng) for b in base[:60]] + base[60:80]
    table = pa.table({"id": [f"{i:04d}" for i in range(len(texts))], "text": texts})
    stage = Dedup()
    keys = tmp_path / "keys.parquet"
    pq.write_table(stage.collect(table), keys)
    out = {}
    for name, budget in (("mem", 1 << 30), ("spill", 2000)):
        reduce_local([keys], tmp_path / name, near=True, exact=True, num_perm=128, bands=16, rows=8,
                     verify_threshold=0.7, keep=["quality_score", "length"], budget_bytes=budget, quiet=True)
        out[name] = read_all(tmp_path / name)
    assert out["mem"].num_rows == 160 and out["mem"].equals(out["spill"])


def test_subdoc_lines_removed_from_all_but_one_and_five_percent_rule(tmp_path):
    rng = random.Random(4)
    boiler = "Subscribe to our newsletter for the latest news and exclusive offers today"
    body = [doc(rng, 400) for _ in range(3)]
    texts = [f"{body[0]}\n{boiler}\nShare", f"{body[1]}\n{boiler}\nShare", f"{body[2]}\n{boiler}\nShare",
             f"Short body here.\n{boiler}"]
    table = pa.table({"id": ["a", "b", "c", "d"], "text": texts})
    _, results = run_dedup(tmp_path, table, subdoc="line")
    kept, rej, counters = merged(results)
    out = dict(zip(kept.column("id").to_pylist(), kept.column("text").to_pylist()))
    assert out["a"] == texts[0]  # the first document keeps its copy
    assert out["b"] == f"{body[1]}\nShare"  # short line "Share" is exempt
    assert rej.column("id").to_pylist() == ["d"] and rej.column("reason").to_pylist() == ["subdoc_dup"]
    assert counters["subdoc_units_removed"] == 3 and counters["subdoc_docs_changed"] == 2


def test_subdoc_spans_of_three_sentences(tmp_path):
    span = "The council met on Tuesday. It approved the plan. Residents were pleased with it."
    texts = [f"Alpha story begins here. {span} Alpha ends.", f"Beta starts now. {span} Beta ends here too."]
    table = pa.table({"id": ["a", "b"], "text": texts})
    _, results = run_dedup(tmp_path, table, split=1, subdoc="span", subdoc_min_chars=20,
                           subdoc_max_removed_frac=None, near=False)
    kept, _, _ = merged(results)
    assert kept.column("text").to_pylist()[0] == texts[0]
    assert span not in kept.column("text").to_pylist()[1]


def test_config_errors_are_clear():
    with pytest.raises(ConfigError, match="dedup"):
        build_config({"dedup": {"bands": 10}})
    with pytest.raises(ConfigError, match="exceeds num_perm"):
        build_config({"dedup": {"bands": 20, "rows": 10}})
    with pytest.raises(ConfigError, match="unknown key"):
        build_config({"dedup": {"treshold": 0.8}})


def test_cli_dedup_end_to_end(tmp_path, cli):
    rng = random.Random(5)
    base = [doc(rng) for _ in range(30)]
    rows = [{"id": f"d{i:02d}", "text": t} for i, t in enumerate(base)]
    rows += [{"id": "x1", "text": base[3]}, {"id": "x2", "text": edit(base[4], 2, rng)},
             {"id": "x3", "text": edit(base[4], 3, rng)}]
    src = tmp_path / "x.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    code, out, err = cli("dedup", "--input", src, "--output", tmp_path / "out", "--quiet")
    assert code == 0, err
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    st = next(s for s in stats["stages"] if s["name"] == "dedup")
    assert st["docs_in"] == 33 and st["docs_out"] == 30
    assert st["counters"]["exact_removed"] == 1 and st["counters"]["near_removed"] == 2
    assert st["counters"]["cluster_size:3"] == 1 and st["dropped"] == {"exact_dup": 1, "near_dup": 2}
    rej = pa.concat_tables([pq.read_table(p) for p in (tmp_path / "out" / "rejected").glob("*.parquet")])
    dup_of = {i: json.loads(m)["duplicate_of"] for i, m in zip(rej.column("id").to_pylist(),
                                                              rej.column("metadata").to_pylist())}
    assert dup_of.get("d03") == "x1" or dup_of.get("x1") == "d03"
    data = pq.read_table(tmp_path / "out" / "data")
    assert data.num_rows == 30
