"""train-tokenizer and tokenize: round-trips, sampling, transformers loading, determinism, resume, stats."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tokenizers import Tokenizer

from webrefinery.tokenizer_training.corpus import parse_ratios
from webrefinery.tokenizer_training.token_shards import list_shards
from webrefinery.tokenizer_training.tokenize import tokenize_corpus
from webrefinery.tokenizer_training.train import EOT, train_tokenizer
from webrefinery.pipeline.core.errors import ConfigError, InputError

EN = ["The quick brown fox jumps over the lazy dog near the river bank.",
      "Tokenizers split text into pieces that a language model can learn from.",
      "Web pages are cleaned, filtered and deduplicated before training."]
ZH = ["今天天气很好，我们去公园散步吧。", "语言模型需要大量高质量的中文文本进行预训练。",
      "网页数据经过清洗、过滤和去重以后才能用来训练。"]
ODD = ["emoji 👩‍👩‍👧‍👦 🇨🇳 👍🏽 ❤️", "combining e\u0301 a\u0308 \u0915\u094d\u0937",
       "controls \x00\x01\x7f tab\tnl\n cr\r", "\ufffd\ufeff\u200b\u200d\u2028 bidi \u202e abc \u202c",
       "astral 𝕳𝖊𝖑𝖑𝖔 𠀀𪚥 private \ue000 nonchar \uffff", "  many   spaces\n\n\n", "",
       "<|endoftext|> is just text here", "ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３ ｶﾀｶﾅ", "Ελληνικά русский עברית العربية"]


def write_out_dir(root: Path, docs_per_shard: int = 120, shards: int = 2, zh_share: int = 1) -> Path:
    """A pipeline-style output dir: data/part-NNNNN.parquet with id, text, language (+ stats.json)."""
    data = root / "data"
    data.mkdir(parents=True)
    k = 0
    for s in range(shards):
        ids, texts, langs = [], [], []
        for i in range(docs_per_shard):
            lang = "zh" if i % (1 + zh_share) else "en"
            base = ZH if lang == "zh" else EN
            ids.append(f"doc-{k}")
            texts.append(f"{base[i % 3]} {k} {base[(i + 1) % 3]}")
            langs.append(lang)
            k += 1
        pq.write_table(pa.table({"id": ids, "text": texts, "language": langs}), data / f"part-{s:05d}.parquet")
    (root / "stats.json").write_text(json.dumps({"version": 1, "output": {"docs": k}}))
    return root


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_out_dir(tmp_path_factory.mktemp("out"))


@pytest.fixture(scope="module")
def tokdir(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tok")
    train_tokenizer([str(corpus)], str(out), vocab_size=400, holdout_fraction=0.1, quiet=True)
    return out


def test_roundtrip_any_text(tokdir: Path) -> None:
    tok = Tokenizer.from_file(str(tokdir / "tokenizer.json"))
    assert tok.get_vocab_size() == 400 and tok.token_to_id(EOT) == 0
    for text in EN + ZH + ODD:
        ids = tok.encode(text, add_special_tokens=False).ids
        assert tok.decode(ids, skip_special_tokens=False) == text
    # every byte is in the base alphabet: no unknown token on unseen scripts
    assert all(i is not None for i in tok.encode("ሰላም ⅧⅨ ꙮ").ids)


def test_training_learns_merges(tokdir: Path) -> None:
    tok = Tokenizer.from_file(str(tokdir / "tokenizer.json"))
    text = EN[0]
    assert len(tok.encode(text).ids) < len(text.encode("utf-8")) / 1.5
    report = json.loads((tokdir / "report.json").read_text())
    held = report["heldout"]["by_language"]
    assert set(held) == {"en", "zh"} and all(h["bytes_per_token"] > 1 for h in held.values())
    assert report["reference"]["tokenizer"] is None and "not available offline" in report["reference"]["note"]


def test_transformers_loads_tokenizer(tokdir: Path) -> None:
    transformers = pytest.importorskip("transformers")
    fast = transformers.PreTrainedTokenizerFast(tokenizer_file=str(tokdir / "tokenizer.json"))
    auto = transformers.AutoTokenizer.from_pretrained(str(tokdir))
    raw = Tokenizer.from_file(str(tokdir / "tokenizer.json"))
    for text in ZH + ODD[:3]:
        ids = raw.encode(text).ids
        assert fast.encode(text) == ids == auto.encode(text)
        assert fast.decode(ids) == text
    assert auto.eos_token == EOT and auto.eos_token_id == 0


def test_language_ratios_and_byte_budget(tmp_path: Path) -> None:
    out = write_out_dir(tmp_path / "out", docs_per_shard=200, zh_share=3)   # 3/4 of docs are zh
    rep = train_tokenizer([str(out)], str(tmp_path / "t1"), vocab_size=300, languages="zh=1,en=1",
                          holdout_fraction=0.0, quiet=True)
    by = rep["training"]["by_language"]
    assert abs(by["zh"]["share"] - 0.5) < 0.05
    assert by["en"]["bytes"] == rep["training"]["available_bytes"]["en"]    # the scarce language is used whole
    rep = train_tokenizer([str(out)], str(tmp_path / "t2"), vocab_size=300, languages="en=1", max_bytes=5000,
                          holdout_fraction=0.0, quiet=True)
    assert set(rep["training"]["by_language"]) == {"en"}
    assert rep["training"]["bytes"] <= 5000


def test_a_vocabulary_smaller_than_asked_is_reported(corpus: Path, tmp_path: Path, caplog) -> None:
    with caplog.at_level("WARNING", logger="refinery"):
        rep = train_tokenizer([str(corpus)], str(tmp_path / "t"), vocab_size=50257, quiet=True)
    assert rep["requested_vocab_size"] == 50257 and 257 < rep["vocab_size"] < 50257
    assert f"has {rep['vocab_size']} tokens, not the 50257 asked for" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="refinery"):
        train_tokenizer([str(corpus)], str(tmp_path / "t2"), vocab_size=300, quiet=True)
    assert "asked for" not in caplog.text


def test_bad_options_are_clear(corpus: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no training text for fr"):
        train_tokenizer([str(corpus)], str(tmp_path / "t"), vocab_size=300, languages="fr=1", quiet=True)
    with pytest.raises(ConfigError, match="vocab-size"):
        train_tokenizer([str(corpus)], str(tmp_path / "t"), vocab_size=100, quiet=True)
    with pytest.raises(ConfigError):
        parse_ratios("zh=half")
    for bad in ("zh=nan,en=1", "zh=inf,en=1", "zh=-1,en=1"):
        with pytest.raises(ConfigError, match="finite RATIO >= 0"):
            parse_ratios(bad)
    assert parse_ratios("zh:1,en:3") == {"zh": 0.25, "en": 0.75}


def read_tokens(tokens: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(tokens.iterdir()) if p.suffix in (".bin", ".idx")}


def test_tokenize_shards_documents_and_stats(corpus: Path, tokdir: Path, tmp_path: Path) -> None:
    tokens = tmp_path / "tokens"
    stats = tokenize_corpus([str(corpus)], str(tokdir / "tokenizer.json"), str(tokens), workers=1, quiet=True)
    tok = Tokenizer.from_file(str(tokdir / "tokenizer.json"))
    shards = list_shards(tokens)
    assert [s.bin_path.name for s in shards] == ["part-00000.bin", "part-00001.bin"]
    assert shards[0].header["dtype"] == "uint16" and shards[0].header["eot_id"] == 0
    texts = pq.read_table(corpus / "data" / "part-00001.parquet").column("text").to_pylist()
    ids, offsets = shards[1].memmap(), shards[1].document_offsets()
    assert len(offsets) == len(texts) + 1 and offsets[-1] == len(ids)
    for i in (0, 7, len(texts) - 1):
        doc = ids[offsets[i]:offsets[i + 1]]
        assert doc[-1] == 0 and 0 not in doc[:-1]
        assert tok.decode(doc[:-1].tolist()) == texts[i]
    assert stats["total"] == sum(s.tokens for s in shards) and stats["shards"] == 2
    assert sum(stats["by_language"][lang]["tokens"] for lang in ("en", "zh")) == stats["total"]
    assert json.loads((corpus / "stats.json").read_text()) == {"version": 1, "output": {"docs": 240}}  # untouched
    counts = json.loads((corpus / "tokens.json").read_text())                # the card reads this one
    assert counts["total"] == stats["total"] and counts["shards"] == 2
    assert counts["by_language"] == {k: v["tokens"] for k, v in stats["by_language"].items()}
    assert json.loads((tokens / "stats.json").read_text())["total"] == stats["total"]


def test_tokens_json_keeps_one_entry_per_token_directory(tokdir: Path, tmp_path: Path) -> None:
    run = write_out_dir(tmp_path / "run")
    tj = str(tokdir / "tokenizer.json")
    for out in ("t1", "t2", "t1"):  # the third call resumes t1: its entry is replaced, not added
        tokenize_corpus([str(run)], tj, str(tmp_path / out), workers=1, quiet=True)
    counts = json.loads((run / "tokens.json").read_text())
    assert [Path(r["output"]).name for r in counts["runs"]] == ["t2", "t1"]
    assert Path(counts["output"]).name == "t1" and counts["total"] == counts["runs"][0]["total"] > 0


def test_literal_eot_text_is_not_a_separator(tmp_path: Path, tokdir: Path) -> None:
    data = tmp_path / "in"
    data.mkdir()
    pq.write_table(pa.table({"id": ["a", "b"], "text": ["x <|endoftext|> y", None], "language": ["en", None]}),
                   data / "part-00000.parquet")
    tokenize_corpus([str(data)], str(tokdir / "tokenizer.json"), str(tmp_path / "tk"), workers=1, quiet=True)
    shard = list_shards(tmp_path / "tk")[0]
    ids = shard.memmap()
    assert ids.tolist().count(0) == 2 and ids[-1] == 0 and ids[-2] == 0    # the null doc is just EOT
    assert shard.header["empty_docs"] == 1 and set(shard.header["by_language"]) == {"en", "unknown"}


def test_tokenize_deterministic_parallel_and_resumable(corpus: Path, tokdir: Path, tmp_path: Path) -> None:
    tj = str(tokdir / "tokenizer.json")
    a, b = tmp_path / "a", tmp_path / "b"
    tokenize_corpus([str(corpus)], tj, str(a), workers=1, quiet=True)
    tokenize_corpus([str(corpus)], tj, str(b), workers=2, quiet=True)         # process pool
    assert read_tokens(a) == read_tokens(b) and len(read_tokens(a)) == 4
    # resume: a finished shard is kept, a missing one is redone, output identical
    (b / "part-00001.json").unlink()
    before = os.stat(b / "part-00000.bin").st_mtime_ns
    stats = tokenize_corpus([str(corpus)], tj, str(b), workers=1, quiet=True)
    assert stats["skipped_shards"] == 1 and os.stat(b / "part-00000.bin").st_mtime_ns == before
    assert read_tokens(a) == read_tokens(b)
    # a changed source shard is redone
    src = corpus / "data" / "part-00000.parquet"
    os.utime(src, ns=(before, before))
    assert tokenize_corpus([str(corpus)], tj, str(b), workers=1, quiet=True)["skipped_shards"] == 1


def test_cli_end_to_end(cli, corpus: Path, tmp_path: Path) -> None:
    code, out, err = cli("train-tokenizer", "--input", corpus, "--output", tmp_path / "tok", "--vocab-size", 320,
                         "--languages", "zh=0.5,en=0.5", "--quiet")
    assert code == 0, err
    code, out, err = cli("tokenize", "--tokenizer", tmp_path / "tok" / "tokenizer.json", "--input", corpus,
                         "--output", tmp_path / "tokens", "--workers", 1, "--format", "megatron", "--quiet")
    assert code == 0, err
    assert len(list_shards(tmp_path / "tokens")) == 2
    code, out, err = cli("tokenize", "--tokenizer", tmp_path / "missing.json", "--input", corpus,
                         "--output", tmp_path / "x", "--quiet")
    assert code == 2 and "does not exist" in err
    (tmp_path / "notes.json").write_text('{"title": "not a tokenizer"}')
    code, out, err = cli("tokenize", "--tokenizer", tmp_path / "notes.json", "--input", corpus,
                         "--output", tmp_path / "y", "--quiet")
    assert code == 2 and "notes.json is not a tokenizer file" in err and "train-tokenizer" in err, err
    assert np.all(list_shards(tmp_path / "tokens")[0].memmap() < 320)


def test_tokenize_refuses_an_output_that_would_overwrite_other_files(tokdir: Path, tmp_path: Path) -> None:
    """Token shards never go into a refinery output (its stats.json would be replaced), a
    directory inside one, or a directory of other files; an earlier token directory resumes."""
    tj = str(tokdir / "tokenizer.json")
    run = write_out_dir(tmp_path / "run")
    (run / "manifest.json").write_text("{}")
    stats_before = (run / "stats.json").read_text()
    for out, says in ((run, "is the refinery output"), (run / "data", "lies inside the refinery output")):
        with pytest.raises(ConfigError, match=says):
            tokenize_corpus([str(run)], tj, str(out), workers=1, quiet=True)
    assert (run / "stats.json").read_text() == stats_before and not list(run.glob("*.bin"))
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "cat.jpg").write_bytes(b"\xff\xd8")
    with pytest.raises(ConfigError, match=r"holds files that are not token shards \(cat.jpg\)"):
        tokenize_corpus([str(run)], tj, str(tmp_path / "photos"), workers=1, quiet=True)
    with pytest.raises(InputError, match="is a directory; pass the tokenizer.json in it"):
        tokenize_corpus([str(run)], str(tokdir), str(tmp_path / "t"), workers=1, quiet=True)


def test_a_truncated_token_shard_is_redone_on_rerun(corpus: Path, tokdir: Path, tmp_path: Path) -> None:
    tj = str(tokdir / "tokenizer.json")
    out = tmp_path / "tokens"
    tokenize_corpus([str(corpus)], tj, str(out), workers=1, quiet=True)
    def shard_files() -> dict[str, bytes]:
        return {p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.suffix in (".bin", ".idx")}

    whole = shard_files()
    assert len(whole) == 4
    bin_path = out / "part-00000.bin"
    bin_path.write_bytes(bin_path.read_bytes()[:100])
    (out / "part-00001.idx").write_bytes((out / "part-00001.idx").read_bytes()[:50])
    stats = tokenize_corpus([str(corpus)], tj, str(out), workers=1, quiet=True)
    assert stats["skipped_shards"] == 0
    assert shard_files() == whole
