"""Removing stored files nobody can reach any more: expired or deleted jobs, unpublished attempts.

A job's files are only ever written while its record exists, so a job folder without a record
(it expired after the TTL, or the job was deleted while a worker still wrote) is garbage, and so
is every attempt of a finished job but the one its record published. Records decide, not file
times, so the sweep works the same on a local folder and on a bucket (whose "folders" have
no times).
"""

from __future__ import annotations

import time

from osler.workers.attempt_files import remove_unpublished
from osler.workers.jobs import JobStore
from osler.workers.layout import LAYOUT
from osler.workers.storage import ObjectStore

SWEEP_INTERVAL_SECONDS = 60.0
"""A worker process sweeps after a job at most this often (a sweep lists every job's folder)."""

_last_sweep = 0.0


def sweep_jobs(store: ObjectStore, jobs: JobStore) -> int:
    """Delete the folders of jobs without a record and the unpublished attempts of finished
    jobs. Returns the number of job folders deleted."""
    removed = 0
    for tenant in store.children("tenants"):
        for job_id in store.children(LAYOUT.jobs(tenant)):
            job = jobs.load(job_id)
            if job is None or job.owner != tenant:
                store.delete(LAYOUT.job(tenant, job_id))
                removed += 1
            elif job.finished:
                remove_unpublished(store, tenant, job_id, job.published_attempt)
    return removed


def sweep_now_and_then(store: ObjectStore, jobs: JobStore) -> None:
    """:func:`sweep_jobs`, unless this process swept less than a minute ago."""
    global _last_sweep
    now = time.monotonic()
    if now - _last_sweep < SWEEP_INTERVAL_SECONDS:
        return
    _last_sweep = now
    sweep_jobs(store, jobs)
