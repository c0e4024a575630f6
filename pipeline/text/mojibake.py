"""The mojibake telltale: a Latin-1 lead byte of a UTF-8 sequence followed by a continuation
byte as Latin-1 or cp1252 shows it (``Ã©``, ``â€™``, ``ä¸­``).

``MOJIBAKE_PAIR`` is a pattern string (two character classes), for ``normalize`` (which then
lets ftfy repair the text) and the ``mojibake`` filter (which rejects what is left).
"""

from __future__ import annotations

#: Latin-1 characters that UTF-8 lead bytes C2–F4 decode to
LATIN1_LEAD = "\u00c2-\u00f4"
#: what UTF-8 continuation bytes 80–BF decode to as Latin-1 (C1 controls) or cp1252
CONTINUATION = ("\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc"
                "\u2013\u2014\u2018-\u201a\u201c-\u201e\u2020-\u2022\u2026\u2030\u2039\u203a\u20ac\u2122")
MOJIBAKE_PAIR = f"[{LATIN1_LEAD}][{CONTINUATION}]"
