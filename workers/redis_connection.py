"""One way to reach Redis from every process, with short timeouts so nothing hangs."""

from __future__ import annotations

import redis

from osler.workers.errors import ServiceUnavailable
from osler.workers.settings import Settings

CONNECT_TIMEOUT_SECONDS = 2.0
"""How long to wait for a TCP/unix connection to Redis."""

SOCKET_TIMEOUT_SECONDS = 3.0
"""How long to wait for one Redis reply; with the connect timeout the 503 comes within 5 s."""

MAX_CONNECTIONS = 100
"""Redis connections one process holds at most (redis-py's default). A request past that waits
for a free one, up to the connect timeout, instead of failing at once with a 503."""

REDIS_DOWN_ERRORS = (redis.ConnectionError, redis.TimeoutError)


def redis_url(settings: Settings) -> str:
    """The redis-py URL: the configured one, or the embedded server's unix socket."""
    if settings.redis_url:
        return settings.redis_url
    return f"unix://{settings.embedded_redis_socket}"


def celery_broker_url(settings: Settings) -> str:
    """The same Redis as :func:`redis_url`, spelled the way kombu wants it."""
    url = redis_url(settings)
    if url.startswith("unix://"):
        return "redis+socket://" + url.removeprefix("unix://")
    return url


def connect(settings: Settings) -> redis.Redis:
    """A client for the service's Redis; no I/O happens until the first command."""
    pool = redis.BlockingConnectionPool.from_url(
        redis_url(settings),
        max_connections=MAX_CONNECTIONS,
        timeout=CONNECT_TIMEOUT_SECONDS,
        socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
        socket_timeout=SOCKET_TIMEOUT_SECONDS,
        retry_on_timeout=False,
        decode_responses=True,
    )
    return redis.Redis(connection_pool=pool)


def unavailable(exc: Exception) -> ServiceUnavailable:
    """The 503 raised when Redis cannot be reached."""
    return ServiceUnavailable(f"the job store (Redis) is unreachable: {type(exc).__name__}")
