"""Executors: where tasks and reduces run (local process pool, Ray)."""
