"""One run per output directory: a lease file ``OUT/_work/lock.json`` (host, pid, start,
heartbeat, a random token), created exclusively and refreshed while the run works. It stays
with the output's other markers when ``executor.work_dir`` puts the work files elsewhere, so
two runs on one output are refused whatever work directories they were given.

Created exclusively: ``O_EXCL`` on a local disk; on S3 a conditional PUT (``If-None-Match:
*``, which s3fs sends for mode ``"xb"``), so of two runs starting together exactly one gets
the lease. A second run on the same output is refused at once, naming the holder.

Stale-lease takeover: a lease is stale when its process is gone (same host) or its
heartbeat is older than ``stale_after_s`` (another host: it cannot be asked). It is then
overwritten with a warning and read back: the run whose token is in the file holds the
lease; one that finds another token refuses, like any second run. On a local disk the
overwrite is a rename; on an object store it is a plain PUT (S3 has no compare-and-swap
on a key that exists), so two runs that take over the *same stale* lease within the same
moment both read back the last writer's token and only that run goes on — best effort, as
good as the store's read-after-write consistency (strong on S3, GCS and Azure).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from webrefinery.pipeline.core.errors import ConfigError
from webrefinery.pipeline.io.manifest import write_json_atomic
from webrefinery.pipeline.io.storage import PathLike, StoragePath

log = logging.getLogger("refinery")

LOCK_FILE = "lock.json"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        pass
    return True


@dataclass
class RunLock:
    """The lease of one run in ``work_dir`` (the output's ``_work``: a local directory or an
    fsspec URL); use as a context manager."""

    work_dir: PathLike
    heartbeat_s: float = 10.0
    stale_after_s: float = 120.0
    token: str = field(default_factory=lambda: uuid.uuid4().hex, init=False)
    _stop: threading.Event = field(default_factory=threading.Event, init=False)
    _thread: threading.Thread | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.work_dir = StoragePath.of(self.work_dir)

    @property
    def path(self) -> StoragePath:
        return self.work_dir / LOCK_FILE

    def _read(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None

    def holder(self) -> dict[str, Any] | None:
        """The live lease of another run, or None (no lease, this run's own, or a stale one)."""
        try:
            lease = self._read()
        except json.JSONDecodeError:  # created this instant (local disk) by a run that has not written it yet
            if time.time() - self.path.stat().st_mtime > self.stale_after_s:
                return None
            return {"host": "?", "pid": "?", "started": "just now"}
        if lease is None or lease.get("token") == self.token:
            return None
        same_host = lease.get("host") == socket.gethostname()
        if same_host and lease.get("pid") == os.getpid():
            return None
        if same_host and not _alive(int(lease.get("pid", -1))):
            return None
        if time.time() - float(lease.get("heartbeat", 0)) > self.stale_after_s:
            return None
        return lease

    def refuse_if_held(self) -> None:
        lease = self.holder()
        if lease is not None:
            raise ConfigError(f"output {self.work_dir.parent} is in use by another run (host {lease['host']}, pid "
                              f"{lease['pid']}, started {lease['started']}); wait for it to finish, or stop it. A "
                              f"lease whose process is gone, or whose heartbeat is older than {self.stale_after_s:.0f} s, "
                              f"is taken over ({self.path})")

    def _lease(self, started: str) -> dict[str, Any]:
        return {"host": socket.gethostname(), "pid": os.getpid(), "started": started, "heartbeat": time.time(),
                "token": self.token}

    def _write(self, started: str) -> None:
        write_json_atomic(self.path, self._lease(started))

    def __enter__(self) -> "RunLock":
        self.work_dir.mkdir()
        started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        try:
            self.path.create_exclusive(json.dumps(self._lease(started)).encode())
        except FileExistsError:
            self.refuse_if_held()
            log.warning("taking over the stale lease %s", self.path)
            self._write(started)
            self.refuse_if_held()  # read back: another run taking it over at the same moment wins
        self._thread = threading.Thread(target=self._beat, args=(started,), daemon=True, name="refinery-lease")
        self._thread.start()
        return self

    def _beat(self, started: str) -> None:
        while not self._stop.wait(self.heartbeat_s):
            self._write(started)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if (self._read() or {}).get("token") == self.token:
            self.path.unlink(missing_ok=True)
