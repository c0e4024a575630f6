"""Object-store problems end in one ``refinery: error:`` line naming the URL and what to
do, exit 2 (issue 17), against the moto S3 server of tests/conftest.py: a missing bucket,
missing credentials; refused credentials as s3fs reports them."""

from __future__ import annotations

import json

import pytest

from webrefinery.pipeline.cli import _storage_error, build_parser


@pytest.fixture
def doc(tmp_path):
    src = tmp_path / "d.jsonl"
    src.write_text(json.dumps({"id": "a", "text": "hello"}) + "\n")
    cfg = tmp_path / "c.yaml"
    cfg.write_text("pipeline: [read]\n")
    return src, cfg


def _one_line(err: str) -> str:
    assert "Traceback" not in err
    (line,) = [x for x in err.splitlines() if x.startswith("refinery: error:")]
    return line


def test_missing_bucket(cli, s3_server, doc):
    src, cfg = doc
    code, _, err = cli("run", "-c", cfg, "-i", src, "-o", "s3://missing-bucket-h3/x", "-q")
    assert code == 2
    line = _one_line(err)
    assert "s3://missing-bucket-h3/x" in line and "bucket does not exist: create it" in line
    code, out, err = cli("verify", "s3://missing-bucket-h3/x")
    assert code == 2 and "s3://missing-bucket-h3/x does not exist" in err and "Traceback" not in err, (out, err)


def test_missing_credentials(cli, s3_bucket, doc, monkeypatch, tmp_path):
    s3fs = pytest.importorskip("s3fs")
    src, cfg = doc
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance-role lookup
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    s3fs.S3FileSystem.clear_instance_cache()  # a cached filesystem keeps the old credentials
    try:
        code, _, err = cli("run", "-c", cfg, "-i", src, "-o", f"{s3_bucket}/out", "-q")
    finally:
        s3fs.S3FileSystem.clear_instance_cache()
    assert code == 2
    line = _one_line(err)
    assert f"{s3_bucket}/out" in line and "no credentials found" in line and "AWS_ACCESS_KEY_ID" in line


def test_refused_credentials_as_s3fs_raises_them():
    """moto accepts any key, so the refusal is built as botocore reports it and s3fs translates it."""
    botocore = pytest.importorskip("botocore.exceptions")
    s3errors = pytest.importorskip("s3fs.errors")
    refused = botocore.ClientError({"Error": {"Code": "InvalidAccessKeyId", "Message": "no such key"}}, "PutObject")
    e = s3errors.translate_boto_error(refused)
    assert isinstance(e, PermissionError)
    args = build_parser().parse_args(["run", "-i", "in.jsonl", "-o", "s3://b/out"])
    line = _storage_error(e, args)
    assert line.startswith("s3://b/out: the object store refused the credentials")
    assert _storage_error(ValueError("x"), args) is None
