"""``refinery card OUT``: the Hugging Face dataset card (``OUT/README.md``) and its plots.

Every number in the card is read from the files the run wrote (:mod:`.run`); stages add
their sections and notes through declarations on their classes (:mod:`webrefinery.pipeline.core.card`).
:mod:`.sections` turns them into data, ``templates/card.md.j2`` into markdown. The layout
follows the Hub's dataset card template and the data statements of FineWeb and RefinedWeb.

The template is rendered with plain Jinja2 rather than ``DatasetCard.from_template``: that
helper renders a bare ``jinja2.Template``, without ``StrictUndefined`` (a misspelt value
would render as nothing), ``trim_blocks`` (block tags would leave blank lines) or custom
filters (tables, fences, counts). The front matter is still ``huggingface_hub``'s
``DatasetCardData.to_yaml()`` and the result is a ``DatasetCard``.
"""

from __future__ import annotations

import argparse
import re
from typing import Any, Callable

import jinja2
from huggingface_hub import DatasetCard

from webrefinery.pipeline.card import plots as card_plots
from webrefinery.pipeline.card.frontmatter import front_matter
from webrefinery.pipeline.card.run import RunRecord, load_run
from webrefinery.pipeline.card.sections import context
from webrefinery.pipeline.core.card import Table, num
from webrefinery.pipeline.io.storage import PathLike, StoragePath

CARD_FILE = "README.md"
PLOTS_DIR = "plots"
TEMPLATE = "card.md.j2"


def _size(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:,} bytes" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def _plural(n: int, word: str) -> str:
    return f"{num(n)} {word}{'' if n == 1 else 's'}"


def _cell(value: str) -> str:
    return value.replace("|", "\\|").replace("\n", " ")


def _table(t: Table) -> str:
    """A GitHub-flavoured markdown table."""
    align = ["---:" if i in t.right else ":---" for i in range(len(t.header))]
    lines = ["| " + " | ".join(t.header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in t.rows]
    return "\n".join(lines)


def _fence(text: str, lang: str = "") -> str:
    ticks = "`" * max(3, max((len(m) for m in re.findall(r"`+", text)), default=0) + 1)
    return f"{ticks}{lang}\n{text.rstrip()}\n{ticks}"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("webrefinery.pipeline.card"), undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, autoescape=False)
    env.filters.update(n=num, size=_size, plural=_plural, table=_table, fence=_fence, code=lambda x: f"`{x}`")
    return env


def _plots(run: RunRecord) -> dict[str, str]:
    """Draw the plots into OUT/plots/; returns name → path relative to OUT (for the markdown)."""
    out, d = run.stats["output"], run.out_dir / PLOTS_DIR
    todo: list[tuple[str, Callable[..., StoragePath], Any]] = []
    if run.stats["stages"]:
        todo.append(("funnel", card_plots.funnel_plot, run.stats["stages"]))
    if out["languages"]:
        todo.append(("languages", card_plots.language_plot, out["languages"]))
    if out.get("length_hist") and sum(out["length_hist"]["counts"]):
        todo.append(("length", card_plots.length_plot, out["length_hist"]))
    if out.get("quality_hist") and sum(out["quality_hist"]["counts"]):
        todo.append(("quality", card_plots.quality_plot, out["quality_hist"]))
    stale = {p.name for p in d.glob("*.png")} if d.is_dir() else set()
    made = {}
    for name, draw, data in todo:
        draw(data, d / f"{name}.png")
        made[name] = f"{PLOTS_DIR}/{name}.png"
        stale.discard(f"{name}.png")
    for name in stale:  # a previous card's plot that this run has no data for
        (d / name).unlink()
    return made


def render_card(run: RunRecord, license: str, pretty_name: str, plots: dict[str, str]) -> DatasetCard:
    text = _environment().get_template(TEMPLATE).render(
        front_matter=front_matter(run, license, pretty_name).to_yaml(), **context(run, license, pretty_name, plots))
    return DatasetCard(text)


def write_card(out_dir: PathLike, license: str | None = None, *, pretty_name: str | None = None) -> StoragePath:
    """Write ``out_dir/README.md`` and ``out_dir/plots/*.png`` for the finished run in ``out_dir``.

    ``license`` is an SPDX-style Hub license id; ``None`` takes the run's ``output.card_license``
    and else gives ``other`` with a note on the Common Crawl terms. ``pretty_name`` likewise
    defaults to ``output.card_name``, then the directory name.
    """
    run = load_run(out_dir)
    out_dir = run.out_dir
    configured = run.stats.get("run", {}).get("card", {})
    license = license or configured.get("license") or "other"
    name = pretty_name or configured.get("name") or f"{out_dir.name} (webrefinery)"
    card = render_card(run, license, name, _plots(run))
    path = out_dir / CARD_FILE
    path.write_text(str(card))
    return path


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser("card", help="write OUT/README.md (Hugging Face dataset card) and OUT/plots/",
                              description="Write the dataset card of a finished run from its stats.json and "
                                          "manifest.json (runs automatically at the end of `refinery run`).")
    p.add_argument("out", metavar="OUT", help="output directory of a finished run (local or an fsspec URL)")
    p.add_argument("--license", help="Hub license id, e.g. odc-by or cc-by-4.0 (default: other, with a note "
                                     "on the Common Crawl terms of use)")
    p.add_argument("--name", help="pretty_name of the dataset (default: the directory name)")
    p.set_defaults(func=_card_cmd)
    return p


def _card_cmd(args: argparse.Namespace) -> int:
    path = write_card(args.out, args.license, pretty_name=args.name)
    print(f"wrote {path} and {path.parent / PLOTS_DIR}/")
    return 0
