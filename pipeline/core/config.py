"""Pipeline configuration: YAML validated by pydantic, every mistake caught at start-up.

Layout of a config file::

    languages: [en, zh]              # languages to keep (ISO 639-1)
    pipeline: [read, urlfilter, extract, langid, normalize, filter, quality, pii, dedup]
    executor: {kind: local, workers: 1}
    output: {rows_per_shard: 100000, write_rejected: true}
    langid: {threshold: 0.65}        # one section per stage, validated by its Config

Unknown keys, wrong types and unknown stages raise :class:`ConfigError` with one line
naming the file, the key and what to do.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from webrefinery.pipeline.core.errors import ConfigError
from webrefinery.pipeline.core.registry import STAGES, stage_class
from webrefinery.pipeline.core.stage import StageConfig

DEFAULT_PIPELINE = ["read", "urlfilter", "extract", "langid", "normalize", "filter", "quality", "pii", "dedup"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RayConfig(_Strict):
    """Ray executor knobs (see README "Run on a cluster")."""

    address: str | None = None
    #: actors running map tasks (each keeps its models loaded); None = cluster CPUs / num_cpus_per_task
    actor_pool_size: int | None = Field(None, ge=1)
    num_cpus_per_task: float = Field(1.0, gt=0)
    memory_per_task_mb: int | None = Field(None, ge=64)
    object_store_memory_mb: int | None = Field(None, ge=64)

    def cluster_address(self) -> str | None:
        """The address of the cluster a Ray run joins: ``address``, else ``$RAY_ADDRESS`` (which
        ``ray job submit`` sets); None when the run starts a Ray of its own (neither is set, or
        ``address: local``)."""
        address = self.address or os.environ.get("RAY_ADDRESS")
        return None if not address or address == "local" else address


class ExecutorConfig(_Strict):
    kind: Literal["local", "ray"] = "local"
    #: local executor: processes over input files (0 = all cores)
    workers: int = Field(1, ge=0)
    #: rows per batch handed to each stage
    batch_size: int = Field(512, ge=1)
    #: a task whose worker process dies (killed, out of memory) is redone at most this often
    max_retries: int = Field(3, ge=0)
    #: circuit breaker: a stage fails its task when one exception type hits more than this
    #: share of the documents it has seen (once it has seen max_consecutive_errors of them) …
    max_error_fraction: float = Field(0.05, ge=0, le=1)
    #: … or this many documents in a row
    max_consecutive_errors: int = Field(20, ge=1)
    #: input files bigger than this are cut into parts, one task each: byte ranges of multi-member
    #: .warc.gz, line ranges of uncompressed JSONL, runs of Parquet row groups (null = one task per file)
    split_bytes: int | None = Field(256 * 2**20, ge=4096)
    #: where the work files go (task parts, dedup keys, task stats, reduce outputs): a local path
    #: or any fsspec URL; each run gets its own subdirectory there. null = OUT/_work. The output's
    #: markers (run.json, the lease, complete.json) stay in OUT/_work (see core/paths.py)
    work_dir: str | None = Field(None, min_length=1)
    ray: RayConfig = RayConfig()

    @field_validator("work_dir")
    @classmethod
    def _no_password_in_url(cls, v: str | None) -> str | None:
        """A URL's password would be written to OUT/config.yaml and run.json, and logged."""
        if v is not None and urlsplit(v).password is not None:
            raise ValueError("holds a password; give credentials through the environment (AWS_*, ~/.aws, "
                             "an instance role), not in the URL")
        return v


class OutputConfig(_Strict):
    rows_per_shard: int = Field(100_000, ge=1)
    max_shard_bytes: int = Field(512 * 2**20, ge=1024)
    compression: Literal["zstd", "snappy", "gzip", "none"] = "zstd"
    compression_level: int | None = 3
    write_rejected: bool = True
    #: write OUT/README.md (dataset card) at the end of `refinery run`
    card: bool = True
    #: Hub license id for the card (e.g. odc-by); None = `other` with the Common Crawl terms
    card_license: str | None = None
    #: pretty_name of the card; None = the output directory's name
    card_name: str | None = None


