"""skip_final_gc: the collection at interpreter exit is skipped (a run's driver and pool
workers spent 0.3-0.6 s in it after their output was closed)."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = """
import gc
gc.disable()  # no collection before exit but the interpreter's own final one
from webrefinery.pipeline.core.exit import skip_final_gc
class Cycle:
    def __del__(self):
        print("collected", flush=True)
c = Cycle(); c.me = c; del c  # unreachable garbage only a collection can free
if {skip}:
    skip_final_gc(); skip_final_gc()
print("exit", flush=True)
"""


@pytest.mark.parametrize("skip", [False, True])
def test_the_collection_at_exit_is_skipped(skip):
    out = subprocess.run([sys.executable, "-c", PROBE.format(skip=skip)], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == (["exit"] if skip else ["exit", "collected"])
