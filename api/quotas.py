"""Quotas at the gateway: :func:`enforce` runs after authentication, on every request."""

from __future__ import annotations

import math

from flask import Response, request

from osler.api.problems import problem_response
from osler.api.services import services
from osler.workers.errors import QuotaExceeded, StorageQuotaExceeded
from osler.workers.quotas import storage_used

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
    used = storage_used(svc.objects, tenant)
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


def quota_problem(error: QuotaExceeded) -> Response:
    response = problem_response(error)
    if "retry_after" in error.extra:
        response.headers["Retry-After"] = str(error.extra["retry_after"])
    return response
