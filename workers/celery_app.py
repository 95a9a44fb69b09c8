"""The Celery application: JSON only, late acks, one visibility timeout longer than any job.

See ``shared/RELIABILITY.md``: these settings are what make delivery at-least-once without
losing a job when a worker dies, and without redelivering a job that is still running.
"""

from __future__ import annotations

import socket
import threading

from celery import Celery
from celery.signals import worker_ready, worker_shutdown
from kombu import Queue

from .kinds import QUEUES
from .redis_connection import celery_broker_url, connect
from .settings import Settings

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
    app = Celery("osler", broker=broker, backend=broker, include=["workers.tasks"])
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
    )
    return app


settings = Settings.from_env()
celery_app = make_celery(settings)


class _Heartbeat:
    """Writes ``osler:worker:<hostname>`` every few seconds while the worker runs."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, hostname: str) -> None:
        self._thread = threading.Thread(target=self._beat, args=(hostname,), daemon=True)
        self._thread.start()

    def _beat(self, hostname: str) -> None:
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
    _heartbeat.start(hostname)


@worker_shutdown.connect
def _stop_heartbeat(**_: object) -> None:
    _heartbeat.stop()
