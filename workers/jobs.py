"""The job record and its store in Redis.

A record is one JSON string under ``osler:job:<id>``; each tenant has a sorted set of its job ids
(newest first by creation time) and a set of its active (queued or running) jobs. Every state
change goes through :meth:`JobStore._transition`, an optimistic WATCH/MULTI update, so a cancel
from the gateway and a progress report from a worker can never overwrite each other.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import redis

from osler.workers.clock import parse_utc, utc_now
from osler.workers.errors import BadRequest, Conflict, JobCancelled, NotFound, TooManyRequests
from osler.workers.ids import is_uuid4, new_id
from osler.workers.job_log import append_event, log_key
from osler.workers.job_metrics import record_transition
from osler.workers.job_states import (
    CANCELLED,
    FAILED,
    FINISHED_STATES,
    QUEUED,
    RUNNING,
    SUCCEEDED,
)
from osler.workers.leases import holder_is_gone, lease_key

log = logging.getLogger("osler.jobs")

_CREATE_WITHIN_CAP = """
-- KEYS: the tenant's active set, the new job's key, the tenant's job list
-- ARGV: cap (-1: none), job JSON, ttl, job id, creation score, job key prefix, finished states...
-- Counts the active set's live members (dropping expired or finished ones, as active_jobs
-- does) and stores the job only while fewer than the cap are live: check and take in one step.
local live = 0
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local raw = redis.call('GET', ARGV[6] .. id)
  local finished = raw == false
  if not finished then
    local state = cjson.decode(raw)['state']
    for i = 7, #ARGV do
      if state == ARGV[i] then finished = true end
    end
  end
  if finished then redis.call('SREM', KEYS[1], id) else live = live + 1 end
end
local cap = tonumber(ARGV[1])
if cap >= 0 and live >= cap then return 0 end
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[4])
redis.call('EXPIRE', KEYS[3], ARGV[3])
redis.call('SADD', KEYS[1], ARGV[4])
return 1
"""


def _job_key(job_id: str) -> str:
    return f"osler:job:{job_id}"


def _finished_channel(job_id: str) -> str:
    """The pub/sub channel a job's final state is announced on (for ``?wait=`` readers)."""
    return f"osler:job:{job_id}:finished"


def _tenant_jobs_key(owner: str) -> str:
    return f"osler:jobs:{owner}"


def _tenant_active_key(owner: str) -> str:
    return f"osler:active:{owner}"


