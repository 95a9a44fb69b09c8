"""The SeaweedFS fixture is a real S3 endpoint for s3fs: multipart writes, ranged reads,
listings, deletes, and the endpoint found from ``AWS_ENDPOINT_URL`` alone."""

from __future__ import annotations

import hashlib
import os
import uuid

import pytest


@pytest.fixture
def prefix(s3_store) -> str:
    """A folder of the bucket of its own for each test."""
    return f"{s3_store.bucket}/t-{uuid.uuid4().hex[:12]}"


def test_a_20_mb_multipart_write_reads_back_by_range_lists_and_deletes(s3_store, prefix):
    fs = s3_store.filesystem()
    part = 5 * 1024 * 1024  # S3's smallest multipart part: 4 parts for 20 MB
    data = os.urandom(4 * part)
    key = f"{prefix}/big/blob.bin"
    with fs.open(key, "wb", block_size=part) as handle:
        for start in range(0, len(data), 1024 * 1024):
            handle.write(data[start:start + 1024 * 1024])
    info = fs.info(key)
    assert info["size"] == len(data)
    # A multipart upload's ETag is "<md5 of the part md5s>-<parts>"
    assert info["ETag"].strip('"').endswith("-4")

    start, end = 7 * 1024 * 1024 + 13, 13 * 1024 * 1024 - 1
    assert fs.cat_file(key, start=start, end=end) == data[start:end]
    with fs.open(key, "rb") as handle:
        handle.seek(len(data) - 100)
        assert handle.read() == data[-100:]
    assert hashlib.sha256(fs.cat_file(key)).digest() == hashlib.sha256(data).digest()

    fs.pipe_file(f"{prefix}/big/small.txt", b"hello")
    assert sorted(fs.ls(f"{prefix}/big", detail=False)) == [key, f"{prefix}/big/small.txt"]
    assert fs.find(prefix) == [key, f"{prefix}/big/small.txt"]

    fs.rm(key)
    assert not fs.exists(key)
    assert fs.find(prefix) == [f"{prefix}/big/small.txt"]
    with pytest.raises(FileNotFoundError):
        fs.cat_file(key)


def test_overwrites_are_read_back_at_once(s3_store, prefix):
    fs = s3_store.filesystem()
    for index in range(20):
        fs.pipe_file(f"{prefix}/k", str(index).encode())
        assert fs.cat_file(f"{prefix}/k") == str(index).encode()
        fs.pipe_file(f"{prefix}/many/{index}", b"x")
        assert len(fs.ls(f"{prefix}/many", detail=False)) == index + 1


def test_the_endpoint_comes_from_aws_endpoint_url_in_the_environment_alone(
        s3_store, prefix, monkeypatch):
    import s3fs

    for name, value in s3_store.env.items():
        monkeypatch.setenv(name, value)
    fs = s3fs.S3FileSystem(skip_instance_cache=True, use_listings_cache=False)
    fs.pipe_file(f"{prefix}/from-env.txt", b"env")
    assert s3_store.filesystem().cat_file(f"{prefix}/from-env.txt") == b"env"
    assert fs.cat_file(f"{prefix}/from-env.txt") == b"env"
