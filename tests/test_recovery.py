"""No job lost, none stranded: Redis killed and restarted, a worker host lost, the Dask
scheduler lost, the embedded stack's Redis killed. Real processes, SIGKILL, no mocks.

The tests share the session's Redis, Dask cluster and Celery worker (``tests/conftest.py``),
and start extra processes of their own where a test kills them.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import requests

from osler.api.cli.embedded import EmbeddedStack, free_port
from osler.api.client import OslerClient
from osler.workers.leases import lease_key
from osler.workers.redis_connection import connect
from osler.workers.redis_server import RedisServer
from osler.workers.settings import Settings
from osler.workers.worker_loops import dask_key
from tests.conftest import (
    WorkerProcess,
    auth,
    forget_reports,
    npy_bytes,
    upload,
    wait_for_job,
    wait_until,
)
from tests.test_reliability import slow_job, wait_running


def _matrix(client, token, job_id) -> np.ndarray:
    data = client.get(f"/v1/jobs/{job_id}/artifacts/matrix.npy", headers=auth(token)).data
    return np.load(io.BytesIO(data))


def _attempt_folders(settings: Settings, job_id: str) -> list[Path]:
    return list((settings.data_dir / "tenants").glob(f"*/jobs/{job_id}/attempt-*"))


def _only_published(settings: Settings, job: dict) -> bool:
    """A succeeded job keeps exactly the folder of the attempt it published (its last)."""
    return [p.name for p in _attempt_folders(settings, job["id"])] == [
        f"attempt-{job['attempts']}"]


def _submit(client, token, dataset_id: str, **params) -> dict:
    response = client.post("/v1/jobs", json={"kind": "genome-distance",
                                             "params": {"dataset": dataset_id, **params}},
                           headers=auth(token))
    assert response.status_code == 202, response.get_json()
    return response.get_json()


def test_redis_killed_right_after_202s_and_mid_run_every_job_succeeds_once(
    client, token, redis_server: RedisServer, worker: WorkerProcess
):
    # Given a running slow job and three jobs accepted a moment before Redis is killed -9
    array, running = slow_job(client, token, n=400, m=2000, block_size=16)
    wait_running(client, token, running["id"])
    small = np.random.default_rng(1).integers(0, 3, (30, 200), dtype=np.int8)
    dataset = upload(client, token, "small.npy", npy_bytes(small)).get_json()
    accepted = [_submit(client, token, dataset["id"], plots=False) for _ in range(3)]
    redis_server.stop(kill=True)
    time.sleep(1)
    redis_server.start()
    # Then every job ends succeeded, with one matrix each, equal to the reference
    for job in [running, *accepted]:
        done = wait_for_job(client, token, job["id"], timeout=150)
        assert done["state"] == "succeeded", done
        assert [a["name"] for a in done["artifacts"]].count("matrix.npy") == 1
    a = small.astype(np.float64)
    np.testing.assert_allclose(_matrix(client, token, accepted[0]["id"]), a @ a.T / 200,
                               rtol=1e-5)
    b = array.astype(np.float64)
    np.testing.assert_allclose(_matrix(client, token, running["id"]), b @ b.T / b.shape[1],
                               rtol=1e-5)
    finished = client.get(f"/v1/jobs/{running['id']}", headers=auth(token)).get_json()
    assert wait_until(lambda: _only_published(worker.settings, finished), 10)


def test_a_lost_worker_hosts_job_runs_on_another_within_90_s(
    client, token, settings: Settings, worker: WorkerProcess, tmp_path: Path
):
    # Given two workers with the default visibility timeout (hours), and a job running on one
    second = WorkerProcess(settings, tmp_path / "second-worker.log").start()
    try:
        array, job = slow_job(client, token, n=500, m=3000, block_size=16)
        wait_running(client, token, job["id"])
        holder = connect(settings).get(lease_key(job["id"]))
        pid = int(holder.split("|")[1])
        victim = second if pid in second.pool_pids() else worker
        # When the whole worker (main process and pool) is SIGKILLed, as when its host is lost
        killed_at = time.monotonic()
        victim.stop(signal.SIGKILL)
        done = wait_for_job(client, token, job["id"], timeout=90)
        # Then the other worker runs it again, counted, within 90 s, with one result
        assert done["state"] == "succeeded", done
        assert time.monotonic() - killed_at < 90
        assert done["attempts"] == 2
        a = array.astype(np.float64)
        np.testing.assert_allclose(_matrix(client, token, job["id"]), a @ a.T / a.shape[1],
                                   rtol=1e-5)
        assert wait_until(lambda: _only_published(settings, done), timeout=10)
    finally:
        second.stop()
        if worker.process is None:
            worker.start()


def test_a_killed_dask_probe_is_started_again_and_readyz_stays_ready(
    client, settings: Settings, worker: WorkerProcess
):
    # Given a compute worker's Dask probe, SIGKILLed
    probes = worker.probe_pids()
    assert len(probes) == 1
    os.kill(probes[0], signal.SIGKILL)
    # Then the worker starts another one
    assert wait_until(lambda: worker.probe_pids() not in ([], probes), timeout=20)
    # which reports the Dask workers again: readiness comes back once the last report is gone
    forget_reports(settings, dask_key("*"))

    def ready() -> bool:
        response = client.get("/readyz")
        return response.status_code == 200 and response.get_json()["parts"]["dask"][
            "workers"] >= 1

    assert wait_until(ready, timeout=20)


def test_killed_attempts_are_counted_exactly_and_leave_no_folders(
    client, token, settings: Settings, worker: WorkerProcess
):
    # Given a job whose work process is killed every time it runs (max_attempts is 3)
    _, job = slow_job(client, token, n=500, m=3000, block_size=16)
    for attempt in range(1, settings.max_attempts + 1):
        def running_attempt(attempt: int = attempt) -> bool:
            job_now = client.get(f"/v1/jobs/{job['id']}", headers=auth(token)).get_json()
            return (job_now["state"] == "running" and job_now["attempts"] == attempt
                    and job_now["progress"]["fraction"] > 0.01)

        assert wait_until(running_attempt, timeout=90), f"attempt {attempt} never ran"
        for pid in worker.pool_pids():
            os.kill(pid, signal.SIGKILL)
    done = wait_for_job(client, token, job["id"], timeout=120)
    # Then it fails as TooManyAttempts after exactly three runs, keeping no attempt folders
    assert done["state"] == "failed" and done["error"]["type"] == "TooManyAttempts", done
    assert done["attempts"] == settings.max_attempts
    # (the worker that recorded the failure removes the folders a moment after)
    def scratch_gone() -> bool:
        work = list((settings.data_dir / "tenants").glob(f"*/jobs/{job['id']}/work"))
        return _attempt_folders(settings, job["id"]) == [] and work == []

    assert wait_until(scratch_gone, timeout=15)


# --- the Dask scheduler lost mid-job --------------------------------------------------------


class DaskProcesses:
    """A ``dask scheduler`` and a ``dask worker`` as subprocesses on a fixed port."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.scheduler: subprocess.Popen[bytes] | None = None
        self.worker: subprocess.Popen[bytes] | None = None

    def _spawn(self, *args: str, log: str) -> subprocess.Popen[bytes]:
        with (self.folder / log).open("ab") as out:
            return subprocess.Popen([sys.executable, "-m", *args], stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)

    def start(self) -> DaskProcesses:
        self.scheduler = self._spawn("distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                                     "--port", str(self.port), "--dashboard-address", ":0",
                                     log="scheduler.log")
        self.worker = self._spawn("distributed.cli.dask_worker", self.address, "--nworkers",
                                  "2", "--nthreads", "1", "--no-dashboard", "--local-directory",
                                  str(self.folder / "dask"), log="workers.log")
        return self

    def kill_scheduler(self) -> None:
        assert self.scheduler is not None
        os.killpg(self.scheduler.pid, signal.SIGKILL)
        self.scheduler.wait()

    def stop(self) -> None:
        for process in (self.worker, self.scheduler):
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@pytest.fixture
def own_cluster(settings: Settings, tmp_path_factory: pytest.TempPathFactory):
    """A Redis, a Dask scheduler + workers and a Celery worker of this test's own, and a
    gateway app on them (the session's processes stay untouched)."""
    from osler.api import create_app

    folder = tmp_path_factory.mktemp("own-cluster")
    redis = RedisServer(folder / "redis", port=free_port()).start()
    dask = DaskProcesses(folder).start()
    own = settings.with_changes(data_dir=folder / "data", redis_url=redis.url,
                                dask_scheduler=dask.address)
    celery_worker = WorkerProcess(own, folder / "worker.log").start()
    app = create_app(own)
    app.testing = True
    try:
        yield app.test_client(), own, dask, celery_worker
    finally:
        celery_worker.stop()
        dask.stop()
        redis.stop()


