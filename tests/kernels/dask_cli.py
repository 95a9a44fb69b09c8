"""A Dask scheduler and one worker started with the ``dask`` CLI, as ``osler up`` and the compose
file start them, for the tests of their ``--preload`` modules."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def dask_cli_client(scheduler_preload: str | None = None,
                    worker_preload: str | None = None) -> Iterator[Any]:
    """A ``distributed.Client`` of a fresh scheduler and one single-thread worker (each with
    ``--preload`` when given), once the worker has joined; both stop on exit."""
    from distributed import Client

    from osler.api.cli.embedded import free_port

    port = free_port()
    scheduler = subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
         "--port", str(port), "--dashboard-address", ":0",
         *(["--preload", scheduler_preload] if scheduler_preload else [])],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_worker", f"tcp://127.0.0.1:{port}",
         "--nthreads", "1", "--no-dashboard",
         *(["--preload", worker_preload] if worker_preload else [])],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with Client(f"tcp://127.0.0.1:{port}", timeout=60) as client:
            client.wait_for_workers(1, timeout=120)
            yield client
    finally:
        for process in (worker, scheduler):
            process.terminate()
            process.wait(timeout=30)
