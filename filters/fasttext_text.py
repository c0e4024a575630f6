"""The one-line text form the fastText quality classifier is trained and scored on.

fastText splits on whitespace, so CJK characters are spaced apart (each is a token, as
Chinese has no spaces between words) and punctuation is split off; text is lower-cased and
cut to ``max_chars`` so long pages cost the same as short ones. Training
(:mod:`webrefinery.filters.train_quality`) and scoring (:mod:`webrefinery.filters.quality`) must use this same form.
"""

from __future__ import annotations

import re

from webrefinery.pipeline.text.scripts import CJK_CHARS

LABEL_POSITIVE = "__label__hq"
LABEL_NEGATIVE = "__label__lq"
_SPLIT = re.compile(rf"([{CJK_CHARS}]|[^\w\s])")


def fasttext_line(text: str, max_chars: int = 10_000) -> str:
    """``text`` as one lower-cased, tokenized line for fastText."""
    return " ".join(_SPLIT.sub(r" \1 ", text[:max_chars].lower()).split())
