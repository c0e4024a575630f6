#!/usr/bin/env python
"""Synthetic dedup corpus from real extracted text (English + Chinese) with planted
near-duplicate groups at controlled similarity, exact copies, and a truth file.

Improves ``../shared/bench/datatrove/gen_corpus.py`` (same output layout, so its
``run.py --synthetic`` scores datatrove on the very same files):
  * sources: the English article bodies of ``shared/testdata/extraction_en`` and Chinese
    text from ``shared/testdata`` (lingua zh sentences, OpenCC's simplified-Chinese US
    constitution, the Chinese pages of the Common Crawl WARC fragment after extraction),
    or any JSONL/Parquet/txt given with ``--source``; no word salad;
  * mutation kinds: exact, light/medium/heavy token edits (2/6/15 % substitute, insert,
    delete), boilerplate (10-25 % extra header/footer sentences + 1 % edits), crop (10-30 %
    of the sentences cut at one end), reorder (paragraph order shuffled), insert (1-3
    sentences from elsewhere inserted between paragraphs);
  * ``jaccard`` in the truth file is the exact 5-gram Jaccard with the original under the
    shingling MinHash is meant to estimate: word 5-grams for English, character 5-grams
    for Chinese (lowercased, punctuation removed), so recall can be read per similarity.

Output: ``OUT/docs/NNNNN.jsonl`` (``id``, ``text``, ``language``, ``metadata.lang``),
``OUT/truth.jsonl`` (``id``, ``group`` (-1 = singleton), ``role``, ``kind``, ``lang``,
``jaccard``), ``OUT/manifest.json``.

    python benchmarks/gen_dedup_corpus.py --out /tmp/dd/100k --n 100000
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import random
import re
import sys
import time
from collections import Counter
from pathlib import Path

import xxhash

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "testdata"
HAN = re.compile(r"[\u4e00-\u9fff]")
EN_SPLIT = re.compile(r"(?<=[.!?])\s+|\n+")
ZH_SPLIT = re.compile(r"(?<=[。！？；])|\n+")
WORD = re.compile(r"[^\W_]+")

KINDS = {"exact": 0.15, "light": 0.2, "medium": 0.15, "heavy": 0.1, "boilerplate": 0.1, "crop": 0.1,
         "reorder": 0.1, "insert": 0.1}


def lang_of(text: str) -> str | None:
    n = max(1, len(text))
    han = len(HAN.findall(text))
    if han / n > 0.2:
        return "zh"
    if sum(c.isascii() and c.isalpha() for c in text) / n > 0.5:
        return "en"
    return None


def source_texts(paths: list[str]) -> list[str]:
    out = []
    for p in paths:
        files = sorted(glob.glob(os.path.join(p, "**", "*"), recursive=True)) if os.path.isdir(p) else [p]
        for f in files:
            if f.endswith(".parquet"):
                import pyarrow.parquet as pq
                out += [t for t in pq.read_table(f, columns=["text"]).column("text").to_pylist() if t]
            elif f.endswith(".jsonl"):
                with open(f, encoding="utf-8") as fh:
                    for line in fh:
                        d = json.loads(line)
                        t = d.get("text") or d.get("article_body")
                        if t:
                            out.append(t)
            elif f.endswith(".txt"):
                out.append(Path(f).read_text(encoding="utf-8"))
    return out


def default_sources() -> list[str]:
    paths = [SHARED / "extraction_en" / "ground_truth.jsonl", SHARED / "langid" / "sentences.jsonl",
             SHARED / "opencc" / "golden" / "us_constitution_zhs.txt"]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        sys.exit(f"default sources missing ({', '.join(missing)}); pass --source")
    return [str(p) for p in paths]


def pools(texts: list[str]) -> tuple[list[str], list[str]]:
    en, zh = set(), set()
    for t in texts:
        lang = lang_of(t)
        if lang == "en":
            en.update(s.strip() for s in EN_SPLIT.split(t) if 5 <= len(s.split()) <= 80)
        elif lang == "zh":
            zh.update(s.strip() for s in ZH_SPLIT.split(t)
                      if 8 <= len(s.strip()) <= 300 and len(HAN.findall(s)) >= 0.5 * len(s.strip()))
    return sorted(en), sorted(zh)


def shingles(lang: str, text: str, n: int = 5) -> set[int]:
    """Exact 5-gram set (as 64-bit hashes of the grams, to keep 1M-document runs small)."""
    toks = WORD.findall(text.lower())
    if lang == "zh":
        toks = list("".join(toks))
    return {xxhash.xxh3_64_intdigest("\x00".join(toks[i:i + n]).encode()) for i in range(max(1, len(toks) - n + 1))} \
        if toks else set()


class Gen:
    def __init__(self, en: list[str], zh: list[str], rng: random.Random):
        self.rng = rng
        self.pool = {"en": en, "zh": zh}
        self.vocab = {"en": sorted({w for s in en for w in s.split()}),
                      "zh": sorted({c for s in zh for c in s if HAN.match(c)})}

    def toks(self, lang, s):
        return s.split() if lang == "en" else list(s)

    def join(self, lang, toks):
        return " ".join(toks) if lang == "en" else "".join(toks)

    def edit(self, lang, sents, rate, subs_only=False):
        rng, vocab, out = self.rng, self.vocab[lang], []
        for s in sents:
            t = self.toks(lang, s)
            k = int(len(t) * rate) + (rng.random() < (len(t) * rate) % 1)
            for pos in sorted(rng.sample(range(len(t)), min(k, len(t))), reverse=True):
                op = 0 if subs_only else rng.randrange(3)
                if op == 0:
                    t[pos] = rng.choice(vocab)
                elif op == 1:
                    t.insert(pos + 1, rng.choice(vocab))
                else:
                    del t[pos]
            out.append(self.join(lang, t))
        return out

    def paragraphs(self, lang, sents):
        """Sentences → paragraphs of 1-5 sentences (fixed per document)."""
        paras, i, sep = [], 0, " " if lang == "en" else ""
        while i < len(sents):
            k = self.rng.randint(1, 5)
            paras.append(sep.join(sents[i:i + k]))
            i += k
        return paras

    def base(self, lang):
        # ~2k characters: 8-24 English sentences, 20-50 Chinese ones; 15 % of tokens
        # substituted so that base documents are distinct from each other
        n = self.rng.randint(8, 24) if lang == "en" else self.rng.randint(20, 50)
        return self.paragraphs(lang, self.edit(lang, self.rng.choices(self.pool[lang], k=n), 0.15, True))

    def copy(self, lang, paras, kind):
        rng = self.rng
        if kind == "exact":
            return list(paras)
        if kind in ("light", "medium", "heavy"):
            return self.edit(lang, paras, {"light": 0.02, "medium": 0.06, "heavy": 0.15}[kind])
        if kind == "boilerplate":
            extra = max(1, int(len(paras) * rng.uniform(0.1, 0.25)))
            head = self.base(lang)[:rng.randint(0, extra)]
            tail = self.base(lang)[:extra - len(head)]
            return self.edit(lang, head + list(paras) + tail, 0.01)
        if kind == "crop":
            cut = max(1, int(len(paras) * rng.uniform(0.1, 0.3)))
            return list(paras[cut:]) if rng.random() < 0.5 else list(paras[:-cut])
        if kind == "reorder":
            out = list(paras)
            rng.shuffle(out)
            return out
        if kind == "insert":
            out = list(paras)
            for _ in range(rng.randint(1, 3)):
                out.insert(rng.randint(0, len(out)), rng.choice(self.pool[lang]))
            return out
        raise ValueError(kind)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--source", nargs="+", help="JSONL/Parquet/txt files or dirs (default: shared/testdata)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--dup-rate", type=float, default=0.2, help="fraction of docs that are planted copies")
    ap.add_argument("--zh-frac", type=float, default=0.3)
    ap.add_argument("--shards", type=int, default=8)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    t0 = time.time()
    sources = a.source or default_sources()
    en, zh = pools(source_texts(sources))
    if not en or (a.zh_frac > 0 and not zh):
        sys.exit(f"need English and Chinese text in --source (got {len(en)} en, {len(zh)} zh sentences)")
    print(f"[gen] pools: en {len(en)} sentences, zh {len(zh)}", file=sys.stderr)
    g = Gen(en, zh, rng)
    docs, copies, group = [], 0, 0
    kinds, weights = list(KINDS), list(KINDS.values())
    target = int(a.n * a.dup_rate)
    while copies < target:
        k = min(target - copies, 1 if rng.random() < 0.6 else (2 if rng.random() < 0.6 else rng.randint(3, 9)))
        lang = "zh" if rng.random() < a.zh_frac else "en"
        orig = g.base(lang)
        docs.append((lang, "\n".join(orig), group, "original", "original", None))
        for _ in range(k):
            kind = rng.choices(kinds, weights)[0]
            docs.append((lang, "\n".join(g.copy(lang, orig, kind)), group, "copy", kind, "\n".join(orig)))
        copies += k
        group += 1
    while len(docs) < a.n:
        lang = "zh" if rng.random() < a.zh_frac else "en"
        docs.append((lang, "\n".join(g.base(lang)), -1, "single", "single", None))
    rng.shuffle(docs)
    out = Path(a.out)
    (out / "docs").mkdir(parents=True, exist_ok=True)
    for f in (out / "docs").glob("*.jsonl"):
        f.unlink()
    shards = [open(out / "docs" / f"{i:05d}.jsonl", "w", encoding="utf-8") for i in range(a.shards)]
    orig_sh: dict[int, set] = {}
    copies_left = Counter(d[2] for d in docs if d[3] == "copy")
    chars = 0
    with open(out / "truth.jsonl", "w") as tf:
        for i, (lang, text, grp, role, kind, orig) in enumerate(docs):
            did = f"syn-{i:07d}"
            chars += len(text)
            jac = None
            if role == "copy":
                if grp not in orig_sh:
                    orig_sh[grp] = shingles(lang, orig)
                x, y = orig_sh[grp], shingles(lang, text)
                copies_left[grp] -= 1
                if not copies_left[grp]:
                    del orig_sh[grp]
                jac = round(len(x & y) / len(x | y), 4) if (x or y) else 1.0
            shards[i % a.shards].write(json.dumps({"id": did, "text": text, "language": lang,
                                                   "metadata": {"lang": lang}}, ensure_ascii=False) + "\n")
            tf.write(json.dumps({"id": did, "group": grp, "role": role, "kind": kind, "lang": lang,
                                 "jaccard": jac}) + "\n")
    for s in shards:
        s.close()
    man = {"n": len(docs), "dup_rate": a.dup_rate, "zh_frac": a.zh_frac, "seed": a.seed, "shards": a.shards,
           "groups": group, "copies": copies, "kinds": KINDS, "mean_chars": round(chars / len(docs)),
           "pool": {"en_sentences": len(en), "zh_sentences": len(zh), "sources": sources},
           "gen_seconds": round(time.time() - t0, 1)}
    (out / "manifest.json").write_text(json.dumps(man, indent=2))
    print(json.dumps(man), file=sys.stderr)


if __name__ == "__main__":
    main()
