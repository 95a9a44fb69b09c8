"""What happens when things die: cancel, a SIGKILLed pool process or worker, Redis down.

These need jobs that run for a few seconds: a genome-distance job with small blocks on a
cohort of some hundred samples gives many Dask tiles and frequent progress reports.
"""

from __future__ import annotations

import os
import signal
import time

import numpy as np

from tests.conftest import WorkerProcess, auth, npy_bytes, upload, wait_for_job, wait_until


def slow_job(client, token, n=900, m=4000, block_size=8):
    """A job of several thousand small tiles: seconds of work that reports progress often."""
    array = np.random.default_rng(3).integers(0, 3, size=(n, m), dtype=np.int8)
    dataset = upload(client, token, "slow.npy", npy_bytes(array)).get_json()
    job = client.post(
        "/v1/jobs",
        json={
            "kind": "genome-distance",
            "params": {"dataset": dataset["id"], "block_size": block_size, "plots": False},
        },
        headers=auth(token),
    ).get_json()
    return array, job


def wait_running(client, token, job_id, min_fraction=0.02, timeout=120):
    """The job once it runs and has done ``min_fraction``; fails at once if it ended first."""
    last: dict = {}

    def running():
        job = last["job"] = client.get(f"/v1/jobs/{job_id}", headers=auth(token)).get_json()
        if job["state"] in ("succeeded", "failed", "cancelled"):
            raise AssertionError(
                f"the job ended ({job['state']}, error {job.get('error')}, attempts "
                f"{job.get('attempts')}, progress {job.get('progress')}) before it was seen "
                f"running past {min_fraction:.0%}")
        return job if job["state"] == "running" and job["progress"]["fraction"] >= min_fraction \
            else None

    job = wait_until(running, timeout)
    seen = last.get("job", {})
    assert job, (f"the job never ran past {min_fraction:.0%} in {timeout} s: last seen "
                 f"{seen.get('state')}, progress {seen.get('progress')}, queue {seen.get('queue')}")
    return job


def scheduler_task_count(dask_cluster) -> int:
    from distributed import Client

    with Client(dask_cluster.scheduler_address, set_as_default=False) as dask:
        return dask.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks))


def test_cancel_stops_a_running_job_and_its_dask_tasks(client, token, dask_cluster, settings):
    _, job = slow_job(client, token)
    wait_running(client, token, job["id"])
    response = client.post(f"/v1/jobs/{job['id']}/cancel", headers=auth(token))
    assert response.status_code == 202
    assert response.get_json()["state"] == "cancelled"
    # Within 10 s the scheduler holds none of its tasks.
    assert wait_until(lambda: scheduler_task_count(dask_cluster) == 0, timeout=10)
    # The worker takes the next job.
    small = upload(client, token, "s.npy", npy_bytes(np.ones((3, 5), np.int8))).get_json()
    nxt = client.post(
        "/v1/jobs", json={"kind": "genome-distance", "params": {"dataset": small["id"]}},
        headers=auth(token),
    ).get_json()
    assert wait_for_job(client, token, nxt["id"], timeout=30)["state"] == "succeeded"
    # The cancelled job never runs again and leaves no artifacts.
    time.sleep(1)
    final = client.get(f"/v1/jobs/{job['id']}", headers=auth(token)).get_json()
    assert final["state"] == "cancelled" and final["artifacts"] == [] and final["result"] is None
    owner_jobs = settings.data_dir / "tenants"
    assert not list(owner_jobs.glob(f"*/jobs/{job['id']}/attempt-*"))


def test_pool_process_killed_mid_job_is_redelivered_and_succeeds_once(
    client, token, worker: WorkerProcess
):
    array, job = slow_job(client, token, n=500, m=3000, block_size=16)
    wait_running(client, token, job["id"])
    children = worker.pool_pids()
    assert children
    for pid in children:
        os.kill(pid, signal.SIGKILL)
    done = wait_for_job(client, token, job["id"], timeout=120)
    assert done["state"] == "succeeded", done
    assert done["attempts"] == 2
    assert [a["name"] for a in done["artifacts"]].count("matrix.npy") == 1
    import io

    matrix = np.load(io.BytesIO(
        client.get(f"/v1/jobs/{job['id']}/artifacts/matrix.npy", headers=auth(token)).data
    ))
    a = array.astype(np.float64)
    np.testing.assert_allclose(matrix, a @ a.T / a.shape[1], rtol=1e-5)


def test_whole_worker_killed_mid_job_is_redelivered_after_visibility_timeout(
    client, token, worker: WorkerProcess
):
    _, job = slow_job(client, token, n=500, m=3000, block_size=16)
    wait_running(client, token, job["id"])
    worker.stop(signal.SIGKILL)
    # A worker comes back; with a short visibility timeout it restores the unacked message.
    try:
        worker.start(OSLER_VISIBILITY_TIMEOUT="3")
        done = wait_for_job(client, token, job["id"], timeout=120)
    finally:
        worker.stop()
        worker.extra_env.pop("OSLER_VISIBILITY_TIMEOUT", None)
        worker.start()
    assert done["state"] == "succeeded", done
    assert done["attempts"] == 2
    assert [a["name"] for a in done["artifacts"]].count("matrix.npy") == 1


def test_redis_down_is_a_503_within_5_seconds_and_jobs_survive_a_restart(
    client, token, redis_server, worker
):
    dataset = upload(client, token, "c.npy", npy_bytes(np.ones((3, 4), np.int8))).get_json()
    kept = client.post(
        "/v1/jobs", json={"kind": "genome-distance", "params": {"dataset": dataset["id"]}},
        headers=auth(token),
    ).get_json()
    wait_for_job(client, token, kept["id"])
    redis_server.stop()
    try:
        for method, path in (("get", "/v1/jobs"), ("get", "/readyz"), ("post", "/v1/jobs")):
            started = time.monotonic()
            response = getattr(client, method)(
                path, json={"kind": "genome-distance", "params": {"dataset": dataset["id"]}},
                headers=auth(token),
            )
            assert response.status_code == 503, (path, response.data)
            assert response.mimetype == "application/problem+json"
            assert time.monotonic() - started < 5
    finally:
        redis_server.start()
    # Redis keeps its data on disk (AOF): the finished job is still there.
    again = wait_until(
        lambda: client.get(f"/v1/jobs/{kept['id']}", headers=auth(token)).status_code == 200, 10
    )
    assert again
    assert client.get(f"/v1/jobs/{kept['id']}", headers=auth(token)).get_json()["state"] == \
        "succeeded"
