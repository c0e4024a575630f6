"""Traditional → Simplified Chinese with OpenCC, deciding per document which script it uses.

Detection: a character is *Traditional-only* when OpenCC ``t2s`` changes it on its own and
``s2t`` does not, *Simplified-only* the other way round (both sets are derived from
OpenCC's own dictionaries at load time, so they follow the installed OpenCC version). A
document is ``zh-Hant`` when Traditional-only characters make up at least
``hant_ratio`` of the script-specific characters it contains; that label goes to metadata.
Any Chinese document with Traditional-only characters is converted, so a Simplified page
quoting a Traditional name ends up all Simplified too (OpenCC ``t2s`` leaves Simplified
characters alone). Japanese (any kana) is never
converted: shinjitai kanji look "Traditional" to OpenCC, and converting them corrupts the
text (a document is treated as Japanese when kana are ≥ 5 % of its characters, so a
Taiwanese page writing 好吃の店 is still converted). Counting uses two compiled character classes, so a Simplified document costs two
regex scans and no conversion.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

import opencc

from webrefinery.pipeline.text.scripts import HAN_BMP_BLOCKS, KANA

#: OpenCC configurations that produce Simplified Chinese (PyPI ``opencc`` takes the bare name)
SIMPLIFYING_CONFIGS = ("t2s", "tw2s", "tw2sp", "hk2s")

_KANA = re.compile(f"[{KANA}]")


@dataclass
class ScriptCounts:
    hant: int
    hans: int
    kana: int


class ChineseConverter:
    """Detects zh-Hant/zh-Hans and converts with one OpenCC config; picklable, loads lazily."""

    def __init__(self, config: str = "t2s", hant_ratio: float = 0.5):
        if config not in SIMPLIFYING_CONFIGS:
            raise ValueError(f"OpenCC config {config!r} does not simplify; use one of {SIMPLIFYING_CONFIGS}")
        self.config = config
        self.hant_ratio = hant_ratio

    def __getstate__(self) -> dict:
        return {"config": self.config, "hant_ratio": self.hant_ratio}

    @cached_property
    def _opencc(self) -> opencc.OpenCC:
        return opencc.OpenCC(self.config)

    @cached_property
    def _classes(self) -> tuple[re.Pattern, re.Pattern]:
        chars = [chr(c) for lo, hi in HAN_BMP_BLOCKS for c in range(lo, hi)]
        joined = "\n".join(chars)
        t2s = opencc.OpenCC("t2s").convert(joined).split("\n")
        s2t = opencc.OpenCC("s2t").convert(joined).split("\n")
        hant = "".join(c for c, a, b in zip(chars, t2s, s2t) if a != c and b == c)
        hans = "".join(c for c, a, b in zip(chars, t2s, s2t) if b != c and a == c)
        return re.compile(f"[{hant}]"), re.compile(f"[{hans}]")

    def counts(self, text: str) -> ScriptCounts:
        hant_re, hans_re = self._classes
        return ScriptCounts(len(hant_re.findall(text)), len(hans_re.findall(text)),
                            len(_KANA.findall(text)))

    def script(self, text: str) -> str | None:
        """``zh-Hant``, ``zh-Hans``, or None (no script-specific Han, or Japanese)."""
        return self.classify(self.counts(text), len(text))

    def classify(self, c: ScriptCounts, length: int) -> str | None:
        if c.kana * 20 >= length or c.hant + c.hans == 0:
            return None
        return "zh-Hant" if c.hant / (c.hant + c.hans) >= self.hant_ratio else "zh-Hans"

    def convert(self, text: str) -> str:
        return self._opencc.convert(text)

    def simplify(self, text: str) -> tuple[str | None, str]:
        """(:meth:`script` label, text): converted to Simplified when it is Chinese, not
        Japanese, and holds Traditional-only characters; as given otherwise. The normalize
        stage's rule, which decontam also applies to Chinese benchmark items."""
        counts = self.counts(text)
        script = self.classify(counts, len(text))
        return script, self.convert(text) if script is not None and counts.hant else text
