"""Tenants and their bearer tokens. Tokens are random and stored only as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import re
import secrets

import redis

from osler.workers.errors import BadRequest, Unauthorized

TENANT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
"""A tenant name is also a folder name under the data directory, so it is kept plain."""


def _token_key(token: str) -> str:
    return "osler:token:" + hashlib.sha256(token.encode()).hexdigest()


class TenantStore:
    """Issues tokens and tells which tenant a token belongs to."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    def create_token(self, tenant: str) -> str:
        """Create ``tenant`` if new and return a fresh token for it (43 url-safe characters)."""
        if not TENANT_NAME.match(tenant):
            raise BadRequest(
                f"tenant name {tenant!r} must be 1-64 letters, digits, '_', '.' or '-'"
            )
        token = secrets.token_urlsafe(32)
        self.redis.set(_token_key(token), tenant)
        self.redis.sadd("osler:tenants", tenant)
        return token

    def authenticate(self, token: str | None) -> str:
        """The tenant owning ``token``; 401 for a missing or unknown token."""
        if not token:
            raise Unauthorized("missing bearer token: send 'Authorization: Bearer <token>'")
        tenant = self.redis.get(_token_key(token))
        if tenant is None:
            raise Unauthorized("the bearer token is not valid")
        return tenant
