"""Where a queued job stands in its queue, counted across tenants without revealing theirs."""

from __future__ import annotations

import json
from typing import Any

import redis


def queue_position(client: redis.Redis, job_id: str, queue: str) -> dict[str, Any]:
    """``{"name", "position", "ahead"}`` of a queued job's message in ``queue``.

    kombu's Redis transport pushes new messages at the head of the queue's list and workers take
    them from its tail, so the messages after the job's are the ones ahead of it. A message
    already handed to a worker (or not found) counts as first in line.
    """
    messages = client.lrange(queue, 0, -1)
    for index, raw in enumerate(messages):
        try:
            if json.loads(raw)["headers"]["id"] == job_id:
                ahead = len(messages) - 1 - index
                return {"name": queue, "position": ahead + 1, "ahead": ahead}
        except (ValueError, KeyError, TypeError):
            continue
    return {"name": queue, "position": 1, "ahead": 0}