@dataclass
class Job:
    """One job. ``owner`` is stored but never shown to clients."""

    id: str
    kind: str
    owner: str
    params: dict[str, Any]
    state: str = QUEUED
    progress: dict[str, Any] = field(default_factory=lambda: {"fraction": 0.0, "message": ""})
    created_at: str = field(default_factory=utc_now)
    started_at: str | None = None
    finished_at: str | None = None
    attempts: int = 0
    error: dict[str, str] | None = None
    result: dict[str, Any] | None = None
    artifacts: list[dict[str, Any]] = field(default_factory=list)
    published_attempt: int | None = None
    """The attempt whose outputs are the job's artifacts (set when it succeeds; not shown)."""

    @property
    def finished(self) -> bool:
        return self.state in FINISHED_STATES

    def public(self) -> dict[str, Any]:
        """The JSON clients see: every field except the owner."""
        data = asdict(self)
        del data["owner"], data["published_attempt"]
        return data

    def encode(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def decode(cls, raw: str) -> Job:
        return cls(**json.loads(raw))


def _duration_seconds(job: Job) -> float | None:
    if job.finished_at and job.started_at:
        return round(
            (parse_utc(job.finished_at) - parse_utc(job.started_at)).total_seconds(), 3
        )
    return None


def _state_details(job: Job) -> dict[str, Any]:
    """What a state event says beyond the state: the failure and the stage it happened in, or
    why a job went back to the queue."""
    if job.error is not None:
        return {"error": job.error, "stage": job.progress["message"]}
    if job.state == QUEUED and job.progress["message"]:
        return {"message": job.progress["message"]}
    return {}


def _encode_cursor(score: float, job_id: str) -> str:
    return base64.urlsafe_b64encode(f"{score!r}|{job_id}".encode()).decode()


def _decode_cursor(cursor: str) -> tuple[float, str]:
    """The (score, job id) a cursor holds; 400 for anything :func:`_encode_cursor` never made
    (a NaN or infinite score, an id that is not a UUID4, bytes that are not base64 text)."""
    try:
        text, job_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
        score = float(text)
    except (ValueError, UnicodeDecodeError):
        score, job_id = math.nan, ""
    if not math.isfinite(score) or not is_uuid4(job_id):
        raise BadRequest("cursor is not one this service issued")
    return score, job_id


class JobStore:
    """Job records in Redis, with a time to live."""

    def __init__(self, client: redis.Redis, ttl_seconds: int) -> None:
        self.redis = client
        self.ttl_seconds = ttl_seconds
        self._create_within_cap = client.register_script(_CREATE_WITHIN_CAP)

    # --- creating and reading -------------------------------------------------------------

    def create(self, owner: str, kind: str, params: dict[str, Any],
               max_active: int | None = None) -> Job:
        """Store a new queued job and return it.

        With ``max_active``, the owner's live queued and running jobs are counted and the new
        one stored in one Lua script, so concurrent submits can never pass the cap together;
        :class:`TooManyRequests` when it is reached.
        """
        job = Job(id=new_id(), kind=kind, owner=owner, params=params)
        stored = self._create_within_cap(
            keys=[_tenant_active_key(owner), _job_key(job.id), _tenant_jobs_key(owner)],
            args=[-1 if max_active is None else max_active, job.encode(), self.ttl_seconds,
                  job.id, repr(time.time()), _job_key(""), *sorted(FINISHED_STATES)],
        )
        if not stored:
            raise TooManyRequests(f"at most {max_active} queued or running jobs per tenant")
        self._log(job)
        return job

    def delete(self, job: Job) -> None:
        """Forget a job: one that never reached a worker (its message could not be sent), or
        a finished one its owner deletes (``DELETE /v1/jobs/<id>``; the caller removes its
        folder)."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(_job_key(job.id), log_key(job.id), lease_key(job.id))
        pipe.zrem(_tenant_jobs_key(job.owner), job.id)
        pipe.srem(_tenant_active_key(job.owner), job.id)
        pipe.execute()

    def load(self, job_id: str) -> Job | None:
        """The job with this id, or None (workers use it; no owner check)."""
        if not is_uuid4(job_id):
            return None
        raw = self.redis.get(_job_key(job_id))
        return Job.decode(raw) if raw else None

    def get(self, job_id: str, owner: str) -> Job:
        """The caller's job; another tenant's job is as unknown as a missing one."""
        job = self.load(job_id)
        if job is None or job.owner != owner:
            raise NotFound(f"no job with id {job_id!r}")
        return job

    def active_jobs(self, owner: str) -> list[Job]:
        """The owner's queued and running jobs."""
        jobs = []
        for job_id in self.redis.smembers(_tenant_active_key(owner)):
            job = self.load(job_id)
            if job is None or job.finished:
                self.redis.srem(_tenant_active_key(owner), job_id)
            else:
                jobs.append(job)
        return jobs

    def all_active_jobs(self) -> list[Job]:
        """Every tenant's queued and running jobs (what the reconciler looks at)."""
        prefix = _tenant_active_key("")
        jobs = []
        for key in self.redis.scan_iter(prefix + "*"):
            jobs += self.active_jobs(key.removeprefix(prefix))
        return jobs

    def list(
        self,
        owner: str,
        *,
        state: str | None = None,
        kind: str | None = None,
        limit: int = 20,
        cursor: str | None = None,
    ) -> tuple[list[Job], str | None]:
        """A page of the owner's jobs, newest first, and the cursor of the next page (or None)."""
        key = _tenant_jobs_key(owner)
        max_score: float | str = "+inf"
        after_id: str | None = None
        if cursor:
            max_score, after_id = _decode_cursor(cursor)
        page: list[Job] = []
        last: tuple[float, str] | None = None
        batch = max(limit * 2, 50)
        offset = 0
        while True:
            rows = self.redis.zrevrangebyscore(
                key, max_score, "-inf", start=offset, num=batch, withscores=True
            )
            if not rows:
                return page, None
            offset += len(rows)
            for job_id, score in rows:
                if after_id is not None:
                    # Skip up to and including the cursor's job (ties share a score).
                    if job_id == after_id:
                        after_id = None
                    continue
                job = self.load(job_id)
                if job is None:
                    self.redis.zrem(key, job_id)
                    offset -= 1
                    continue
                last = (score, job_id)
                if (state and job.state != state) or (kind and job.kind != kind):
                    continue
                page.append(job)
                if len(page) == limit:
                    return page, _encode_cursor(*last)

    def wait_finished(self, job_id: str, owner: str, timeout: float) -> Job:
        """The caller's job as soon as it has finished, or as it is after ``timeout`` seconds.

        Subscribes to the job's channel before reading the record again, so a finish between
        the two is not missed, and re-reads at least once a second besides.
        """
        job = self.get(job_id, owner)
        if job.finished or timeout <= 0:
            return job
        deadline = time.monotonic() + timeout
        pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        try:
            pubsub.subscribe(_finished_channel(job_id))
            while True:
                job = self.get(job_id, owner)
                left = deadline - time.monotonic()
                if job.finished or left <= 0:
                    return job
                pubsub.get_message(timeout=min(left, 1.0))
        finally:
            pubsub.close()

    # --- state changes --------------------------------------------------------------------

    def _transition(
        self,
        job_id: str,
        change: Callable[[Job, str | None], bool],
        *,
        new_lease: tuple[str, float] | None = None,
    ) -> Job | None:
        """Apply ``change(job, lease)`` atomically; it returns False to leave the record as it is.

        ``lease`` is the job's current lease token (or None), watched with the record, so a
        change can depend on who holds it. A job that leaves ``running`` drops its lease; with
        ``new_lease = (token, seconds)`` the change takes it.
        """
        key = _job_key(job_id)
        lease = lease_key(job_id)
        with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(key, lease)
                    raw = pipe.get(key)
                    if raw is None:
                        pipe.unwatch()
                        return None
                    job = Job.decode(raw)
                    before = job.state
                    progress_before = job.progress["message"]
                    if not change(job, pipe.get(lease)):
                        pipe.unwatch()
                        return job
                    pipe.multi()
                    pipe.set(key, job.encode(), keepttl=True)
                    if job.state != before:
                        append_event(pipe, job.id, self.ttl_seconds, "state", state=job.state,
                                     attempt=job.attempts, **_state_details(job))
                    elif job.progress["message"] != progress_before:
                        append_event(pipe, job.id, self.ttl_seconds, "progress",
                                     attempt=job.attempts, **job.progress)
                    if job.state != before:
                        record_transition(pipe, job, before)
                    if job.finished:
                        pipe.srem(_tenant_active_key(job.owner), job.id)
                    if job.state != RUNNING:
                        pipe.delete(lease)
                    elif new_lease is not None:
                        pipe.set(lease, new_lease[0], px=int(new_lease[1] * 1000))
                    pipe.execute()
                    if job.state != before:
                        self._log(job)
                        if job.finished:
                            self.redis.publish(_finished_channel(job.id), job.state)
                    return job
                except redis.WatchError:
                    continue

    def mark_running(
        self, job_id: str, max_attempts: int, token: str, lease_seconds: float
    ) -> tuple[Job | None, str]:
        """Start an attempt holding the lease ``token``. Returns (job, decision): ``"run"``,
        ``"gave_up"`` (this call failed it as ``TooManyAttempts``) or ``"skip"``.

        A finished job is never run again. A ``running`` job whose lease is alive belongs to
        another attempt (a message delivered twice) and is left alone, unless the holder is a
        dead process of this host. ``attempts`` counts the runs started; the run that would
        exceed ``max_attempts`` is not started and the job fails with ``TooManyAttempts``.
        """
        outcome = {"decision": "skip"}

        def change(job: Job, lease: str | None) -> bool:
            if job.finished:
                return False
            if job.state == RUNNING and lease is not None and not holder_is_gone(lease):
                return False
            if job.attempts >= max_attempts:
                outcome["decision"] = "gave_up"
                job.state = FAILED
                job.finished_at = utc_now()
                job.error = {
                    "type": "TooManyAttempts",
                    "message": f"the job's worker stopped {max_attempts} times; giving up",
                }
                return True
            job.attempts += 1
            job.state = RUNNING
            job.started_at = utc_now()
            job.progress = {"fraction": 0.0, "message": f"attempt {job.attempts} started"}
            job.error = None
            outcome["decision"] = "run"
            return True

        job = self._transition(job_id, change, new_lease=(token, lease_seconds))
        return job, outcome["decision"]

    def requeue(self, job_id: str, max_attempts: int, *, reason: str,
                give_up_as: str = "TooManyAttempts") -> Job | None:
        """Put a ``running`` job whose attempt was lost back in ``queued`` (its lease dropped).

        Used by the reconciler (lease lapsed) and by the runner (the Dask cluster was lost).
        A job that has used every attempt fails instead, with ``reason`` in its error and
        ``give_up_as`` as its type.
        Returns the job if it is now queued, else None.
        """
        outcome = {"queued": False}

        def change(job: Job, _lease: str | None) -> bool:
            if job.state != RUNNING:
                return False
            if job.attempts >= max_attempts:
                job.state = FAILED
                job.finished_at = utc_now()
                job.error = {"type": give_up_as,
                             "message": f"{reason}; the job ran {job.attempts} times, giving up"}
                return True
            job.state = QUEUED
            job.progress = {"fraction": 0.0, "message": reason[:200]}
            outcome["queued"] = True
            return True

        job = self._transition(job_id, change)
        return job if outcome["queued"] else None

    def lease_holder(self, job_id: str) -> str | None:
        return self.redis.get(lease_key(job_id))

    def report_progress(self, job_id: str, fraction: float, message: str) -> None:
        """Record progress; raises :class:`JobCancelled` once the job was cancelled."""

        def change(job: Job, _lease: str | None) -> bool:
            if job.state != RUNNING:
                return False
            job.progress = {"fraction": round(float(fraction), 4), "message": message[:200]}
            return True

        job = self._transition(job_id, change)
        if job is None or job.state == CANCELLED:
            raise JobCancelled("the job was cancelled")

    def mark_succeeded(
        self, job_id: str, result: dict[str, Any], artifacts: list[dict[str, Any]], token: str,
        attempt: int,
    ) -> Job | None:
        """Record the result of the attempt holding ``token`` and publish its outputs (attempt
        number ``attempt``); a taken-over attempt records nothing (the job as it is comes
        back, not succeeded)."""

        def change(job: Job, lease: str | None) -> bool:
            if job.state != RUNNING or lease != token:
                return False
            job.state = SUCCEEDED
            job.published_attempt = attempt
            job.finished_at = utc_now()
            job.progress = {"fraction": 1.0, "message": "done"}
            job.result = result
            job.artifacts = artifacts
            return True

        return self._transition(job_id, change)

    def mark_failed(self, job_id: str, error_type: str, message: str) -> Job | None:
        def change(job: Job, _lease: str | None) -> bool:
            if job.finished:
                return False
            job.state = FAILED
            job.finished_at = utc_now()
            job.error = {"type": error_type, "message": message[:2000]}
            return True

        return self._transition(job_id, change)

    def cancel(self, job_id: str, owner: str) -> Job:
        """Cancel the caller's queued or running job; a finished job is a 409."""
        self.get(job_id, owner)

        def change(job: Job, _lease: str | None) -> bool:
            if job.finished:
                raise Conflict(f"job {job_id} is already {job.state}")
            job.state = CANCELLED
            job.finished_at = utc_now()
            return True

        job = self._transition(job_id, change)
        if job is None:
            raise NotFound(f"no job with id {job_id!r}")
        return job

    def _log(self, job: Job) -> None:
        log.info(
            json.dumps(
                {
                    "event": "job_state",
                    "job_id": job.id,
                    "tenant": job.owner,
                    "kind": job.kind,
                    "state": job.state,
                    "attempts": job.attempts,
                    "duration_s": _duration_seconds(job),
                }
            )
        )
