"""What every job task does around its kernel: claim the record, run, publish, record the outcome.

Tasks stay thin: they read params from :class:`JobContext`, call one kernel and return its summary.
This module is where at-least-once delivery becomes exactly one visible result:

- a redelivered message for a finished or cancelled job does nothing
  (:meth:`JobStore.mark_running`);
- each attempt writes under its own ``attempt-<n>`` key (:mod:`osler.workers.attempt_files`);
  the record moves to ``succeeded`` only from ``running``, naming that attempt in the same step;
- a cancel is seen by the progress callback (the kernel stops and cancels its Dask futures); a
  kernel that stops reporting is ended by :class:`CancelWatchdog`;
- a running attempt holds a lease (:mod:`osler.workers.leases`), renewed in a thread; an
  attempt whose lease was taken over stops and publishes nothing, and the record moves to
  ``succeeded`` only for the lease's holder.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from billiard.exceptions import SoftTimeLimitExceeded

from osler.kernels.errors import InputError
from osler.kernels.locations import Exchange
from osler.workers.attempt_files import AttemptFiles, artifact_key
from osler.workers.datasets import Dataset, DatasetStore
from osler.workers.derived_cache import DerivedCache
from osler.workers.errors import JobCancelled, LeaseLost
from osler.workers.job_states import CANCELLED, SUCCEEDED
from osler.workers.jobs import Job, JobStore
from osler.workers.kinds import JobKind
from osler.workers.layout import LAYOUT
from osler.workers.leases import LeaseKeeper, Leases, new_token
from osler.workers.models import ModelStore
from osler.workers.redis_connection import REDIS_DOWN_ERRORS, connect
from osler.workers.settings import Settings
from osler.workers.storage import ObjectStore, open_store
from osler.workers.sweep import sweep_now_and_then

log = logging.getLogger("osler.runner")

PROGRESS_INTERVAL_SECONDS = 0.25
"""Progress is written at most this often (each write also checks for a cancel)."""

CANCEL_GRACE_SECONDS = 5.0
"""After a cancel, a kernel has this long to notice before its process is ended."""


class CancelWatchdog:
    """Ends the work process if its job was cancelled and the kernel has not stopped."""

    def __init__(self, store: JobStore, job_id: str, poll_seconds: float = 1.0) -> None:
        self.store = store
        self.job_id = job_id
        self.poll_seconds = poll_seconds
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> CancelWatchdog:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()

    def _watch(self) -> None:
        cancelled_at: float | None = None
        while not self._done.wait(self.poll_seconds):
            try:
                job = self.store.load(self.job_id)
            except Exception:  # noqa: BLE001 - Redis restarting: look again later
                continue
            if job is not None and job.state != CANCELLED:
                continue
            cancelled_at = cancelled_at or time.monotonic()
            if time.monotonic() - cancelled_at > CANCEL_GRACE_SECONDS and not self._done.is_set():
                log.warning("job %s cancelled; ending its work process", self.job_id)
                # The pool replaces this process; the redelivered message finds the job
                # cancelled and does nothing, and Dask drops the futures of the lost client.
                os._exit(1)


@dataclass
class JobContext:
    """What a task needs to run one attempt of a job."""

    job: Job
    settings: Settings
    store: JobStore
    datasets: DatasetStore
    files: AttemptFiles
    lease: LeaseKeeper | None = None
    _last_progress: float = field(default=0.0, repr=False)
    _dask: Any = field(default=None, repr=False)
    _dask_used: bool = field(default=False, repr=False)
    _stored_copies: dict[str, str] = field(default_factory=dict, repr=False)
    _exchange: Exchange | None = field(default=None, repr=False)
    _derived: list[DerivedCache] = field(default_factory=list, repr=False)

    @property
    def objects(self) -> ObjectStore:
        return self.files.store

    @property
    def out_dir(self) -> Path:
        return self.files.out_dir

    @property
    def work_dir(self) -> Path:
        return self.files.work_dir

    @property
    def params(self) -> dict[str, Any]:
        return self.job.params

    def input_dataset(self, param: str) -> Dataset:
        return self.datasets.get(self.job.params[param], self.job.owner)

    def input_path(self, param: str) -> Path:
        return self.dataset_path(self.input_dataset(param))

    def dataset_path(self, dataset: Dataset) -> Path:
        """A local path holding one of the caller's datasets (a bucket's is cached by sha256)."""
        path = self.datasets.local_path(dataset)
        self._stored_copies[str(path)] = self.objects.location(self.datasets.key(dataset))
        return path

    @property
    def exchange(self) -> Exchange:
        """How this attempt's Dask tasks reach its files (datasets already in the store are
        read from there, not uploaded again)."""
        if self._exchange is None:
            self._exchange = self.files.exchange(self._stored_copies)
        return self._exchange

    def artifact_path(self, job_id: str, name: str) -> Path:
        """A local, readable path of artifact ``name`` of a succeeded job of this job's owner
        (the store's own file, or this host's cached copy from a bucket).

        Raises InputError (the job fails with its message) when there is no such job (another
        tenant's is as unknown as a missing one), it has not succeeded, or it has no artifact
        ``name`` (any more).
        """
        job = self.store.load(job_id)
        if job is None or job.owner != self.job.owner:
            raise InputError(f"no job with id {job_id!r}")
        if job.state != SUCCEEDED or job.published_attempt is None:
            raise InputError(f"job {job_id} is {job.state}; only a succeeded job's artifacts "
                             "can be read")
        key = artifact_key(job.owner, job.id, job.published_attempt, name)
        listed = any(a["name"] == name for a in job.artifacts)
        if Path(name).name != name or not listed or self.objects.size(key) is None:
            raise InputError(f"job {job_id} has no artifact {name!r}")
        return self.objects.local_file(key, content_key=f"artifact:{key}")

    def progress(self, fraction: float, message: str) -> None:
        """The kernels' progress callback: throttled writes; raises JobCancelled when cancelled
        and LeaseLost when another attempt took the job over."""
        if self.lease is not None and self.lease.lost.is_set():
            raise LeaseLost("another attempt took this job over")
        now = time.monotonic()
        if fraction < 1.0 and now - self._last_progress < PROGRESS_INTERVAL_SECONDS:
            return
        self._last_progress = now
        self.store.report_progress(self.job.id, fraction, message)

    def dask_client(self) -> Any:
        from osler.workers.dask_client import get_client

        self._dask_used = True
        self._dask = get_client(self.settings)
        return self._dask

    def dask_lost(self, exc: BaseException) -> bool:
        """Whether ``exc`` came from losing the Dask scheduler (not from the job's own work)."""
        if not self._dask_used:
            return False
        from osler.workers.dask_client import is_cluster_loss

        return is_cluster_loss(self._dask, exc)

    @property
    def models(self) -> ModelStore:
        return ModelStore(self.store.redis, self.objects)

    def dataset_cache_dir(self, dataset: Dataset, namespace: str) -> Path:
        """Derived data of one of the caller's datasets (fingerprints): kept beside the dataset
        in the store, so it expires and is deleted with the dataset and never leaves the
        tenant (:class:`~osler.workers.derived_cache.DerivedCache`)."""
        key = f"{LAYOUT.dataset(dataset.owner, dataset.id)}/cache/{namespace}"
        cache = DerivedCache(self.objects, key, self.work_dir / "derived" / namespace)
        self._derived.append(cache)
        self._stored_copies.update(cache.known)
        return cache.folder

    def save_derived(self) -> None:
        for cache in self._derived:
            cache.save_new_entries()


def _register_model(ctx: JobContext, kind: JobKind, result: dict[str, Any]) -> None:
    """A training job's model joins the registry; its id goes into the job's result."""
    description = result.get("model")
    if kind.model_kind is None or not isinstance(description, dict):
        return
    # A kernel that reports its metrics beside the model (not inside it) lends them to the model.
    description = {**description, "metrics": description.get("metrics") or result.get("metrics")}
    dataset = ctx.input_dataset("dataset") if "dataset" in ctx.params else None
    model = ctx.models.register(
        ctx.job.owner,
        kind.model_kind,
        description,
        ctx.files.key,
        training_job_id=ctx.job.id,
        params=ctx.params,
        dataset_sha256=dataset.sha256 if dataset else None,
    )
    result["model_id"] = model.id


Requeue = Callable[[Job], None]
"""Sends a job's message again (the task's app, the kind's queue)."""


def run_job(
    job_id: str,
    work: Callable[[JobContext], dict[str, Any]],
    settings: Settings,
    kind: JobKind,
    requeue: Requeue,
) -> Job | None:
    """Run one attempt of ``job_id`` with ``work`` and record the outcome in the job store.

    Returns the record as this attempt left it when the attempt ended the job (succeeded,
    failed or cancelled, or failed as ``TooManyAttempts`` instead of starting), else None.

    Infrastructure failures are not job failures: when Redis drops, the attempt ends and leaves
    the record to the reconciler (the lease lapses); when the Dask scheduler is lost, the job is
    queued again (counted as an attempt) and fails with ``ComputeClusterLost`` only when it has
    used every attempt.
    """
    client = connect(settings)
    store = JobStore(client, settings.ttl_seconds)
    objects = open_store(settings)
    leases = Leases(client, settings.lease_seconds)
    token = new_token()
    job, decision = store.mark_running(job_id, settings.max_attempts, token,
                                       settings.lease_seconds)
    if job is None:
        return None
    files = AttemptFiles(objects, settings, job.owner, job.id, job.attempts)
    if decision != "run":
        if job.finished and job.state != SUCCEEDED:
            files.remove_unpublished(keep=None)  # TooManyAttempts (or cancelled)
        return job if decision == "gave_up" else None
    files.prepare()  # a killed attempt's folders go when the next one starts
    keeper = LeaseKeeper(leases, job_id, token)
    ctx = JobContext(job, settings, store, DatasetStore(client, objects), files, lease=keeper)
    outcome: Job | None = None
    published = False
    try:
        with keeper, CancelWatchdog(store, job_id):
            result = work(ctx)
            ctx.save_derived()
        if keeper.lost.is_set():
            raise LeaseLost("another attempt took this job over")
    except JobCancelled:
        files.end(published=False)
        return store.load(job_id)
    except LeaseLost:
        return None  # another attempt owns the job now
    except REDIS_DOWN_ERRORS as exc:
        log.warning(json.dumps({"event": "attempt_abandoned", "job_id": job_id,
                                "why": f"job store unreachable: {type(exc).__name__}"}))
        return None
    except InputError as exc:
        outcome = store.mark_failed(job_id, "InputError", str(exc))
    except SoftTimeLimitExceeded:
        outcome = store.mark_failed(job_id, "TimeLimitExceeded", "the job ran past its time limit")
    except Exception as exc:  # noqa: BLE001 - any other failure is recorded on the job
        if ctx.dask_lost(exc):
            return _after_cluster_loss(store, settings, job_id, requeue)
        log.exception("job %s failed", job_id)
        outcome = store.mark_failed(job_id, type(exc).__name__,
                                    f"the job failed: {type(exc).__name__}")
    else:
        if not leases.holds(job_id, token):
            return None  # taken over while finishing: the other attempt publishes
        finishing = time.perf_counter()
        over = _storage_over_quota(client, settings, objects, job.owner, files.local_bytes())
        if over is not None:
            files.end(published=False)  # none of its outputs stays once the failure shows
            return store.mark_failed(job_id, "StorageQuotaExceeded", over)
        checked = time.perf_counter()
        artifacts = files.publish()
        log.info(json.dumps({"event": "attempt_published", "job_id": job_id,
                             "attempt": files.attempt,
                             "bytes": sum(int(a["size"]) for a in artifacts),
                             "quota_check_seconds": round(checked - finishing, 3),
                             "upload_seconds": round(time.perf_counter() - checked, 3)}))
        _register_model(ctx, kind, result)
        outcome = store.mark_succeeded(job_id, result, artifacts, token, files.attempt)
        published = outcome is not None and outcome.state == SUCCEEDED
        if not published and "model_id" in result:
            ModelStore(client, objects).delete(result["model_id"], job.owner)
        if outcome is None or outcome.state != SUCCEEDED:
            if outcome is None or outcome.state == CANCELLED:
                objects.delete(LAYOUT.job(job.owner, job.id))
            return outcome
    finally:
        files.end(published=published)
    sweep_now_and_then(objects, store)
    return outcome


def _storage_over_quota(client: Any, settings: Settings, objects: ObjectStore, owner: str,
                        unstored: int) -> str | None:
    """Why the tenant's outputs (this attempt's included: ``unstored`` bytes not yet in the
    store) pass its storage quota, or None."""
    from osler.workers.quotas import QuotaStore, storage_used

    limit = QuotaStore(client, settings).get(owner).max_storage
    used = storage_used(objects, owner) + unstored
    if used <= limit:
        return None
    return (f"the job's outputs bring the tenant's storage to {used} bytes, past its quota of "
            f"{limit} bytes; delete datasets, jobs or models, or ask for a larger quota")


def _after_cluster_loss(store: JobStore, settings: Settings, job_id: str,
                        requeue: Requeue) -> Job | None:
    """The scheduler went away mid-job: run the job again on the next one (None), or give up
    (the failed record)."""
    log.warning(json.dumps({"event": "compute_cluster_lost", "job_id": job_id}))
    queued = store.requeue(job_id, settings.max_attempts,
                           reason="the Dask cluster was lost during the job",
                           give_up_as="ComputeClusterLost")
    if queued is not None:
        requeue(queued)
        return None
    return store.load(job_id)
