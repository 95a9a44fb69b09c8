"""The embedded stack: Redis, a Dask scheduler and workers, one Celery worker per queue and the
gateway, each supervised (restarted with backoff when it dies).

One machine, no set-up. The processes are the same ones the cluster mode runs (``osler worker``,
``osler gateway``, ``dask scheduler``, ``dask worker``); only where Redis and the Dask scheduler
come from differs.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import requests

from osler.api.cli.supervisor import Supervisor
from osler.workers.kinds import QUEUES
from osler.workers.processes import die_with_parent
from osler.workers.redis_connection import connect
from osler.workers.redis_server import RedisServer, unix_socket_answers
from osler.workers.settings import Settings
from osler.workers.tenants import TenantStore

STARTUP_TIMEOUT_SECONDS = 300
"""Longest wait for readiness. The first start of a fresh install compiles the kernels into
numba's cache (one process compiles, the others wait: about 80 s on 2 cores); later starts
take about 13 s."""

SLOW_START_NOTICE_SECONDS = 20
"""After this long waiting, say why (once), so a first start does not look hung."""

DASK_QUIET_WHEN_IDLE = {
    "DASK_DISTRIBUTED__ADMIN__TICK__INTERVAL": "500ms",
    "DASK_DISTRIBUTED__ADMIN__SYSTEM_MONITOR__INTERVAL": "2s",
    "DASK_DISTRIBUTED__WORKER__MEMORY__MONITOR_INTERVAL": "1s",
    "DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED": "False",
}
"""Dask's defaults poll (and profile) every 10-500 ms in every process: ~10% of a 2-core machine
while idle, taken from the training and predict workers that share it. Slower polls cost nothing
to blocks of >= 100 ms."""


class StartupError(Exception):
    """The embedded stack could not start; the message says why."""


def port_is_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _log_to(path: Path) -> None:
    """Supervisor events (restarts) go to ``path`` and stderr, one JSON line each."""
    logger = logging.getLogger("osler.supervisor")
    if not any(isinstance(h, logging.FileHandler) and h.baseFilename == str(path)
               for h in logger.handlers):
        logger.addHandler(logging.FileHandler(path))
        logger.addHandler(logging.StreamHandler())
    logger.setLevel(logging.INFO)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class EmbeddedStack:
    """Start everything for ``settings`` on ``host:port``; stop it all on exit."""

    def __init__(self, settings: Settings, host: str = "127.0.0.1", port: int = 8000,
                 dask_dashboard_port: int | None = None) -> None:
        self.settings = settings
        self.host = host
        self.port = port
        self.dask_dashboard_port = dask_dashboard_port or free_port()
        self.redis_server: RedisServer | None = None
        self.supervisor = Supervisor()
        self.logs = settings.data_dir / "logs"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def dask_dashboard_url(self) -> str:
        """The Dask scheduler's dashboard (bokeh), bound to the gateway's host."""
        return f"http://{self.host}:{self.dask_dashboard_port}/status"

    def __enter__(self) -> EmbeddedStack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def processes(self) -> list[subprocess.Popen[bytes]]:
        """The running children, in start order (Redis first when embedded)."""
        return [c.process for c in self.supervisor.children
                if c.process is not None and c.process.poll() is None]

    def start(self) -> None:
        for port, option in ((self.port, "--port"),
                             (self.dask_dashboard_port, "--dask-dashboard-port")):
            if not port_is_free(self.host, port):
                raise StartupError(f"port {port} is in use on {self.host}: stop what listens "
                                   f"there, or choose another with {option}")
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        _log_to(self.logs / "supervisor.log")
        if self.settings.redis_url is None:
            self._start_redis()
        scheduler = self._start_dask()
        env = self._child_env(scheduler)
        for queue in QUEUES:
            self._spawn(f"worker-{queue}", ["worker", "--queues", queue], env)
        self._spawn("gateway", ["gateway", "--host", self.host, "--port", str(self.port)], env)
        self._wait_until_ready()
        self.supervisor.watch()

    def _start_dask(self) -> str:
        """A Dask scheduler and workers (one thread each), as ``dask`` processes like the
        cluster mode runs; returns the scheduler's address."""
        address = f"tcp://127.0.0.1:{free_port()}"
        # The Dask workers keep their input cache under the stack's data directory.
        env = {**os.environ, **DASK_QUIET_WHEN_IDLE,
               "OSLER_DATA_DIR": str(self.settings.data_dir)}
        self._spawn_command(
            "dask-scheduler",
            [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
             "--port", address.rsplit(":", 1)[1],
             "--dashboard-address", f"{self.host}:{self.dask_dashboard_port}",
             "--preload", "osler.kernels.scheduler_preload"],
            env,
        )
        # A dask worker exits when its scheduler is lost; the supervisor starts it again.
        self._spawn_command(
            "dask-workers",
            [sys.executable, "-m", "distributed.cli.dask_worker", address,
             "--nworkers", str(self.settings.dask_workers), "--nthreads", "1",
             "--local-directory", str(self.settings.data_dir / "dask"), "--no-dashboard",
             "--preload", "osler.kernels.preload"],
            env,
        )
        return address

    def _start_redis(self) -> None:
        socket_path = self.settings.embedded_redis_socket
        if unix_socket_answers(socket_path):
            raise StartupError(
                f"osler is already running on {self.settings.data_dir} "
                "(stop it, or set OSLER_DATA_DIR to another folder)"
            )
        server = RedisServer(socket_path.parent, unix_socket=socket_path)
        self.redis_server = server
        # Restarted from its AOF, so every record written before a crash comes back.
        self.supervisor.add("redis", lambda: server.start().process)

    def _child_env(self, scheduler: str) -> dict[str, str]:
        env = dict(os.environ)
        env["OSLER_DATA_DIR"] = str(self.settings.data_dir)
        env["OSLER_DASK_SCHEDULER"] = scheduler
        if self.settings.storage_url_setting:
            env["OSLER_STORAGE_URL"] = self.settings.storage_url_setting
        if self.settings.redis_url:
            env["OSLER_REDIS_URL"] = self.settings.redis_url
        else:
            env.pop("OSLER_REDIS_URL", None)
        return env

    def _spawn(self, name: str, args: list[str], env: dict[str, str]) -> None:
        self._spawn_command(name, [sys.executable, "-m", "osler.api.cli", *args], env)

    def _spawn_command(self, name: str, command: list[str], env: dict[str, str]) -> None:
        log_path = self.logs / f"{name}.log"

        def start() -> subprocess.Popen[bytes]:
            with log_path.open("ab") as log:
                return subprocess.Popen(
                    command,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    preexec_fn=die_with_parent,
                )

        self.supervisor.add(name, start)

    def _wait_until_ready(self) -> None:
        started = time.monotonic()
        deadline = started + STARTUP_TIMEOUT_SECONDS
        noticed = False
        while time.monotonic() < deadline:
            if not noticed and time.monotonic() - started > SLOW_START_NOTICE_SECONDS:
                noticed = True
                print("still starting: the first start after an install compiles the kernels "
                      "(about a minute; later starts take seconds)", file=sys.stderr, flush=True)
            for child in self.supervisor.children:
                if child.process is not None and child.process.poll() is not None:
                    raise StartupError(
                        f"{child.name} exited early (code {child.process.returncode}); "
                        f"see {self.logs / (child.name + '.log')}"
                    )
            try:
                if requests.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.25)
        raise StartupError(f"the stack was not ready within {STARTUP_TIMEOUT_SECONDS} s")

    def create_token(self, tenant: str = "default") -> str:
        return TenantStore(connect(self.settings)).create_token(tenant)

    def stop(self) -> None:
        self.supervisor.stop()
        others = [c.process for c in self.supervisor.children
                  if c.name != "redis" and c.process is not None]
        for process in others:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in others:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.supervisor.children = []
        if self.redis_server is not None:
            self.redis_server.stop()
            self.redis_server = None


def wait_for_signal() -> None:
    """Block until SIGINT or SIGTERM."""
    received: list[int] = []

    def handler(signum: int, _frame: object) -> None:
        received.append(signum)

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    while not received:
        signal.pause()


def demo_dir(settings: Settings) -> Path:
    return settings.data_dir / "demo"
