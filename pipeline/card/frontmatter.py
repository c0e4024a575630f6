"""The card's YAML front matter (``huggingface_hub.DatasetCardData``, offline), in the format
the Hub reads (``configs``/``data_files``, ``dataset_info``), and the facts it shares with
the body: languages, Common Crawl snapshots, Hub dtypes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pyarrow as pa
from huggingface_hub import DatasetCardData

from webrefinery.pipeline.card.run import RunRecord

#: a language goes into the front matter when it holds at least this share of the documents
MIN_LANGUAGE_SHARE = 0.01
COMMON_CRAWL_TERMS = "https://commoncrawl.org/terms-of-use"
SNAPSHOT = re.compile(r"CC-MAIN-(\d{4})-(\d{2})")
#: Hub size buckets (huggingface.co/docs/hub/datasets-cards): upper bound → label
SIZE_CATEGORIES = [(10 ** 3, "n<1K"), (10 ** 4, "1K<n<10K"), (10 ** 5, "10K<n<100K"), (10 ** 6, "100K<n<1M"),
                   (10 ** 7, "1M<n<10M"), (10 ** 8, "10M<n<100M"), (10 ** 9, "100M<n<1B"),
                   (10 ** 10, "1B<n<10B"), (10 ** 11, "10B<n<100B"), (10 ** 12, "100B<n<1T")]


def hf_dtype(t: pa.DataType) -> str:
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "string"
    if pa.types.is_floating(t):
        return f"float{t.bit_width}"
    if pa.types.is_timestamp(t):
        return f"timestamp[{t.unit}]"
    return str(t)


def size_category(n: int) -> str:
    return next((label for bound, label in SIZE_CATEGORIES if n < bound), "n>1T")


def snapshots(files: list[str]) -> dict[str, int]:
    """Common Crawl snapshot (``CC-MAIN-2020-34``) → number of input files named after it."""
    out: dict[str, int] = {}
    for f in files:
        m = SNAPSHOT.search(Path(f).name) or SNAPSHOT.search(f)
        if m:
            out[m.group(0)] = out.get(m.group(0), 0) + 1
    return dict(sorted(out.items()))


def card_languages(languages: dict[str, dict[str, int]]) -> list[str]:
    """Language codes with at least ``MIN_LANGUAGE_SHARE`` of the documents, largest first."""
    total = sum(v["docs"] for v in languages.values())
    keep = [(k, v["docs"]) for k, v in languages.items()
            if k != "unknown" and total and v["docs"] / total >= MIN_LANGUAGE_SHARE]
    return [k for k, _ in sorted(keep, key=lambda kv: (-kv[1], kv[0]))]


def front_matter(run: RunRecord, license: str, pretty_name: str) -> DatasetCardData:
    out = run.stats["output"]
    docs = sum(e["rows"] for e in run.manifest["shards"])
    langs = card_languages(out["languages"])
    extra: dict[str, Any] = {}
    if license == "other":
        extra = {"license_name": "common-crawl-terms-of-use", "license_link": COMMON_CRAWL_TERMS}
    info = {
        "config_name": "default",
        "features": [{"name": f.name, "dtype": hf_dtype(f.type)} for f in run.schema],
        "splits": [{"name": "train", "num_examples": docs}],
        "download_size": sum(e["bytes"] for e in run.manifest["shards"]),
    }
    return DatasetCardData(
        pretty_name=pretty_name,
        language=langs or None,
        license=license,
        annotations_creators=["no-annotation"],
        language_creators=["found"],
        multilinguality=("multilingual" if len(langs) > 1 else "monolingual") if langs else None,
        size_categories=[size_category(docs)],
        source_datasets=["original"],
        task_categories=["text-generation"],
        task_ids=["language-modeling"],
        tags=["webrefinery", "web-crawl", "pretraining"]
        + (["common-crawl"] if snapshots(run.stats["input"]["files"]) else []),
        configs=[{"config_name": "default", "data_files": [{"split": "train", "path": "data/*.parquet"}]}],
        dataset_info=info,
        **extra,
    )
