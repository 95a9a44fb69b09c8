"""``/v1/jobs``: submit, list, read, cancel jobs and download their artifacts."""

from __future__ import annotations

import json
import threading
from typing import Any

from flask import Blueprint, Response, request, send_file, stream_with_context

from osler.api.auth import current_tenant, require_tenant
from osler.api.job_json import job_json
from osler.api.json_body import json_body
from osler.api.query_args import limit_arg, refuse_unknown_args
from osler.api.services import services
from osler.api.validation import parse_job_request, resolve_inputs
from osler.workers.attempt_files import artifact_key
from osler.workers.errors import BadRequest, NotFound, ServiceUnavailable
from osler.workers.idempotency import body_fingerprint
from osler.workers.job_states import MAX_PAGE_SIZE, MAX_WAIT_SECONDS, STATES
from osler.workers.jobs import Job
from osler.workers.kinds import JobKind
from osler.workers.redis_connection import REDIS_DOWN_ERRORS
from osler.workers.webhooks import parse_notify

bp = Blueprint("jobs", __name__, url_prefix="/v1/jobs")
bp.before_request(require_tenant)

LIST_QUERY_FIELDS = {"state", "kind", "limit", "cursor"}

WAITS_PER_PROCESS = 2
"""Long polls a gateway process holds at once; past that ``?wait=`` is answered at once, so
waiting clients can never take every thread from other requests."""

_WAIT_SLOTS = threading.BoundedSemaphore(WAITS_PER_PROCESS)


def _job_response(job: Job, status: int) -> Response:
    response = Response(json.dumps(job_json(job)), status=status, mimetype="application/json")
    response.headers["Location"] = f"/v1/jobs/{job.id}"
    return response


@bp.post("")
def submit_job() -> Response:
    """Validate a job request and queue it (202), or return the job an Idempotency-Key made."""
    body = json_body()
    kind, params = parse_job_request(body)
    tenant = current_tenant()
    svc = services()
    notify = parse_notify(body.get("notify"), svc.settings.webhook_allow_private)
    key = request.headers.get("Idempotency-Key")
    fingerprint = body_fingerprint(body)
    if key is not None:
        earlier = svc.idempotency.claim(tenant, key, fingerprint)
        if earlier is not None:
            return _job_response(svc.jobs.get(earlier, tenant), 200)
    try:
        job = _create_and_enqueue(kind, params, tenant)
    except BaseException:
        if key is not None:
            try:
                svc.idempotency.release(tenant, key)
            except REDIS_DOWN_ERRORS:
                pass
        raise
    if key is not None:
        svc.idempotency.bind(tenant, key, fingerprint, job.id)
    if notify is not None:
        svc.webhooks.register(job.id, tenant, notify)
    return _job_response(job, 202)


def _create_and_enqueue(kind: JobKind, params: dict[str, Any], tenant: str) -> Job:
    svc = services()
    inputs = resolve_inputs(kind, params, tenant)
    if kind.check_inputs is not None:
        kind.check_inputs(params, inputs, svc.settings)
    job = svc.jobs.create(tenant, kind.name, params, max_active=svc.settings.max_active_jobs)
    try:
        svc.celery.send_task(kind.task_name, args=[job.id], queue=kind.queue, task_id=job.id)
    except Exception as exc:
        svc.jobs.delete(job)
        raise ServiceUnavailable(f"could not queue the job: {type(exc).__name__}") from exc
    return job


@bp.get("")
def list_jobs() -> dict[str, Any]:
    """The caller's jobs, newest first: ``?state=&kind=&limit=&cursor=``."""
    refuse_unknown_args(LIST_QUERY_FIELDS)
    state = request.args.get("state") or None
    if state is not None and state not in STATES:
        raise BadRequest(f"state must be one of {', '.join(STATES)}")
    limit = limit_arg(20, MAX_PAGE_SIZE)
    jobs, cursor = services().jobs.list(
        current_tenant(),
        state=state,
        kind=request.args.get("kind") or None,
        limit=limit,
        cursor=request.args.get("cursor") or None,
    )
    return {"jobs": [job_json(job) for job in jobs], "next_cursor": cursor}


@bp.get("/<job_id>")
def get_job(job_id: str) -> dict[str, Any]:
    """One job; ``?wait=S`` answers as soon as it finishes, or after S seconds (long poll)."""
    wait = _wait_seconds(request.args.get("wait"))
    jobs = services().jobs
    if wait and _WAIT_SLOTS.acquire(blocking=False):
        try:
            return job_json(jobs.wait_finished(job_id, current_tenant(), wait))
        finally:
            _WAIT_SLOTS.release()
    return job_json(jobs.get(job_id, current_tenant()))


def _wait_seconds(raw: str | None) -> float:
    if raw is None:
        return 0.0
    try:
        wait = float(raw)
    except ValueError:
        wait = -1.0
    if not 0.0 <= wait <= MAX_WAIT_SECONDS:  # NaN fails too
        raise BadRequest(f"wait must be a number of seconds from 0 to {MAX_WAIT_SECONDS:g}")
    return wait


@bp.post("/<job_id>/cancel")
def cancel_job(job_id: str) -> tuple[dict[str, Any], int]:
    """Cancel a queued or running job (409 once it has finished)."""
    return services().jobs.cancel(job_id, current_tenant()).public(), 202


@bp.get("/<job_id>/artifacts/<name>")
def download_artifact(job_id: str, name: str) -> Response:
    svc = services()
    job = svc.jobs.get(job_id, current_tenant())
    entry = next((a for a in job.artifacts if a["name"] == name), None)
    if entry is None:
        raise NotFound(f"job {job_id} has no artifact {name!r}")
    key = artifact_key(job.owner, job.id, job.published_attempt or 0, entry["name"])
    size = svc.objects.size(key)
    if size is None:
        raise NotFound(f"artifact {name!r} of job {job_id} has expired")
    local = svc.objects.local_folder(key)
    if local is not None:
        return send_file(local, mimetype=entry["media_type"], as_attachment=True,
                         download_name=name)
    # From a bucket the bytes stream through: one chunk in memory, whatever the size.
    response = Response(stream_with_context(svc.objects.stream(key)),
                        mimetype=entry["media_type"])
    response.headers["Content-Length"] = str(size)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
