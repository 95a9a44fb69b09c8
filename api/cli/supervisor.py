"""A supervisor for the embedded stack: every child that dies is started again, with backoff.

Children are supervised in the order they were added (Redis first, then the Dask scheduler and
workers, the Celery workers, the gateway), so when several die at once Redis comes back before
the processes that need it. Each restart is logged as one JSON line.
"""

from __future__ import annotations

import json
import logging
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger("osler.supervisor")

CHECK_SECONDS = 0.5
"""How often the children are looked at."""

FIRST_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 30.0
HEALTHY_AFTER_SECONDS = 60.0
"""A child that has run this long since its last start gets its backoff reset."""


@dataclass
class Child:
    """One supervised process: ``start()`` launches it and returns its ``Popen``."""

    name: str
    start: Callable[[], subprocess.Popen[bytes]]
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    started_at: float = 0.0
    backoff: float = FIRST_BACKOFF_SECONDS
    due: float | None = field(default=None, repr=False)
    """When a dead child is to be started again."""

    def launch(self) -> None:
        self.process = self.start()
        self.started_at = time.monotonic()
        self.due = None


class Supervisor:
    def __init__(self, on_restart: Callable[[Child], None] | None = None) -> None:
        self.children: list[Child] = []
        self.on_restart = on_restart
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, name: str, start: Callable[[], subprocess.Popen[bytes]]) -> Child:
        """Start a child now and supervise it from then on."""
        child = Child(name, start)
        child.launch()
        self.children.append(child)
        return child

    def watch(self) -> None:
        """Supervise in a thread until :meth:`stop`."""
        self._thread = threading.Thread(target=self._run, name="osler-supervisor", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(CHECK_SECONDS):
            self.check()

    def check(self) -> None:
        """One look at every child, in order; restart the dead ones whose backoff has passed."""
        now = time.monotonic()
        for child in self.children:
            if self._stop.is_set():
                return
            process = child.process
            if process is not None and process.poll() is None:
                if now - child.started_at > HEALTHY_AFTER_SECONDS:
                    child.backoff = FIRST_BACKOFF_SECONDS
                continue
            if child.due is None:
                child.due = now + child.backoff
                log.warning(json.dumps({
                    "event": "child_exited", "child": child.name,
                    "code": None if process is None else process.returncode,
                    "restart_in_s": round(child.backoff, 2),
                }))
                child.backoff = min(MAX_BACKOFF_SECONDS, child.backoff * 2)
                continue
            if now < child.due:
                continue
            try:
                child.launch()
            except Exception as exc:  # noqa: BLE001 - try again after the next backoff
                child.process = None
                child.due = None
                log.warning(json.dumps({"event": "restart_failed", "child": child.name,
                                        "error": type(exc).__name__}))
                continue
            child.restarts += 1
            log.warning(json.dumps({"event": "child_restarted", "child": child.name,
                                    "restarts": child.restarts}))
            if self.on_restart is not None:
                self.on_restart(child)
            return  # one restart per look: what depends on it comes back in a later look

    def stop(self) -> None:
        """Stop supervising (the caller then stops the children)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
