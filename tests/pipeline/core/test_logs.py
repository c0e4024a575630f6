"""Warnings raised in pool workers print in the main process with the ``refinery: WARNING:``
prefix, on lines of their own between the progress bar's redraws (issue 16, item 13)."""

from __future__ import annotations

import gzip
import subprocess
import sys

import pytest

from conftest import ROOT, article, warc_record

CORE = ROOT / "tests" / "data" / "core.yaml"  # read → urlfilter → extract → langid


@pytest.mark.slow
def test_worker_warnings_are_prefixed_and_do_not_tear_the_progress_bar(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for name in ("a", "b"):  # two files: two tasks, so the run uses the process pool
        members = [gzip.compress(warc_record(f"http://{name}.com/{i}", article(f"News {i}")), mtime=0)
                   for i in range(3)]
        damaged = bytearray(members[1])
        damaged[40:80] = bytes(40)  # a corrupt gzip member: the reader warns and skips it
        (src / f"{name}.warc.gz").write_bytes(members[0] + bytes(damaged) + members[2])
    cmd = [sys.executable, "-m", "webrefinery.pipeline.cli", "run", "-c", str(CORE), "-i", str(src),
           "-o", str(tmp_path / "out"), "--workers", "2"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    # a progress bar redraws with "\r"; a log line printed through tqdm starts a segment of its own
    segments = [seg for line in res.stderr.splitlines() for seg in line.split("\r")]
    warnings = [seg for seg in segments if "WARNING" in seg]
    assert len([w for w in warnings if ".warc.gz @ " in w]) == 2, res.stderr[-3000:]
    assert all(w.startswith("refinery: WARNING: ") for w in warnings), warnings
