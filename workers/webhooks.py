"""Signed completion webhooks: when a job with ``notify`` finishes, POST its JSON to the URL.

::

    osler:webhook:<job id>            -> JSON {"url", "tenant"}        (TTL: the job's)
    osler:webhooks:due                -> sorted set: job id -> when to look at it next
    osler:webhook-attempts:<job id>   -> list of JSON delivery attempts (TTL: the job's)
    osler:webhook-secret:<tenant>     -> the tenant's signing secret

The dispatcher (:meth:`WebhookDispatcher.run_forever`, one or more per deployment) looks at due
jobs; a finished one is delivered with ``Osler-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of
"t.body">``, retried with exponential backoff (5 s doubling, at most 1 h apart) for up to 24 h
after the job finished. Each attempt is recorded (time, HTTP status or error type, duration).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import redis
import requests

from osler.workers.clock import parse_utc, utc_now
from osler.workers.errors import InvalidParams
from osler.workers.jobs import JobStore

log = logging.getLogger("osler.webhooks")

DUE_KEY = "osler:webhooks:due"
RETRY_FOR_SECONDS = 24 * 3600
FIRST_BACKOFF_SECONDS = 5.0
MAX_BACKOFF_SECONDS = 3600.0
POLL_SECONDS = 1.0
"""How often an unfinished job with ``notify`` is looked at again."""
TIMEOUT_SECONDS = 10.0
MAX_URL_LENGTH = 2048


def _hook_key(job_id: str) -> str:
    return f"osler:webhook:{job_id}"


def _attempts_key(job_id: str) -> str:
    return f"osler:webhook-attempts:{job_id}"


def _secret_key(tenant: str) -> str:
    return f"osler:webhook-secret:{tenant}"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``Osler-Signature`` header value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def check_url(url: object, allow_private: bool) -> str:
    """``url`` if it is an http(s) URL whose host resolves only to public addresses (422
    otherwise; loopback, link-local and private ranges pass only with ``allow_private``)."""
    if not isinstance(url, str) or len(url) > MAX_URL_LENGTH:
        raise InvalidParams("notify.url must be an http or https URL")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidParams("notify.url must be an http or https URL")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (OSError, ValueError, UnicodeError):
        raise InvalidParams("notify.url: the host does not resolve") from None
    if not allow_private:
        for info in infos:
            address = ipaddress.ip_address(info[4][0])
            if not address.is_global or address.is_multicast:
                raise InvalidParams(
                    "notify.url resolves to a loopback, link-local or private address; the "
                    "operator allows those with OSLER_WEBHOOK_ALLOW_PRIVATE=1"
                )
    return url


def parse_notify(value: Any, allow_private: bool) -> str | None:
    """The URL of a submit body's ``notify`` (``{"url": ...}``), or None when absent."""
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) != {"url"}:
        raise InvalidParams('notify must be {"url": "https://..."}')
    return check_url(value["url"], allow_private)


class WebhookStore:
    """Per-tenant secrets, per-job notify URLs and their delivery attempts."""

    def __init__(self, client: redis.Redis, ttl_seconds: int) -> None:
        self.redis = client
        self.ttl_seconds = ttl_seconds

    def secret(self, tenant: str) -> str:
        """The tenant's signing secret (made on first use)."""
        self.redis.set(_secret_key(tenant), secrets.token_hex(32), nx=True)
        return self.redis.get(_secret_key(tenant))

    def rotate(self, tenant: str) -> str:
        """A new signing secret; deliveries from now on are signed with it."""
        self.redis.set(_secret_key(tenant), secrets.token_hex(32))
        return self.redis.get(_secret_key(tenant))

    def register(self, job_id: str, tenant: str, url: str) -> None:
        pipe = self.redis.pipeline(transaction=True)
        pipe.set(_hook_key(job_id), json.dumps({"url": url, "tenant": tenant}),
                 ex=self.ttl_seconds)
        pipe.zadd(DUE_KEY, {job_id: time.time()})
        pipe.execute()

    def attempts(self, job_id: str) -> list[dict[str, Any]]:
        return [json.loads(raw) for raw in self.redis.lrange(_attempts_key(job_id), 0, -1)]

    def record(self, job_id: str, attempt: dict[str, Any]) -> None:
        pipe = self.redis.pipeline(transaction=True)
        pipe.rpush(_attempts_key(job_id), json.dumps(attempt))
        pipe.expire(_attempts_key(job_id), self.ttl_seconds)
        pipe.execute()


