"""The audit trail: one record per request on a tenant's data, read back only by its tenant,
durable across a Redis restart, trimmed after the retention and exported daily as JSON lines."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import numpy as np

from osler.workers.audit import AuditExporter, AuditStore
from osler.workers.redis_connection import connect
from osler.workers.redis_server import RedisServer
from osler.workers.settings import Settings
from osler.workers.tenants import TenantStore
from tests.conftest import auth, npy_bytes, upload, wait_for_job
from tests.test_cli import osler

CANARY = "ZQXCANARYPATIENT"


def all_records(client, token, **query):
    """Every record the caller's tenant has, following the cursor two at a time."""
    records, cursor = [], None
    while True:
        args = {**query, "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/audit", query_string=args, headers=auth(token))
        assert page.status_code == 200, page.get_json()
        body = page.get_json()
        assert len(body["records"]) <= 2
        records += body["records"]
        cursor = body["next_cursor"]
        if cursor is None:
            return records


def test_every_data_request_is_recorded_once_with_ids_never_values(client, new_token, settings):
    token, other = new_token("audit"), new_token("audit-other")
    principal = TenantStore(connect(settings)).identify(token)
    genotypes = np.random.default_rng(1).integers(0, 3, size=(12, 40), dtype=np.int8)
    dataset = upload(client, token, f"{CANARY}.npy", npy_bytes(genotypes)).get_json()
    client.get(f"/v1/datasets/{dataset['id']}", headers=auth(token))
    job = client.post("/v1/jobs", headers=auth(token), json={
        "kind": "genome-distance", "params": {"dataset": dataset["id"], "plots": False}}).get_json()
    assert wait_for_job(client, token, job["id"])["state"] == "succeeded"
    client.get(f"/v1/jobs/{job['id']}/artifacts/matrix.npy", headers=auth(token))
    bad = client.post("/v1/jobs", headers=auth(token),
                      json={"kind": "genome-distance", "params": {"dataset": CANARY}})
    assert bad.status_code == 422
    assert client.get(f"/v1/jobs/{CANARY}", headers=auth(token)).status_code == 404
    assert client.get("/v1/jobs", headers=auth(f"{CANARY}-not-a-token")).status_code == 401
    assert client.delete(f"/v1/datasets/{dataset['id']}", headers=auth(token)).status_code == 204

    records = all_records(client, token)
    actions = [r["action"] for r in records]
    assert actions[:3] == ["dataset.upload", "dataset.read", "job.submit"]
    assert actions[-4:] == ["artifact.download", "job.submit", "job.read", "dataset.delete"]
    assert set(actions[3:-4]) == {"job.read"}  # the long polls of wait_for_job
    for record in records:
        assert set(record) == {"id", "time", "tenant", "token_id", "action", "resource",
                               "status", "client"}
        assert record["tenant"] == principal.tenant
        assert record["token_id"] == principal.token_id
        assert record["client"] == "127.0.0.1"
    by_action = {r["action"]: r for r in records}
    assert by_action["dataset.upload"]["resource"] == dataset["id"]
    assert by_action["dataset.upload"]["status"] == 201
    assert records[2]["resource"] == job["id"] and records[2]["status"] == 202
    assert by_action["artifact.download"]["resource"] == f"{job['id']}/matrix.npy"
    assert records[-3]["resource"] is None and records[-3]["status"] == 422
    assert records[-2]["resource"] is None and records[-2]["status"] == 404
    text = json.dumps(records)
    assert CANARY not in text and token not in text
    # The failed login named no tenant: it is in the operator's "-" trail, not this tenant's.
    failed = AuditStore(connect(settings), 365).query("-", action="auth.failed", limit=1000)[0]
    assert any(r["status"] == 401 and r["token_id"] is None for r in failed)
    assert CANARY not in json.dumps(failed)
    # Filters, and isolation: the other tenant sees none of it.
    assert [r["action"] for r in all_records(client, token, action="dataset.delete")] == [
        "dataset.delete"]
    since = records[-1]["time"]
    assert [r["id"] for r in all_records(client, token, since=since)] == [records[-1]["id"]]
    assert all_records(client, other) == []
    assert client.get("/v1/audit?action=nope", headers=auth(token)).status_code == 400
    assert client.get("/v1/audit?cursor=zz", headers=auth(token)).status_code == 400
    assert client.get("/v1/audit?since=yesterday", headers=auth(token)).status_code == 400


