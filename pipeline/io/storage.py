"""Where a run writes: one path type for every fsspec filesystem (local disk, ``s3://``,
``gs://``, ``az://``, ``hdfs://``), so the runner, the workers, dedup and the card have one
code path for all of them.

Committing a file (a reader never sees half of one):

- on a local disk it is written to ``NAME.tmp`` beside it and renamed into place
  (:func:`atomic_path`, ``os.replace`` is atomic on POSIX);
- object stores have no rename. A small file (JSON, a marker) is one ``PUT``; a streamed
  file (Parquet) is a multipart upload opened with ``autocommit=False``: the parts are the
  upload's own temporary, invisible object, and only ``commit()`` (CompleteMultipartUpload
  on S3) makes the key appear, whole; a failed write ``discard()``s (aborts) it. What is
  *done* is then decided by the marker written after it (a task's ``stats-*.json``, a
  reduce's ``done``, the run's ``manifest.json`` then ``_work/complete.json``), so a file
  whose marker is missing is redone, never taken as finished.

Credentials and endpoints come from the usual environment (botocore: ``AWS_*`` variables,
``~/.aws``, instance roles; ``AWS_ENDPOINT_URL`` for another S3 server; fsspec's
``FSSPEC_S3_*`` config): nothing of them is stored in a path, a log line or ``config.yaml``.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import IO, Iterator, Union

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from fsspec import AbstractFileSystem
from fsspec.implementations.local import LocalFileSystem


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary name beside the local ``path`` to write to; renamed onto ``path`` when the
    block succeeds, removed when it raises — a reader never sees a half-written file."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        yield tmp
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


@dataclass(frozen=True)
class StoragePath:
    """A file or directory on an fsspec filesystem, with the pathlib methods the pipeline uses."""

    fs: AbstractFileSystem
    path: str

    @classmethod
    def of(cls, where: "PathLike") -> "StoragePath":
        """``where`` (a local path or any fsspec URL) as a StoragePath; local paths become absolute.

        Directory listings are not cached: other processes (pool workers, Ray actors on other
        nodes) write the files this one checks for.
        """
        if isinstance(where, StoragePath):
            return where
        fs, path = fsspec.core.url_to_fs(str(where), use_listings_cache=False)
        return cls(fs, path.rstrip("/") or path)

    # -- names ------------------------------------------------------------------------------
    @property
    def is_local(self) -> bool:
        return isinstance(self.fs, LocalFileSystem)

    def __str__(self) -> str:
        return self.path if self.is_local else self.fs.unstrip_protocol(self.path)

    def __truediv__(self, name: str) -> "StoragePath":
        return StoragePath(self.fs, f"{self.path.rstrip('/')}/{name}")

    @property
    def name(self) -> str:
        return self.path.rstrip("/").rsplit("/", 1)[-1]

    @property
    def parent(self) -> "StoragePath":
        return StoragePath(self.fs, self.fs._parent(self.path))

    def relative_to(self, other: "StoragePath") -> str:
        """This path below ``other``, as ``a/b`` (ValueError when it is not below it)."""
        base = other.path.rstrip("/") + "/"
        if not self.path.startswith(base):
            raise ValueError(f"{self} is not inside {other}")
        return self.path[len(base):]

    def is_within(self, other: "StoragePath") -> bool:
        return type(self.fs) is type(other.fs) and (self.path == other.path
                                                  or self.path.startswith(other.path.rstrip("/") + "/"))

    @property
    def local(self) -> Path:
        """The local path (only for a local filesystem)."""
        if not self.is_local:
            raise ValueError(f"{self} is not on a local disk")
        return Path(self.path)

    # -- queries ----------------------------------------------------------------------------
    def exists(self) -> bool:
        return self.fs.exists(self.path)

    def is_file(self) -> bool:
        return self.fs.isfile(self.path)

    def is_dir(self) -> bool:
        return self.fs.isdir(self.path)

    def stat(self) -> SimpleNamespace:
        """``st_size`` and ``st_mtime`` (seconds), as :meth:`pathlib.Path.stat` has them."""
        info = self.fs.info(self.path)
        if self.is_local:
            return SimpleNamespace(st_size=int(info["size"]), st_mtime=float(info["mtime"]))
        return SimpleNamespace(st_size=int(info["size"]), st_mtime=self.fs.modified(self.path).timestamp())

    def glob(self, pattern: str) -> list["StoragePath"]:
        """Files matching ``pattern`` below this directory, sorted by name."""
        return [StoragePath(self.fs, p) for p in sorted(self.fs.glob(f"{self.path.rstrip('/')}/{pattern}"))]

    def iterdir(self) -> list["StoragePath"]:
        try:
            return [StoragePath(self.fs, p) for p in sorted(self.fs.ls(self.path, detail=False))
                    if p.rstrip("/") != self.path]
        except (FileNotFoundError, NotADirectoryError):
            return []

    # -- reading ----------------------------------------------------------------------------
    def read_bytes(self) -> bytes:
        """The file's bytes (FileNotFoundError when there is none)."""
        if self.fs.isdir(self.path):
            raise IsADirectoryError(str(self))
        return self.fs.cat_file(self.path)

    def read_text(self, encoding: str = "utf-8") -> str:
        return self.read_bytes().decode(encoding)

    def open(self, mode: str = "rb") -> IO:
        """Open for reading (writes go through :meth:`write_bytes` / :meth:`open_commit`)."""
        if "r" not in mode:
            raise ValueError("StoragePath.open is for reading; write with write_bytes or open_commit")
        return self.fs.open(self.path, mode)

    # -- writing (each write commits whole or not at all) -------------------------------------
    def mkdir(self, parents: bool = True, exist_ok: bool = True) -> None:
        """Create the directory (object stores have none: nothing to do there)."""
        if self.is_local:
            self.local.mkdir(parents=parents, exist_ok=exist_ok)

    def write_bytes(self, data: bytes) -> None:
        """Write the whole file at once: rename on a local disk, one PUT on an object store."""
        if self.is_local:
            self.local.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(self.local) as tmp:
                tmp.write_bytes(data)
        else:
            self.fs.pipe_file(self.path, data)

    def write_text(self, text: str, encoding: str = "utf-8") -> None:
        self.write_bytes(text.encode(encoding))

    def create_exclusive(self, data: bytes) -> None:
        """Write the file only if none exists (FileExistsError otherwise): ``O_EXCL`` on a local
        disk, a conditional PUT (``If-None-Match: *``, fsspec mode ``"xb"``) on S3."""
        if self.is_local:
            self.local.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.local, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            return
        with self.fs.open(self.path, "xb") as f:
            f.write(data)

    @contextmanager
    def open_commit(self) -> Iterator[IO]:
        """A binary file to stream into; committed (renamed / upload completed) when the block
        succeeds, discarded when it raises."""
        if self.is_local:
            self.local.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(self.local) as tmp, open(tmp, "wb") as f:
                yield f
            return
        f = self.fs.open(self.path, "wb", autocommit=False)
        try:
            yield f
            f.close()
            f.commit()
        except BaseException:
            f.discard()  # abort the upload; the key never appears
            f.closed = True  # nothing left to flush when the file object is collected
            raise
        finally:
            files = self.fs.transaction.files  # fsspec keeps uncommitted files for a transaction
            if f in files:
                files.remove(f)

    def unlink(self, missing_ok: bool = False) -> None:
        try:
            self.fs.rm_file(self.path)
        except FileNotFoundError:
            if not missing_ok:
                raise

    def rmtree(self) -> None:
        if self.exists():
            self.fs.rm(self.path, recursive=True)


