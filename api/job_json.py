"""A job as the API shows it: the record's public fields, and for a queued job where it stands."""

from __future__ import annotations

from typing import Any

from osler.api.services import services
from osler.workers.job_states import QUEUED
from osler.workers.jobs import Job
from osler.workers.kinds import get_kind
from osler.workers.queue_position import queue_position


def job_json(job: Job) -> dict[str, Any]:
    """``Job.public()``, plus ``queue`` (``{"name", "position", "ahead"}``) while queued."""
    data = job.public()
    kind = get_kind(job.kind)
    if job.state == QUEUED and kind is not None:
        data["queue"] = queue_position(services().redis, job.id, kind.queue)
    return data
