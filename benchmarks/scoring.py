"""Extraction scoring: the metric of the Scrapinghub/Zyte article-extraction-benchmark.

Both texts are tokenized with the Unicode regex ``\\w+``, except that each Han, kana or
Hangul character is a token of its own (CJK text has no spaces, so ``\\w+`` would make a
whole sentence one token; character tokens are the usual unit for Chinese, e.g. the
CLUE benchmarks and Chinese ROUGE); each becomes a multiset of word
4-gram shingles (a text shorter than 4 tokens is one shorter shingle). Per document,
TP = shared shingles (min of counts), FP = extra predicted, FN = missed, normalized to sum 1
so long pages weigh no more than short ones. Precision and recall are averaged over the
documents where they are defined (TP+FP > 0, resp. TP+FN > 0), and F1 = 2PR/(P+R) of those
averages. Accuracy = share of documents whose token sequences are identical.

Written from the metric's description in ``shared/testdata/extraction_en/SOURCE.md`` so the
figures are comparable with the published table (trafilatura 2.0.0: F1 0.958, P 0.938, R 0.978).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from statistics import mean

from webrefinery.pipeline.text.scripts import HAN_BMP, HANGUL, KANA_BLOCKS

#: CJK_CHARS of the pipeline minus the supplementary Han planes, plus the hangul jamo
_CJK = "\u1100-\u11ff" + KANA_BLOCKS + HAN_BMP + HANGUL
_TOKEN = re.compile(rf"[{_CJK}]|[^\W{_CJK}]+", re.UNICODE)


def tokens(text: str | None) -> list[str]:
    return _TOKEN.findall(text or "")


def shingles(text: str | None, n: int = 4) -> Counter:
    """Multiset of word n-grams; a non-empty text shorter than n tokens gives one shingle."""
    toks = tokens(text)
    return Counter(tuple(toks[i:i + n]) for i in range(max(1, len(toks) - n + 1)) if toks[i:i + n])


@dataclass(frozen=True)
class Match:
    tp: float
    fp: float
    fn: float

    @property
    def precision(self) -> float:
        if self.fp == self.fn == 0:
            return 1.0
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        if self.fp == self.fn == 0:
            return 1.0
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0


def match(truth: str | None, pred: str | None, n: int = 4) -> Match:
    """Normalized shingle TP/FP/FN of one document."""
    t, p = shingles(truth, n), shingles(pred, n)
    tp = sum((t & p).values())
    fp = sum((p - t).values())
    fn = sum((t - p).values())
    total = tp + fp + fn
    return Match(tp / total, fp / total, fn / total) if total else Match(0.0, 0.0, 0.0)


@dataclass(frozen=True)
class Scores:
    f1: float
    precision: float
    recall: float
    accuracy: float
    docs: int
    empty: int

    def row(self) -> dict[str, float]:
        return {"f1": round(self.f1, 4), "precision": round(self.precision, 4), "recall": round(self.recall, 4),
                "accuracy": round(self.accuracy, 4), "docs": self.docs, "empty": self.empty}


def score(truths: list[str | None], preds: list[str | None]) -> Scores:
    """Benchmark scores of predictions against ground truth (same order, same length)."""
    if len(truths) != len(preds):
        raise ValueError(f"{len(truths)} ground-truth texts but {len(preds)} predictions")
    matches = [match(t, p) for t, p in zip(truths, preds)]
    precision = mean(m.precision for m in matches if m.tp + m.fp > 0)
    recall = mean(m.recall for m in matches if m.tp + m.fn > 0)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    accuracy = mean(float(tokens(t) == tokens(p)) for t, p in zip(truths, preds))
    empty = sum(1 for p in preds if not tokens(p))
    return Scores(f1, precision, recall, accuracy, len(preds), empty)
