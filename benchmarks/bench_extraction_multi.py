"""Extraction quality per page kind and language, and speed, of every extractor in one run (issue #14).

Page sets (all from page *bytes*, so each extractor also does its own charset decoding):
- ``wcxb``: 290 real pages of 7 kinds (article, forum, product, service, collection, listing,
  documentation) with human-reviewed main text (``shared/testdata/extraction_multi/wcxb``);
- ``readability``: Mozilla Readability's 130 test pages (98 real articles/blogs/docs in 10
  languages, 32 small synthetic ones), expected text = Readability's output;
- ``zh``: 200 Chinese pages built from ``shared/testdata/zh_articles`` by :mod:`benchmarks.zh_pages`
  (article / forum / documentation; GBK, GB2312-labelled, Big5, UTF-8 bytes, charset in the
  HTTP header or only in ``<meta>``) — synthetic templates, real text;
- ``zyte``: the 181 English news pages of ``shared/testdata/extraction_en``;
- ``warc-zh``: the 12 Chinese responses of ``shared/testdata/warc``'s Common Crawl fragment. They
  have no reference text, so only charset correctness is reported: pages with output, Han
  characters extracted, pages whose output holds mojibake (U+FFFD or UTF-8 read as Latin-1/GBK).

F1 is ``benchmarks/scoring.py``'s token F1 (word 4-gram shingles; single characters for CJK),
per ``set/kind/language`` subset. Rows: our ``extract`` stage (the bytes decoded as the ``read``
stage does), plain ``trafilatura.extract`` (defaults, ``fast``, ``favor_recall``), resiliparse's
``extract_plain_text(main_content=True)``, datatrove 0.10.1's extractor (in its own venv, see
``benchmarks/datatrove_extract_worker.py``). Speed = pages / CPU seconds of one process over
all scored pages (docs/s per core), after a warm-up pass; compare rows as ratios of one run.

    DT_VENV=/tmp/bench/dt-venv python benchmarks/bench_extraction_multi.py --json out.json
"""

from __future__ import annotations

import argparse
import gzip
import json
import lzma
import os
import pickle
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.scoring import score, tokens  # noqa: E402

DATA = ROOT.parent / "shared" / "testdata"
DEFAULT_DT_VENV = Path("/tmp/bench/dt-venv")


@dataclass(frozen=True)
class Page:
    set: str
    id: str
    kind: str
    lang: str  # en | zh | other
    url: str | None
    payload: bytes
    header_charset: str | None
    reference: str | None  # None: not scored (warc-zh)

    @property
    def subset(self) -> str:
        return f"{self.set}/{self.kind}/{self.lang}"


def _lang(code: str) -> str:
    code = code.lower()
    return "zh" if code.startswith("zh") else "en" if code.startswith(("en", "latin-script")) else "other"


def _extraction_multi() -> list[Page]:
    pages = []
    for name in ("wcxb", "readability"):
        folder = DATA / "extraction_multi" / name
        for line in open(folder / "pages.jsonl", encoding="utf-8"):
            r = json.loads(line)
            # readability: "article/blog/docs (real page)" or "synthetic/unit-test"
            kind = r["category"] if name == "wcxb" else r["category"].split("/")[0]
            pages.append(Page(name, r["id"], kind, _lang(r["lang"]), r.get("url"),
                              lzma.open(folder / r["html_file"]).read(), None, r["content"]))
    return pages


def _zh() -> list[Page]:
    from benchmarks.zh_pages import build_pages

    return [Page("zh", p.id, p.genre, "zh", f"https://example.cn/{p.id}.html", p.payload, p.header_charset,
                 p.reference) for p in build_pages()]


def _zyte() -> list[Page]:
    folder = DATA / "extraction_en"
    return [Page("zyte", r["id"], "article", "en", r["url"], gzip.open(folder / r["html_file"]).read(), None,
                 r["article_body"])
            for r in map(json.loads, open(folder / "ground_truth.jsonl", encoding="utf-8"))]


