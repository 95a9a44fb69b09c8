"""Bearer-token authentication: every protected blueprint calls :func:`require_tenant` first."""

from __future__ import annotations

from flask import g, request

from osler.api.quotas import enforce
from osler.api.services import services
from osler.workers.errors import Forbidden, Unauthorized
from osler.workers.tenants import READ_METHODS


def require_tenant() -> None:
    """Resolve the request's token to its tenant (401 when missing, unknown, revoked or
    expired; 403 when a read-only token asks for a change)."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip() if scheme.lower() == "bearer" else ""
    try:
        principal = services().tenants.identify(token)
    except Unauthorized as exc:
        known = getattr(exc, "principal", None)
        if known is not None:
            g.tenant, g.token_id = known.tenant, known.token_id
        raise
    g.tenant, g.token_id = principal.tenant, principal.token_id
    if principal.scope == "read" and request.method not in READ_METHODS:
        raise Forbidden("this token is read-only: it may read jobs, datasets and artifacts")
    enforce(principal.tenant)


def current_tenant() -> str:
    return g.tenant
