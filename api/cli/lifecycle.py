"""``osler logs``, ``osler delete``, ``osler rerun``: a job's event log and what follows it."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from osler.api.client import OslerClient
from osler.workers.job_states import FINISHED_STATES
from osler.workers.settings import Settings

FOLLOW_POLL_SECONDS = 1.0


def _event_line(event: dict[str, Any]) -> str:
    if event["event"] == "state":
        line = f"{event['time']}  {event['state']:<10} attempt {event.get('attempt', 0)}"
        if event.get("error"):
            line += f"  {event['error']['type']}: {event['error']['message']}"
            line += f"  (stage: {event.get('stage', '')})" if event.get("stage") else ""
        elif event.get("message"):
            line += f"  {event['message']}"
        return line
    return f"{event['time']}  {round(100 * event.get('fraction', 0)):>3}%  {event['message']}"


def cmd_logs(args: argparse.Namespace, settings: Settings) -> int:
    """Print a job's event log; with --follow, keep printing until the job finishes."""
    client = OslerClient.from_environment(settings)
    shown = 0
    while True:
        events = client.logs(args.job_id)
        for event in events[shown:]:
            print(json.dumps(event) if args.json else _event_line(event), flush=True)
        shown = len(events)
        if not args.follow or client.job(args.job_id)["state"] in FINISHED_STATES:
            return 0
        time.sleep(FOLLOW_POLL_SECONDS)


def cmd_delete(args: argparse.Namespace, settings: Settings) -> int:
    OslerClient.from_environment(settings).delete_job(args.job_id)
    print(f"job {args.job_id} deleted")
    return 0


def cmd_rerun(args: argparse.Namespace, settings: Settings) -> int:
    job = OslerClient.from_environment(settings).rerun(args.job_id)
    print(job["id"])
    return 0


