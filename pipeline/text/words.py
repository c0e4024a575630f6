"""Words and word lists.

``WORD``: a whitespace-separated word, each CJK character (:data:`.scripts.CJK_CHARS`) a word
of its own (the C4 and RefinedWeb line rules count words with it).

:func:`read_word_list`: the word-list file format of every bundled list (stop words,
sensitive words, URL blocklists): UTF-8, one entry per line, ``#`` starts a comment, blank
lines are ignored.
"""

from __future__ import annotations

import re
from pathlib import Path

from webrefinery.pipeline.text.scripts import CJK_CHARS

WORD = re.compile(rf"[{CJK_CHARS}]|[^\s{CJK_CHARS}]+")


def read_word_list(path: str | Path, errors: str = "strict") -> list[str]:
    """A UTF-8 word list: one entry per line; blank lines and ``#`` comments are ignored.

    ``errors`` is passed to the decoder (``"replace"`` for third-party lists such as URL
    blocklists, whose encoding is not ours to fix)."""
    words = []
    for line in Path(path).read_text(encoding="utf-8", errors=errors).splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            words.append(line)
    return words