def _warc_zh() -> list[Page]:
    from webrefinery.pipeline.io.warc import iter_responses

    name = "CC-MAIN-2020-34-fragment.warc.gz"
    # the records index counts the Han characters of each correctly decoded page
    chinese = {r["offset"] for r in map(json.loads, open(DATA / "warc" / "records.index.jsonl"))
               if r["file"] == name and r.get("han_chars", 0) >= 100}
    pages = []
    with open(DATA / "warc" / name, "rb") as f:
        for r in iter_responses(f, True, lambda offset, msg: None, {}):
            if r.offset in chinese:
                pages.append(Page("warc-zh", str(r.offset), "cc-page", "zh", r.url, r.payload, r.charset, None))
    return pages


def load_pages() -> list[Page]:
    return _extraction_multi() + _zh() + _zyte() + _warc_zh()


Extractor = Callable[[list[Page]], list[str | None]]


def ours(overrides: dict) -> Extractor:
    """Our path: the read stage's decoding, then the extract stage on one Arrow batch."""
    import pyarrow as pa

    from webrefinery.pipeline.io.charset import decode_html
    from webrefinery.pipeline.stages.extract import Extract, ExtractConfig

    stage = Extract(ExtractConfig(**overrides))

    def run(pages: list[Page]) -> list[str | None]:
        ids = [p.id for p in pages]
        html = [decode_html(p.payload, p.header_charset)[0] for p in pages]
        kept = stage.process(pa.table({"id": ids, "url": [p.url for p in pages], "html": html})).kept
        by_id = dict(zip(kept.column("id").to_pylist(), kept.column("text").to_pylist()))
        return [by_id.get(i) for i in ids]

    return run


def plain_trafilatura(**kwargs) -> Extractor:
    from trafilatura import extract

    return lambda pages: [extract(p.payload, url=p.url, **kwargs) for p in pages]


def resiliparse(pages: list[Page]) -> list[str | None]:
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.encoding import bytes_to_str, detect_encoding

    return [extract_plain_text(bytes_to_str(p.payload, detect_encoding(p.payload)), main_content=True)
            for p in pages]


def datatrove(venv: Path) -> Callable[[list[Page]], tuple[list[str | None], float]]:
    """datatrove in its own venv; returns (texts, CPU seconds of its timed pass)."""
    def run(pages: list[Page]) -> tuple[list[str | None], float]:
        with tempfile.TemporaryDirectory() as tmp:
            src, out = Path(tmp) / "pages.pkl", Path(tmp) / "out.json"
            pickle.dump([(p.payload, p.url) for p in pages], open(src, "wb"))
            subprocess.run([str(venv / "bin" / "python"), str(ROOT / "benchmarks" / "datatrove_extract_worker.py"),
                            str(src), str(out)], check=True, stderr=subprocess.DEVNULL)
            result = json.loads(out.read_text())
        return result["texts"], result["cpu_s"]
    return run


def timed(fn: Extractor, pages: list[Page]) -> tuple[list[str | None], float]:
    """Predictions and CPU seconds of a second pass (the first warms caches and lazy imports)."""
    fn(pages)
    t0 = time.process_time()
    preds = fn(pages)
    return preds, time.process_time() - t0


