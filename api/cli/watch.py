"""A job's progress drawn as a bar on stderr until it finishes (``--watch``, the demos)."""

from __future__ import annotations

import sys
from typing import Any

from osler.api.client import OslerClient


def watch_job(client: OslerClient, job_id: str) -> dict[str, Any]:
    """Long-poll ``job_id`` until it finishes, redrawing the bar at each answer."""
    from tqdm import tqdm

    with tqdm(total=100, bar_format="{bar:30}| {n:3.0f}% {desc}", file=sys.stderr) as bar:

        def show(job: dict[str, Any]) -> None:
            bar.n = round(100 * job["progress"]["fraction"], 1)
            bar.set_description_str(f"{job['state']}: {job['progress']['message']}"[:70])

        return client.wait(job_id, on_progress=show)
