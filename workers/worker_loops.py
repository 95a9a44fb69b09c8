"""What a Celery worker's main process does beside consuming tasks, from ready to shutdown.

- a **heartbeat**: ``osler:worker:<hostname>`` every few seconds (``/readyz`` reads the queues
  a worker serves from its hostname, ``compute+train@host``);
- the **reconciler** (:mod:`osler.workers.reconciler`), one pass at a time across the cluster;
- the **webhook dispatcher** and the **audit exporter** (:mod:`osler.workers.webhooks`,
  :mod:`osler.workers.audit`);
- a **Dask probe** (compute workers with a configured scheduler): a small process of its own that
  keeps a client of the scheduler and writes ``osler:dask:<hostname>`` with the number of Dask
  workers connected, so ``/readyz`` knows when computing cannot run. It is a separate process
  (spawned, not forked) so the prefork pool never inherits a Dask event loop.

``osler worker`` connects these to Celery's ``worker_ready`` / ``worker_shutdown`` signals by
importing this module.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import socket
import threading
import time
from typing import Any

from celery.signals import worker_process_init, worker_ready, worker_shutdown

from osler.workers.audit import start_exporter
from osler.workers.celery_app import app_settings, get_celery
from osler.workers.jobs import Job, JobStore
from osler.workers.kinds import COMPUTE, all_kinds
from osler.workers.processes import die_with_parent
from osler.workers.reconciler import Reconciler
from osler.workers.redis_connection import connect
from osler.workers.settings import Settings
from osler.workers.webhooks import start_dispatcher

log = logging.getLogger("osler.worker")

HEARTBEAT_SECONDS = 5
"""How often a worker says it is alive; ``/readyz`` wants one seen within the TTL."""

HEARTBEAT_TTL_SECONDS = 20

SERVED_QUEUES: list[str] = []
"""The queues of this worker (``osler worker`` sets them before the pool forks)."""


def worker_key(hostname: str) -> str:
    return f"osler:worker:{hostname}"


def dask_key(hostname: str) -> str:
    return f"osler:dask:{hostname}"


def queues_of(hostname: str) -> list[str]:
    """The queues a worker serves, from its hostname (``compute+train@host``)."""
    return hostname.partition("@")[0].split("+")


def _beat(hostname: str, settings: Settings, stop: threading.Event) -> None:
    client = connect(settings)
    while not stop.is_set():
        try:
            client.set(worker_key(hostname), "alive", ex=HEARTBEAT_TTL_SECONDS)
        except Exception:  # noqa: BLE001 - Redis may be restarting; try again next beat
            pass
        stop.wait(HEARTBEAT_SECONDS)


def probe_dask(hostname: str, settings: Settings) -> None:
    """Run in its own process: report the scheduler's worker count until the parent dies."""
    die_with_parent()
    from distributed import Client

    redis_client = connect(settings)
    dask: Any = None
    while True:
        try:
            if dask is None or dask.status != "running":
                if dask is not None:
                    dask.close(timeout=2)
                dask = Client(settings.dask_scheduler, timeout=5, set_as_default=False)
            workers = len(dask.scheduler_info().get("workers", {}))
        except Exception:  # noqa: BLE001 - scheduler down or restarting: zero workers for now
            workers, dask = 0, None
        try:
            redis_client.set(dask_key(hostname), json.dumps({"workers": workers}),
                             ex=HEARTBEAT_TTL_SECONDS)
        except Exception:  # noqa: BLE001 - Redis restarting
            pass
        time.sleep(HEARTBEAT_SECONDS)


