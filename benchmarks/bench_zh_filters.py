"""Keep rates of the rule filters on good Chinese and English text and on junk made from it (issue 20).

Good zh: ``../shared/testdata/zh_articles`` (200 texts, 100 Traditional; see its SOURCE.md)
plus the Chinese reference texts of ``extraction_multi/readability``; good en: the
``extraction_en`` reference article bodies that lid.176 calls English, and, per page kind, the
English reference texts of ``extraction_multi`` (WCXB: article, forum, documentation, service,
product, listing, collection; Readability) — the main content of real pages beyond news. Every good text
goes through the project's ``normalize`` stage first (OpenCC t2s for Traditional), as in
the default pipeline. zh_articles is split in two halves by a hash of the id: thresholds
were chosen looking at half ``A`` only; half ``B`` is held out and reported apart.

Junk: from good texts the script builds one unmistakable corruption each (repetition, a
navigation menu, keyword spam, mojibake, lorem ipsum, too short, script residue, symbol
runs; for zh also the character-by-character boxing of SEO spam, ``【随】【着】``), in both
languages, and passes it through ``normalize`` like the good texts (the
pipeline runs ``normalize`` before ``filter``). Mojibake is UTF-8 read as GBK (zh) or cp1252
(en). ftfy in ``normalize`` repairs the cp1252 kind: a mojibake document that ``normalize``
gives back as the original text, except for characters lost as U+FFFD (``”`` is E2 80 9D,
and 9D has no cp1252 character), is good text again and is reported apart ("repaired"), not
counted as junk; one the corruption does not change (pure ASCII) is not made at all. The
GBK kind cannot be repaired and stays junk. Reported per language: each rule alone (keep
rate and how many good documents it drops), the default cascade, and cascade docs per
CPU-second on ~2,000-character documents.

The anchor: datatrove 0.10.1's FineWeb filters (Gopher repetition + quality, C4, FineWeb) in
datatrove's own venv, when ``--dt-venv`` exists: their keep rate on every good set, their drop
rate on the same junk (after ``normalize``) and their speed on the same speed documents.

    flock /tmp/bench.lock python benchmarks/bench_zh_filters.py [--config configs/default.yaml] [--dt-venv DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import pyarrow as pa

from webrefinery.filters.cascade import FILTERS, RuleFilters
from webrefinery.filters.text_stats import Doc
from webrefinery.pipeline.stages.normalize import Normalize

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "testdata"


def normalized(texts: list[str], lang: str) -> list[str | None]:
    """Texts through the normalize stage (the step before ``filter`` in the pipeline); None
    where ``normalize`` rejects the text (left empty)."""
    res = Normalize().process(pa.table({"text": texts, "language": [lang] * len(texts), "i": range(len(texts))}))
    out: list[str | None] = [None] * len(texts)  # type: ignore[list-item]
    for i, text in zip(res.kept.column("i").to_pylist(), res.kept.column("text").to_pylist()):
        out[i] = text
    return out


def repaired(text: str | None, originals: set[str]) -> bool:
    """``text`` is one of ``originals``, or one with some characters lost as U+FFFD."""
    if text is None:
        return False
    if "\ufffd" not in text:
        return text in originals
    return any(len(o) == len(text) and all(a == b or b == "\ufffd" for a, b in zip(o, text)) for o in originals)


def good_zh() -> dict[str, list[str]]:
    """zh_articles halves A/B (by id hash), split by script, and the readability zh references."""
    sets: dict[str, list[str]] = {"A": [], "B": [], "hans": [], "hant": []}
    rows = [json.loads(line) for line in (SHARED / "zh_articles" / "zh_articles.jsonl").open(encoding="utf-8")]
    texts = normalized([r["text"] for r in rows], "zh")
    for r, text in zip(rows, texts):
        half = "A" if hashlib.sha1(r["id"].encode()).digest()[0] % 2 == 0 else "B"
        sets[half].append(text)
        sets["hant" if r["lang"] == "zh-Hant" else "hans"].append(text)
    refs = [json.loads(line) for line in (SHARED / "extraction_multi" / "readability" / "pages.jsonl").open()]
    sets["readability_zh"] = normalized([r["content"] for r in refs if (r.get("lang") or "").startswith("zh")], "zh")
    return sets


def good_en() -> list[str]:
    from webrefinery.pipeline.stages.langid import LangID

    rows = [json.loads(line) for line in (SHARED / "extraction_en" / "ground_truth.jsonl").open(encoding="utf-8")]
    texts = [r["article_body"] for r in rows if r.get("article_body")]
    langs, _ = LangID().predict(texts)
    return normalized([t for t, lang in zip(texts, langs) if lang == "en"], "en")


def good_en_multi() -> dict[str, list[str]]:
    """The reference texts of ``extraction_multi`` (WCXB's 7 page kinds, Readability) that
    lid.176 calls English, per set and kind: main content of real pages beyond news."""
    from webrefinery.pipeline.stages.langid import LangID

    rows = []
    for name in ("wcxb", "readability"):
        for r in map(json.loads, (SHARED / "extraction_multi" / name / "pages.jsonl").open(encoding="utf-8")):
            kind = r["category"] if name == "wcxb" else r["category"].split("/")[0]
            if r.get("content"):
                rows.append((f"{name}/{kind}", r["content"]))
    langs, _ = LangID().predict([t for _, t in rows])
    en = [(k, t) for (k, t), lang in zip(rows, langs) if lang == "en"]
    sets: dict[str, list[str]] = {}
    for (k, _), text in zip(en, normalized([t for _, t in en], "en")):
        if text is not None:  # a reference that normalize leaves empty is no text to filter: left out
            sets.setdefault(k, []).append(text)
    return dict(sorted(sets.items()))


def junk(texts: list[str], lang: str, seed: int = 20) -> list[tuple[str, str]]:
    """(kind, text) pairs: every kind of corruption applied to a sample of good texts."""
    rnd = random.Random(seed)
    zh = lang == "zh"
    menu = (["首页", "新闻", "财经", "体育", "娱乐", "科技", "汽车", "房产", "教育", "旅游", "登录", "注册"] if zh else
            ["Home", "News", "Business", "Sports", "Entertainment", "Tech", "Autos", "Real Estate", "Travel",
             "Sign in", "Register", "Contact"])
    keywords = (["手机", "手机壳", "便宜手机", "手机批发", "二手手机", "手机价格", "最新手机", "手机回收"] if zh else
                ["cheap phones", "phone case", "buy phone", "phone deals", "best phone", "phone price"])
    lorem = ("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore "
             "et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris.\n")
    script = ("var _hmt = _hmt || [];\n(function() {\n  var hm = document.createElement(\"script\");\n"
              "  hm.src = \"https://hm.example.com/hm.js?\" + id;\n  var s = document.getElementsByTagName(\"script\")[0];\n"
              "  s.parentNode.insertBefore(hm, s);\n})();\nfunction track(e){if(!e){return false;}window.dataLayer.push"
              "({event:e,ts:Date.now()});}\n$(document).ready(function(){$('.nav').on('click',track);});\n")
    out = []
    for text in rnd.sample(texts, min(25, len(texts))):
        text = text.strip()
        paras = [p for p in text.split("\n") if p.strip()]
        first = paras[0][:200]
        garbled = text.encode("utf-8").decode("gbk" if zh else "cp1252", errors="replace")
        out += [("mojibake", garbled)] if garbled != text else []
        # Chinese SEO spam boxes scraped text character by character (the sample crawl's survivor until 2026-12)
        out += [("boxed_chars", "".join(f"【{c}】" if not c.isspace() else c for c in text))] if zh else []
        out += [
            ("repetition", "\n".join([first] * 30)),
            ("nav_menu", "\n".join(" | ".join(rnd.sample(menu, 6)) for _ in range(25)) + "\n" + first[:60]),
            ("keyword_spam", " ".join(rnd.choice(keywords) for _ in range(300))),
            ("lorem_ipsum", lorem * 8),
            ("too_short", first[:12] if zh else " ".join(first.split()[:6])),
            ("script", script * 4 + first[:80]),
            ("symbols", "\n".join("★☆■□●○◆◇▲△" * 6 for _ in range(20)) + "\n" + first[:60]),
        ]
    return out


def rule_table(stage: RuleFilters, texts: list[str], lang: str) -> dict[str, dict]:
    """Per enabled rule alone and the cascade: kept share and drop reasons."""
    cfg = stage.config.for_language(lang)
    rows = {}
    for section, cls in FILTERS.items():
        sub = getattr(cfg, section)
        if sub.applies(lang):
            f = cls(sub, lang)
            reasons = Counter(f.apply(Doc(t, lang), Counter()) for t in texts)
            kept = reasons.pop(None, 0)
            rows[section] = {"kept": kept / len(texts), "dropped": len(texts) - kept, "reasons": dict(reasons)}
    res = stage.process(pa.table({"text": texts, "language": [lang] * len(texts)}))
    reasons = Counter(res.rejected.column("reason").to_pylist()) if res.rejected is not None else Counter()
    rows["cascade"] = {"kept": res.kept.num_rows / len(texts), "dropped": len(texts) - res.kept.num_rows,
                       "reasons": dict(reasons)}
    return rows


def speed_docs(texts: list[str]) -> list[str]:
    """1,000 documents of ~2,000 characters made from ``texts`` (short ones repeated)."""
    docs = []
    for text in texts:
        while len(text) < 2000:
            text = text + "\n\n" + text
        docs.append(text[:2000])
    return (docs * (1000 // len(docs) + 1))[:1000]


def speed(stage: RuleFilters, docs: list[str], lang: str, repeat: int = 3) -> float:
    """Cascade docs per CPU-second on ``docs`` (median of ``repeat``)."""
    table = pa.table({"text": docs, "language": [lang] * len(docs)})
    stage.process(table.slice(0, 50))
    times = []
    for _ in range(repeat):
        t = time.process_time()
        stage.process(table)
        times.append(time.process_time() - t)
    return len(docs) / statistics.median(times)


def datatrove(venv: Path, docs: list[str], lang: str) -> dict:
    """datatrove 0.10.1's FineWeb filters on the same ``docs`` in its own venv
    (``benchmarks/datatrove_filters_worker.py``): ``kept`` (documents) and ``cpu_s``."""
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "docs.json", Path(tmp) / "out.json"
        src.write_text(json.dumps({"texts": docs, "language": lang}), encoding="utf-8")
        subprocess.run([str(venv / "bin" / "python"), str(ROOT / "benchmarks" / "datatrove_filters_worker.py"),
                        str(src), str(out)], check=True, stderr=subprocess.DEVNULL)
        return json.loads(out.read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=ROOT / "configs" / "default.yaml")
    ap.add_argument("--json", type=Path, help="write all figures here")
    ap.add_argument("--dt-venv", type=Path, default=Path(os.environ.get("DT_VENV", "/tmp/bench/dt-venv")),
                    help="datatrove 0.10.1 venv (shared/bench/datatrove/setup.sh): the anchor's keep rates and speed")
    args = ap.parse_args()
    from webrefinery.pipeline.core.config import load_config

    anchor = (args.dt_venv / "bin" / "python").exists()
    if not anchor:
        print(f"datatrove figures skipped: no venv at {args.dt_venv} (shared/bench/datatrove/setup.sh)", file=sys.stderr)

    stage = RuleFilters(load_config(args.config).stage_config("filter"))
    zh, en = good_zh(), good_en()
    assert all(t is not None for texts in (*zh.values(), en) for t in texts), "normalize rejected a good text"
    good = {"zh A (tuning half)": (zh["A"], "zh"), "zh B (held out)": (zh["B"], "zh"),
            "zh-Hans": (zh["hans"], "zh"), "zh-Hant (after t2s)": (zh["hant"], "zh"),
            "zh readability refs": (zh["readability_zh"], "zh"), "en": (en, "en"),
            **{f"en {kind}": (texts, "en") for kind, texts in good_en_multi().items()}}
    report: dict = {"config": str(args.config), "good": {}, "junk": {}, "speed": {}, "speed_datatrove": {},
                    "kept_datatrove": {}}
    for name, (texts, lang) in good.items():
        report["good"][name] = rule_table(stage, texts, lang)
        if anchor:
            report["kept_datatrove"][name] = datatrove(args.dt_venv, texts, lang)["kept"] / len(texts)
    for lang, texts in (("zh", zh["A"] + zh["B"] + zh["readability_zh"]), ("en", en)):
        made = junk(texts, lang)
        originals = {t.strip() for t in texts}
        after = normalized([t for _, t in made], lang)
        fixed = [k == "mojibake" and repaired(t, originals) for (k, _), t in zip(made, after)]
        pairs = [(k, t) for (k, _), t, f in zip(made, after, fixed) if t is not None and not f]
        n_repaired = sum(fixed)
        res = rule_table(stage, [t for _, t in pairs], lang)["cascade"]
        kept_ids = stage.process(pa.table({"text": [t for _, t in pairs], "language": [lang] * len(pairs),
                                           "kind": [k for k, _ in pairs]})).kept.column("kind").to_pylist()
        n_junk = len(made) - n_repaired
        report["junk"][lang] = {"made": len(made), "repaired_by_normalize": n_repaired, "docs": n_junk,
                                "dropped_by_normalize": sum(t is None for t in after),
                                "dropped": 1 - len(kept_ids) / n_junk, "kept_by_kind": dict(Counter(kept_ids)),
                                "reasons": res["reasons"]}
        docs = speed_docs(texts)
        report["speed"][lang] = speed(stage, docs, lang)
        if anchor:  # the junk normalize passed on, as ours gets it (normalize's own drops count as dropped)
            dt_kept = datatrove(args.dt_venv, [t for _, t in pairs], lang)["kept"]
            report["junk"][lang]["dropped_datatrove"] = 1 - dt_kept / n_junk
            report["speed_datatrove"][lang] = len(docs) / datatrove(args.dt_venv, docs, lang)["cpu_s"]

    for name, rows in report["good"].items():
        n = len(good[name][0])
        dt = report["kept_datatrove"].get(name)
        beside = f"; datatrove 0.10.1 FineWeb filters keep {dt:.1%}" if dt is not None else ""
        print(f"\ngood {name}: {n} docs (rule alone: kept share, good docs dropped; cascade last){beside}")
        for section, r in rows.items():
            top = ", ".join(f"{k} {v}" for k, v in sorted(r["reasons"].items(), key=lambda kv: -kv[1])[:3])
            print(f"  {section:18s} {r['kept']:6.1%} {r['dropped']:4d}  {top}")
    for lang, r in report["junk"].items():
        beside = f"; datatrove drops {r['dropped_datatrove']:.1%}" if "dropped_datatrove" in r else ""
        print(f"\njunk {lang}: {r['docs']} docs ({r['repaired_by_normalize']} mojibake docs repaired by normalize "
              f"left out), dropped {r['dropped']:.1%} (by normalize {r['dropped_by_normalize']}); "
              f"kept by kind {r['kept_by_kind']}{beside}")
    for lang, v in report["speed"].items():
        dt = report["speed_datatrove"].get(lang)
        beside = f"; datatrove 0.10.1 FineWeb filters {dt:,.0f} ({v / dt:.1f}x)" if dt else ""
        print(f"cascade speed {lang}: {v:,.0f} docs per CPU-second (2,000-char docs){beside}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
