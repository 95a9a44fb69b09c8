"""Token lifecycle: ids, names, expiry, last use, listing and revocation, read-only scope."""

from __future__ import annotations

import re
import time

from osler.workers.redis_connection import connect
from osler.workers.tenants import TenantStore
from tests.conftest import auth, upload
from tests.test_cli import osler


def test_a_tenant_creates_lists_and_revokes_its_tokens_and_every_gateway_refuses_at_once(
    app, client, token, settings
):
    from osler.api import create_app

    created = client.post("/v1/tokens", json={"name": "ci", "expires_in": "30d"},
                          headers=auth(token))
    assert created.status_code == 201, created.get_json()
    ci = created.get_json()
    assert ci["name"] == "ci" and ci["scope"] == "full" and ci["revoked_at"] is None
    expires = time.mktime(time.strptime(ci["expires_at"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    assert abs(expires - (time.time() + 30 * 86400)) < 60
    secret = ci["token"]
    second_gateway = create_app(settings).test_client()
    assert second_gateway.get("/v1/datasets", headers=auth(secret)).status_code == 200

    listed = client.get("/v1/tokens", headers=auth(token)).get_json()["tokens"]
    assert [t["name"] for t in listed] == ["default", "ci"]
    assert all("token" not in t for t in listed)
    assert listed[1]["last_used_at"] is not None and listed[1]["id"] == ci["id"]
    assert secret not in str(listed)

    assert client.delete(f"/v1/tokens/{ci['id']}", headers=auth(token)).status_code == 204
    for gateway in (client, second_gateway):
        refused = gateway.get("/v1/datasets", headers=auth(secret))
        assert refused.status_code == 401 and "revoked" in refused.get_json()["detail"]
    assert client.get("/v1/tokens", headers=auth(token)).get_json()["tokens"][1]["revoked_at"]


def test_another_tenants_token_is_unknown_and_bad_bodies_are_400(client, new_token):
    mine, theirs = new_token("tok"), new_token("tok")
    their_id = client.get("/v1/tokens", headers=auth(theirs)).get_json()["tokens"][0]["id"]
    assert client.delete(f"/v1/tokens/{their_id}", headers=auth(mine)).status_code == 404
    assert client.get("/v1/datasets", headers=auth(theirs)).status_code == 200
    for body in ({"expires_in": "forever"}, {"scope": "admin"}, {"name": ""}, {"owner": "x"},
                 ["ci"]):
        answer = client.post("/v1/tokens", json=body, headers=auth(mine))
        assert answer.status_code == 400, body
        assert answer.mimetype == "application/problem+json"


def test_an_expired_token_is_refused(client, settings):
    info, secret = TenantStore(connect(settings)).issue("tok-expiring", expires_in=1)
    assert client.get("/v1/datasets", headers=auth(secret)).status_code == 200
    time.sleep(1.2)
    assert client.get("/v1/datasets", headers=auth(secret)).status_code == 401


def test_a_read_only_token_reads_but_never_changes(client, token):
    read = client.post("/v1/tokens", json={"name": "viewer", "scope": "read"},
                       headers=auth(token)).get_json()["token"]
    dataset = upload(client, token, "g.npy", b"\x93NUMPY").get_json()
    assert client.get(f"/v1/datasets/{dataset['id']}", headers=auth(read)).status_code == 200
    assert client.get("/v1/jobs", headers=auth(read)).status_code == 200
    for answer in (
        upload(client, read, "g.npy", b"x"),
        client.post("/v1/jobs", json={"kind": "genome-distance", "params": {}}, headers=auth(read)),
        client.delete(f"/v1/datasets/{dataset['id']}", headers=auth(read)),
        client.post("/v1/tokens", json={"name": "escalate"}, headers=auth(read)),
    ):
        assert answer.status_code == 403 and "read-only" in answer.get_json()["detail"]
    assert client.get(f"/v1/datasets/{dataset['id']}", headers=auth(token)).status_code == 200


def test_osler_token_create_list_revoke(tmp_path, redis_server):
    def run(*args: str):
        return osler("token", *args, data_dir=tmp_path, timeout=60,
                     OSLER_REDIS_URL=redis_server.url)

    created = run("create", "tok-cli", "--name", "ci", "--expires-in", "30d")
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip()
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", secret)
    listed = run("list", "tok-cli")
    assert listed.returncode == 0 and listed.stdout.count("\n") == 1
    token_id = listed.stdout.split()[0]
    assert " ci " in listed.stdout and "last used never" in listed.stdout
    assert secret not in listed.stdout
    revoked = run("revoke", token_id)
    assert revoked.returncode == 0 and "revoked" in revoked.stdout
    assert "revoked" in run("list", "tok-cli").stdout
    assert run("revoke", "not-an-id").returncode == 2
    bad = run("create", "tok-cli", "--expires-in", "soon")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1


def test_a_token_made_before_token_records_keeps_working_and_can_be_revoked(client, settings):
    import hashlib

    redis = connect(settings)
    secret = "legacy-secret-" + str(time.time_ns())
    redis.set("osler:token:" + hashlib.sha256(secret.encode()).hexdigest(), "tok-legacy")
    assert client.get("/v1/datasets", headers=auth(secret)).status_code == 200
    (listed,) = [t for t in TenantStore(redis).list_tokens("tok-legacy") if t["name"] == "legacy"]
    TenantStore(redis).revoke(listed["id"])
    assert client.get("/v1/datasets", headers=auth(secret)).status_code == 401
