"""Per-tenant quotas: stored bytes, active jobs and a request rate.

The operator sets them per tenant (``osler tenant set``, kept in ``osler:quota:<tenant>``);
a tenant without its own value gets the settings' default. Stored bytes are everything under
the tenant's folder (datasets, job artifacts and scratch, models), counted when an upload or a
job is accepted. The rate is a fixed window per second (or minute) counted in Redis, so every
gateway process shares it.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import redis

from osler.workers.errors import BadRequest
from osler.workers.layout import LAYOUT
from osler.workers.settings import Settings
from osler.workers.storage import ObjectStore

_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([KMGT]i?B|B)?$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
               "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
_RATE = re.compile(r"^(\d{1,7})/([sm])$")
_RATE_WINDOW = {"s": 1, "m": 60}

FIELDS = ("max_storage", "max_active_jobs", "rate")


def parse_size(text: str) -> int:
    """Bytes in ``50GiB``, ``500MB``, ``1024`` (a 400 for anything else)."""
    match = _SIZE.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise BadRequest("a size is a number with an optional unit: B, KB, MB, GB, TB, KiB ... TiB")
    return int(float(match.group(1)) * _SIZE_UNITS[(match.group(2) or "").lower()])


def parse_rate(text: str) -> tuple[int, int]:
    """(requests, window seconds) of ``10/s`` or ``600/m``."""
    match = _RATE.match(text.strip()) if isinstance(text, str) else None
    if match is None or int(match.group(1)) == 0:
        raise BadRequest("a rate is a positive number of requests per s or m, e.g. 10/s")
    return int(match.group(1)), _RATE_WINDOW[match.group(2)]


@dataclass(frozen=True)
class Quota:
    max_storage: int
    max_active_jobs: int
    rate: str

    def public(self) -> dict[str, object]:
        return {"max_storage": self.max_storage, "max_active_jobs": self.max_active_jobs,
                "rate": self.rate}


def _quota_key(tenant: str) -> str:
    return f"osler:quota:{tenant}"


def storage_used(objects: ObjectStore, tenant: str) -> int:
    """Bytes the tenant keeps in the store (datasets, job outputs, models)."""
    return objects.bytes_under(LAYOUT.tenant(tenant))


class QuotaStore:
    def __init__(self, client: redis.Redis, settings: Settings) -> None:
        self.redis = client
        self.settings = settings

    def get(self, tenant: str) -> Quota:
        own = self.redis.hgetall(_quota_key(tenant))
        return Quota(
            max_storage=int(own.get("max_storage", self.settings.max_storage_bytes)),
            max_active_jobs=int(own.get("max_active_jobs", self.settings.max_active_jobs)),
            rate=own.get("rate", self.settings.rate_limit),
        )

    def set(self, tenant: str, *, max_storage: int | None = None,
            max_active_jobs: int | None = None, rate: str | None = None) -> Quota:
        """Change some of ``tenant``'s quotas (the others keep their value)."""
        changes: dict[str, str] = {}
        if max_storage is not None:
            changes["max_storage"] = str(max_storage)
        if max_active_jobs is not None:
            if max_active_jobs < 0:
                raise BadRequest("max-active-jobs must be 0 or more")
            changes["max_active_jobs"] = str(max_active_jobs)
        if rate is not None:
            parse_rate(rate)
            changes["rate"] = rate
        if changes:
            self.redis.hset(_quota_key(tenant), mapping=changes)
        return self.get(tenant)

    def take_request(self, tenant: str, rate: str, now: float | None = None) -> float | None:
        """Count one request; None when it is within ``rate``, else seconds until the window
        ends (the ``Retry-After``)."""
        limit, window = parse_rate(rate)
        now = time.time() if now is None else now
        slot = int(now // window)
        key = f"osler:rate:{tenant}:{window}:{slot}"
        pipe = self.redis.pipeline(transaction=True)
        pipe.incr(key)
        pipe.expire(key, window + 1)
        count = pipe.execute()[0]
        if count <= limit:
            return None
        return (slot + 1) * window - now
