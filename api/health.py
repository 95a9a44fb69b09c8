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
    """Ready when Redis answers, every queue has a live worker, and (when a Dask scheduler is
    configured) at least one Dask worker is connected; the body reports each part, and a 503
    names what is missing."""
    svc = services()
    client = svc.redis
    client.ping()
    workers = sorted(k.removeprefix(worker_key("")) for k in client.scan_iter(worker_key("*")))
    queues = {queue: [h for h in workers if queue in queues_of(h)] for queue in QUEUES}
    missing = [f"a worker for the {queue!r} queue" for queue, seen in queues.items() if not seen]
    parts: dict[str, object] = {"redis": "ok", "queues": queues}
    if svc.settings.dask_scheduler:
        reports = [client.get(key) for key in client.scan_iter(dask_key("*"))]
        dask_workers = max((json.loads(r)["workers"] for r in reports if r), default=0)
        parts["dask"] = {"workers": dask_workers}
        if dask_workers == 0:
            missing.append("a Dask worker connected to the scheduler")
    if missing:
        raise ServiceUnavailable("not ready: no " + "; no ".join(missing), missing=missing,
                                 parts=parts)
    return {"status": "ready", "workers": workers, "parts": parts}
