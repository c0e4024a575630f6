"""datatrove 0.10.1's rule filters on given documents; run with datatrove's own venv (issue 20).

Reads ``{"texts": [...], "language": "en" | "zh"}`` (JSON) and runs, per document and in
FineWeb's order, ``GopherRepetitionFilter``, ``GopherQualityFilter``,
``C4QualityFilter(filter_no_terminal_punct=False)`` (as FineWeb ran it) and
``FineWebQualityFilter``, all with default thresholds and the document's language
(``eng`` / ``cmn``, which picks datatrove's word tokenizer), stopping at the first filter
that drops the document, as a datatrove pipeline does. Writes ``{"kept": n, "cpu_s": s}``:
CPU seconds of a second pass, after a warm-up one (which also loads the tokenizers). The
blocks' ``filter`` methods are called directly, without the pipeline's stats and writers, so
the time is the rules alone, like this project's figure beside it.

    $DT_VENV/bin/python benchmarks/datatrove_filters_worker.py docs.json out.json
"""

from __future__ import annotations

import json
import sys
import time


def main() -> int:
    from datatrove.data import Document
    from datatrove.pipeline.filters import (C4QualityFilter, FineWebQualityFilter, GopherQualityFilter,
                                            GopherRepetitionFilter)

    spec = json.load(open(sys.argv[1], encoding="utf-8"))
    lang = {"en": "eng", "zh": "cmn"}[spec["language"]]
    blocks = [GopherRepetitionFilter(language=lang), GopherQualityFilter(language=lang),
              C4QualityFilter(filter_no_terminal_punct=False, language=lang), FineWebQualityFilter(language=lang)]
    kept, cpu = 0, 0.0
    for _pass in range(2):  # a warm-up pass, then the timed one
        kept, t0 = 0, time.process_time()
        for i, text in enumerate(spec["texts"]):
            doc = Document(text=text, id=str(i))
            for block in blocks:
                verdict = block.filter(doc)
                if not (verdict[0] if isinstance(verdict, tuple) else verdict):
                    break
            else:
                kept += 1
        cpu = time.process_time() - t0
    json.dump({"kept": kept, "cpu_s": cpu}, open(sys.argv[2], "w"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
