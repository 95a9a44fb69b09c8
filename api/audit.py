"""The audit trail at the gateway: one hook records every request on a tenant's data, and
``GET /v1/audit`` reads the caller's own records back.

The hook maps Flask endpoint names to the trail's actions, so no route records anything itself.
Any 401 is an ``auth.failed``, whatever the route.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Blueprint, Response, g, request

from osler.api.auth import current_tenant, require_tenant
from osler.api.query_args import limit_arg, refuse_unknown_args
from osler.api.services import services
from osler.workers.audit import MAX_PAGE
from osler.workers.ids import is_uuid4
from osler.workers.redis_connection import REDIS_DOWN_ERRORS

log = logging.getLogger("osler.audit")

bp = Blueprint("audit", __name__, url_prefix="/v1/audit")
bp.before_request(require_tenant)

ENDPOINT_ACTIONS = {
    "datasets.upload_dataset": "dataset.upload",
    "datasets.list_datasets": "dataset.read",
    "datasets.get_dataset": "dataset.read",
    "datasets.delete_dataset": "dataset.delete",
    "jobs.submit_job": "job.submit",
    "jobs.list_jobs": "job.read",
    "jobs.get_job": "job.read",
    "jobs.cancel_job": "job.cancel",
    "jobs.delete_job": "job.delete",
    "jobs.download_artifact": "artifact.download",
    "webhooks.deliveries": "job.read",
    "models.infer": "model.predict",
    "models.list_models": "model.read",
    "models.get_model": "model.read",
    "models.delete_model": "model.delete",
    "tokens.create_token": "token.create",
    "tokens.revoke_token": "token.revoke",
}
"""Endpoint (``blueprint.function``) -> audit action. Routes not named here are not data."""

CREATING_ENDPOINTS = {"datasets.upload_dataset", "jobs.submit_job", "tokens.create_token"}
"""Routes whose resource id is the ``id`` of the object they answer with."""

ID_ARGS = ("dataset_id", "job_id", "model_id", "token_id")

QUERY_FIELDS = {"since", "until", "action", "cursor", "limit"}


def _resource(endpoint: str, response: Response) -> str | None:
    """The id of the object the request touched: an osler id, never a client's free text."""
    args = request.view_args or {}
    resource = next((args[name] for name in ID_ARGS if is_uuid4(args.get(name))), None)
    if endpoint in CREATING_ENDPOINTS and response.status_code < 300 and response.is_json:
        created = (response.get_json(silent=True) or {}).get("id")
        resource = created if is_uuid4(created) else resource
    if endpoint == "jobs.download_artifact" and resource and response.status_code == 200:
        resource = f"{resource}/{args['name']}"  # an artifact osler named, since it exists
    return resource


@bp.after_app_request
def record(response: Response) -> Response:
    endpoint = request.endpoint or ""
    action = "auth.failed" if response.status_code == 401 else ENDPOINT_ACTIONS.get(endpoint)
    if action is None:
        return response
    try:
        services().audit.append(
            tenant=g.get("tenant"),
            token_id=g.get("token_id"),
            action=action,
            resource=_resource(endpoint, response),
            status=response.status_code,
            client=request.remote_addr,
        )
    except REDIS_DOWN_ERRORS as exc:
        log.error(json.dumps({"event": "audit_write_failed", "action": action,
                              "error": type(exc).__name__}))
    return response


@bp.get("")
def list_audit() -> dict[str, Any]:
    """The caller's tenant's records, oldest first: ``?since=&until=&action=&cursor=&limit=``."""
    refuse_unknown_args(QUERY_FIELDS)
    limit = limit_arg(100, MAX_PAGE)
    records, cursor = services().audit.query(
        current_tenant(),
        since=request.args.get("since") or None,
        until=request.args.get("until") or None,
        action=request.args.get("action") or None,
        cursor=request.args.get("cursor") or None,
        limit=limit,
    )
    return {"records": records, "next_cursor": cursor}
