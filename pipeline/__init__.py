"""webrefinery: web crawl → clean, deduplicated, PII-redacted Parquet shards."""

__version__ = "0.1.0"
