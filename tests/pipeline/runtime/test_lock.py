"""One run per output directory: the lease in OUT/_work/lock.json (issue 16, item 1)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

from conftest import ROOT
from webrefinery.pipeline.runtime.lock import LOCK_FILE, RunLock

PII_ONLY = ROOT / "tests" / "data" / "pii_only.yaml"


def write_input(path):
    path.write_text(json.dumps({"id": "a", "text": "hello world", "language": "en"}) + "\n")
    return path


def plant_lease(out, **lease):
    (out / "_work").mkdir(parents=True, exist_ok=True)
    base = {"host": socket.gethostname(), "pid": os.getppid(), "started": "2026-12-01T00:00:00Z",
            "heartbeat": time.time()}
    (out / "_work" / LOCK_FILE).write_text(json.dumps({**base, **lease}))


def test_a_second_run_on_a_live_output_is_refused_and_deletes_nothing(cli, tmp_path):
    src, out = write_input(tmp_path / "in.jsonl"), tmp_path / "out"
    assert cli("run", "-c", PII_ONLY, "-i", src, "-o", out, "-q")[0] == 0
    assert not (out / "_work" / LOCK_FILE).exists()  # released at the end
    plant_lease(out)  # the parent process (alive) holds the output
    for extra in ([], ["--overwrite"]):
        code, _, err = cli("run", "-c", PII_ONLY, "-i", src, "-o", out, *extra)
        assert code == 2 and "in use by another run" in err and f"pid {os.getppid()}" in err
    assert (out / "manifest.json").is_file()


def test_a_lease_of_a_dead_process_or_an_old_heartbeat_is_taken_over(cli, tmp_path):
    src, out = write_input(tmp_path / "in.jsonl"), tmp_path / "out"
    assert cli("run", "-c", PII_ONLY, "-i", src, "-o", out, "-q")[0] == 0
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    plant_lease(out, pid=dead.pid)  # a run on this host that was killed
    code, _, err = cli("run", "-c", PII_ONLY, "-i", src, "-o", out)
    assert code == 0 and "taking over the stale lease" in err
    plant_lease(out, host="another-node", pid=1, heartbeat=time.time() - 3600)  # a lost node
    code, _, err = cli("run", "-c", PII_ONLY, "-i", src, "-o", out)
    assert code == 0 and "taking over the stale lease" in err
    assert not (out / "_work" / LOCK_FILE).exists()


def test_the_lease_heartbeat_is_refreshed_while_the_run_works(tmp_path):
    with RunLock(tmp_path / "_work", heartbeat_s=0.05) as lock:
        first = json.loads(lock.path.read_text())["heartbeat"]
        time.sleep(0.3)
        assert json.loads(lock.path.read_text())["heartbeat"] > first
        assert lock.holder() is None  # our own lease does not block us
    assert not lock.path.exists()