def test_scheduler_lost_mid_job_reruns_it_and_readyz_names_dask(own_cluster):
    client, own, dask, _ = own_cluster
    from osler.workers.tenants import TenantStore

    token = TenantStore(connect(own)).create_token("recovery")
    array, job = slow_job(client, token, n=500, m=3000, block_size=16)
    wait_running(client, token, job["id"])
    # When the scheduler is SIGKILLed mid-job (its workers exit with it)
    dask.kill_scheduler()
    # Then /readyz says computing cannot run, naming Dask, while no Dask worker is connected
    unready = wait_until(lambda: client.get("/readyz").status_code == 503, timeout=30)
    assert unready
    problem = client.get("/readyz").get_json()
    assert "Dask" in problem["detail"]
    # And, once a supervisor has started them again, the job runs again and succeeds
    if dask.worker is not None and dask.worker.poll() is None:
        os.killpg(dask.worker.pid, signal.SIGKILL)
        dask.worker.wait()
    dask.start()
    done = wait_for_job(client, token, job["id"], timeout=150)
    assert done["state"] == "succeeded", done
    assert done["attempts"] == 2
    a = array.astype(np.float64)
    np.testing.assert_allclose(_matrix(client, token, job["id"]), a @ a.T / a.shape[1],
                               rtol=1e-5)
    # The next job succeeds, and readiness is back
    small = upload(client, token, "n.npy", npy_bytes(np.ones((4, 6), np.int8))).get_json()
    nxt = _submit(client, token, small["id"])
    assert wait_for_job(client, token, nxt["id"], timeout=60)["state"] == "succeeded"
    assert wait_until(lambda: client.get("/readyz").status_code == 200, timeout=30)