class WebhookDispatcher:
    """Delivers due webhooks; several may run at once (each job is claimed with a lock)."""

    def __init__(self, client: redis.Redis, ttl_seconds: int, allow_private: bool) -> None:
        self.redis = client
        self.store = WebhookStore(client, ttl_seconds)
        self.jobs = JobStore(client, ttl_seconds)
        self.allow_private = allow_private
        self.http = requests.Session()

    def run_forever(self, stop_event: threading.Event) -> None:
        while not stop_event.is_set():
            try:
                self.run_once()
            except redis.RedisError as exc:
                log.warning(json.dumps({"event": "webhook_loop_error",
                                        "error": type(exc).__name__}))
            stop_event.wait(POLL_SECONDS / 2)

    def run_once(self, now: float | None = None) -> int:
        """Look at every due job once; returns the number of delivery attempts made."""
        now = time.time() if now is None else now
        made = 0
        for job_id in self.redis.zrangebyscore(DUE_KEY, "-inf", now, start=0, num=100):
            if not self.redis.set(f"osler:webhook-lock:{job_id}", "1", nx=True, ex=60):
                continue
            try:
                made += self._look_at(job_id, now)
            finally:
                self.redis.delete(f"osler:webhook-lock:{job_id}")
        return made

    def _look_at(self, job_id: str, now: float) -> int:
        raw = self.redis.get(_hook_key(job_id))
        job = self.jobs.load(job_id)
        if raw is None or job is None:
            self.redis.zrem(DUE_KEY, job_id)
            return 0
        if not job.finished:
            self.redis.zadd(DUE_KEY, {job_id: now + POLL_SECONDS})
            return 0
        hook = json.loads(raw)
        attempt = self._deliver(hook, job.public())
        self.store.record(job_id, attempt)
        delivered = attempt["status"] is not None and 200 <= attempt["status"] < 300
        tried = len(self.store.attempts(job_id))
        backoff = min(FIRST_BACKOFF_SECONDS * 2 ** (tried - 1), MAX_BACKOFF_SECONDS)
        finished = parse_utc(job.finished_at).timestamp() if job.finished_at else now
        if delivered or now + backoff > finished + RETRY_FOR_SECONDS:
            self.redis.zrem(DUE_KEY, job_id)
        else:
            self.redis.zadd(DUE_KEY, {job_id: now + backoff})
        log.info(json.dumps({"event": "webhook_attempt", "job_id": job_id,
                             "status": attempt["status"], "error": attempt["error"],
                             "attempt": tried}))
        return 1

    def _deliver(self, hook: dict[str, str], job: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps(job, separators=(",", ":")).encode()
        timestamp = int(time.time())
        started = time.monotonic()
        attempt: dict[str, Any] = {"at": utc_now(), "status": None, "error": None}
        try:
            check_url(hook["url"], self.allow_private)  # the name may resolve elsewhere now
            response = self.http.post(
                hook["url"], data=body, timeout=TIMEOUT_SECONDS, allow_redirects=False,
                headers={"Content-Type": "application/json",
                         "Osler-Signature": sign(self.store.secret(hook["tenant"]), timestamp,
                                                 body)},
            )
            attempt["status"] = response.status_code
        except InvalidParams:
            attempt["error"] = "refused-address"
        except requests.RequestException as exc:
            attempt["error"] = type(exc).__name__
        attempt["duration_s"] = round(time.monotonic() - started, 3)
        return attempt


def start_dispatcher(client: redis.Redis, ttl_seconds: int, allow_private: bool,
                     stop_event: threading.Event) -> threading.Thread:
    """Run a dispatcher in a daemon thread until ``stop_event`` is set."""
    dispatcher = WebhookDispatcher(client, ttl_seconds, allow_private)
    thread = threading.Thread(target=dispatcher.run_forever, args=(stop_event,), daemon=True,
                              name="osler-webhooks")
    thread.start()
    return thread
