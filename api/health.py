"""Liveness and readiness; no token needed."""

from __future__ import annotations

import json

from flask import Blueprint

from osler.api.services import services
from osler.workers.errors import ServiceUnavailable
from osler.workers.kinds import QUEUES
from osler.workers.worker_loops import dask_key, queues_of, worker_key

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> dict[str, str]:
    """The gateway process is alive."""
    return {"status": "ok"}


@bp.get("/readyz")
def readyz() -> dict[str, object]:
    """Redis answers, every queue has a live worker, and (when a Dask scheduler is configured)
    at least one Dask worker is connected to it; else 503 naming what is missing."""
    svc = services()
    client = svc.redis
    client.ping()
    workers = sorted(k.removeprefix(worker_key("")) for k in client.scan_iter(worker_key("*")))
    served = {queue for hostname in workers for queue in queues_of(hostname)}
    missing = [f"a worker for the {queue!r} queue" for queue in QUEUES if queue not in served]
    dask_workers = None
    if svc.settings.dask_scheduler:
        reports = [client.get(key) for key in client.scan_iter(dask_key("*"))]
        dask_workers = max((json.loads(r)["workers"] for r in reports if r), default=0)
        if dask_workers == 0:
            missing.append("a Dask worker connected to the scheduler")
    if missing:
        raise ServiceUnavailable("not ready: no " + "; no ".join(missing), missing=missing)
    return {"status": "ready", "workers": workers, "dask_workers": dask_workers}