class PipelineConfig(_Strict):
    languages: list[str] = ["en", "zh"]
    pipeline: list[str] = DEFAULT_PIPELINE
    executor: ExecutorConfig = ExecutorConfig()
    output: OutputConfig = OutputConfig()
    #: stage name → validated stage config (filled by :func:`load_config`)
    stages: dict[str, StageConfig] = {}
    #: the text the config came from (kept verbatim for the dataset card)
    source_text: str = ""
    source_path: str = ""

    def stage_config(self, name: str) -> StageConfig:
        return self.stages.get(name) or stage_class(name).Config()

    def hash(self) -> str:
        """sha256 of the resolved config (all defaults filled in), for manifest.json."""
        blob = json.dumps(self.resolved(), sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()

    def resolved(self) -> dict[str, Any]:
        d = self.model_dump(exclude={"stages", "source_text", "source_path"})
        for name in self.pipeline:
            d[name] = self.stage_config(name).model_dump()
        return d


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, except that a key given twice in one mapping is an error (PyYAML
    keeps the last one silently, so a pasted second ``filter:`` section would hide the first)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> PipelineConfig:
    """Read and validate a YAML config (or the defaults when ``path`` is None)."""
    text, where = "", "<defaults>"
    raw: Any = {}
    if path is not None:
        where = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"config file {where} not found; pass an existing YAML file to --config") from None
        except OSError as e:
            raise ConfigError(f"config file {where} cannot be read: {e.strerror}") from None
        try:
            raw = yaml.load(text, Loader=_UniqueKeyLoader) or {}
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            pos = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(e, "problem", None) or str(e).splitlines()[0]
            raise ConfigError(f"config file {where} is not valid YAML{pos}: {problem}; fix the syntax") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"config file {where} must be a mapping of keys, got {type(raw).__name__}")
    return build_config(raw | (overrides or {}), where, text)


def build_config(raw: dict[str, Any], where: str = "<config>", text: str = "") -> PipelineConfig:
    top_keys = set(PipelineConfig.model_fields) - {"stages", "source_text", "source_path"}
    top = {k: v for k, v in raw.items() if k in top_keys}
    sections: dict[str, StageConfig] = {}
    for key, value in raw.items():
        if key in top_keys:
            continue
        if key not in STAGES:
            known = sorted(top_keys | set(STAGES))
            raise ConfigError(f"config {where}: unknown key {key!r}; known keys: {', '.join(known)}")
        cls = stage_class(key).Config
        try:
            sections[key] = cls.model_validate(value or {})
        except ValidationError as e:
            raise ConfigError(_explain(where, key, cls, e)) from None
    try:
        cfg = PipelineConfig.model_validate({**top, "stages": sections, "source_text": text, "source_path": where})
    except ValidationError as e:
        raise ConfigError(_explain(where, None, PipelineConfig, e)) from None
    for name in cfg.pipeline:
        try:
            stage_class(name)  # unknown stage names fail here
        except ConfigError as e:
            raise ConfigError(f"config {where}: pipeline: {e}") from None
    return cfg


def _explain(where: str, section: str | None, model: type[BaseModel], err: ValidationError) -> str:
    first = err.errors()[0]
    loc = ".".join(str(p) for p in ((section,) if section else ()) + tuple(first["loc"]))
    msg = first["msg"]
    if first["type"] == "extra_forbidden":
        valid = _keys_at(model, first["loc"][:-1])
        close = difflib.get_close_matches(str(first["loc"][-1]), valid, n=1)
        msg = "unknown key" + (f"; did you mean {close[0]!r}?" if close else "") + \
              (f" (valid keys here: {', '.join(valid)})" if valid else "")
    elif "input" in first and not isinstance(first["input"], dict):
        msg += f" (got {first['input']!r})"
    more = f" (+{len(err.errors()) - 1} more)" if len(err.errors()) > 1 else ""
    return f"config {where}: {loc}: {msg}{more}"


def _keys_at(model: type[BaseModel], path: tuple[Any, ...]) -> list[str]:
    """The keys a config section takes at ``path`` inside ``model`` (empty: not a section)."""
    for part in path:
        field = model.model_fields.get(str(part))
        if field is None or not (isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)):
            return []
        model = field.annotation
    return sorted(k for k in model.model_fields if k not in ("stages", "source_text", "source_path"))
