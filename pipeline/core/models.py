"""Model files loaded by stages: one loader per backend."""

from __future__ import annotations

from typing import Any


def load_fasttext(path: str) -> Any:
    """A fastText model, with fastText's ``load_model`` warning on stderr silenced."""
    import fasttext

    fasttext.FastText.eprint = lambda *a, **k: None  # silence the load_model warning
    return fasttext.load_model(path)