# --- the embedded stack supervises its children ---------------------------------------------


def test_embedded_stack_restarts_a_killed_redis_and_keeps_working(tmp_path: Path):
    settings = Settings(data_dir=tmp_path / "osler", dask_workers=1)
    with EmbeddedStack(settings, port=free_port()) as stack:
        client = OslerClient(stack.url, stack.create_token("embedded"))
        cohort = tmp_path / "cohort.npy"
        np.save(cohort, np.random.default_rng(2).integers(0, 3, (12, 40), dtype=np.int8))
        dataset = client.upload(cohort)
        assert stack.redis_server is not None and stack.redis_server.process is not None
        # When its Redis is killed -9
        os.kill(stack.redis_server.process.pid, signal.SIGKILL)
        # Then /readyz is 200 again within 30 s, and a job completes
        def ready() -> bool:
            try:
                return requests.get(stack.url + "/readyz", timeout=3).status_code == 200
            except requests.RequestException:
                return False

        time.sleep(1)
        assert wait_until(ready, timeout=30, interval=0.5)
        job = client.submit("genome-distance", {"dataset": dataset["id"], "plots": False})
        assert client.wait(job["id"], timeout=90)["state"] == "succeeded"
        restarts = (settings.data_dir / "logs" / "supervisor.log").read_text()
        assert '"child": "redis"' in restarts and "child_restarted" in restarts
        # The Dask dashboard renders (bokeh is installed), on the gateway's host
        dashboard = requests.get(stack.dask_dashboard_url, timeout=10)
        assert dashboard.status_code == 200 and "<html" in dashboard.text.lower()
        assert "needs bokeh" not in dashboard.text.lower()
