"""Span-level precision/recall of the pii stage per type on the project's labelled set
(tests/data/pii_labelled.jsonl) and on ../shared/testdata/pii (presidio + Faker zh_CN cases)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pytest

from webrefinery.pipeline.stages.pii import PRIORITY, PIIRedact, find_pii

from conftest import DATA

LABELLED = DATA / "pii_labelled.jsonl"
SHARED_TYPES = {"EMAIL_ADDRESS": "EMAIL", "PHONE_NUMBER": "PHONE", "CN_RESIDENT_ID": "ID_NUMBER",
                "IP_ADDRESS": "IP_ADDRESS", "CREDIT_CARD": "CREDIT_CARD"}


def load(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def score(cases: list[dict]) -> dict[str, tuple[float, float]]:
    """Exact (type, start, end) matching; gold spans of types we do not detect are ignored."""
    tp, fp, fn = Counter(), Counter(), Counter()
    for case in cases:
        gold = {(SHARED_TYPES.get(e["type"], e["type"]), e["start"], e["end"]) for e in case["entities"]}
        gold = {g for g in gold if g[0] in PRIORITY}
        pred = {(s.kind, s.start, s.end) for s in find_pii(case["text"], frozenset(PRIORITY))}
        for p in pred:
            (tp if p in gold else fp)[p[0]] += 1
        for g in gold - pred:
            fn[g[0]] += 1
    return {k: (tp[k] / max(1, tp[k] + fp[k]), tp[k] / max(1, tp[k] + fn[k]))
            for k in PRIORITY if tp[k] + fp[k] + fn[k]}


def test_labelled_set_is_substantial_and_balanced():
    cases = load(LABELLED)
    assert len(cases) >= 150
    assert sum(not c["entities"] for c in cases) >= 60  # hard negatives
    assert {c["language"] for c in cases} == {"en", "zh"}
    assert {e["type"] for c in cases for e in c["entities"]} == set(PRIORITY)
    for c in cases:
        assert all(c["text"][e["start"]:e["end"]] == e["value"] for e in c["entities"])


def test_labelled_precision_recall_per_type():
    scores = score(load(LABELLED))
    assert set(scores) == set(PRIORITY)
    for kind, (precision, recall) in scores.items():
        assert precision >= 0.95 and recall >= 0.9, (kind, precision, recall)


def test_labelled_redaction_removes_values_and_keeps_negatives():
    cases = load(LABELLED)
    table = pa.table({"text": [c["text"] for c in cases], "language": [c["language"] for c in cases]})
    out = PIIRedact().process(table).kept.column("text").to_pylist()
    for case, text in zip(cases, out):
        if not case["entities"]:
            assert text == case["text"], case["note"]
        for e in case["entities"]:
            assert e["value"] not in text, case["note"]


@pytest.mark.parametrize("name", ["presidio_cases.jsonl", "cn_cases.jsonl"])
def test_shared_pii_cases(shared, name):
    cases = load(shared / "pii" / name)
    for kind, (precision, recall) in score(cases).items():
        assert precision == 1.0 and recall == 1.0, (kind, precision, recall)
    # negatives of every recognizer (IBAN, MAC, SSN ... included) stay unredacted
    negatives = [c["text"] for c in cases if not c["entities"]]
    out = PIIRedact().process(pa.table({"text": negatives})).kept.column("text").to_pylist()
    assert out == negatives
