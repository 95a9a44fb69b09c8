"""Tenants and their bearer tokens.

A token's secret is random and stored only as a SHA-256 hash, which points at the token's id;
the token's record (name, scope, creation, expiry, revocation) lives under that id::

    osler:token:<sha256 of secret>  -> token id   (deleted on revoke; expires with the token)
    osler:token-info:<token id>     -> JSON TokenInfo
    osler:tokens:<tenant>           -> set of the tenant's token ids
    osler:token-used                -> hash: token id -> last-used time

Every gateway process reads the same Redis, so a revoked or expired token is refused by all of
them from the next request on.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
from dataclasses import asdict, dataclass

import redis

from osler.workers.clock import utc_now
from osler.workers.errors import BadRequest, NotFound, Unauthorized
from osler.workers.ids import is_uuid4, new_id

TENANT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
"""A tenant name is also a folder name under the data directory, so it is kept plain."""

TOKEN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}$")

SCOPES = ("full", "read")
"""``full`` may do everything its tenant may; ``read`` only reads (GET and HEAD requests)."""

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_DURATION = re.compile(r"^(\d{1,6})([smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

LAST_USED_KEY = "osler:token-used"


def parse_duration(text: str) -> int:
    """Seconds in ``30d``, ``12h``, ``15m`` or ``3600s`` (a 400 for anything else)."""
    match = _DURATION.match(text.strip()) if isinstance(text, str) else None
    if match is None or int(match.group(1)) == 0:
        raise BadRequest("a duration is a positive number followed by s, m, h or d (e.g. 30d)")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def _secret_key(secret: str) -> str:
    return "osler:token:" + hashlib.sha256(secret.encode()).hexdigest()


def _info_key(token_id: str) -> str:
    return f"osler:token-info:{token_id}"


def _tenant_tokens_key(tenant: str) -> str:
    return f"osler:tokens:{tenant}"


@dataclass
class TokenInfo:
    """Everything known about a token except its secret."""

    id: str
    tenant: str
    name: str
    scope: str
    created_at: str
    expires_at: float | None = None
    """Unix time after which the token is refused; None for a token that does not expire."""
    revoked_at: str | None = None

    def expired(self, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        return self.expires_at is not None and now >= self.expires_at

    def public(self, last_used_at: str | None = None) -> dict[str, object]:
        data = asdict(self)
        if self.expires_at is not None:
            data["expires_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.expires_at))
        data["last_used_at"] = last_used_at
        return data


@dataclass(frozen=True)
class Principal:
    """Who made a request: the tenant, the token's id and its scope."""

    tenant: str
    token_id: str
    scope: str


class TenantStore:
    """Issues, lists and revokes tokens, and tells which tenant a token belongs to."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    def issue(
        self,
        tenant: str,
        *,
        name: str = "default",
        expires_in: int | None = None,
        scope: str = "full",
    ) -> tuple[TokenInfo, str]:
        """Create ``tenant`` if new and a token for it; returns its record and its secret
        (43 url-safe characters, shown only this once)."""
        if not TENANT_NAME.match(tenant or ""):
            raise BadRequest("a tenant name must be 1-64 letters, digits, '_', '.' or '-'")
        if not isinstance(name, str) or not TOKEN_NAME.match(name):
            raise BadRequest("a token name must be 1-64 letters, digits, spaces, '_', '.' or '-'")
        if scope not in SCOPES:
            raise BadRequest(f"scope must be one of {', '.join(SCOPES)}")
        if expires_in is not None and (not isinstance(expires_in, int) or expires_in <= 0):
            raise BadRequest("expires_in must be a positive number of seconds")
        secret = secrets.token_urlsafe(32)
        info = TokenInfo(
            id=new_id(), tenant=tenant, name=name, scope=scope, created_at=utc_now(),
            expires_at=None if expires_in is None else time.time() + expires_in,
        )
        pipe = self.redis.pipeline(transaction=True)
        pipe.set(_secret_key(secret), info.id)
        pipe.set(_info_key(info.id), json.dumps(asdict(info)))
        pipe.sadd(_tenant_tokens_key(tenant), info.id)
        pipe.sadd("osler:tenants", tenant)
        pipe.execute()
        return info, secret

    def create_token(self, tenant: str) -> str:
        """A fresh full-scope token for ``tenant`` that does not expire (its secret)."""
        return self.issue(tenant)[1]

    def identify(self, secret: str | None) -> Principal:
        """The principal behind ``secret``; 401 for a missing, unknown, revoked or expired token.

        Raises :class:`Unauthorized` with ``token_id`` and ``tenant`` set when the token was a
        real one (revoked or expired), so the audit trail can name it.
        """
        if not secret:
            raise Unauthorized("missing bearer token: send 'Authorization: Bearer <token>'")
        token_id = self.redis.get(_secret_key(secret))
        if token_id is not None and not is_uuid4(token_id):
            token_id = self._adopt_legacy(secret, token_id)
        info = self.info(token_id) if is_uuid4(token_id) else None
        if info is None:
            raise Unauthorized("the bearer token is not valid")
        if info.revoked_at is not None or info.expired():
            error = Unauthorized("the bearer token has been revoked or has expired")
            error.principal = Principal(info.tenant, info.id, info.scope)  # type: ignore[attr-defined]
            raise error
        self.redis.hset(LAST_USED_KEY, info.id, utc_now())
        return Principal(info.tenant, info.id, info.scope)

    def _adopt_legacy(self, secret: str, tenant: str) -> str | None:
        """Give a token made before tokens had records (its hash named the tenant) a record
        named ``legacy``, so it can be listed and revoked; returns its id."""
        if not TENANT_NAME.match(tenant):
            return None
        info = TokenInfo(id=new_id(), tenant=tenant, name="legacy", scope="full",
                         created_at=utc_now())
        pipe = self.redis.pipeline(transaction=True)
        pipe.set(_info_key(info.id), json.dumps(asdict(info)))
        pipe.sadd(_tenant_tokens_key(tenant), info.id)
        pipe.set(_secret_key(secret), info.id)
        pipe.execute()
        return info.id

    def authenticate(self, secret: str | None) -> str:
        """The tenant owning ``secret`` (see :meth:`identify`)."""
        return self.identify(secret).tenant

    def info(self, token_id: str) -> TokenInfo | None:
        raw = self.redis.get(_info_key(token_id)) if is_uuid4(token_id) else None
        return TokenInfo(**json.loads(raw)) if raw else None

    def list_tokens(self, tenant: str | None = None) -> list[dict[str, object]]:
        """The public records of ``tenant``'s tokens (every tenant's when None), oldest first."""
        tenants = [tenant] if tenant is not None else sorted(self.redis.smembers("osler:tenants"))
        infos = [
            info
            for name in tenants
            for token_id in self.redis.smembers(_tenant_tokens_key(name))
            if (info := self.info(token_id)) is not None
        ]
        infos.sort(key=lambda i: i.created_at)
        used = self.redis.hmget(LAST_USED_KEY, [i.id for i in infos]) if infos else []
        return [info.public(last) for info, last in zip(infos, used, strict=True)]

    def revoke(self, token_id: str, tenant: str | None = None) -> TokenInfo:
        """Revoke a token (``tenant``'s only, when given: another's is a 404). Idempotent."""
        info = self.info(token_id)
        if info is None or (tenant is not None and info.tenant != tenant):
            raise NotFound(f"no token with id {token_id!r}")
        if info.revoked_at is None:
            info.revoked_at = utc_now()
            self.redis.set(_info_key(info.id), json.dumps(asdict(info)))
        return info
