"""One run per output directory: a lease file ``OUT/_work/lock.json`` (host, pid, start,
heartbeat), created exclusively and refreshed while the run works.

A second run on the same output is refused at once, naming the holder. A lease is stale —
and taken over with a warning — when its process is gone (same host) or its heartbeat is
older than ``stale_after_s`` (another host: it cannot be asked). Object-storage outputs
(issue 17) will need the same lease written with a conditional put.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from webrefinery.pipeline.core.errors import ConfigError
from webrefinery.pipeline.io.manifest import write_json_atomic

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
    """The lease of one run on ``work_dir``; use as a context manager."""

    work_dir: Path
    heartbeat_s: float = 10.0
    stale_after_s: float = 120.0
    _stop: threading.Event = field(default_factory=threading.Event, init=False)
    _thread: threading.Thread | None = field(default=None, init=False)

    @property
    def path(self) -> Path:
        return self.work_dir / LOCK_FILE

    def holder(self) -> dict[str, Any] | None:
        """The live lease of another run, or None (no lease, or a stale one)."""
        try:
            lease = json.loads(self.path.read_text(encoding="utf-8"))
        except (FileNotFoundError, NotADirectoryError):
            return None
        except json.JSONDecodeError:  # created this instant by a run that has not written it yet
            if time.time() - self.path.stat().st_mtime > self.stale_after_s:
                return None
            return {"host": "?", "pid": "?", "started": "just now"}
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

    @staticmethod
    def _lease(started: str) -> dict[str, Any]:
        return {"host": socket.gethostname(), "pid": os.getpid(), "started": started, "heartbeat": time.time()}

    def _write(self, started: str) -> None:
        write_json_atomic(self.path, self._lease(started))

    def __enter__(self) -> "RunLock":
        self.work_dir.mkdir(parents=True, exist_ok=True)
        started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            self.refuse_if_held()
            log.warning("taking over the stale lease %s", self.path)
            self._write(started)
        else:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(self._lease(started), f)
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
        self.path.unlink(missing_ok=True)