def test_revoked_token_is_an_auth_failure_in_its_own_tenants_trail(client, settings):
    store = TenantStore(connect(settings))
    info, secret = store.issue("audit-revoked", name="leaked")
    store.revoke(info.id)
    assert client.get("/v1/datasets", headers=auth(secret)).status_code == 401
    records = AuditStore(connect(settings), 365).query("audit-revoked")[0]
    assert [(r["action"], r["token_id"], r["status"]) for r in records][-1] == (
        "auth.failed", info.id, 401)


def test_the_trail_survives_a_redis_restart_and_no_route_rewrites_it(tmp_path):
    server = RedisServer(tmp_path / "redis", port=_free_port()).start()
    try:
        settings = Settings(data_dir=tmp_path, redis_url=server.url)
        store = AuditStore(connect(settings), 365)
        first = store.append(tenant="acme", token_id=None, action="job.read", resource=None,
                             status=200, client="127.0.0.1")
        server.stop()
        server.start()
        records = AuditStore(connect(settings), 365).query("acme")[0]
        assert [r["id"] for r in records] == [first]
    finally:
        server.stop()


def _free_port() -> int:
    from osler.api.cli.embedded import free_port

    return free_port()


def test_records_past_the_retention_are_trimmed(settings):
    store = AuditStore(connect(settings), retention_days=0)
    for status in (200, 404):
        store.append(tenant="audit-retention", token_id=None, action="job.read",
                     resource=None, status=status, client=None)
        time.sleep(0.05)  # stream ids are milliseconds: the second record is a later one
    kept = store.query("audit-retention")[0]
    assert [r["status"] for r in kept] == [404]


def test_each_day_is_exported_once_as_json_lines(settings, tmp_path):
    store = AuditStore(connect(settings), 365)
    store.append(tenant="audit-export", token_id=None, action="model.read", resource=None,
                 status=200, client="127.0.0.1")
    today = datetime.now(UTC).date()
    exporter = AuditExporter(store, tmp_path / "audit", retention_days=365)
    written = exporter.export_day(today)
    path = tmp_path / "audit" / "audit-export" / f"{today.isoformat()}.jsonl"
    assert path in written
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines == store.query("audit-export")[0]
    # run_once exports the day before, once across processes (a Redis marker says it is done).
    path.unlink()
    exporter.run_once(today + timedelta(days=1))
    assert [json.loads(line) for line in path.read_text().splitlines()] == lines
    path.unlink()
    AuditExporter(store, tmp_path / "audit", 365).run_once(today + timedelta(days=1))
    assert not path.exists()
    path.write_text("")
    old = tmp_path / "audit" / "audit-export" / "2001-01-01.jsonl"
    old.write_text("{}\n")
    assert exporter.sweep(today) == 1 and not old.exists() and path.exists()


def test_osler_audit_prints_a_tenants_records(tmp_path, settings, redis_server):
    store = AuditStore(connect(settings), 365)
    store.append(tenant="audit-cli", token_id=None, action="job.cancel", resource=None,
                 status=202, client="127.0.0.1")
    result = osler("audit", "audit-cli", "--action", "job.cancel", data_dir=tmp_path,
                   timeout=60, OSLER_REDIS_URL=redis_server.url)
    assert result.returncode == 0, result.stderr
    printed = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["action"], r["status"]) for r in printed] == [("job.cancel", 202)]
    bad = osler("audit", "audit-cli", "--since", "soon", data_dir=tmp_path, timeout=60,
                OSLER_REDIS_URL=redis_server.url)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1


def test_a_since_before_1970_means_from_the_start(client, token):
    # found by schemathesis: a negative stream id was a Redis error (500)
    response = client.get("/v1/audit?since=1953-04-14T08:57:38Z&until=1960-01-01T00:00:00Z",
                          headers=auth(token))
    assert response.status_code == 200 and response.get_json()["records"] == []
