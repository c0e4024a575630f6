"""StoragePath on a real S3 protocol server (moto server mode, see tests/conftest.py) and on
a local disk: whole-or-nothing commits, the conditional create of the lease (issue 17)."""

from __future__ import annotations

import json
import socket
import time

import pyarrow as pa
import pytest

from webrefinery.pipeline.core.errors import ConfigError
from webrefinery.pipeline.io.shards import AtomicParquetWriter
from webrefinery.pipeline.io.storage import StoragePath
from webrefinery.pipeline.runtime.lock import LOCK_FILE, RunLock


def test_a_streamed_file_appears_only_when_committed(s3_bucket):
    p = StoragePath.of(f"{s3_bucket}/out/x.bin")
    with p.open_commit() as f:
        f.write(b"a" * (6 * 2**20))  # more than one multipart part
        f.flush()
        assert not p.exists(), "a half-written object is visible"
    assert p.read_bytes() == b"a" * (6 * 2**20)
    q = StoragePath.of(f"{s3_bucket}/out/failed.bin")
    with pytest.raises(RuntimeError):
        with q.open_commit() as f:
            f.write(b"b" * 1000)
            raise RuntimeError("the writer died")
    assert not q.exists()


@pytest.mark.parametrize("where", ["local", "s3"])
def test_an_aborted_parquet_writer_leaves_nothing(where, tmp_path, request):
    root = str(tmp_path) if where == "local" else request.getfixturevalue("s3_bucket")
    w = AtomicParquetWriter(f"{root}/seg0/part-00000.parquet")
    w.write(pa.table({"id": ["a"], "text": ["hello"]}))
    w.abort()
    assert StoragePath.of(root).glob("seg0/*") == []


def test_parquet_bytes_are_the_same_on_s3_and_on_disk(s3_bucket, tmp_path):
    table = pa.table({"id": [str(i) for i in range(1000)], "text": ["some text"] * 1000})
    for root in (str(tmp_path), s3_bucket):
        w = AtomicParquetWriter(f"{root}/p.parquet")
        w.write(table)
        w.close()
    assert StoragePath.of(f"{s3_bucket}/p.parquet").read_bytes() == (tmp_path / "p.parquet").read_bytes()


def test_exclusive_create_is_a_conditional_put(s3_bucket):
    p = StoragePath.of(f"{s3_bucket}/_work/{LOCK_FILE}")
    p.create_exclusive(b"first")
    with pytest.raises(FileExistsError):
        p.create_exclusive(b"second")
    assert p.read_bytes() == b"first"


def _plant(work: StoragePath, **lease) -> None:
    base = {"host": "another-node", "pid": 1, "started": "2026-12-01T00:00:00Z", "heartbeat": time.time(),
            "token": "theirs"}
    (work / LOCK_FILE).write_text(json.dumps({**base, **lease}))


def test_lease_on_s3_refuses_a_live_holder_and_takes_over_a_stale_one(s3_bucket, caplog):
    work = StoragePath.of(f"{s3_bucket}/out/_work")
    with RunLock(work, heartbeat_s=0.05) as lock:
        lease = json.loads(lock.path.read_text())
        assert lease["host"] == socket.gethostname() and lease["token"] == lock.token
        with pytest.raises(FileExistsError):  # a second run's create fails on the server
            lock.path.create_exclusive(b"{}")
        time.sleep(0.3)
        assert json.loads(lock.path.read_text())["heartbeat"] > lease["heartbeat"]
    assert not lock.path.exists()
    _plant(work)  # a live run on another node
    with pytest.raises(ConfigError, match="in use by another run .host another-node"):
        RunLock(work).__enter__()
    _plant(work, heartbeat=time.time() - 3600)  # that node was lost
    with caplog.at_level("WARNING", logger="refinery"), RunLock(work) as lock:
        assert json.loads(lock.path.read_text())["token"] == lock.token
    assert "taking over the stale lease" in caplog.text and not lock.path.exists()


def test_a_lost_takeover_race_is_refused(s3_bucket, monkeypatch):
    """Two runs take over the same stale lease: the one whose token is not read back refuses."""
    work = StoragePath.of(f"{s3_bucket}/out/_work")
    _plant(work, heartbeat=time.time() - 3600)
    lock = RunLock(work)
    monkeypatch.setattr(RunLock, "_write", lambda self, started: _plant(work, token="the-other-run"))
    with pytest.raises(ConfigError, match="in use by another run"):
        lock.__enter__()
