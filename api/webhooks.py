"""Completion webhooks at the gateway: the tenant's signing secret and a job's deliveries."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from osler.api.auth import current_tenant, require_tenant
from osler.api.services import services

bp = Blueprint("webhooks", __name__)
bp.before_request(require_tenant)


@bp.get("/v1/webhook-secret")
def get_secret() -> dict[str, Any]:
    """The key of the ``Osler-Signature`` HMAC on this tenant's webhooks."""
    return {"secret": services().webhooks.secret(current_tenant())}


@bp.post("/v1/webhook-secret")
def rotate_secret() -> dict[str, Any]:
    """Replace the secret; deliveries from now on are signed with the new one."""
    return {"secret": services().webhooks.rotate(current_tenant())}


@bp.get("/v1/jobs/<job_id>/deliveries")
def deliveries(job_id: str) -> dict[str, Any]:
    """Each delivery attempt of the job's webhook: time, HTTP status or error, duration."""
    svc = services()
    job = svc.jobs.get(job_id, current_tenant())
    return {"deliveries": svc.webhooks.attempts(job.id)}
