"""``/v1/tokens``: a tenant lists, creates and revokes its own tokens.

A new token's secret is in the ``POST`` answer only; osler keeps its hash, never the secret.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request

from osler.api.auth import current_tenant, require_tenant
from osler.api.services import services
from osler.workers.errors import BadRequest
from osler.workers.tenants import parse_duration

bp = Blueprint("tokens", __name__, url_prefix="/v1/tokens")
bp.before_request(require_tenant)

CREATE_FIELDS = {"name", "expires_in", "scope"}


@bp.get("")
def list_tokens() -> dict[str, Any]:
    return {"tokens": services().tenants.list_tokens(current_tenant())}


@bp.post("")
def create_token() -> tuple[dict[str, Any], int]:
    """``{"name", "expires_in": "30d" (optional), "scope": "full" | "read"}`` -> 201 with the
    token's record and its ``token`` (the secret, shown this once)."""
    body = request.get_json(silent=True)
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise BadRequest('the request body must be a JSON object {"name": ..., "expires_in": ...}')
    unknown = sorted(set(body) - CREATE_FIELDS)
    if unknown:
        raise BadRequest(f"unknown field(s) in the request body: {', '.join(unknown)}")
    expires = body.get("expires_in")
    info, secret = services().tenants.issue(
        current_tenant(),
        name=body.get("name", "default"),
        expires_in=None if expires is None else parse_duration(expires),
        scope=body.get("scope", "full"),
    )
    return {**info.public(), "token": secret}, 201


@bp.delete("/<token_id>")
def revoke_token(token_id: str) -> tuple[str, int]:
    """Revoke one of the caller's tokens (it answers 401 from the next request on)."""
    services().tenants.revoke(token_id, current_tenant())
    return "", 204
