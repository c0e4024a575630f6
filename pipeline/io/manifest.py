"""manifest.json (shards with row counts and sha256, config hash, package versions) and
``refinery verify OUT`` which re-checks every file against it."""

from __future__ import annotations

import argparse
import hashlib
import json
from datetime import datetime, timezone
from importlib import metadata
from typing import Any

from webrefinery.pipeline.core.errors import InputError
from webrefinery.pipeline.io.storage import PathLike, StoragePath, atomic_path, parquet_file

__all__ = ["atomic_path", "sha256_file", "verify", "write_json_atomic", "write_manifest"]

#: folder of the dedup index a run leaves for later runs' ``dedup.against`` (dedup/prior.py)
DEDUP_INDEX = "dedup_index"

PACKAGES = ["webrefinery", "pyarrow", "trafilatura", "fasttext-numpy2-wheel", "fastwarc", "opencc",
            "datasketch", "xxhash", "regex", "tokenizers", "pydantic", "ray", "numpy", "ftfy", "phonenumbers"]


def sha256_file(path: PathLike) -> str:
    h = hashlib.sha256()
    with StoragePath.of(path).open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def versions() -> dict[str, str]:
    out = {}
    for p in PACKAGES:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            continue
    return out


def file_entry(out_dir: StoragePath, path: StoragePath) -> dict[str, Any]:
    return {"path": path.relative_to(out_dir), "rows": parquet_file(path).metadata.num_rows,
            "bytes": path.stat().st_size, "sha256": sha256_file(path)}


def write_json_atomic(path: PathLike, obj: Any) -> None:
    """Write ``obj`` as JSON, whole or not at all (a local rename, or one PUT)."""
    StoragePath.of(path).write_text(json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=False) + "\n")


def write_manifest(out_dir: PathLike, shards: list[PathLike], rejected: list[PathLike],
                   config_hash: str) -> dict[str, Any]:
    out_dir = StoragePath.of(out_dir)
    shards, rejected = [StoragePath.of(p) for p in shards], [StoragePath.of(p) for p in rejected]
    manifest = {
        "shards": [file_entry(out_dir, p) for p in shards],
        "rejected": [file_entry(out_dir, p) for p in rejected],
        DEDUP_INDEX: [file_entry(out_dir, p) for p in (out_dir / DEDUP_INDEX).glob("*.parquet")],
        "config_hash": config_hash,
        "versions": versions(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    write_json_atomic(out_dir / "manifest.json", manifest)
    return manifest


def verify(out_dir: PathLike) -> list[str]:
    """Problems found in ``out_dir`` (a local directory or an fsspec URL; empty list = every
    file matches the manifest). Raises InputError when ``out_dir`` is not a run's output."""
    out_dir = StoragePath.of(out_dir)
    mpath = out_dir / "manifest.json"
    if not mpath.is_file():
        if not out_dir.is_dir():
            raise InputError(f"verify: {out_dir} does not exist or is not a directory: check the path")
        if (out_dir / "_work" / "run.json").is_file():
            return [f"{mpath} not found: the run has not finished (rerun the same command to finish it)"]
        raise InputError(f"verify: {mpath} not found: {out_dir} is not a refinery output")
    manifest = json.loads(mpath.read_text(encoding="utf-8"))
    problems = []
    work = out_dir / "_work"
    if work.is_dir() and not (work / "complete.json").is_file():
        problems.append("run incomplete: it stopped after manifest.json but before the card and _work/complete.json; "
                        "rerun the same command to finish it")
    for entry in manifest["shards"] + manifest["rejected"] + manifest.get(DEDUP_INDEX, []):
        p = out_dir / entry["path"]
        if not p.is_file():
            problems.append(f"{entry['path']}: missing")
        elif p.stat().st_size != entry["bytes"] or sha256_file(p) != entry["sha256"]:
            problems.append(f"{entry['path']}: checksum mismatch (file changed or corrupt)")
        elif parquet_file(p).metadata.num_rows != entry["rows"]:
            problems.append(f"{entry['path']}: row count differs from manifest")
    listed = {e["path"] for e in manifest["shards"]}
    for p in (out_dir / "data").glob("*.parquet"):
        if p.relative_to(out_dir) not in listed:
            problems.append(f"{p.relative_to(out_dir)}: not in manifest")
    return problems


def add_verify_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("verify", help="check every shard of OUT against manifest.json (sha256, rows)",
                       description="Check every file of a finished run against its manifest.json (sha256, "
                                   "rows); exit 1 with the problems found, 2 when OUT is not a refinery output.")
    p.add_argument("out", metavar="OUT", help="output directory of a run (a local path or an fsspec URL, e.g. s3://bucket/out)")
    p.set_defaults(func=_verify_cmd)


def _verify_cmd(args: argparse.Namespace) -> int:
    problems = verify(args.out)
    for line in problems:
        print(f"FAIL {line}")
    if not problems:
        m = json.loads((StoragePath.of(args.out) / "manifest.json").read_text())
        rows = sum(e["rows"] for e in m["shards"])
        print(f"OK {len(m['shards'])} shards, {rows} rows, {len(m['rejected'])} rejected files match manifest.json")
    return 1 if problems else 0
