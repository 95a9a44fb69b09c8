"""Idempotency keys: a retried POST with the same key and body returns the same job."""

from __future__ import annotations

import hashlib
import json

import redis

from osler.workers.errors import InvalidParams

MAX_KEY_LENGTH = 255


def body_fingerprint(body: object) -> str:
    """A stable hash of a JSON body (key order does not matter)."""
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


class IdempotencyStore:
    """Remembers which job each (tenant, key) created, for the job TTL."""

    def __init__(self, client: redis.Redis, ttl_seconds: int) -> None:
        self.redis = client
        self.ttl_seconds = ttl_seconds

    def _key(self, tenant: str, key: str) -> str:
        if not key or len(key) > MAX_KEY_LENGTH:
            raise InvalidParams(f"Idempotency-Key must be 1-{MAX_KEY_LENGTH} characters")
        return f"osler:idem:{tenant}:" + hashlib.sha256(key.encode()).hexdigest()

    def claim(self, tenant: str, key: str, fingerprint: str) -> str | None:
        """Reserve ``key`` for a new request; returns the earlier job id if it was used before.

        A reuse with a different body is a 422.
        """
        redis_key = self._key(tenant, key)
        claimed = self.redis.set(
            redis_key, json.dumps({"body": fingerprint, "job": None}), nx=True, ex=self.ttl_seconds
        )
        if claimed:
            return None
        seen = json.loads(self.redis.get(redis_key) or "{}")
        if seen.get("body") != fingerprint:
            raise InvalidParams("this Idempotency-Key was already used with a different body")
        if not seen.get("job"):
            raise InvalidParams("a request with this Idempotency-Key is still being processed")
        return seen["job"]

    def bind(self, tenant: str, key: str, fingerprint: str, job_id: str) -> None:
        """Record the job created for a claimed key."""
        self.redis.set(
            self._key(tenant, key),
            json.dumps({"body": fingerprint, "job": job_id}),
            ex=self.ttl_seconds,
        )

    def release(self, tenant: str, key: str) -> None:
        """Free a claimed key whose request failed, so a retry can go through."""
        self.redis.delete(self._key(tenant, key))
