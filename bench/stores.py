"""``--storage s3`` for the benchmarks: the same embedded stack on a local SeaweedFS S3 store.

:func:`storage_stacks` starts one embedded stack per backend asked for, side by side (each with
its own data directory, Redis, Dask workers and gateway), so a benchmark can alternate the same
job between them in one run and print the ratio: ``file`` is the default file store, ``s3`` a
SeaweedFS server (``tests/object_store.py``) started here on free ports.
"""

from __future__ import annotations

import contextlib
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

from osler.api.cli.embedded import EmbeddedStack, free_port
from osler.api.client import OslerClient
from osler.workers.settings import Settings

BACKENDS = ("file", "s3")

REPO = Path(__file__).resolve().parents[1]
"""The checkout: the S3 server is the test suite's (``tests/object_store.py``)."""


@contextlib.contextmanager
def storage_stacks(root: Path, backends: list[str]) -> Iterator[dict[str, OslerClient]]:
    """A client of a running embedded stack for each backend in ``backends``."""
    with contextlib.ExitStack() as cleanup:
        clients: dict[str, OslerClient] = {}
        for backend in backends:
            storage_url = None
            if backend == "s3":
                sys.path.insert(0, str(REPO))
                from tests.object_store import seaweedfs

                s3 = cleanup.enter_context(seaweedfs(root / "seaweedfs"))
                os.environ.update(s3.env)  # every process of the stack signs with it
                storage_url = s3.storage_url(f"bench-{uuid.uuid4().hex[:8]}")
            settings = Settings.from_env().with_changes(
                data_dir=root / f"service-{backend}", redis_url=None, dask_scheduler=None,
                storage_url_setting=storage_url)
            stack = cleanup.enter_context(EmbeddedStack(settings, port=free_port()))
            clients[backend] = OslerClient(stack.url, stack.create_token("bench"))
        yield clients


def ratio_line(label: str, seconds: dict[str, float]) -> str:
    """``label: file 1.23 s, s3 1.31 s, s3/file 1.07x``."""
    line = f"{label}: " + ", ".join(f"{b} {s:.2f} s" for b, s in seconds.items())
    if "file" in seconds and "s3" in seconds:
        line += f", s3/file {seconds['s3'] / seconds['file']:.2f}x"
    return line
