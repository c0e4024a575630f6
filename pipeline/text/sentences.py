"""Sentence ends: the marks in one place, and the three patterns built from them.

``SENTENCE_END_ASCII`` (``.!?``) and ``SENTENCE_END_CJK`` (full-width ``。！？``) are the marks
every user shares. The three patterns differ on purpose (each is what its rule was tuned and
tested with; merging them would change which documents the rules reject):

- ``C4_SENTENCE_END`` counts sentences (C4's ``min_sentences``): a run of ASCII ends must be
  followed by whitespace or the line end (so ``3.14`` and ``example.com`` are not two
  sentences); full-width ends need no space after them (CJK text has none).
- ``ZH_SENTENCE_END`` finds where a Chinese text's last complete sentence ends (the
  ``chinese`` rules' truncated-tail test): any end mark, ``…`` included, with the closing
  quotes and brackets that follow it.
- ``LINE_SPLIT`` cuts a line into sentence units for line dedup: right after any end mark,
  eating the whitespace that follows.
"""

from __future__ import annotations

import re

SENTENCE_END_ASCII = ".!?"
SENTENCE_END_CJK = "。！？"

C4_SENTENCE_END = re.compile(rf"[{SENTENCE_END_ASCII}]+['\"’”)\]]*(?=\s|$)|[{SENTENCE_END_CJK}]+[”」』）]*")
ZH_SENTENCE_END = re.compile(rf"[{SENTENCE_END_CJK}!?…][”’」』）)]*")
LINE_SPLIT = re.compile(rf"(?<=[{SENTENCE_END_ASCII}{SENTENCE_END_CJK}])\s*")
