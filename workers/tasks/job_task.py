"""``@job_task(kind)``: turn a function of a :class:`JobContext` into the kind's Celery task."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from celery import shared_task

from osler.workers.celery_app import app_settings
from osler.workers.errors import JobCancelled, JobFailed
from osler.workers.job_states import CANCELLED, FAILED
from osler.workers.jobs import Job
from osler.workers.kinds import JobKind
from osler.workers.runner import JobContext, run_job

if TYPE_CHECKING:
    from osler.kernels.incremental import PriorJob

Work = Callable[[JobContext], dict[str, Any]]

REQUEUE_DELAY_SECONDS = 3
"""A job queued again after its Dask cluster was lost waits this long (the scheduler restarts)."""


def raise_for_outcome(job: Job | None) -> None:
    """End the Celery task as the job ended: a failed job is a FAILURE carrying its error type
    (Flower and ``celery inspect`` show it), a cancelled one a FAILURE with ``JobCancelled``;
    anything else (succeeded, or this delivery had nothing to do) is a SUCCESS."""
    if job is None:
        return
    if job.state == FAILED and job.error is not None:
        raise JobFailed(f"{job.error['type']}: {job.error['message']}",
                        error_type=job.error["type"])
    if job.state == CANCELLED:
        raise JobCancelled("the job was cancelled")


def job_task(kind: JobKind) -> Callable[[Work], Any]:
    """Register ``work`` as the task that runs ``kind``.

    Its time limits come from the app (``make_celery`` caps the kind's by the settings).
    """

    def decorate(work: Work) -> Any:
        @shared_task(name=kind.task_name, bind=True, ignore_result=True)
        def task(self: Any, job_id: str) -> None:
            def requeue(job: Job) -> None:
                self.app.send_task(kind.task_name, args=[job.id], queue=kind.queue,
                                   task_id=job.id, countdown=REQUEUE_DELAY_SECONDS)

            outcome = run_job(job_id, work, app_settings(self.app), kind, requeue)
            raise_for_outcome(outcome)

        task.work = work
        return task

    return decorate


def extended_job(ctx: JobContext) -> PriorJob | None:
    """The job the ``extends`` param names, as the kernels take it (its artifacts read through
    :meth:`JobContext.artifact_path`); None without the param."""
    from osler.kernels.incremental import PriorJob

    job_id = ctx.params.get("extends")
    return None if job_id is None else PriorJob(job_id, partial(ctx.artifact_path, job_id))
