"""``GET /v1/usage``: the tenant's usage against its quotas (enforced in
:mod:`osler.api.quotas`)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from osler.api.auth import current_tenant, require_tenant
from osler.api.quotas import quota_problem
from osler.api.services import services
from osler.workers.errors import QuotaExceeded
from osler.workers.quotas import storage_used

bp = Blueprint("usage", __name__, url_prefix="/v1/usage")
bp.before_request(require_tenant)

bp.app_errorhandler(QuotaExceeded)(quota_problem)


@bp.get("")
def usage() -> dict[str, Any]:
    svc = services()
    tenant = current_tenant()
    quota = svc.quotas.get(tenant)
    return {
        "storage_bytes": {"used": storage_used(svc.objects, tenant),
                          "limit": quota.max_storage},
        "active_jobs": {"used": len(svc.jobs.active_jobs(tenant)),
                        "limit": quota.max_active_jobs},
        "rate": {"limit": quota.rate},
    }
