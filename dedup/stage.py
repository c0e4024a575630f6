"""The ``dedup`` stage: exact, sub-document and MinHash-LSH near-duplicate removal.

Recipes: exact match on normalised text (CCNet, Wenzek et al. 2020; RefinedWeb, Penedo et
al. 2023); repeated lines / three-sentence spans (C4, Raffel et al. 2020; RefinedWeb's
line-wise corrections that drop a document when they remove more than 5% of it); MinHash
(Broder 1997) with LSH banding at Jaccard 0.8 over word 5-grams (RefinedWeb, FineWeb,
Penedo et al. 2024), character 5-grams for Chinese and Japanese.

A :class:`~webrefinery.pipeline.core.stage.GlobalStage`: ``collect`` computes small keys per batch (hashes,
signature, length, quality), ``reduce`` clusters the whole corpus (locally or on Ray) and
writes decisions, ``process`` applies them: removed documents go to ``rejected/`` with
reason ``exact_dup`` / ``near_dup`` and ``duplicate_of`` = the kept document's id in their
metadata; every cluster member gets ``dup_cluster`` (the kept id) and ``dup_cluster_size``.
(The kept id is in metadata, not in the reason, so stats.json's drop reasons stay a short
list.) Counters: ``exact_removed``, ``near_removed``, ``cluster_size:N`` (clusters of N).

``against``: documents that duplicate one of an earlier output are removed too
(``exact_dup_prior`` / ``near_dup_prior``, counters ``exact_prior_removed`` /
``near_prior_removed``), from the index every run writes to ``OUT/dedup_index/``
(:mod:`webrefinery.dedup.prior`).
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, model_validator

from webrefinery.pipeline.core.card import Block, StageCard, Table, num, pct
from webrefinery.dedup.decisions import Decisions, decisions_path, id_keys
from webrefinery.dedup.exact import ExactMode, exact_hashes
from webrefinery.dedup.keys import sig_array
from webrefinery.dedup.lines import UNITS, RepeatedUnits, UnitMode, unit_hashes
from webrefinery.dedup.minhash import lsh_params, signatures
from webrefinery.dedup.prior import check_settings, prior_path, write_index, write_prior
from webrefinery.dedup.shingles import batch_shingles, char_mode_mask, word_tokens
from webrefinery.pipeline.core.dataflow import Dataflow
from webrefinery.pipeline.core.schema import set_column
from webrefinery.pipeline.core.stage import PROBE_TEXT, GlobalStage, StageConfig, StageResult

log = logging.getLogger("refinery")
#: rows of the card's cluster-size table; bigger clusters are summed in one last row
CARD_CLUSTER_ROWS = 20


class DedupConfig(StageConfig):
    """Config section ``dedup:``."""

    #: exact duplicates of the normalised text (``words``: case/whitespace/punctuation-insensitive)
    exact: bool = True
    exact_normalize: ExactMode = "words"
    #: MinHash-LSH near duplicates
    near: bool = True
    #: Jaccard similarity of duplicates (RefinedWeb / FineWeb: 0.8 on 5-grams)
    threshold: float = Field(0.8, gt=0.0, lt=1.0)
    num_perm: int = Field(128, ge=16, le=1024)
    #: LSH bands × rows; null = datasketch's optimum for threshold/num_perm/weights
    bands: int | None = Field(None, ge=1)
    rows: int | None = Field(None, ge=1)
    #: weights of false positives / negatives in the choice of bands × rows. Recall-heavy by
    #: default (16 × 8 at 0.8: P(candidate | J=0.8) = 0.95) because verify_threshold removes
    #: the extra candidates; 0.5/0.5 (9 × 13) finds only ~40 % of pairs at J = 0.8.
    fp_weight: float = Field(0.05, ge=0.0, le=1.0)
    fn_weight: float = Field(0.95, ge=0.0, le=1.0)
    seed: int = 1
    #: word n-grams for space-delimited languages, character n-grams for char_languages
    ngram: int = Field(5, ge=1)
    char_ngram: int = Field(5, ge=1)
    char_languages: list[str] = ["zh", "ja"]
    #: keep a candidate pair only when its signature Jaccard estimate reaches this (null = off)
    verify_threshold: float | None = Field(0.7, gt=0.0, le=1.0)
    #: order within a cluster (first is kept); the smallest id breaks the last tie
    keep: list[Literal["quality_score", "length"]] = ["quality_score", "length"]
    #: sub-document dedup (C4 / RefinedWeb): "line" or "span" (three sentences); off by default
    subdoc: UnitMode = "off"
    #: units shorter than this (normalised characters) are never removed (short lines are exempt)
    subdoc_min_chars: int = Field(50, ge=1)
    #: a unit found in more than this many documents is removed from all but one
    subdoc_max_docs: int = Field(1, ge=1)
    #: RefinedWeb: drop the whole document when removals take more than 5 % of its characters
    subdoc_max_removed_frac: float | None = Field(0.05, gt=0.0, le=1.0)
    #: in-memory sort budget of the local reduce; beyond it band keys spill to disk partitions
    memory_budget_mb: int = Field(2048, ge=16)
    #: distributed reduce (on an executor with a cluster): shuffle partitions (null = 2 × its CPUs)
    partitions: int | None = Field(None, ge=1)
    #: earlier outputs (local or fsspec): documents duplicating theirs are removed (dedup/prior.py)
    against: list[str] = []
    #: write OUT/dedup_index/ (keys of the kept documents) for later runs' ``against``
    write_index: bool = True

    @model_validator(mode="after")
    def _bands_rows(self) -> "DedupConfig":
        if (self.bands is None) != (self.rows is None):
            raise ValueError("give both dedup.bands and dedup.rows, or neither")
        if self.bands is not None and self.bands * self.rows > self.num_perm:
            raise ValueError(f"bands × rows = {self.bands * self.rows} exceeds num_perm = {self.num_perm}")
        if not (self.exact or self.near):
            raise ValueError("dedup needs exact or near (or both) switched on")
        return self

    def lsh(self) -> tuple[int, int]:
        if self.bands is not None:
            return self.bands, self.rows
        return lsh_params(self.threshold, self.num_perm, self.fp_weight, self.fn_weight)

    def index_settings(self) -> dict[str, Any]:
        """What the keys of a dedup index depend on: two runs' indices match only if equal."""
        bands, rows = self.lsh()
        return {"version": 1, "exact_normalize": self.exact_normalize, "near": self.near, "num_perm": self.num_perm,
                "seed": self.seed, "bands": bands, "rows": rows, "ngram": self.ngram, "char_ngram": self.char_ngram,
                "char_languages": sorted(self.char_languages)}


