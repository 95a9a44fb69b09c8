"""Signed completion webhooks: a real worker's dispatcher POSTs to a receiver on 127.0.0.1."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from osler.api.cli.embedded import free_port
from osler.workers.jobs import JobStore
from osler.workers.redis_connection import connect
from osler.workers.redis_server import RedisServer
from osler.workers.settings import Settings
from osler.workers.webhooks import DUE_KEY, RETRY_FOR_SECONDS, WebhookDispatcher, WebhookStore
from tests.conftest import auth, npy_bytes, upload, wait_for_job, wait_until


class Receiver:
    """An HTTP server that answers the given statuses in turn and keeps what it was sent."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.received: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers), body))
                status = receiver.statuses[min(len(receiver.received), len(receiver.statuses)) - 1]
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


def verify(secret: str, header: str, body: bytes, tolerance: int = 300) -> bool:
    """The receiver's check, as the README shows it."""
    fields = dict(part.split("=", 1) for part in header.split(","))
    expected = hmac.new(secret.encode(), f"{fields['t']}.".encode() + body,
                        hashlib.sha256).hexdigest()
    return (hmac.compare_digest(expected, fields["v1"])
            and abs(time.time() - int(fields["t"])) < tolerance)


def test_a_finished_job_is_posted_signed_and_retried_after_a_failure(client, token):
    receiver = Receiver([500, 204])
    try:
        dataset = upload(client, token, "g.npy",
                         npy_bytes(np.ones((6, 20), dtype=np.int8))).get_json()
        submitted = client.post("/v1/jobs", headers=auth(token), json={
            "kind": "genome-distance", "params": {"dataset": dataset["id"], "plots": False},
            "notify": {"url": receiver.url}})
        assert submitted.status_code == 202, submitted.get_json()
        job = wait_for_job(client, token, submitted.get_json()["id"])
        assert job["state"] == "succeeded"
        assert wait_until(lambda: len(receiver.received) >= 2, timeout=30), receiver.received
        secret = client.get("/v1/webhook-secret", headers=auth(token)).get_json()["secret"]
        for headers, body in receiver.received:
            assert verify(secret, headers["Osler-Signature"], body)
            assert not verify(secret, headers["Osler-Signature"], body + b" ")
            assert json.loads(body) == job
        deliveries = wait_until(lambda: len(client.get(
            f"/v1/jobs/{job['id']}/deliveries", headers=auth(token)).get_json()["deliveries"]) == 2
            and client.get(f"/v1/jobs/{job['id']}/deliveries",
                           headers=auth(token)).get_json()["deliveries"], timeout=10)
        assert [d["status"] for d in deliveries] == [500, 204]
        time.sleep(6)  # past the next backoff: a delivered webhook is not sent again
        assert len(receiver.received) == 2
        rotated = client.post("/v1/webhook-secret", headers=auth(token)).get_json()["secret"]
        assert rotated != secret
        assert client.get("/v1/webhook-secret", headers=auth(token)).get_json()["secret"] == rotated
    finally:
        receiver.close()


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:9/hook", "http://localhost/hook", "http://10.1.2.3/x",
    "http://169.254.169.254/latest/meta-data", "http://[::1]/x", "ftp://example.org/x",
    "not a url", 17,
])
def test_private_or_odd_urls_are_refused_unless_the_operator_allows_them(settings, token, url):
    from osler.api import create_app

    strict = create_app(settings.with_changes(webhook_allow_private=False)).test_client()
    answer = strict.post("/v1/jobs", headers=auth(token), json={
        "kind": "genome-distance", "params": {"dataset": "x"}, "notify": {"url": url}})
    assert answer.status_code == 422, answer.get_json()
    assert "notify" in answer.get_json()["detail"]
    assert strict.get("/v1/jobs", headers=auth(token)).get_json()["jobs"] == []
    bad_shape = strict.post("/v1/jobs", headers=auth(token), json={
        "kind": "genome-distance", "params": {}, "notify": url})
    assert bad_shape.status_code == 422


def test_retries_back_off_and_stop_24_hours_after_the_job_finished(tmp_path):
    server = RedisServer(tmp_path / "redis", port=free_port()).start()
    try:
        redis = connect(Settings(data_dir=tmp_path, redis_url=server.url))
        jobs = JobStore(redis, 3600)
        job = jobs.create("hooks", "genome-distance", {})
        jobs.mark_running(job.id, 3, token="test|1|lease", lease_seconds=60)
        WebhookStore(redis, 3600).register(job.id, "hooks", f"http://127.0.0.1:{free_port()}/")
        dispatcher = WebhookDispatcher(redis, 3600, allow_private=True)
        now = time.time()
        assert dispatcher.run_once(now) == 0  # still running: looked at again in a second
        jobs.mark_failed(job.id, "JobError", "failed")
        assert dispatcher.run_once(now + 1) == 1
        first_retry = redis.zscore(DUE_KEY, job.id)
        assert dispatcher.run_once(first_retry) == 1
        assert redis.zscore(DUE_KEY, job.id) - first_retry == pytest.approx(10, abs=0.5)
        assert dispatcher.run_once(now + RETRY_FOR_SECONDS + 60) == 1
        assert redis.zscore(DUE_KEY, job.id) is None  # given up
        attempts = WebhookStore(redis, 3600).attempts(job.id)
        assert [a["error"] for a in attempts] == ["ConnectionError"] * 3
    finally:
        server.stop()
