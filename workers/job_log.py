"""A job's own event log: state changes, progress messages and notes, oldest first.

One Redis list per job (``osler:job:<id>:log``), capped at :data:`MAX_EVENTS`, expiring with the
job's record. Events are small JSON objects written by the job store inside the same transaction
as the change they describe. They hold states, fractions, attempt numbers and the service's own
messages; kernels' progress messages name counts and stages, never values read from a file.
"""

from __future__ import annotations

import json
from typing import Any

import redis

from osler.workers.clock import utc_now

MAX_EVENTS = 2000
"""Events kept per job (the oldest go first)."""


def log_key(job_id: str) -> str:
    return f"osler:job:{job_id}:log"


def append_event(pipe: Any, job_id: str, ttl_seconds: int, event: str, **fields: Any) -> None:
    """Queue one event on ``pipe`` (a Redis pipeline or client)."""
    record = {"time": utc_now(), "event": event, **fields}
    key = log_key(job_id)
    pipe.rpush(key, json.dumps(record, separators=(",", ":")))
    pipe.ltrim(key, -MAX_EVENTS, -1)
    pipe.expire(key, ttl_seconds)


def read_events(client: redis.Redis, job_id: str, start: int = 0) -> list[dict[str, Any]]:
    """The job's events from index ``start`` on, oldest first."""
    return [json.loads(raw) for raw in client.lrange(log_key(job_id), start, -1)]
