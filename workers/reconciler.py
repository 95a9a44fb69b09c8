"""The reconciler: job records and the broker brought back into agreement, every few seconds.

It runs in every Celery worker (a thread of the main process); a Redis lock lets one pass run
at a time across the cluster. A pass looks at every active (queued or running) job:

- ``running`` with no lease: its attempt is gone (host lost, worker OOM-killed, Redis restarted
  while it ran). The job goes back to ``queued`` and its message is sent again; past
  ``OSLER_MAX_ATTEMPTS`` runs it fails with ``TooManyAttempts``.
- ``queued`` with no message in the broker (its queue list or the ``unacked`` hash) in two
  passes at least :data:`QUEUED_GRACE_SECONDS` apart: the message was lost (Redis restarted
  from an AOF that had the record but not the message, or acked by a task that failed on a
  dropped connection). It is sent again.

A redelivered message finds the job already running or finished and does nothing
(``JobStore.mark_running``), so sending one too many never runs a job twice at once.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable

import redis

from osler.workers.job_states import QUEUED, RUNNING
from osler.workers.jobs import Job, JobStore
from osler.workers.kinds import QUEUES
from osler.workers.redis_connection import REDIS_DOWN_ERRORS

log = logging.getLogger("osler.reconciler")

INTERVAL_SECONDS = 5.0
"""Time between passes."""

QUEUED_GRACE_SECONDS = 20.0
"""A queued job's message must be missing this long before it is sent again (the gateway
creates the record a moment before it sends the message)."""

LOCK_KEY = "osler:reconciler:lock"

Send = Callable[[Job], None]
"""Sends a job's message again (``celery.send_task`` with the kind's task and queue)."""


def broker_job_ids(client: redis.Redis, queues: Iterable[str] = QUEUES, *,
                   fresh_seconds: float = QUEUED_GRACE_SECONDS) -> set[str]:
    """Ids of the jobs with a live message in the broker: waiting in a queue, or delivered less
    than ``fresh_seconds`` ago and not yet acknowledged.

    Task ids are job ids (the gateway sends each job with ``task_id=job.id``); kombu's Redis
    transport keeps waiting messages in a list per queue and delivered ones in ``unacked``
    (delivery times in ``unacked_index``). With late acks and a prefetch of one, a delivered
    message of a job still ``queued`` after a few seconds belongs to a worker that lost its
    connection (it is restored only after the visibility timeout, hours later): not live.
    """
    payloads = [raw for queue in queues for raw in client.lrange(queue, 0, -1)]
    now = time.time()
    for tag, raw in client.hgetall("unacked").items():
        delivered = client.zscore("unacked_index", tag)
        if delivered is None or now - delivered < fresh_seconds:
            payloads.append(json.loads(raw)[0])
    ids: set[str] = set()
    for payload in payloads:
        try:
            message = json.loads(payload) if isinstance(payload, str) else payload
            ids.add(message["headers"]["id"])
        except (ValueError, KeyError, TypeError):
            continue
    return ids


class Reconciler:
    def __init__(self, store: JobStore, send: Send, *, max_attempts: int,
                 grace_seconds: float = QUEUED_GRACE_SECONDS) -> None:
        self.store = store
        self.send = send
        self.max_attempts = max_attempts
        self.grace_seconds = grace_seconds
        self._missing_since: dict[str, float] = {}
        self._token = uuid.uuid4().hex

    def run_once(self) -> dict[str, int]:
        """One pass (skipped while another process holds the lock). Counts what it did."""
        client = self.store.redis
        lock_ms = int(INTERVAL_SECONDS * 3000)
        if not client.set(LOCK_KEY, self._token, nx=True, px=lock_ms):
            if client.get(LOCK_KEY) != self._token:
                return {"skipped": 1}
            client.pexpire(LOCK_KEY, lock_ms)
        counts = {"requeued_lost_lease": 0, "requeued_lost_message": 0, "failed": 0}
        jobs = self.store.all_active_jobs()
        in_broker = broker_job_ids(client, fresh_seconds=self.grace_seconds)
        now = time.monotonic()
        seen_missing = set()
        for job in jobs:
            if job.state == RUNNING and self.store.lease_holder(job.id) is None:
                queued = self.store.requeue(job.id, self.max_attempts,
                                            reason="its worker was lost; running it again")
                if queued is None:
                    counts["failed"] += 1
                    continue
                self.send(queued)
                counts["requeued_lost_lease"] += 1
                log.warning(json.dumps({"event": "job_requeued", "job_id": job.id,
                                        "why": "lease lapsed", "attempts": job.attempts}))
            elif job.state == QUEUED and job.id not in in_broker:
                seen_missing.add(job.id)
                first = self._missing_since.setdefault(job.id, now)
                if now - first >= self.grace_seconds:
                    self.send(job)
                    del self._missing_since[job.id]
                    seen_missing.discard(job.id)
                    counts["requeued_lost_message"] += 1
                    log.warning(json.dumps({"event": "job_requeued", "job_id": job.id,
                                            "why": "message lost"}))
        for job_id in list(self._missing_since):
            if job_id not in seen_missing:
                del self._missing_since[job_id]
        return counts

    def run_forever(self, stop: threading.Event, interval: float = INTERVAL_SECONDS) -> None:
        while not stop.wait(interval):
            try:
                self.run_once()
            except REDIS_DOWN_ERRORS:
                continue  # Redis restarting: the next pass sees what it kept
            except Exception:  # noqa: BLE001 - a pass that fails must not end the loop
                log.exception("reconciler pass failed")
