"""datatrove 0.10.1's extraction on given page bytes; run with datatrove's own venv (issue #14).

Reads a pickle of ``[(payload bytes, url), ...]``, decodes each payload as datatrove's
``WarcReader`` does (``readers/warc.py``: UTF-8, else cchardet's guess, else the page is
dropped), extracts with its ``Trafilatura()`` block settings (``extractors/trafilatura.py``:
favor_precision, no comments, deduplicate) and writes ``{"texts": [...], "cpu_s": float}``
as JSON (CPU time of a second pass, after a warm-up one). The extractor is called directly, without datatrove's per-document sandbox
process, so the time is extraction alone, as for the other rows.

    $DT_VENV/bin/python benchmarks/datatrove_extract_worker.py pages.pkl out.json
"""

from __future__ import annotations

import json
import pickle
import sys
import time


def decode(payload: bytes) -> str | None:
    """datatrove 0.10.1 WarcReader's decoding."""
    import cchardet

    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        charset = cchardet.detect(payload)["encoding"]
        if not charset or charset == "UTF-8":
            return None
        try:
            return payload.decode(charset)
        except (UnicodeDecodeError, LookupError):
            return None


def main() -> int:
    from datatrove.pipeline.extractors import Trafilatura

    pages = pickle.load(open(sys.argv[1], "rb"))
    block = Trafilatura()
    texts: list[str | None] = []
    for _pass in range(2):  # a warm-up pass, then the timed one
        texts, t0 = [], time.process_time()
        for payload, _url in pages:
            html = decode(payload)
            texts.append(block.extract(html) if html else None)
        cpu = time.process_time() - t0
    json.dump({"texts": texts, "cpu_s": cpu}, open(sys.argv[2], "w"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
