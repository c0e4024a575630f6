"""Language-ID accuracy of the ``langid`` stage (issue #3).

Data: ``shared/testdata/langid/sentences.jsonl`` — 500 Leipzig sentences from lingua's test
set, 100 each of en, zh, de, ru, ja. Scored as its SOURCE.md says: top-1 accuracy and
per-language F1 (macro average over the five gold languages; a prediction outside them is a
miss). Also reported: the share of each language scoring ≥ the FineWeb threshold 0.65 (what
``langid`` would keep if that language were enabled) and the speed of ``LangID.predict``.

datatrove's ``LanguageFilter`` runs the same fastText ``lid.176`` model (the harness points it
at the same ``lid.176.ftz``), so its accuracy on these sentences is the same by construction.

    flock /tmp/bench.lock python benchmarks/bench_langid.py --repeat 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from webrefinery.pipeline.stages.langid import LangID, LangIDConfig  # noqa: E402

DATA = ROOT.parent / "shared" / "testdata" / "langid" / "sentences.jsonl"


def per_language_f1(gold: list[str], pred: list[str]) -> dict[str, dict[str, float]]:
    """Precision, recall and F1 of each gold language."""
    out = {}
    for lang in sorted(set(gold)):
        tp = sum(g == p == lang for g, p in zip(gold, pred))
        n_pred, n_gold = pred.count(lang), gold.count(lang)
        p = tp / n_pred if n_pred else 0.0
        r = tp / n_gold if n_gold else 0.0
        out[lang] = {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3, help="timed runs (median reported)")
    ap.add_argument("--json", type=Path, help="write the figures as JSON here")
    args = ap.parse_args()
    if not DATA.exists():
        sys.exit(f"{DATA} not found (shared test data is needed for this benchmark)")
    rows = [json.loads(line) for line in open(DATA, encoding="utf-8")]
    texts, gold = [r["text"] for r in rows], [r["lang"] for r in rows]

    stage = LangID(LangIDConfig(keep=[]))
    pred, scores = stage.predict(texts)
    times = []
    for _ in range(args.repeat):
        t0 = time.process_time()
        stage.predict(texts)
        times.append(time.process_time() - t0)
    secs = statistics.median(times)

    acc = sum(g == p for g, p in zip(gold, pred)) / len(gold)
    per_lang = per_language_f1(gold, pred)
    macro = statistics.mean(v["f1"] for v in per_lang.values())
    kept = {lang: sum(g == lang and p == lang and s >= 0.65 for g, p, s in zip(gold, pred, scores)) / gold.count(lang)
            for lang in per_lang}
    errors = Counter(f"{g}->{p}" for g, p in zip(gold, pred) if g != p)

    print(f"{len(texts)} sentences; model {stage.model_file}")
    print(f"accuracy {acc:.3f}   macro-F1 {macro:.3f}   {len(texts) / secs:,.0f} sentences/s per core")
    print(f"{'lang':<5} {'P':>6} {'R':>6} {'F1':>6} {'kept@0.65':>9}")
    for lang, v in per_lang.items():
        print(f"{lang:<5} {v['precision']:6.3f} {v['recall']:6.3f} {v['f1']:6.3f} {kept[lang]:9.3f}")
    if errors:
        print("confusions:", ", ".join(f"{k} ×{n}" for k, n in errors.most_common()))
    if args.json:
        args.json.write_text(json.dumps({"sentences": len(texts), "accuracy": acc, "macro_f1": macro,
                                         "per_language": per_lang, "kept_at_0_65": kept,
                                         "confusions": dict(errors), "sentences_per_s_per_core": len(texts) / secs},
                                        indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
