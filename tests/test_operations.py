"""What operators see: honest Celery task states, /metrics, job logs, delete and rerun, queue
positions, readiness per part. Real Redis, Celery worker and Dask (``tests/conftest.py``)."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from osler.workers.settings import Settings
from tests.conftest import auth, npy_bytes, upload, wait_for_job, wait_until
from tests.test_reliability import slow_job, wait_running

pytest.importorskip("rdkit")

CANARY = "PATIENT-CANARY-OPS-99"


def _submit(client, token, kind: str, params: dict) -> dict:
    response = client.post("/v1/jobs", json={"kind": kind, "params": params},
                           headers=auth(token))
    assert response.status_code == 202, response.get_json()
    return response.get_json()


def _failing_library(client, token) -> str:
    """A molecule file whose records all fail RDKit's parser: the job fails with InputError."""
    lines = "".join(f"C1CC(( {CANARY}-{i}\n" for i in range(3))
    return upload(client, token, "broken.smi", lines.encode()).get_json()["id"]


def _metrics(client) -> dict[str, list]:
    response = client.get("/metrics")
    assert response.status_code == 200
    families = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        families[family.name] = family.samples
    return families


def _value(families: dict, name: str, **labels: str) -> float:
    """The sum of the samples called ``name`` (e.g. ``x_total``, ``x_count``) with ``labels``."""
    return sum(s.value for samples in families.values() for s in samples
               if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


class TaskEvents:
    """A real Celery event receiver, collecting task events in a thread."""

    def __init__(self, settings: Settings) -> None:
        from osler.workers.celery_app import make_celery

        self.app = make_celery(settings)
        self.events: list[dict] = []
        self._thread = threading.Thread(target=self._capture, daemon=True)
        self._receiver = None

    def _capture(self) -> None:
        with self.app.connection() as connection:
            self._receiver = self.app.events.Receiver(
                connection, handlers={"*": self.events.append})
            self._receiver.capture(limit=None, timeout=None, wakeup=True)

    def __enter__(self) -> TaskEvents:
        self._thread.start()
        time.sleep(1.0)
        return self

    def __exit__(self, *_: object) -> None:
        if self._receiver is not None:
            self._receiver.should_stop = True

    def of(self, task_id: str) -> list[str]:
        return [e["type"] for e in list(self.events) if e.get("uuid") == task_id]


def test_a_failed_job_is_a_failed_task_and_counted_in_metrics(client, token, settings):
    before = _metrics(client)
    with TaskEvents(settings) as events:
        library = _failing_library(client, token)
        job = _submit(client, token, "drug-similarity", {"library": library})
        done = wait_for_job(client, token, job["id"], timeout=120)
        assert done["state"] == "failed" and done["error"]["type"] == "InputError", done
        # The task ends as the job did: FAILURE, carrying the job's error type
        assert wait_until(lambda: "task-failed" in events.of(job["id"]), timeout=20)
        failed = next(e for e in events.events
                      if e.get("uuid") == job["id"] and e["type"] == "task-failed")
        assert "InputError" in failed["exception"]
        assert "task-succeeded" not in events.of(job["id"])
    after = _metrics(client)
    kind = "drug-similarity"
    assert _value(after, "osler_jobs_submitted_total", kind=kind) == \
        _value(before, "osler_jobs_submitted_total", kind=kind) + 1
    assert _value(after, "osler_jobs_finished_total", kind=kind, state="failed") == \
        _value(before, "osler_jobs_finished_total", kind=kind, state="failed") + 1


def test_metrics_count_runs_and_label_nothing_from_tenants_or_files(client, token, new_token):
    small = upload(client, token, f"{CANARY}.npy",
                   npy_bytes(np.ones((4, 6), np.int8))).get_json()
    before = _metrics(client)
    job = _submit(client, token, "genome-distance", {"dataset": small["id"], "plots": False})
    assert wait_for_job(client, token, job["id"])["state"] == "succeeded"
    after = _metrics(client)
    kind = "genome-distance"
    assert _value(after, "osler_job_run_seconds_count", kind=kind) == \
        _value(before, "osler_job_run_seconds_count", kind=kind) + 1
    assert _value(after, "osler_jobs_finished_total", kind=kind, state="succeeded") >= 1
    assert _value(after, "osler_http_requests_total", route="/v1/jobs/<job_id>",
                  method="GET", status="200") >= 1
    assert _value(after, "osler_workers", queue="compute") >= 1
    assert _value(after, "osler_dask_workers") >= 1
    labels = {v for samples in after.values() for s in samples for v in s.labels.values()}
    tenant_prefix = "a-"  # the ``token`` fixture's tenants are a-<hex>
    assert not any(CANARY in v or v.startswith(tenant_prefix) or small["id"] in v
                   for v in labels)
    assert not any(job["id"] in v for v in labels)


def test_job_logs_hold_states_and_progress_in_order_and_no_file_values(client, token):
    library = upload(client, token, "lib.smi",
                     "".join(f"{s} {CANARY}-{i}\n" for i, s in
                             enumerate(["CCO", "CCN", "c1ccccc1"])).encode()).get_json()
    job = _submit(client, token, "drug-similarity", {"library": library["id"], "k": 2})
    assert wait_for_job(client, token, job["id"], timeout=120)["state"] == "succeeded"
    logs = client.get(f"/v1/jobs/{job['id']}/logs", headers=auth(token)).get_json()
    states = [e["state"] for e in logs["events"] if e["event"] == "state"]
    assert states == ["queued", "running", "succeeded"]
    progress = [e for e in logs["events"] if e["event"] == "progress"]
    assert progress and all(isinstance(e["message"], str) for e in progress)
    times = [e["time"] for e in logs["events"]]
    assert times == sorted(times)
    assert CANARY not in str(logs)
    failing = _submit(client, token, "drug-similarity",
                      {"library": _failing_library(client, token)})
    wait_for_job(client, token, failing["id"], timeout=120)
    events = client.get(f"/v1/jobs/{failing['id']}/logs", headers=auth(token)).get_json()
    last = events["events"][-1]
    assert last["state"] == "failed" and last["error"]["type"] == "InputError"
    assert "stage" in last and CANARY not in str(events)


def test_delete_and_rerun_follow_the_rules(client, token, new_token, settings):
    array = np.random.default_rng(5).integers(0, 3, (10, 30), dtype=np.int8)
    dataset = upload(client, token, "d.npy", npy_bytes(array)).get_json()
    job = _submit(client, token, "genome-distance", {"dataset": dataset["id"], "plots": False})
    assert wait_for_job(client, token, job["id"])["state"] == "succeeded"
    other = new_token("b")
    assert client.delete(f"/v1/jobs/{job['id']}", headers=auth(other)).status_code == 404
    assert client.post(f"/v1/jobs/{job['id']}/rerun", headers=auth(other)).status_code == 404
    assert client.get(f"/v1/jobs/{job['id']}/logs", headers=auth(other)).status_code == 404
    # Rerun: a new job with the same kind and params
    rerun = client.post(f"/v1/jobs/{job['id']}/rerun", headers=auth(token))
    assert rerun.status_code == 202
    again = rerun.get_json()
    assert again["id"] != job["id"] and again["params"] == job["params"]
    assert wait_for_job(client, token, again["id"])["state"] == "succeeded"
    # Delete: the record, the log and the artifacts go
    assert client.delete(f"/v1/jobs/{job['id']}", headers=auth(token)).status_code == 204
    assert client.get(f"/v1/jobs/{job['id']}", headers=auth(token)).status_code == 404
    assert not list((settings.data_dir / "tenants").glob(f"*/jobs/{job['id']}"))
    # A running job cannot be deleted; a rerun whose dataset is gone is a 422
    _, slow = slow_job(client, token, n=400, m=2000, block_size=16)
    wait_running(client, token, slow["id"])
    assert client.delete(f"/v1/jobs/{slow['id']}", headers=auth(token)).status_code == 409
    client.post(f"/v1/jobs/{slow['id']}/cancel", headers=auth(token))
    assert client.delete(f"/v1/datasets/{dataset['id']}", headers=auth(token)).status_code == 204
    gone = client.post(f"/v1/jobs/{again['id']}/rerun", headers=auth(token))
    assert gone.status_code == 422 and "dataset" in gone.get_json()["detail"]


def test_queue_position_counts_down_as_jobs_ahead_finish(client, token):
    _, slow = slow_job(client, token, n=400, m=2000, block_size=16)
    wait_running(client, token, slow["id"])
    small = upload(client, token, "q.npy", npy_bytes(np.ones((6, 8), np.int8))).get_json()
    queued = [_submit(client, token, "genome-distance", {"dataset": small["id"]})
              for _ in range(3)]
    last = client.get(f"/v1/jobs/{queued[-1]['id']}", headers=auth(token)).get_json()
    assert last["state"] == "queued" and last["queue"]["name"] == "compute"
    assert last["queue"]["ahead"] == 2 and last["queue"]["position"] == 3
    client.post(f"/v1/jobs/{slow['id']}/cancel", headers=auth(token))
    seen = {last["queue"]["ahead"]}

    def next_is_running() -> bool:
        job = client.get(f"/v1/jobs/{queued[-1]['id']}", headers=auth(token)).get_json()
        if "queue" in job:
            seen.add(job["queue"]["ahead"])
        return job["state"] != "queued"

    assert wait_until(next_is_running, timeout=60, interval=0.05)
    assert min(seen) < 2  # it moved up the queue before it started
    for job in queued:
        assert wait_for_job(client, token, job["id"])["state"] == "succeeded"


def test_readyz_reports_each_part(client):
    ready = client.get("/readyz").get_json()
    parts = ready["parts"]
    assert parts["redis"] == "ok"
    assert set(parts["queues"]) == {"compute", "train", "predict"}
    assert all(parts["queues"].values())
    assert parts["dask"]["workers"] >= 1


def test_flower_shows_a_failed_job_as_failure_with_its_kind(client, token, settings):
    import os
    import signal
    import subprocess
    import sys

    import requests

    from osler.api.cli.embedded import free_port
    from osler.workers.redis_connection import celery_broker_url

    port = free_port()
    env = {**os.environ, "FLOWER_UNAUTHENTICATED_API": "true"}
    flower = subprocess.Popen(
        [sys.executable, "-m", "celery", "--broker", celery_broker_url(settings), "flower",
         f"--port={port}", "--address=127.0.0.1"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        def listening() -> bool:
            """Flower's event receiver is connected: it has had a worker's heartbeat (a job
            sent before that would reach Flower without its task-received event, nameless)."""
            try:
                metrics = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=2)
            except requests.RequestException:
                return False
            return metrics.ok and any(line.startswith("flower_worker_online{")
                                      and line.rstrip().endswith(" 1.0")
                                      for line in metrics.text.splitlines())

        assert wait_until(listening, timeout=60, interval=0.5), \
            "flower did not start or never heard a worker's heartbeat"
        job = _submit(client, token, "drug-similarity",
                      {"library": _failing_library(client, token)})
        assert wait_for_job(client, token, job["id"], timeout=120)["state"] == "failed"

        def seen() -> dict | None:
            tasks = requests.get(f"http://127.0.0.1:{port}/api/tasks", timeout=5).json()
            task = tasks.get(job["id"])
            return task if task and task.get("state") == "FAILURE" else None

        task = wait_until(seen, timeout=30, interval=0.5)
        assert task, "flower never saw the task fail"
        assert task["name"] == "osler.drug_similarity"
        assert "InputError" in (task.get("exception") or "")
    finally:
        os.killpg(flower.pid, signal.SIGTERM)
        flower.wait(timeout=20)