PathLike = Union[str, os.PathLike, StoragePath]


def parquet_file(where: PathLike) -> pq.ParquetFile:
    p = StoragePath.of(where)
    return pq.ParquetFile(p.local if p.is_local else p.open("rb"))


def read_table(where: PathLike, columns: list[str] | None = None) -> pa.Table:
    p = StoragePath.of(where)
    if p.is_local:
        return pq.read_table(p.local, columns=columns)
    with p.open("rb") as f:
        return pq.read_table(f, columns=columns)


def write_table(where: PathLike, table: pa.Table, **kwargs) -> None:
    """``pq.write_table`` committed whole (see the module docstring)."""
    with StoragePath.of(where).open_commit() as f:
        pq.write_table(table, f, **kwargs)


def append_array(f: IO[bytes], a: np.ndarray) -> None:
    """Append the bytes of ``a`` to a local spill file through Python's file object, not
    ``ndarray.tofile``: a short write there raises a bare ``OSError("N requested and M
    written")`` without errno, so a full disk would not read as one (issue 16, item 5)."""
    f.write(np.ascontiguousarray(a))


def scratch_dir(work_dir: PathLike, name: str = "tmp") -> Path:
    """A local directory for the spill files of a step that writes to ``work_dir``:
    ``work_dir/name`` on a local disk, a new temporary directory of this machine when
    ``work_dir`` is remote. The caller removes it."""
    p = StoragePath.of(work_dir)
    d = p.local / name if p.is_local else Path(tempfile.mkdtemp(prefix="refinery-"))
    d.mkdir(parents=True, exist_ok=True)
    return d
