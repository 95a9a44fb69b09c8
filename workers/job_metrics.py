"""Job metrics aggregated through Redis: every worker process adds to the same counters.

Jobs finish in Celery workers on many hosts; rather than each worker serving its own metrics
port, the job store adds to a few Redis hashes inside the transaction that changes a job's
state, and the gateway's ``/metrics`` renders them (``osler.api.metrics``). Labels are the job
kind, the final state and histogram bounds only: bounded sets, never a tenant or a value read
from a file.
"""

from __future__ import annotations

from typing import Any

from osler.workers.clock import parse_utc

FINISHED_KEY = "osler:metrics:jobs_finished"
RUN_SECONDS_KEY = "osler:metrics:job_run_seconds"
QUEUE_WAIT_KEY = "osler:metrics:job_queue_wait_seconds"

BUCKETS = (1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 4 * 3600.0, 24 * 3600.0)
"""Histogram upper bounds in seconds (``+Inf`` is implied)."""


def _seconds(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    return max(0.0, (parse_utc(end) - parse_utc(start)).total_seconds())


def _observe(pipe: Any, key: str, kind: str, value: float) -> None:
    for bound in BUCKETS:
        if value <= bound:
            pipe.hincrby(key, f"{kind}|{bound:g}", 1)
    pipe.hincrby(key, f"{kind}|+Inf", 1)
    pipe.hincrbyfloat(key, f"{kind}|sum", value)


def record_transition(pipe: Any, job: Any, before: str) -> None:
    """Queue the metric updates of ``job`` moving from state ``before`` (on ``pipe``)."""
    if job.state == "running" and before == "queued":
        wait = _seconds(job.created_at, job.started_at)
        if wait is not None and job.attempts == 1:
            _observe(pipe, QUEUE_WAIT_KEY, job.kind, wait)
    if job.finished:
        pipe.hincrby(FINISHED_KEY, f"{job.kind}|{job.state}", 1)
        run = _seconds(job.started_at, job.finished_at)
        if run is not None and job.state == "succeeded":
            _observe(pipe, RUN_SECONDS_KEY, job.kind, run)


def read_histogram(raw: dict[str, str]) -> dict[str, dict[str, float]]:
    """``{kind: {"1": n, ..., "+Inf": n, "sum": s}}`` from a histogram hash."""
    out: dict[str, dict[str, float]] = {}
    for field, value in raw.items():
        kind, _, bound = field.rpartition("|")
        out.setdefault(kind, {})[bound] = float(value)
    return out
