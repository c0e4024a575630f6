"""PNG plots for the dataset card, drawn from stats.json only (matplotlib, headless).

Figures are built with :class:`matplotlib.figure.Figure` and the Agg canvas directly, so no
pyplot state or display backend is involved (safe in workers and on servers without X).
"""

from __future__ import annotations

import io
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from webrefinery.pipeline.io.storage import StoragePath

#: languages drawn individually; the rest are summed into one "other" bar
MAX_LANGUAGE_BARS = 15
_KEPT, _DROPPED = "#3b75af", "#d9d9d9"


def _thousands(x: float, _pos: int | None = None) -> str:
    return f"{x:,.0f}"


def _count_axis(axis) -> None:
    """Whole-number ticks with thousands separators (documents are counted, never fractional)."""
    axis.set_major_locator(MaxNLocator(integer=True))
    axis.set_major_formatter(FuncFormatter(_thousands))


def _legend_below(fig: Figure) -> None:
    fig.legend(loc="outside lower center", ncol=2, fontsize=8, frameon=False)


def _save(fig: Figure, path: StoragePath) -> StoragePath:
    path = StoragePath.of(path)
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
    path.write_bytes(buf.getvalue())
    return path


def funnel_plot(stages: list[dict[str, Any]], path: StoragePath) -> StoragePath:
    """Horizontal bars per stage: documents in (grey, so the grey part is what the stage dropped)
    behind documents out (blue), labelled with documents out and % kept."""
    fig = Figure(figsize=(7, 0.45 * len(stages) + 1.8), layout="constrained")
    ax = fig.add_subplot()
    names = [s["name"] for s in stages]
    y = range(len(stages))
    ax.barh(y, [s["docs_in"] for s in stages], color=_DROPPED, label="dropped")
    ax.barh(y, [s["docs_out"] for s in stages], color=_KEPT, label="kept")
    top = max([s["docs_in"] for s in stages] + [1])
    for i, s in enumerate(stages):
        pct = f"{100 * s['docs_out'] / s['docs_in']:.1f}% kept" if s["docs_in"] else "no input"
        ax.text(s["docs_in"] + top * 0.01, i, f"{s['docs_out']:,}  ({pct})", va="center", fontsize=8)
    ax.set_yticks(list(y), names)
    ax.invert_yaxis()
    ax.set_xlim(0, top * 1.35)
    _count_axis(ax.xaxis)
    ax.set_xlabel("documents")
    ax.set_title("Processing funnel")
    _legend_below(fig)
    return _save(fig, path)


def language_plot(languages: dict[str, dict[str, int]], path: StoragePath) -> StoragePath:
    """Share of documents and of characters per language (top languages, rest as "other")."""
    total_docs = sum(v["docs"] for v in languages.values()) or 1
    total_chars = sum(v["chars"] for v in languages.values()) or 1
    ranked = sorted(languages.items(), key=lambda kv: (-kv[1]["docs"], kv[0]))
    shown = ranked[:MAX_LANGUAGE_BARS]
    rest = ranked[MAX_LANGUAGE_BARS:]
    labels = [k for k, _ in shown]
    docs = [v["docs"] for _, v in shown]
    chars = [v["chars"] for _, v in shown]
    if rest:
        labels.append(f"other ({len(rest)})")
        docs.append(sum(v["docs"] for _, v in rest))
        chars.append(sum(v["chars"] for _, v in rest))
    fig = Figure(figsize=(7, 0.4 * len(labels) + 1.8), layout="constrained")
    ax = fig.add_subplot()
    h = 0.4
    ys = range(len(labels))
    ax.barh([i - h / 2 for i in ys], [100 * d / total_docs for d in docs], h, color=_KEPT, label="% of documents")
    ax.barh([i + h / 2 for i in ys], [100 * c / total_chars for c in chars], h, color="#e6862b",
            label="% of characters")
    ax.set_yticks(list(ys), labels)
    ax.invert_yaxis()
    ax.set_xlim(0, 105)
    ax.set_xlabel("% of the published dataset")
    ax.set_title("Languages")
    _legend_below(fig)
    return _save(fig, path)


def _used_range(counts: list[int]) -> tuple[int, int]:
    nonzero = [i for i, c in enumerate(counts) if c]
    return (nonzero[0], nonzero[-1] + 1) if nonzero else (0, len(counts))


def length_plot(hist: dict[str, list], path: StoragePath) -> StoragePath:
    """Histogram of document length in characters on log-spaced bins (log x axis)."""
    edges, counts = hist["edges"], hist["counts"]
    lo, hi = _used_range(counts)
    lo, hi = max(lo - 1, 0), min(hi + 1, len(counts))
    fig = Figure(figsize=(7, 3.4), layout="constrained")
    ax = fig.add_subplot()
    lefts, rights = edges[lo:hi], edges[lo + 1:hi + 1]
    ax.bar(lefts, counts[lo:hi], width=[r - l for l, r in zip(lefts, rights)], align="edge",
           color=_KEPT, edgecolor="white")
    ax.set_xscale("log")
    ax.set_xlim(lefts[0], rights[-1])
    ax.xaxis.set_major_formatter(FuncFormatter(_thousands))
    _count_axis(ax.yaxis)
    ax.set_xlabel("document length (characters, log scale)")
    ax.set_ylabel("documents")
    ax.set_title("Document length")
    return _save(fig, path)


def quality_plot(hist: dict[str, list], path: StoragePath) -> StoragePath:
    """Histogram of the model-based quality score (0–1)."""
    edges, counts = hist["edges"], hist["counts"]
    fig = Figure(figsize=(7, 3.4), layout="constrained")
    ax = fig.add_subplot()
    ax.bar(edges[:-1], counts, width=[r - l for l, r in zip(edges[:-1], edges[1:])], align="edge",
           color=_KEPT, edgecolor="white")
    ax.set_xlim(edges[0], edges[-1])
    _count_axis(ax.yaxis)
    ax.set_xlabel("quality score")
    ax.set_ylabel("documents")
    ax.set_title("Quality score")
    return _save(fig, path)
