r"""The Celery application: JSON only, late acks, one visibility timeout longer than any job.

See ``shared/RELIABILITY.md``: these settings are what make delivery at-least-once without
losing a job when a worker dies, and without redelivering a job that is still running.

No app exists at import. :func:`make_celery` builds one for a :class:`Settings`; a worker
process installs it with :func:`set_celery`, and :func:`get_celery` returns it (building one
from the environment on first use). Tasks are ``shared_task``\ s that read the settings from
the app they run in (``task.app.osler_settings``).
"""

from __future__ import annotations

import socket
import threading

from celery import Celery
from celery.signals import worker_ready, worker_shutdown
from kombu import Queue

from osler.workers.kinds import QUEUES, all_kinds
from osler.workers.redis_connection import celery_broker_url, connect
from osler.workers.settings import Settings

HEARTBEAT_SECONDS = 10
"""How often a worker says it is alive; ``/readyz`` wants one seen within 30 s."""

HEARTBEAT_TTL_SECONDS = 30


def make_celery(settings: Settings) -> Celery:
    """A Celery app configured for ``settings`` (the gateway and the workers both use this)."""
    broker = celery_broker_url(settings)
    transport_options = {
        "visibility_timeout": settings.visibility_timeout,
        "socket_connect_timeout": 2,
        "socket_timeout": 5,
    }
    app = Celery("osler", broker=broker, backend=broker, include=["osler.workers.tasks"])
    app.osler_settings = settings
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        worker_prefetch_multiplier=1,
        worker_cancel_long_running_tasks_on_connection_loss=True,
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=3,
        broker_transport_options=transport_options,
        result_backend_transport_options=transport_options,
        visibility_timeout=settings.visibility_timeout,
        result_expires=3600,
        task_queues=[Queue(name) for name in QUEUES],
        task_default_queue="compute",
        task_create_missing_queues=False,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        task_publish_retry=False,
        broker_heartbeat=0,
        task_annotations=_time_limits(settings),
    )
    return app


def _time_limits(settings: Settings) -> dict[str, dict[str, int]]:
    """Each kind's hard and soft time limit, capped by the service's longest job."""
    limits = {}
    for kind in all_kinds().values():
        hard = min(kind.time_limit, settings.job_time_limit)
        limits[kind.task_name] = {"time_limit": hard, "soft_time_limit": max(1, hard - 30)}
    return limits


_app: Celery | None = None


def get_celery() -> Celery:
    """This process's Celery app (built from the environment on first use)."""
    global _app
    if _app is None:
        _app = make_celery(Settings.from_env())
    return _app


def set_celery(app: Celery) -> Celery:
    """Make ``app`` this process's Celery app (``osler worker`` does, before it starts)."""
    global _app
    _app = app
    app.set_current()
    return app


def app_settings(app: Celery) -> Settings:
    """The settings ``app`` was built for."""
    return app.osler_settings


class _Heartbeat:
    """Writes ``osler:worker:<hostname>`` every few seconds while the worker runs."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, hostname: str, settings: Settings) -> None:
        self._thread = threading.Thread(
            target=self._beat, args=(hostname, settings), daemon=True
        )
        self._thread.start()

    def _beat(self, hostname: str, settings: Settings) -> None:
        client = connect(settings)
        while not self._stop.is_set():
            try:
                client.set(f"osler:worker:{hostname}", "alive", ex=HEARTBEAT_TTL_SECONDS)
            except Exception:  # noqa: BLE001 - Redis may be restarting; try again next beat
                pass
            self._stop.wait(HEARTBEAT_SECONDS)

    def stop(self) -> None:
        self._stop.set()


_heartbeat = _Heartbeat()


@worker_ready.connect
def _start_heartbeat(sender=None, **_: object) -> None:
    hostname = getattr(sender, "hostname", None) or socket.gethostname()
    app = getattr(sender, "app", None) or get_celery()
    _heartbeat.start(hostname, app_settings(app))


@worker_shutdown.connect
def _stop_heartbeat(**_: object) -> None:
    _heartbeat.stop()
    _governance_stop.set()


_governance_stop = threading.Event()


@worker_ready.connect
def _start_governance_loops(sender=None, **_: object) -> None:
    """Each worker delivers completion webhooks (claiming each job with a lock) and exports
    the audit trail's finished days (once across workers)."""
    from osler.workers.audit import start_exporter
    from osler.workers.webhooks import start_dispatcher

    settings = app_settings(getattr(sender, "app", None) or get_celery())
    start_dispatcher(connect(settings), settings.ttl_seconds, settings.webhook_allow_private,
                     _governance_stop)
    start_exporter(connect(settings), settings, _governance_stop)
