"""Per-tenant quotas: storage, active jobs, request rate; ``osler tenant set``; ``/v1/usage``."""

from __future__ import annotations

import time

import numpy as np

from osler.workers.quotas import QuotaStore, parse_rate, parse_size
from osler.workers.redis_connection import connect
from osler.workers.tenants import TenantStore
from tests.conftest import auth, npy_bytes, upload
from tests.test_cli import osler


def tenant_of(settings, token: str) -> str:
    return TenantStore(connect(settings)).authenticate(token)


def test_an_upload_past_the_storage_quota_is_refused_and_stores_nothing(client, token, settings):
    quotas = QuotaStore(connect(settings), settings)
    quotas.set(tenant_of(settings, token), max_storage=3000)
    first = upload(client, token, "a.npy", npy_bytes(np.zeros(1000, dtype=np.int8)))
    assert first.status_code == 201
    used = client.get("/v1/usage", headers=auth(token)).get_json()
    assert used["storage_bytes"] == {"used": first.get_json()["size"], "limit": 3000}
    refused = upload(client, token, "b.npy", npy_bytes(np.zeros(2000, dtype=np.int8)))
    assert refused.status_code == 413
    problem = refused.get_json()
    assert problem["type"].endswith("/quota-exceeded") and problem["quota"] == "max_storage"
    assert [d["name"] for d in client.get("/v1/datasets", headers=auth(token)).get_json()[
        "datasets"]] == ["a.npy"]


def test_a_submit_past_the_tenants_active_jobs_or_a_full_store_is_refused(client, token,
                                                                          settings):
    tenant = tenant_of(settings, token)
    quotas = QuotaStore(connect(settings), settings)
    quotas.set(tenant, max_active_jobs=0)
    dataset = upload(client, token, "a.npy", npy_bytes(np.ones((4, 8), dtype=np.int8))).get_json()
    body = {"kind": "genome-distance", "params": {"dataset": dataset["id"]}}
    refused = client.post("/v1/jobs", json=body, headers=auth(token))
    assert refused.status_code == 429 and refused.get_json()["quota"] == "max_active_jobs"
    quotas.set(tenant, max_active_jobs=5, max_storage=dataset["size"])
    full = client.post("/v1/jobs", json=body, headers=auth(token))
    assert full.status_code == 413 and full.get_json()["quota"] == "max_storage"
    assert client.get("/v1/jobs", headers=auth(token)).get_json()["jobs"] == []
    assert client.get("/v1/usage", headers=auth(token)).get_json()["active_jobs"] == {
        "used": 0, "limit": 5}


def test_requests_past_the_rate_get_429_with_retry_after(client, token, settings):
    QuotaStore(connect(settings), settings).set(tenant_of(settings, token), rate="5/m")
    answers = [client.get("/v1/datasets", headers=auth(token)) for _ in range(7)]
    assert [a.status_code for a in answers[:5]] == [200] * 5
    limited = answers[5]
    assert limited.status_code == 429 and limited.get_json()["quota"] == "rate"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert limited.get_json()["type"].endswith("/quota-exceeded")


def test_the_default_rate_comes_from_settings(client, token, settings):
    quota = client.get("/v1/usage", headers=auth(token)).get_json()
    assert quota["rate"] == {"limit": settings.rate_limit}
    assert quota["storage_bytes"]["limit"] == settings.max_storage_bytes


def test_parsers():
    assert parse_size("50GiB") == 50 * 2**30 and parse_size("2MB") == 2_000_000
    assert parse_rate("10/s") == (10, 1) and parse_rate("600/m") == (600, 60)


def test_osler_tenant_set_and_show(tmp_path, redis_server, settings):
    def run(*args: str):
        return osler("tenant", *args, data_dir=tmp_path, timeout=60,
                     OSLER_REDIS_URL=redis_server.url)

    name = f"quota-cli-{time.time_ns()}"
    done = run("set", name, "--max-storage", "50GiB", "--max-active-jobs", "20", "--rate", "10/s")
    assert done.returncode == 0, done.stderr
    quota = QuotaStore(connect(settings), settings).get(name)
    assert (quota.max_storage, quota.max_active_jobs, quota.rate) == (50 * 2**30, 20, "10/s")
    assert "10/s" in run("show", name).stdout
    bad = run("set", name, "--rate", "fast")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1


def test_a_job_whose_outputs_pass_the_storage_quota_fails_clearly(client, token, settings):
    from tests.conftest import wait_for_job

    # Given room for the dataset and a little more, but not for a 60 x 60 matrix's artifacts
    tenant = tenant_of(settings, token)
    array = np.random.default_rng(0).integers(0, 3, (60, 50), dtype=np.int8)
    dataset = upload(client, token, "m.npy", npy_bytes(array)).get_json()
    QuotaStore(connect(settings), settings).set(tenant, max_storage=dataset["size"] + 1000)
    job = client.post("/v1/jobs", json={"kind": "genome-distance", "params": {
        "dataset": dataset["id"], "plots": False}}, headers=auth(token)).get_json()
    done = wait_for_job(client, token, job["id"])
    # Then it fails naming the quota, and none of its outputs stays
    assert done["state"] == "failed" and done["error"]["type"] == "StorageQuotaExceeded", done
    assert "quota" in done["error"]["message"] and done["artifacts"] == []
    assert not list((settings.data_dir / "tenants" / tenant / "jobs").glob(
        f"{job['id']}/attempt-*"))