def mojibake(text: str) -> bool:
    """U+FFFD, or UTF-8 bytes decoded as Latin-1/cp1252 (Ã, â€) or as GBK (鍙, 鏄, 锛, 銆)."""
    return any(m in text for m in ("\ufffd", "Ã", "â€", "鍙", "鏄", "锛", "銆"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variant", action="append", default=[],
                    help='extra row of our stage: a JSON object of extract config keys, e.g. \'{"fast": false}\'')
    ap.add_argument("--only", nargs="*", help="run only rows whose name contains one of these strings")
    ap.add_argument("--dt-venv", type=Path, default=Path(os.environ.get("DT_VENV", DEFAULT_DT_VENV)))
    ap.add_argument("--json", type=Path, help="write per-subset scores and speeds here")
    args = ap.parse_args()
    if not (DATA / "extraction_multi").exists():
        sys.exit(f"{DATA} not found (shared test data is needed for this benchmark)")

    pages = load_pages()
    rows: dict[str, Callable[[], Callable]] = {
        "ours default": lambda: ours({}),
        "ours include_title=False": lambda: ours({"include_title": False}),
        "trafilatura.extract defaults": lambda: plain_trafilatura(),
        "trafilatura fast": lambda: plain_trafilatura(fast=True),
        "trafilatura favor_recall": lambda: plain_trafilatura(favor_recall=True),
        "resiliparse main_content": lambda: resiliparse,
    }
    rows |= {f"ours {v}": (lambda v=v: ours(json.loads(v))) for v in args.variant}
    if (args.dt_venv / "bin" / "python").exists():
        rows["datatrove 0.10.1 Trafilatura"] = lambda: datatrove(args.dt_venv)
    else:
        print(f"datatrove row skipped: no venv at {args.dt_venv} (shared/bench/datatrove/setup.sh)", file=sys.stderr)
    if args.only:
        rows = {k: v for k, v in rows.items() if any(s in k for s in args.only)}

    scored = [p for p in pages if p.reference is not None]
    subsets = sorted({p.subset for p in scored})
    results: dict[str, dict] = {}
    for name, make in rows.items():
        fn = make()
        preds, secs = fn(pages) if name.startswith("datatrove") else timed(fn, pages)
        by_subset: dict[str, tuple[list, list]] = defaultdict(lambda: ([], []))
        for p, t in zip(pages, preds):
            if p.reference is not None:
                for key in (p.subset, p.set, "all"):
                    by_subset[key][0].append(p.reference)
                    by_subset[key][1].append(t)
        warc = [t or "" for p, t in zip(pages, preds) if p.set == "warc-zh"]
        results[name] = {
            "f1": {k: round(score(*v).f1, 4) for k, v in by_subset.items()},
            "docs_per_s_per_core": round(len(pages) / secs, 2),
            "warc_zh": {"pages": len(warc), "with_text": sum(bool(tokens(t)) for t in warc),
                        "han_chars": sum(len([c for c in t if "\u4e00" <= c <= "\u9fff"]) for t in warc),
                        "mojibake_pages": sum(mojibake(t) for t in warc)},
        }
        print(f"{name}: {results[name]['docs_per_s_per_core']} docs/s/core, F1 all {results[name]['f1']['all']}",
              file=sys.stderr, flush=True)

    names = list(results)
    counts = {k: sum(1 for p in scored if k in (p.subset, p.set)) for k in subsets + sorted({p.set for p in scored})}
    counts["all"] = len(scored)
    print(f"| subset | pages | " + " | ".join(names) + " |")
    print("|---|---|" + "---|" * len(names))
    for key in subsets + sorted({p.set for p in scored}) + ["all"]:
        print(f"| {key} | {counts[key]} | " + " | ".join(f"{results[n]['f1'].get(key, float('nan')):.3f}" for n in names) + " |")
    base = results.get("trafilatura.extract defaults", {}).get("docs_per_s_per_core")
    print("| docs/s/core | | " + " | ".join(f"{results[n]['docs_per_s_per_core']:.1f}" for n in names) + " |")
    if base:
        print("| × plain trafilatura | | " + " | ".join(f"{results[n]['docs_per_s_per_core'] / base:.2f}" for n in names) + " |")
    print("| warc-zh with text / Han chars / mojibake pages | | "
          + " | ".join("{with_text}/{pages} / {han_chars} / {mojibake_pages}".format(**results[n]["warc_zh"]) for n in names) + " |")
    if args.json:
        args.json.write_text(json.dumps({"pages": len(pages), "counts": counts, "rows": results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
