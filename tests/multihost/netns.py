"""Hosts as Linux network namespaces, joined by a bridge in a "switch" namespace of its own.

Nothing here touches the machine's own network: the bridge lives in the switch namespace, each
veth pair is created there with its other end moved straight into its host's namespace, and
every address is on 10.77.0.0/24 inside those namespaces. Namespace names carry a per-run tag,
so two runs (two developers) on one machine never meet.

Each process started on a host also gets a UTS namespace of its own whose hostname is the
host's name (``w1``), as on a real machine: Celery node names, osler's heartbeat keys and lease
tokens (``hostname|pid|…``) then differ from host to host.

A host's processes are found through ``ip netns pids``, so :meth:`Host.kill_all` is "the host
lost power" (every process SIGKILLed: a Celery pool, a Dask nanny's worker, whatever they
forked), and :meth:`Network.close` leaves nothing running and no namespace behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

CLONE_NEWUTS = 0x04000000
CLONE_NEWNET = 0x40000000
PR_SET_PDEATHSIG = 1

SUBNET = "10.77.0"

_libc = ctypes.CDLL(None, use_errno=True)


def unavailable() -> str | None:
    """Why network namespaces cannot be used here, or None when they can (root, ``ip``, and
    ``ip netns add`` working)."""
    if os.geteuid() != 0:
        return "needs root (ip netns add)"
    if shutil.which("ip") is None:
        return "no ip command (apt-get install iproute2)"
    probe = f"oslprobe-{uuid.uuid4().hex[:8]}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"ip netns add fails: {made.stderr.strip() or made.returncode}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")


def _setns(path: str | Path, kind: int) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        if _libc.setns(fd, kind) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"setns {path}: {os.strerror(errno)}")
    finally:
        os.close(fd)


@dataclass
class Host:
    """One namespace: ``name`` (the hostname its processes see), ``ip`` on the switch."""

    name: str
    netns: str
    ip: str
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def _preexec(self) -> None:
        # In the child, before exec: its own hostname, and SIGKILL when pytest dies.
        if _libc.unshare(CLONE_NEWUTS) == 0:
            name = self.name.encode()
            _libc.sethostname(name, len(name))
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)

    def popen(self, args: Sequence[str], *, env: dict[str, str], log: Path,
              cwd: Path | None = None) -> subprocess.Popen[bytes]:
        """Start ``args`` on this host (``ip netns exec``), in a process group of its own, its
        output appended to ``log``."""
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            process = subprocess.Popen(
                ["ip", "netns", "exec", self.netns, *args],
                env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True, preexec_fn=self._preexec,
            )
        self.processes.append(process)
        return process

    def run(self, args: Sequence[str], *, env: dict[str, str], timeout: float = 120,
            ) -> subprocess.CompletedProcess[str]:
        """Run ``args`` on this host to completion, capturing its output."""
        return subprocess.run(["ip", "netns", "exec", self.netns, *args], env=env,
                              capture_output=True, text=True, timeout=timeout,
                              preexec_fn=self._preexec)

    def prefix(self) -> list[str]:
        """The command prefix that runs something on this host."""
        return ["ip", "netns", "exec", self.netns]

    def pids(self) -> list[int]:
        """Every process in this host's network namespace."""
        done = subprocess.run(["ip", "netns", "pids", self.netns], capture_output=True,
                              text=True)
        return [int(pid) for pid in done.stdout.split()]

    def kill_all(self, timeout: float = 10) -> None:
        """SIGKILL every process on the host, until none is left (the host is lost)."""
        deadline = time.monotonic() + timeout
        while pids := self.pids():
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self._reap()
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name}: processes survive SIGKILL: {pids}")
            time.sleep(0.05)
        self._reap()

    def _reap(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=0.05)

    @contextlib.contextmanager
    def entered(self) -> Iterator[None]:
        """Run the calling thread in this host's network namespace for the block: sockets it
        opens there (``requests``, ``redis``) are this host's, and stay so afterwards."""
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        try:
            _setns(f"/run/netns/{self.netns}", CLONE_NEWNET)
            try:
                yield
            finally:
                if _libc.setns(own, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns back to the test's own namespace")
        finally:
            os.close(own)


TAG = re.compile(r"^osl(\d+)x[0-9a-f]{4}-")
"""Namespace names: ``osl<pid of the test process>x<random>-<host>``."""


def remove_stale(log: list[str] | None = None) -> None:
    """Delete the namespaces (and kill the processes) a run whose test process is dead left
    behind: one that was SIGKILLed never reached its clean-up."""
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    for line in listed.splitlines():
        name = line.split()[0] if line.split() else ""
        match = TAG.match(name)
        if not match or _alive(int(match.group(1))):
            continue
        host = Host(name=name, netns=name, ip="")
        with contextlib.suppress(RuntimeError):
            host.kill_all()
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
        if log is not None:
            log.append(name)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Network:
    """A switch namespace with bridge ``br0``, and hosts added with :meth:`add`."""

    def __init__(self, tag: str | None = None) -> None:
        self.tag = tag or f"osl{os.getpid()}x{uuid.uuid4().hex[:4]}"
        self.switch = f"{self.tag}-switch"
        self.hosts: dict[str, Host] = {}
        self._made: list[str] = []

    def __enter__(self) -> Network:
        remove_stale()
        try:
            self._add_namespace(self.switch)
            _ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
            _ip("-n", self.switch, "link", "set", "br0", "up")
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _add_namespace(self, name: str) -> None:
        _ip("netns", "add", name)
        self._made.append(name)
        _ip("-n", name, "link", "set", "lo", "up")

    def add(self, name: str, number: int) -> Host:
        """Host ``name`` at 10.77.0.``number``, its ``eth0`` on the switch, ``lo`` up."""
        netns = f"{self.tag}-{name}"
        self._add_namespace(netns)
        port = f"p-{name}"[:15]
        _ip("-n", self.switch, "link", "add", port, "type", "veth", "peer", "name", "eth0",
            "netns", netns)
        _ip("-n", self.switch, "link", "set", port, "master", "br0", "up")
        address = f"{SUBNET}.{number}"
        _ip("-n", netns, "addr", "add", f"{address}/24", "dev", "eth0")
        _ip("-n", netns, "link", "set", "eth0", "up")
        host = Host(name=name, netns=netns, ip=address)
        self.hosts[name] = host
        return host

    def close(self) -> None:
        """Kill every process on every host, then delete the namespaces (errors are collected
        and raised at the end, so one failure does not leave the rest behind)."""
        problems: list[str] = []
        for host in reversed(self.hosts.values()):  # clients first, the store host last
            try:
                host.kill_all()
            except Exception as exc:  # keep cleaning up
                problems.append(str(exc))
            for process in host.processes:
                if process.poll() is None:  # not reaped yet, so its group id is still its own
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(process.pid, signal.SIGKILL)
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        process.wait(timeout=5)
        for name in reversed(self._made):
            done = subprocess.run(["ip", "netns", "del", name], capture_output=True, text=True)
            if done.returncode != 0 and "No such file" not in done.stderr:
                problems.append(f"ip netns del {name}: {done.stderr.strip()}")
        self._made.clear()
        if problems:
            raise RuntimeError("; ".join(problems))
