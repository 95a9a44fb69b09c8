"""Liveness and readiness; no token needed."""

from __future__ import annotations

from flask import Blueprint

from osler.api.services import services
from osler.workers.errors import ServiceUnavailable

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> dict[str, str]:
    """The gateway process is alive."""
    return {"status": "ok"}


@bp.get("/readyz")
def readyz() -> dict[str, object]:
    """Redis answers and at least one worker was seen in the last 30 seconds."""
    client = services().redis
    client.ping()
    keys = client.scan_iter("osler:worker:*")
    workers = sorted(key.removeprefix("osler:worker:") for key in keys)
    if not workers:
        raise ServiceUnavailable("no worker has been seen in the last 30 seconds")
    return {"status": "ready", "workers": workers}
