"""Leases: a running job's claim on its record, renewed while its attempt is alive.

A lease is one Redis key, ``osler:lease:<job id>``, holding the attempt's token
(``host|pid|nonce``) with a time to live. The runner takes it when it marks the job
running (in the same transaction), renews it every few seconds beside its progress reports, and
checks it before publishing: an attempt whose lease lapsed has been taken over and publishes
nothing. The :mod:`reconciler <osler.workers.reconciler>` re-enqueues a ``running`` job whose
lease is gone: that is how a job of a lost host runs again, within seconds instead of the
broker's visibility timeout (which stays, hours long, as the backstop).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid

import redis

from osler.workers.redis_connection import REDIS_DOWN_ERRORS

log = logging.getLogger("osler.leases")

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""


def lease_key(job_id: str) -> str:
    return f"osler:lease:{job_id}"


def new_token() -> str:
    """An attempt's lease token: where it runs, so a dead holder on this host is recognised."""
    return f"{socket.gethostname()}|{os.getpid()}|{uuid.uuid4().hex}"


def holder_is_gone(token: str) -> bool:
    """True when ``token`` names a process of this host that no longer exists.

    A pool process killed mid-job is replaced and its message redelivered at once; its lease is
    still live, but its holder is provably dead, so the new attempt need not wait for it to lapse.
    """
    host, _, rest = token.partition("|")
    pid_text = rest.partition("|")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class Leases:
    """Renew and release leases (taking one is part of ``JobStore.mark_running``)."""

    def __init__(self, client: redis.Redis, seconds: float) -> None:
        self.redis = client
        self.seconds = seconds
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)

    def renew(self, job_id: str, token: str) -> bool:
        """Extend the lease; False when it is no longer ``token``'s (lapsed or taken over)."""
        return bool(self._renew(keys=[lease_key(job_id)],
                                args=[token, int(self.seconds * 1000)]))

    def holds(self, job_id: str, token: str) -> bool:
        return self.redis.get(lease_key(job_id)) == token

    def release(self, job_id: str, token: str) -> None:
        self._release(keys=[lease_key(job_id)], args=[token])


class LeaseKeeper:
    """Renews an attempt's lease every third of its life, in a thread, until the attempt ends.

    ``lost`` is set once a renewal finds the lease gone (or taken over): the attempt must stop
    and publish nothing. While Redis is unreachable the keeper keeps trying; the lease lapses by
    itself if the outage outlasts it.
    """

    def __init__(self, leases: Leases, job_id: str, token: str) -> None:
        self.leases = leases
        self.job_id = job_id
        self.token = token
        self.lost = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._keep, daemon=True)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()

    def _keep(self) -> None:
        while not self._done.wait(self.leases.seconds / 3):
            try:
                if not self.leases.renew(self.job_id, self.token):
                    log.warning("job %s: lease lost; this attempt stops", self.job_id)
                    self.lost.set()
                    return
            except REDIS_DOWN_ERRORS:
                continue
