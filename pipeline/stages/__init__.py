"""The pipeline's own stages (filters/ and dedup/ hold the others)."""
