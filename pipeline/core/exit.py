"""A faster interpreter exit for processes that hold a large heap (models, parsed pages)."""

from __future__ import annotations

import atexit
import gc


def skip_final_gc() -> None:
    """At interpreter exit, skip the garbage collection of every object alive then:
    ``gc.freeze`` (run as the first exit handler) moves them to the permanent generation.
    A run's driver and pool workers spent 0.3–0.6 s each in that collection after their last
    output file was closed (benchmarks/RESULTS.md, issue 14, session 7); the memory is the
    operating system's to reclaim. Registering again replaces the earlier registration."""
    atexit.unregister(gc.freeze)
    atexit.register(gc.freeze)
