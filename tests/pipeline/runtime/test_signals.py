"""Signals to a real ``refinery run --workers 2`` (issue 16, item 9): SIGTERM to the main
process and Ctrl-C (SIGINT to the whole process group) stop every pool worker, print one
line and no worker traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from conftest import ROOT, article, warc_record, write_warc

CORE = ROOT / "tests" / "data" / "core.yaml"  # read → urlfilter → extract → langid


@pytest.fixture(scope="module")
def slow_input(tmp_path_factory) -> Path:
    """Four WARC files of 2000 pages: tens of seconds of work for two workers."""
    d = tmp_path_factory.mktemp("slow")
    page = article("Town news")
    for f in range(4):
        write_warc(d / f"s{f}.warc.gz", [warc_record(f"http://site{f}.com/{i}", page) for i in range(2000)])
    return d


def pool_workers(proc: psutil.Process) -> list[psutil.Process]:
    return [p for p in proc.children(recursive=True) if "spawn_main" in " ".join(p.cmdline())]


def start_run(slow_input: Path, out: Path) -> tuple[subprocess.Popen, list[psutil.Process]]:
    """``refinery run --workers 2`` in its own session (so a process-group signal reaches it
    and its workers, as Ctrl-C in a terminal does), returned once both workers are up."""
    cmd = [sys.executable, "-m", "webrefinery.pipeline.cli", "run", "-c", str(CORE), "-i", str(slow_input),
           "-o", str(out), "--workers", "2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    main = psutil.Process(proc.pid)
    deadline = time.monotonic() + 120
    while len(pool_workers(main)) < 2:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the run did not start two workers: {proc.communicate()[1][-2000:]}")
        time.sleep(0.1)
    time.sleep(0.5)  # the workers are still starting (importing, loading models): the worst moment
    return proc, pool_workers(main)


def stop(proc: subprocess.Popen, workers: list[psutil.Process]) -> tuple[int, list[str]]:
    """Wait for the run to end; returns its exit code and its stderr lines other than
    progress bars. Fails (after killing them) if any worker is still alive."""
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        _, alive = psutil.wait_procs(workers, timeout=5)
        for p in alive:
            p.kill()
    assert not alive, f"workers still running after the main process ended: {[p.pid for p in alive]}"
    lines = [seg for line in err.splitlines() for seg in line.split("\r") if seg.strip()]
    return proc.returncode, [ln for ln in lines if not ln.startswith("[1/1] ")]


def test_sigterm_to_the_main_process_stops_every_worker(slow_input, tmp_path):
    proc, workers = start_run(slow_input, tmp_path / "out")
    proc.send_signal(signal.SIGTERM)
    code, lines = stop(proc, workers)
    assert code == 128 + signal.SIGTERM
    assert lines == ["refinery: terminated (SIGTERM); rerun the same command to resume"]


def test_ctrl_c_with_two_workers_prints_one_line(slow_input, tmp_path):
    proc, workers = start_run(slow_input, tmp_path / "out")
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal does on Ctrl-C: the whole process group
    code, lines = stop(proc, workers)
    assert code == 130
    assert lines == ["refinery: interrupted; rerun the same command to resume"]
