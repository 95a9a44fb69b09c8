"""Quotas at the gateway: checked after authentication (:func:`enforce`), and
``GET /v1/usage``, the tenant's usage against its quotas."""

from __future__ import annotations

import math
from typing import Any

from flask import Blueprint, Response, request

from osler.api.auth import current_tenant, require_tenant
from osler.api.problems import problem_response
from osler.api.services import services
from osler.workers.errors import QuotaExceeded, StorageQuotaExceeded
from osler.workers.quotas import folder_bytes

bp = Blueprint("usage", __name__, url_prefix="/v1/usage")
bp.before_request(require_tenant)

STORING_ENDPOINTS = {"datasets.upload_dataset", "jobs.submit_job"}


def enforce(tenant: str) -> None:
    """Count the request against the tenant's rate; refuse an upload or a submit that would
    pass its storage quota, and a submit past its active jobs."""
    svc = services()
    quota = svc.quotas.get(tenant)
    retry_after = svc.quotas.take_request(tenant, quota.rate)
    if retry_after is not None:
        raise QuotaExceeded(f"the rate quota is {quota.rate} requests", quota="rate",
                            limit=quota.rate, retry_after=max(1, math.ceil(retry_after)))
    if request.endpoint not in STORING_ENDPOINTS:
        return
    used = folder_bytes(svc.layout.tenant_dir(tenant))
    incoming = request.content_length or 0 if request.endpoint == "datasets.upload_dataset" else 0
    if used + incoming > quota.max_storage or used >= quota.max_storage:
        raise StorageQuotaExceeded(
            f"the storage quota is {quota.max_storage} bytes and {used} are used",
            quota="max_storage", limit=quota.max_storage, used=used,
        )
    if request.endpoint == "jobs.submit_job":
        active = len(svc.jobs.active_jobs(tenant))
        if active >= quota.max_active_jobs:
            raise QuotaExceeded(
                f"at most {quota.max_active_jobs} queued or running jobs for this tenant",
                quota="max_active_jobs", limit=quota.max_active_jobs, used=active,
            )


@bp.app_errorhandler(QuotaExceeded)
def quota_problem(error: QuotaExceeded) -> Response:
    response = problem_response(error)
    if "retry_after" in error.extra:
        response.headers["Retry-After"] = str(error.extra["retry_after"])
    return response


@bp.get("")
def usage() -> dict[str, Any]:
    svc = services()
    tenant = current_tenant()
    quota = svc.quotas.get(tenant)
    return {
        "storage_bytes": {"used": folder_bytes(svc.layout.tenant_dir(tenant)),
                          "limit": quota.max_storage},
        "active_jobs": {"used": len(svc.jobs.active_jobs(tenant)),
                        "limit": quota.max_active_jobs},
        "rate": {"limit": quota.rate},
    }
