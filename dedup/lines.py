"""Sub-document exact dedup: lines or three-sentence spans repeated across the corpus.

C4 (Raffel et al. 2020) keeps one copy of every three-sentence span that occurs more than
once; RefinedWeb (Penedo et al. 2023) removes repeated lines and drops a document when such
corrections remove more than 5 % of it. A unit (line or span) whose normalised text
(lowercased, whitespace collapsed) is found in more than ``max_docs`` documents is removed
from every document but the first one (smallest corpus index) that is kept by document-level
dedup. Units shorter than ``min_chars`` are never touched: short lines ("Share", "Home",
"Thank you.") are common in good documents too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import xxhash

from webrefinery.pipeline.io.storage import append_array, read_table, write_table
from webrefinery.pipeline.text.sentences import LINE_SPLIT as _SENTENCE_END


UnitMode = Literal["off", "line", "span"]
UNITS = "units.parquet"
_SPACE = re.compile(r"\s+")
_HSPACE = re.compile(r"[^\S\n]+")


def units(text: str, mode: UnitMode, min_chars: int) -> list[tuple[int, int, int]]:
    """(start, end, hash) of each unit of ``text`` long enough to be deduplicated: its lines,
    or every window of three consecutive sentences within a line (overlapping, so a span is
    found wherever it starts)."""
    out = []
    pos = 0
    for line in text.split("\n"):
        if mode == "line":
            pieces = [(pos, pos + len(line))]
        else:
            cuts = [0] + [m.end() for m in _SENTENCE_END.finditer(line) if 0 < m.end() < len(line)] + [len(line)]
            cuts = sorted(set(cuts))  # sentence boundaries; spans are all windows of 3 sentences
            pieces = [(pos + cuts[i], pos + cuts[min(i + 3, len(cuts) - 1)])
                      for i in range(max(1, len(cuts) - 3))]
        for a, b in pieces:
            norm = _SPACE.sub(" ", text[a:b].lower()).strip()
            if len(norm) >= min_chars:
                out.append((a, b, xxhash.xxh3_64_intdigest(norm.encode())))
        pos += len(line) + 1
    return out


def unit_hashes(texts: list[str | None], mode: UnitMode, min_chars: int) -> pa.Array:
    """list<uint64> column: the unit hashes of each document (for the key table)."""
    return pa.array([[h for _, _, h in units(t or "", mode, min_chars)] for t in texts], pa.list_(pa.uint64()))


class UnitSpill:
    """(unit hash, doc) pairs spilled to ``parts`` files by hash, so each partition — all
    the documents of its hashes — can be counted in memory on its own."""

    def __init__(self, spill_dir: Path, parts: int):
        spill_dir.mkdir(parents=True, exist_ok=True)
        self.paths = [spill_dir / f"units-{p:04d}.bin" for p in range(parts)]
        self.files = [open(p, "wb") for p in self.paths]

    def add(self, hashes: np.ndarray, docs: np.ndarray) -> None:
        part = (hashes % np.uint64(len(self.files))).astype(np.int64)
        for p, f in enumerate(self.files):
            sel = part == p
            rec = np.empty(int(sel.sum()), [("h", np.uint64), ("d", np.int64)])
            rec["h"], rec["d"] = hashes[sel], docs[sel]
            append_array(f, rec)

    def repeated(self, removed: np.ndarray, max_docs: int) -> tuple[np.ndarray, np.ndarray]:
        """(hash, keeper doc) of units in more than ``max_docs`` documents that are not
        ``removed`` (bool per doc); the keeper is the smallest such document index."""
        for f in self.files:
            f.close()
        hs, ks = [np.zeros(0, np.uint64)], [np.zeros(0, np.int64)]
        for path in self.paths:
            rec = np.fromfile(path, [("h", np.uint64), ("d", np.int64)])
            path.unlink()
            rec = np.unique(rec[~removed[rec["d"]]])  # sorted by (hash, doc); one pair per doc
            first = np.ones(len(rec), bool)
            first[1:] = rec["h"][1:] != rec["h"][:-1]
            run = np.cumsum(first) - 1
            rep = first & (np.bincount(run)[run] > max_docs) if len(rec) else first
            hs.append(rec["h"][rep])
            ks.append(rec["d"][rep])
        return np.concatenate(hs), np.concatenate(ks)


def write_units(path: Path, hashes: np.ndarray, keeper_keys: np.ndarray) -> None:
    order = np.argsort(hashes, kind="stable")
    write_table(path, pa.table({"hash": pa.array(hashes[order]), "keeper": pa.array(keeper_keys[order])}))


@dataclass
class RepeatedUnits:
    hashes: np.ndarray
    keepers: np.ndarray

    @classmethod
    def load(cls, path: Path) -> "RepeatedUnits":
        t = read_table(path)
        return cls(t.column("hash").to_numpy(), t.column("keeper").to_numpy())

    def strip(self, text: str, doc_key: int, mode: UnitMode, min_chars: int) -> tuple[str, int]:
        """``text`` without its repeated units (unless this document keeps them), and the
        number of units removed."""
        found = units(text, mode, min_chars)
        if not found or len(self.hashes) == 0:
            return text, 0
        h = np.array([u[2] for u in found], np.uint64)
        pos = np.minimum(np.searchsorted(self.hashes, h), len(self.hashes) - 1)
        drop = (self.hashes[pos] == h) & (self.keepers[pos] != np.uint64(doc_key))
        if not drop.any():
            return text, 0
        pieces, last = [], 0
        for a, b in sorted((a, b) for (a, b, _), dr in zip(found, drop) if dr):  # spans may overlap
            if a > last:
                pieces.append(text[last:a])
            last = max(last, b)
        pieces.append(text[last:])
        lines = ("".join(pieces)).split("\n")
        if mode == "span":
            lines = [_HSPACE.sub(" ", line).strip() for line in lines]
        return "\n".join(line for line in lines if line.strip()), int(drop.sum())
