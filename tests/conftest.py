"""Shared fixtures: the bundled sample crawl, ../shared test data (skipped when absent),
an in-process CLI runner, and a small WARC writer for building bad input."""

from __future__ import annotations

import gzip
import os
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
DATA = ROOT / "tests" / "data"
SAMPLE_WARC = ROOT / "samples" / "CC-MAIN-2020-34-fragment.warc.gz"

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


@pytest.fixture
def shared() -> Path:
    """../shared/testdata, or skip: a fresh clone of the project does not have it."""
    if not (SHARED / "testdata").is_dir():
        pytest.skip(f"{SHARED}/testdata not present (only in the project's CI/dev checkout)")
    return SHARED / "testdata"


@pytest.fixture
def sample_warc() -> Path:
    return SAMPLE_WARC


@pytest.fixture
def cli(capsys):
    """Run ``refinery ARGS`` in-process; returns (exit code, stdout, stderr)."""
    from webrefinery.pipeline.cli import main

    def _run(*args: str) -> tuple[int, str, str]:
        try:
            code = main([str(a) for a in args])
        except SystemExit as e:  # argparse errors
            code = e.code
        out, err = capsys.readouterr()
        return code, out, err

    return _run


def warc_record(url: str, payload: bytes, *, status: int = 200, content_type: str | None = "text/html",
                record_type: str = "response", date: str = "2024-05-18T12:00:00Z") -> bytes:
    """One uncompressed WARC/1.0 record with an HTTP response block."""
    http = f"HTTP/1.1 {status} X\r\n".encode()
    if content_type:
        http += f"Content-Type: {content_type}\r\n".encode()
    block = http + b"\r\n" + payload
    head = (f"WARC/1.0\r\nWARC-Type: {record_type}\r\nWARC-Target-URI: {url}\r\nWARC-Date: {date}\r\n"
            f"WARC-Record-ID: <urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, url)}>\r\n"
            f"Content-Type: application/http; msgtype=response\r\nContent-Length: {len(block)}\r\n\r\n").encode()
    return head + block + b"\r\n\r\n"


def write_warc(path: Path, records: list[bytes], gz: bool = True) -> Path:
    """Write records as a WARC (one gzip member per record when ``gz``)."""
    with open(path, "wb") as f:
        for r in records:
            f.write(gzip.compress(r, mtime=0) if gz else r)
    return path


def article(title: str, sentences: int = 12, lang: str = "en") -> bytes:
    """A small but realistic article page for extraction tests."""
    if lang == "zh":
        body = "".join(f"<p>这是关于{title}的第{i}段文字，内容介绍了城市的发展历史和今天的生活情况。</p>" for i in range(sentences))
        charset = "utf-8"
    else:
        body = "".join(f"<p>Paragraph {i} about {title}: the city council met on Tuesday to discuss the "
                       f"new library, and residents said they were pleased with the plans.</p>" for i in range(sentences))
        charset = "utf-8"
    html = (f"<html><head><meta charset='{charset}'><title>{title}</title></head><body>"
            f"<nav><a href='/'>Home</a> <a href='/news'>News</a></nav><article><h1>{title}</h1>{body}</article>"
            f"<footer>Copyright 2024</footer></body></html>")
    return html.encode(charset)


@pytest.fixture(scope="session")
def s3_server():
    """A real S3 protocol server (moto's server mode) on a free local port, for the whole
    session. s3fs finds it through the environment, as it would a real endpoint:
    ``AWS_ENDPOINT_URL`` and fake credentials (subprocesses and Ray workers inherit them)."""
    import logging
    import socket

    pytest.importorskip("s3fs")
    moto_server = pytest.importorskip("moto.server")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing-secret", "AWS_DEFAULT_REGION": "us-east-1"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    yield env
    server.stop()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture
def s3_bucket(s3_server) -> str:
    """A new, empty bucket on :func:`s3_server`; returns ``s3://NAME``."""
    import fsspec

    name = f"test-{uuid.uuid4().hex[:12]}"
    fsspec.filesystem("s3").mkdir(name)
    return f"s3://{name}"
