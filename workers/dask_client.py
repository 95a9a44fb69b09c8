"""The Dask client of a worker process: the configured scheduler, or a LocalCluster of its own."""

from __future__ import annotations

import threading
from typing import Any

from osler.workers.settings import Settings

CONNECT_TIMEOUT_SECONDS = 10
"""A scheduler that does not answer within this fails the job instead of hanging it."""

_lock = threading.Lock()
_client: Any = None


def get_client(settings: Settings) -> Any:
    """This process's ``distributed.Client``, created on first use (after the pool forks)."""
    global _client
    with _lock:
        if _client is not None and _client.status == "running":
            return _client
        from distributed import Client, LocalCluster

        if _client is not None:
            # The scheduler went away (and perhaps came back): start over with a new client.
            try:
                _client.close(timeout=2)
            except Exception:  # noqa: BLE001 - a client of a dead scheduler may not close cleanly
                pass
            _client = None

        if settings.dask_scheduler:
            _client = Client(
                settings.dask_scheduler, timeout=CONNECT_TIMEOUT_SECONDS
            )
        else:
            # A worker started on its own (no scheduler configured) brings a small cluster;
            # one BLAS thread per Dask worker so the cores are not oversubscribed.
            cluster = LocalCluster(
                n_workers=settings.dask_workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
            )
            _client = Client(cluster)
        return _client


def is_cluster_loss(client: Any, exc: BaseException) -> bool:
    """Whether ``exc`` means the Dask scheduler was lost (or never reached), not a job error.

    ``client`` is the client the job used (None when connecting to the scheduler failed).
    """
    from distributed.client import FutureCancelledError
    from distributed.comm.core import CommClosedError

    if isinstance(exc, FutureCancelledError | CommClosedError):
        return True
    if client is None:
        return isinstance(exc, OSError | TimeoutError)
    return client.status != "running"