class Dedup(GlobalStage):
    name = "dedup"
    Config = DedupConfig
    requires = ("id", "text")
    backend = "datasketch"
    probe = {"id": ["probe"], "text": [PROBE_TEXT], "language": ["en"]}
    card = StageCard(
        title="Deduplication",
        missing="Deduplication did not run in this pipeline: the dataset may contain exact and near-duplicate "
                "documents (mirrors, boilerplate pages, syndicated news).",
        notes={"limitations": "Deduplication keeps one document per near-duplicate cluster; templated pages that "
                              "differ only slightly may be removed, and paraphrased duplicates remain."},
        absent={"limitations": "Duplicates were not removed."},
        counters=r"^(exact_removed|near_removed|exact_prior_removed|near_prior_removed|cluster_size:\d+)$")

    @classmethod
    def card_section(cls, stats: dict[str, Any], output: dict[str, Any]) -> list[Block]:
        """Exact and near duplicates removed, and the duplicate clusters by size."""
        c = stats["counters"]
        blocks: list[Block] = [Table.of(["duplicates removed", "docs", "% of dedup input"], [
            [label, num(c.get(k, 0)), pct(c.get(k, 0), stats["docs_in"])]
            for k, label in (("exact_removed", "exact"), ("near_removed", "near (MinHash LSH)"),
                             ("exact_prior_removed", "exact, of an earlier output"),
                             ("near_prior_removed", "near, of an earlier output")) if k in c or "prior" not in k])]
        sizes = sorted((int(k.split(":")[1]), v) for k, v in c.items() if k.startswith("cluster_size:"))
        if sizes:
            rows = [[num(k), num(v)] for k, v in sizes[:CARD_CLUSTER_ROWS]]
            rest = sizes[CARD_CLUSTER_ROWS:]
            if rest:
                rows.append([f"≥ {num(rest[0][0])}", num(sum(v for _, v in rest))])
            blocks += ["Duplicate clusters by size (documents per cluster; one document of each cluster is kept):",
                       Table.of(["cluster size", "clusters"], rows)]
        return blocks

    decisions: Decisions | None = None
    units: RepeatedUnits | None = None
    prior: Decisions | None = None

    def check(self) -> None:
        """Earlier outputs of ``against`` exist and their indices have this run's settings."""
        for d in self.config.against:
            check_settings(d, self.config.index_settings())

    # -- map pass ---------------------------------------------------------------------------
    def collect(self, table: pa.Table) -> pa.Table:
        c: DedupConfig = self.config
        texts = table.column("text").combine_chunks()
        words = word_tokens(texts)
        cols = {
            "id": table.column("id"),
            "quality_score": table.column("quality_score") if "quality_score" in table.column_names
            else pa.nulls(table.num_rows, pa.float32()),
            "length": pc.utf8_length(pc.fill_null(texts, "")).cast(pa.int32()),
            "exact": pa.array(exact_hashes(texts, c.exact_normalize, words)),
        }
        if c.near:
            langs = table.column("language").combine_chunks() if "language" in table.column_names else None
            mask = char_mode_mask(texts, langs, tuple(c.char_languages))
            sh = batch_shingles(texts, mask, c.ngram, c.char_ngram, words)
            cols["sig"] = sig_array(signatures(sh, c.num_perm, c.seed))
        if c.subdoc != "off":
            cols["units"] = unit_hashes(texts.to_pylist(), c.subdoc, c.subdoc_min_chars)
        return pa.table(cols)

    # -- global step ------------------------------------------------------------------------
    def reduce(self, key_files: list[Path], work_dir: Path, flow: Dataflow | None = None) -> None:
        c: DedupConfig = self.config
        bands, rows = c.lsh()
        quiet = self.context.quiet if self.context else False
        kwargs = dict(near=c.near, exact=c.exact, num_perm=c.num_perm, bands=bands, rows=rows,
                      verify_threshold=c.verify_threshold, keep=list(c.keep), quiet=quiet,
                      subdoc_max_docs=c.subdoc_max_docs if c.subdoc != "off" else None)
        work_dir.mkdir(parents=True, exist_ok=True)
        if flow is not None:
            from webrefinery.dedup.distributed_reduce import reduce_distributed
            figures = reduce_distributed(flow, key_files, work_dir, partitions=c.partitions, **kwargs)
        else:
            from webrefinery.dedup.local_reduce import reduce_local
            figures = reduce_local(key_files, work_dir, budget_bytes=c.memory_budget_mb * 2**20, **kwargs)
        keys = dict(near=c.near, num_perm=c.num_perm, bands=bands, rows=rows)
        if c.against:
            figures["prior_removed"] = write_prior(key_files, work_dir, list(c.against), **keys)
        if c.write_index and self.context is not None:
            figures["index_docs"] = write_index(key_files, work_dir, self.context.output_dir, c.index_settings(),
                                                prior=bool(c.against), flow=flow, **keys)
        log.info("dedup: %s (LSH %d bands × %d rows)", figures, bands, rows)

    def load(self, work_dir: Path, key_file: str | None) -> None:
        """The decisions (and prior matches) of the documents keyed in ``key_file`` (none when
        it is None: no document of the task's input reached dedup); the repeated units, which
        any document may contain, once."""
        self.decisions = Decisions.load(decisions_path(work_dir, key_file)) if key_file else Decisions.empty()
        if self.config.subdoc != "off" and self.units is None:
            self.units = RepeatedUnits.load(work_dir / UNITS)
        if self.config.against:
            self.prior = Decisions.load(prior_path(work_dir, key_file)) if key_file else Decisions.empty()

    # -- apply ------------------------------------------------------------------------------
    def process(self, table: pa.Table) -> StageResult:
        if self.decisions is None:
            raise RuntimeError("dedup: process() called before load(); the reduce step has not run")
        counters: Counter = Counter()
        ids = table.column("id").combine_chunks()
        rows, drow = self.decisions.lookup(ids)
        prows, pdrow = self.prior.lookup(ids) if self.prior is not None else (rows[:0], drow[:0])
        reasons: list[str | None] = [None] * table.num_rows
        if len(rows) == 0 and len(prows) == 0 and self.units is None:
            return StageResult(table, None, counters)
        d = self.decisions.table.take(pa.array(drow)).to_pydict()
        meta = (table.column("metadata").to_pylist() if "metadata" in table.column_names
                else [None] * table.num_rows)
        for r, kept, cluster, size, reason in zip(rows.tolist(), d["kept"], d["cluster"], d["cluster_size"],
                                                  d["reason"]):
            m = json.loads(meta[r]) if meta[r] else {}
            m["dup_cluster"] = cluster
            m["dup_cluster_size"] = size
            if kept:
                counters[f"cluster_size:{size}"] += 1
            else:
                m["duplicate_of"] = cluster
                reasons[r] = reason
                counters["exact_removed" if reason == "exact_dup" else "near_removed"] += 1
            meta[r] = json.dumps(m, ensure_ascii=False, sort_keys=True)
        p = self.prior.table.take(pa.array(pdrow)).to_pydict() if len(prows) else {"prior_id": [], "reason": []}
        for r, prior_id, reason in zip(prows.tolist(), p["prior_id"], p["reason"]):
            m = json.loads(meta[r]) if meta[r] else {}
            m["duplicate_of"] = prior_id  # a document of an earlier output (dedup.against)
            reasons[r] = reason
            counters["exact_prior_removed" if reason == "exact_dup_prior" else "near_prior_removed"] += 1
            meta[r] = json.dumps(m, ensure_ascii=False, sort_keys=True)
        table = set_column(table, "metadata", pa.array(meta, pa.string()))
        if self.units is not None:
            table = self._strip_units(table, ids, reasons, counters)
        return self.split(table, reasons, counters)

    def _strip_units(self, table: pa.Table, ids: pa.Array, reasons: list[str | None], counters: Counter) -> pa.Table:
        """Remove repeated lines/spans from the documents that stay (RefinedWeb's 5 % rule)."""
        c: DedupConfig = self.config
        texts = table.column("text").to_pylist()
        keys = id_keys(ids)
        for r, text in enumerate(texts):
            if reasons[r] is not None or not text:
                continue
            new, n = self.units.strip(text, int(keys[r]), c.subdoc, c.subdoc_min_chars)
            if not n:
                continue
            counters["subdoc_units_removed"] += n
            if c.subdoc_max_removed_frac is not None and 1 - len(new) / len(text) > c.subdoc_max_removed_frac:
                reasons[r] = "subdoc_dup"
            else:
                texts[r] = new
                counters["subdoc_docs_changed"] += 1
        return set_column(table, "text", pa.array(texts, pa.string()))
