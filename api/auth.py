"""Bearer-token authentication: every protected blueprint calls :func:`require_tenant` first."""

from __future__ import annotations

from flask import g, request

from osler.api.services import services


def require_tenant() -> None:
    """Resolve the request's token to its tenant (401 when missing or unknown)."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip() if scheme.lower() == "bearer" else ""
    g.tenant = services().tenants.authenticate(token)


def current_tenant() -> str:
    return g.tenant
