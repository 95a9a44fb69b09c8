"""``POST /v1/jobs/validate``: a dry run of a job submission, so a client can check a request
before it uploads the request's files."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from flask import Blueprint, request

from osler.api.auth import current_tenant, require_tenant
from osler.api.services import services
from osler.api.validation import parse_job_request, resolve_inputs
from osler.workers.errors import BadRequest, InvalidParams
from osler.workers.kinds import all_kinds

bp = Blueprint("job_validation", __name__, url_prefix="/v1/jobs")
bp.before_request(require_tenant)

PENDING_PLACEHOLDER = "00000000-0000-4000-8000-000000000000"
"""Stands in for a dataset param the caller will upload after validating (never resolved)."""


@bp.post("/validate")
def validate_job() -> dict[str, Any]:
    """Check a job request as ``POST /v1/jobs`` would, and queue nothing.

    ``pending`` names dataset params left out because their files are not uploaded yet: they
    are checked to be dataset params of the kind, and everything else (schema, the datasets and
    models already named) is checked now, so a client uploads nothing for a request that fails.
    """
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest('the request body must be a JSON object {"kind": ..., "params": {...}}')
    pending = body.get("pending", [])
    if not isinstance(pending, list) or not all(isinstance(p, str) for p in pending):
        raise InvalidParams("pending must be a list of dataset param names")
    params = body.get("params", {})
    kind = all_kinds().get(body.get("kind")) if isinstance(body.get("kind"), str) else None
    if pending and kind is not None and isinstance(params, dict):
        for name in pending:
            if name not in kind.dataset_params:
                raise InvalidParams(f"pending: {name!r} is not a dataset param of {kind.name} "
                                    f"(its dataset params: {', '.join(kind.dataset_params)})")
            if name in params:
                raise InvalidParams(f"pending: params.{name} is given already")
        params = {**params, **dict.fromkeys(pending, PENDING_PLACEHOLDER)}
    kind, params = parse_job_request({k: v for k, v in {**body, "params": params}.items()
                                      if k != "pending"})
    known = replace(kind, dataset_params=tuple(n for n in kind.dataset_params if n not in pending))
    inputs = resolve_inputs(known, params, current_tenant())
    if not pending and kind.check_inputs is not None:
        kind.check_inputs(params, inputs, services().settings)
    given = {name: value for name, value in params.items() if name not in pending}
    return {"kind": kind.name, "params": given, "pending": pending}
