"""A job's progress until it finishes (``--watch``, the demos): a bar redrawn in place on a
terminal; elsewhere (a pipe, a log file) one line per change of state, percentage or message."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TextIO

from osler.api.client import OslerClient


def _line_per_change(stream: TextIO) -> Callable[[dict[str, Any]], None]:
    last: list[tuple[str, int, str]] = []

    def show(job: dict[str, Any]) -> None:
        progress = job["progress"]
        now = (job["state"], round(100 * progress["fraction"]), progress["message"])
        if not last or last[0] != now:
            print(f"{now[0]} {now[1]:3d}% {now[2]}".rstrip(), file=stream, flush=True)
            last[:] = [now]

    return show


def watch_job(client: OslerClient, job_id: str, stream: TextIO | None = None) -> dict[str, Any]:
    """Long-poll ``job_id`` until it finishes, showing each change on ``stream`` (stderr)."""
    stream = stream or sys.stderr
    if not stream.isatty():
        return client.wait(job_id, on_progress=_line_per_change(stream))
    from tqdm import tqdm

    with tqdm(total=100, bar_format="{bar:30}| {n:3.0f}% {desc}", file=stream) as bar:

        def show(job: dict[str, Any]) -> None:
            bar.n = round(100 * job["progress"]["fraction"], 1)
            bar.set_description_str(f"{job['state']}: {job['progress']['message']}"[:70])

        return client.wait(job_id, on_progress=show)