class WorkerLoops:
    def __init__(self) -> None:
        self.stop = threading.Event()
        self.probe: multiprocessing.process.BaseProcess | None = None

    def start(self, hostname: str, app: Any) -> None:
        settings = app_settings(app)
        threading.Thread(target=_beat, args=(hostname, settings, self.stop), daemon=True).start()

        def send(job: Job) -> None:
            kind = all_kinds()[job.kind]
            app.send_task(kind.task_name, args=[job.id], queue=kind.queue, task_id=job.id)

        reconciler = Reconciler(JobStore(connect(settings), settings.ttl_seconds), send,
                                max_attempts=settings.max_attempts)
        threading.Thread(target=reconciler.run_forever, args=(self.stop,), daemon=True).start()
        # Completion webhooks (each job claimed with a lock) and the audit trail's daily export
        # (once across workers).
        start_dispatcher(connect(settings), settings.ttl_seconds, settings.webhook_allow_private,
                         self.stop)
        start_exporter(connect(settings), settings, self.stop)
        if settings.dask_scheduler and COMPUTE in queues_of(hostname):
            self._start_probe(hostname, settings)
            threading.Thread(target=self._keep_probe, args=(hostname, settings),
                             daemon=True).start()

    def _start_probe(self, hostname: str, settings: Settings) -> None:
        self.probe = multiprocessing.get_context("spawn").Process(
            target=probe_dask, args=(hostname, settings), daemon=True)
        self.probe.start()

    def _keep_probe(self, hostname: str, settings: Settings) -> None:
        """Start the Dask probe again when it died (killed, out of memory): without its reports
        ``/readyz`` would say no Dask worker is connected while the cluster computes."""
        while not self.stop.wait(HEARTBEAT_SECONDS):
            probe = self.probe
            if probe is not None and not probe.is_alive() and not self.stop.is_set():
                log.warning(json.dumps({"event": "dask_probe_restarted",
                                        "exitcode": probe.exitcode}))
                self._start_probe(hostname, settings)

    def shutdown(self) -> None:
        self.stop.set()
        if self.probe is not None and self.probe.is_alive():
            self.probe.terminate()


_loops = WorkerLoops()


@worker_ready.connect
def _on_ready(sender: Any = None, **_: object) -> None:
    hostname = getattr(sender, "hostname", None) or socket.gethostname()
    _loops.start(hostname, getattr(sender, "app", None) or get_celery())


@worker_shutdown.connect
def _on_shutdown(**_: object) -> None:
    _loops.shutdown()


def warm_job_process() -> None:
    """Import the compute kernels, load their compiled code and connect to the Dask scheduler in
    this pool process, then freeze the objects of all that out of the garbage collector's way, so
    its first job does not pay for them (the Dask workers do the same in
    ``osler.kernels.preload``)."""
    try:
        import osler.kernels.genome.distance  # noqa: F401  (the job kernel and its imports)
        import osler.kernels.molecules.similarity_job  # noqa: F401
        from osler.kernels.compile_once import compiling_alone
        from osler.kernels.genome.warmup import warm_up

        with compiling_alone():  # on a fresh install one process compiles, the others load
            seconds = warm_up()
        log.info(json.dumps({"event": "kernels_loaded", "seconds": round(seconds, 2)}))
    except Exception:  # noqa: BLE001 - a failed warm-up only means a slower first job
        log.exception("warming the kernels failed")
    settings = app_settings(get_celery())
    if settings.dask_scheduler:  # without one, the first job starts its own LocalCluster
        from osler.workers.dask_client import get_client

        try:
            get_client(settings)
        except Exception as exc:  # noqa: BLE001 - the first job connects (or fails) itself
            log.warning(json.dumps({"event": "dask_not_reached_at_start",
                                    "error": type(exc).__name__}))
    from osler.kernels.startup_objects import freeze_startup_objects

    freeze_startup_objects()


@worker_process_init.connect
def _on_process_init(**_: object) -> None:
    # In a thread: Celery gives a new pool process 4 s to report ready, and a first job that
    # arrives meanwhile waits on numba's lock for the kernel it needs, not for all of them.
    if COMPUTE in SERVED_QUEUES:
        from osler.kernels.warm_memory import warm_memory

        warm_memory()  # here: jobs run in this thread, whose arena keeps the memory
        threading.Thread(target=warm_job_process, name="osler-warm-up", daemon=True).start()
