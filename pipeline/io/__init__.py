"""I/O: input readers (WARC, JSONL, Parquet), charsets, Parquet shards, the manifest."""
