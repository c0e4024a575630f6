"""The files a finished run wrote, read once for the card: stats.json, manifest.json,
config.yaml, the shards' Parquet footers, and tokens.json when `refinery tokenize` wrote one."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import yaml

from webrefinery.pipeline.core.errors import RefineryError
from webrefinery.pipeline.core.schema import SCHEMA
from webrefinery.pipeline.io.storage import PathLike, StoragePath, parquet_file

#: token counts of the output, written into it by `refinery tokenize`
TOKENS_FILE = "tokens.json"


@dataclass
class RunRecord:
    """What the card is made of: one finished run directory."""

    out_dir: StoragePath
    stats: dict[str, Any]
    manifest: dict[str, Any]
    config_text: str
    config_origin: str
    schema: pa.Schema
    crawl_dates: tuple[str, str] | None
    tokens: dict[str, Any] | None

    @property
    def stage_names(self) -> list[str]:
        return [s["name"] for s in self.stats["stages"]]


def _read_json(p: StoragePath) -> Any:
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise RefineryError(f"{p} is not valid JSON ({e.msg} at line {e.lineno}); rerun the pipeline") from None


def load_run(out_dir: PathLike) -> RunRecord:
    """Read a finished run directory (local or an fsspec URL); a clear :class:`RefineryError`
    when it is not one."""
    out_dir = StoragePath.of(out_dir)
    if not out_dir.is_dir():
        raise RefineryError(f"{out_dir} is not a directory; pass the --output directory of a finished run")
    parsed = {}
    for name in ("stats.json", "manifest.json"):
        p = out_dir / name
        if not p.is_file():
            raise RefineryError(f"{p} not found: the card needs a finished run (rerun `refinery run` "
                                "with the same arguments to finish it)")
        parsed[name] = _read_json(p)
    config_text, origin = _config_text(out_dir, parsed["stats.json"])
    shards = [out_dir / e["path"] for e in parsed["manifest.json"]["shards"]]
    schema = parquet_file(shards[0]).schema_arrow if shards and shards[0].is_file() else SCHEMA
    tokens = out_dir / TOKENS_FILE
    return RunRecord(out_dir, parsed["stats.json"], parsed["manifest.json"], config_text, origin, schema,
                     _crawl_date_range(shards), _read_json(tokens) if tokens.is_file() else None)


def _config_text(out_dir: StoragePath, stats: dict[str, Any]) -> tuple[str, str]:
    p = out_dir / "config.yaml"
    if p.is_file():
        return p.read_text(encoding="utf-8"), "config.yaml"
    cfg = stats["run"].get("config")
    if isinstance(cfg, str):
        return cfg, "stats.json run.config"
    if cfg:
        return yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True), "stats.json run.config"
    return "", ""


def _crawl_date_range(shards: list[StoragePath]) -> tuple[str, str] | None:
    """Earliest and latest ``crawl_date`` from the Parquet footer statistics (no data read)."""
    lo = hi = None
    for path in shards:
        if not path.is_file():
            continue
        meta = parquet_file(path).metadata
        names = [meta.schema.column(i).name for i in range(meta.num_columns)]
        if "crawl_date" not in names:
            continue
        col = names.index("crawl_date")
        for g in range(meta.num_row_groups):
            st = meta.row_group(g).column(col).statistics
            if st is None or not st.has_min_max:
                continue
            lo = st.min if lo is None else min(lo, st.min)
            hi = st.max if hi is None else max(hi, st.max)
    return (str(lo), str(hi)) if lo is not None else None
