"""``/v1/jobs/<id>/logs``, ``DELETE /v1/jobs/<id>`` and ``POST /v1/jobs/<id>/rerun``: a job's
event log, and what happens to a job after it finished."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response

from osler.api.auth import current_tenant, require_tenant
from osler.api.jobs import _create_and_enqueue, _job_response
from osler.api.services import services
from osler.api.validation import validate_params
from osler.workers.errors import Conflict, InvalidParams
from osler.workers.job_log import read_events
from osler.workers.kinds import get_kind
from osler.workers.layout import LAYOUT

bp = Blueprint("job_lifecycle", __name__, url_prefix="/v1/jobs")
bp.before_request(require_tenant)


@bp.get("/<job_id>/logs")
def job_logs(job_id: str) -> dict[str, Any]:
    """The job's events, oldest first: its creation, each state change (with its attempt, and
    for a failure the error and the stage it happened in) and every progress message."""
    svc = services()
    job = svc.jobs.get(job_id, current_tenant())
    created = {"time": job.created_at, "event": "state", "state": "queued", "attempt": 0}
    return {"job_id": job.id, "events": [created, *read_events(svc.redis, job.id)]}


@bp.delete("/<job_id>")
def delete_job(job_id: str) -> tuple[str, int]:
    """Remove a finished job's record, log and artifacts (409 while it is queued or running).

    A model the job registered keeps its own copy and stays."""
    svc = services()
    job = svc.jobs.get(job_id, current_tenant())
    if not job.finished:
        raise Conflict(f"job {job_id} is {job.state}; cancel it first")
    svc.jobs.delete(job)
    svc.objects.delete(LAYOUT.job(job.owner, job.id))
    return "", 204


@bp.post("/<job_id>/rerun")
def rerun_job(job_id: str) -> Response:
    """Submit the same kind and params as a new job (422 when a dataset it named is gone)."""
    tenant = current_tenant()
    job = services().jobs.get(job_id, tenant)
    kind = get_kind(job.kind)
    if kind is None:
        raise InvalidParams(f"job kind {job.kind!r} no longer exists")
    params = validate_params(kind, job.params)
    return _job_response(_create_and_enqueue(kind, params, tenant), 202)
