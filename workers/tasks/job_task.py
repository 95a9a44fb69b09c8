"""``@job_task(kind)``: turn a function of a :class:`JobContext` into the kind's Celery task."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from celery import shared_task

from osler.workers.celery_app import app_settings
from osler.workers.jobs import Job
from osler.workers.kinds import JobKind
from osler.workers.runner import JobContext, run_job

Work = Callable[[JobContext], dict[str, Any]]

REQUEUE_DELAY_SECONDS = 3
"""A job queued again after its Dask cluster was lost waits this long (the scheduler restarts)."""


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

            run_job(job_id, work, app_settings(self.app), kind, requeue)

        task.work = work
        return task

    return decorate
