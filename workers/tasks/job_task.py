"""``@job_task(kind)``: turn a function of a :class:`JobContext` into the kind's Celery task."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..celery_app import celery_app, settings
from ..kinds import JobKind
from ..runner import JobContext, run_job

Work = Callable[[JobContext], dict[str, Any]]


def job_task(kind: JobKind) -> Callable[[Work], Any]:
    """Register ``work`` as the task that runs ``kind`` (time limits from the kind)."""
    hard_limit = min(kind.time_limit, settings.job_time_limit)

    def decorate(work: Work) -> Any:
        @celery_app.task(
            name=kind.task_name,
            time_limit=hard_limit,
            soft_time_limit=max(1, hard_limit - 30),
            ignore_result=True,
        )
        def task(job_id: str) -> None:
            run_job(job_id, work, settings, kind)

        task.work = work
        return task

    return decorate
