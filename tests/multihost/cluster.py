"""osler in cluster mode across network namespaces: every service on a "host" of its own.

    store   10.77.0.2   redis-server (AOF, appendfsync always) :6380 and SeaweedFS (S3)
    sched   10.77.0.3   dask scheduler :8786
    gw      10.77.0.4   osler gateway :8000 (gunicorn, 2 workers)
    w1, w2  10.77.0.11+ osler worker (compute, train, predict) and one dask worker each
    client  10.77.0.100 where the test's HTTP and Redis calls come from

Every host has its own ``OSLER_DATA_DIR`` under the run's folder; with ``storage="s3"``
everything durable goes to ``s3://osler/cluster`` on the store host and no folder is shared.
``storage="shared-dir"`` gives every host the same ``OSLER_DATA_DIR`` instead (a stand-in for a
shared volume, to debug the harness without an object store); ``storage=None`` gives each its
own folder and nothing shared at all.

    with Cluster(tmp_path) as cluster:          # starts everything, waits for /readyz
        api = cluster.http()                    # the Flask test client's surface, over HTTP
        token = cluster.token("lab")
        cluster.lose_host("w1")                 # SIGKILL every process of w1
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests

from tests.multihost.netns import Host, Network
from tests.object_store import S3Endpoint, seaweedfs, weed_ports

REPO = Path(__file__).resolve().parents[2]

REDIS_PORT = 6380  # osler never uses 6379, not even on a host of its own
SCHEDULER_PORT = 8786
GATEWAY_PORT = 8000
BUCKET = "osler"
STORAGE_PREFIX = "cluster"

QUIET_DASK = {
    # As docker-compose.yml: quieter Dask polling while idle.
    "DASK_DISTRIBUTED__ADMIN__TICK__INTERVAL": "500ms",
    "DASK_DISTRIBUTED__ADMIN__SYSTEM_MONITOR__INTERVAL": "2s",
    "DASK_DISTRIBUTED__WORKER__MEMORY__MONITOR_INTERVAL": "1s",
    "DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED": "False",
}


def _base_env() -> dict[str, str]:
    """This process's environment without osler's, AWS's or Dask's own settings (a developer's
    OSLER_DATA_DIR or AWS profile must not leak into the hosts)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OSLER_", "AWS_", "DASK_", "PYTEST_"))}
    env.update(PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               MKL_NUM_THREADS="1", TF_CPP_MIN_LOG_LEVEL="2", TF_NUM_INTEROP_THREADS="1",
               TF_NUM_INTRAOP_THREADS="1")
    return env


class Answer:
    """A ``requests`` response with the Flask test response's surface (``get_json``, ``data``),
    so the suite's helpers (``upload``, ``wait_for_job``, ``slow_job``…) work over HTTP."""

    def __init__(self, response: requests.Response) -> None:
        self.response = response
        self.status_code = response.status_code
        self.headers = response.headers
        self.data = response.content

    def get_json(self) -> Any:
        return self.response.json() if self.data else None


class HttpClient:
    """HTTP to the gateway from the ``client`` host (every call made inside its namespace)."""

    def __init__(self, base_url: str, host: Host, timeout: float = 60) -> None:
        self.base_url = base_url
        self.host = host
        self.timeout = timeout
        self.session = requests.Session()

    def request(self, method: str, path: str, *, json: Any = None, data: Any = None,
                headers: dict[str, str] | None = None, content_type: str | None = None,
                ) -> Answer:
        files = None
        if isinstance(data, dict) and any(isinstance(v, tuple) for v in data.values()):
            # werkzeug's test client takes (file, name); requests takes (name, file)
            files = {k: (v[1], v[0]) for k, v in data.items() if isinstance(v, tuple)}
            data = {k: v for k, v in data.items() if not isinstance(v, tuple)} or None
        elif content_type and content_type != "multipart/form-data":
            headers = {**(headers or {}), "Content-Type": content_type}
        with self.host.entered():
            response = self.session.request(method, self.base_url + path, json=json, data=data,
                                            files=files, headers=headers, timeout=self.timeout)
            response.content  # noqa: B018 - read the body while inside the namespace
        return Answer(response)

    def get(self, path: str, **kwargs: Any) -> Answer:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Answer:
        return self.request("POST", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Answer:
        return self.request("DELETE", path, **kwargs)


class Cluster:
    """Start the hosts and services in ``root``; ``close()`` (or leaving the ``with``) kills
    every process and deletes every namespace, whatever happened."""

    def __init__(self, root: Path, *, storage: str | None = "s3", workers: int = 2,
                 lease_seconds: int = 10, extra_env: dict[str, str] | None = None) -> None:
        if storage not in ("s3", "shared-dir", None):
            raise ValueError(f"storage must be 's3', 'shared-dir' or None, not {storage!r}")
        self.root = Path(root)
        self.storage = storage
        self.worker_names = [f"w{i + 1}" for i in range(workers)]
        self.lease_seconds = lease_seconds
        self.extra_env = extra_env or {}
        self.network = Network()
        self.s3: S3Endpoint | None = None
        self._stack = contextlib.ExitStack()
        self.timings: dict[str, float] = {}

    # --- addresses -----------------------------------------------------------------------------

    def host(self, name: str) -> Host:
        return self.network.hosts[name]

    @property
    def redis_url(self) -> str:
        return f"redis://{self.host('store').ip}:{REDIS_PORT}/0"

    @property
    def scheduler_address(self) -> str:
        return f"tcp://{self.host('sched').ip}:{SCHEDULER_PORT}"

    @property
    def gateway_url(self) -> str:
        return f"http://{self.host('gw').ip}:{GATEWAY_PORT}"

    @property
    def storage_url(self) -> str | None:
        return self.s3.storage_url(STORAGE_PREFIX) if self.s3 else None

    def data_dir(self, host: str) -> Path:
        if self.storage == "shared-dir":
            return self.root / "shared-data"
        return self.root / host / "data"

    def log(self, name: str) -> Path:
        return self.root / "logs" / f"{name}.log"

    def env(self, host: str, **more: str) -> dict[str, str]:
        """The environment of an osler process on ``host``."""
        env = _base_env()
        env.update(QUIET_DASK)
        env.update(
            # gunicorn (>= 25.1) puts a control socket in $XDG_RUNTIME_DIR, else one
            # ~/.gunicorn/gunicorn.ctl for every gateway on the machine
            XDG_RUNTIME_DIR=str(self.root / host / "run"),
            OSLER_DATA_DIR=str(self.data_dir(host)),
            OSLER_REDIS_URL=self.redis_url,
            OSLER_DASK_SCHEDULER=self.scheduler_address,
            OSLER_LEASE_SECONDS=str(self.lease_seconds),
        )
        if self.s3 is not None:
            env["OSLER_STORAGE_URL"] = self.storage_url or ""
            env.update(self.s3.env)
        env.update(self.extra_env)
        env.update(more)
        return env

    # --- start and stop -----------------------------------------------------------------------

    def __enter__(self) -> Cluster:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self, timeout: float = 180) -> None:
        began = time.monotonic()
        self._stack.enter_context(self.network)
        net = self.network
        store, sched, gw = net.add("store", 2), net.add("sched", 3), net.add("gw", 4)
        workers = [net.add(name, 11 + i) for i, name in enumerate(self.worker_names)]
        client = net.add("client", 100)
        for name in ("store", "sched", "gw", *self.worker_names):
            (self.root / name / "run").mkdir(parents=True, exist_ok=True)  # its own folder
            self.data_dir(name).mkdir(parents=True, exist_ok=True)
        self.timings["network"] = time.monotonic() - began

        self._start_redis(store)
        self._start_scheduler(sched)
        if self.storage == "s3":
            # gRPC ports are also unix socket names under /tmp (shared by every namespace):
            # weed_ports keeps them apart from any other weed's.
            ports = weed_ports()
            self.s3 = self._stack.enter_context(seaweedfs(
                self.root / "store" / "seaweedfs", bucket=BUCKET, ip=store.ip, ports=ports,
                prefix=store.prefix(), probe_context=client.entered,
                preexec_fn=store._preexec))
            self.timings["seaweedfs"] = time.monotonic() - began
        for worker in workers:
            self._start_worker(worker)
        self._start_gateway(gw)
        self.wait_ready(timeout=max(10.0, timeout - (time.monotonic() - began)))
        self.timings["ready"] = time.monotonic() - began

    def _python(self, host: Host, name: str, args: list[str], **env: str) -> None:
        host.popen([sys.executable, *args], env=self.env(host.name, **env), log=self.log(name),
                   cwd=self.root / host.name)

    def _start_redis(self, store: Host) -> None:
        from osler.workers.redis_server import redis_server_binary

        folder = self.root / "store" / "redis"
        folder.mkdir(parents=True, exist_ok=True)
        store.popen([
            redis_server_binary(),
            "--bind", store.ip, "--port", str(REDIS_PORT), "--protected-mode", "no",
            "--dir", str(folder), "--appendonly", "yes", "--appendfsync", "always",
            "--save", "", "--maxmemory-policy", "noeviction",
        ], env=_base_env(), log=self.log("redis"), cwd=folder)

    def _start_scheduler(self, sched: Host) -> None:
        self._python(sched, "dask-scheduler", [
            "-m", "dask", "scheduler", "--host", sched.ip, "--port", str(SCHEDULER_PORT),
            "--no-dashboard", "--preload", "osler.kernels.scheduler_preload"])

    def _start_worker(self, host: Host) -> None:
        local = self.root / host.name / "dask"
        local.mkdir(parents=True, exist_ok=True)
        self._python(host, f"{host.name}-dask", [
            "-m", "dask", "worker", self.scheduler_address, "--host", host.ip,
            "--name", host.name, "--nthreads", "1", "--no-dashboard",
            "--local-directory", str(local), "--preload", "osler.kernels.preload"])
        self._python(host, f"{host.name}-celery", [
            "-m", "osler.api.cli", "worker", "--queues", "compute,train,predict",
            "--concurrency", "1"])

    def _start_gateway(self, gw: Host) -> None:
        self._python(gw, "gateway", [
            "-m", "osler.api.cli", "gateway", "--host", "0.0.0.0", "--port", str(GATEWAY_PORT),
            "--workers", "2"])

    def wait_ready(self, timeout: float = 180, workers: int | None = None) -> dict[str, Any]:
        """Until the gateway's ``/readyz`` answers 200 with ``workers`` Celery workers (default:
        all) and as many Dask workers connected (``/readyz`` itself needs one of each)."""
        api = self.http()
        deadline = time.monotonic() + timeout
        last: Any = None
        want = len(self.worker_names) if workers is None else workers
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                answer = api.get("/readyz")
                last = answer.get_json()
                if (answer.status_code == 200 and len(last["workers"]) >= want
                        and last["parts"]["dask"]["workers"] >= want):
                    return last
            except requests.RequestException as exc:
                last = repr(exc)
            time.sleep(0.5)
        raise RuntimeError(f"cluster not ready in {timeout:.0f} s: {last}\n{self.log_tails()}")

    def _check_alive(self) -> None:
        for host in self.network.hosts.values():
            for process in host.processes:
                if process.poll() is not None:
                    raise RuntimeError(f"{host.name}: {process.args[4:]} exited "
                                       f"({process.returncode})\n{self.log_tails()}")

    def close(self) -> None:
        self._stack.close()

    # --- using it ------------------------------------------------------------------------------

    def http(self) -> HttpClient:
        return HttpClient(self.gateway_url, self.host("client"))

    def token(self, tenant: str) -> str:
        """``osler token create TENANT`` run on the gateway host against the cluster's Redis."""
        done = self.host("gw").run([sys.executable, "-m", "osler.api.cli", "token", "create",
                                    tenant], env=self.env("gw"))
        if done.returncode != 0:
            raise RuntimeError(f"osler token create: {done.stderr.strip()}")
        return done.stdout.strip()

    def redis(self, command: str, *args: Any) -> Any:
        """One Redis command from the client host."""
        import redis

        with self.host("client").entered():
            client = redis.Redis.from_url(self.redis_url, decode_responses=True,
                                          socket_timeout=5)
            try:
                return client.execute_command(command, *args)
            finally:
                client.close()

    @contextlib.contextmanager
    def _s3_client(self) -> Iterator[Any]:
        """A botocore S3 client used from the client host (not s3fs: it would connect from
        fsspec's own IO thread, which stays in the test's namespace)."""
        import botocore.session

        assert self.s3 is not None, "the cluster has no object store"
        with self.host("client").entered():
            s3 = botocore.session.get_session().create_client(
                "s3", endpoint_url=self.s3.url, region_name="us-east-1",
                aws_access_key_id=self.s3.access_key, aws_secret_access_key=self.s3.secret_key)
            try:
                yield s3
            finally:
                s3.close()

    def keys(self, key_prefix: str = "") -> list[str]:
        """Keys of the objects under ``key_prefix`` of the cluster's storage prefix."""
        root = f"{STORAGE_PREFIX}/{key_prefix.strip('/')}".rstrip("/") + "/"
        with self._s3_client() as s3:
            pages = s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=root)
            return [item["Key"].removeprefix(root) for page in pages
                    for item in page.get("Contents", [])]

    def fetch(self, key_prefix: str, into: Path) -> list[Path]:
        """Copy every object under ``key_prefix`` (of the storage prefix) into ``into``."""
        root = f"{STORAGE_PREFIX}/{key_prefix.strip('/')}/"
        written = []
        keys = self.keys(key_prefix)
        with self._s3_client() as s3:
            for key in keys:
                target = into / key
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(s3.get_object(Bucket=BUCKET, Key=root + key)["Body"].read())
                written.append(target)
        return written

    def lose_host(self, name: str) -> None:
        """SIGKILL every process on host ``name`` at once, as when the machine dies."""
        self.host(name).kill_all()

    def log_tails(self, lines: int = 25) -> str:
        out = io.StringIO()
        for log in sorted((self.root / "logs").glob("*.log")):
            text = log.read_text(errors="replace").splitlines()[-lines:]
            out.write(f"--- {log.name}\n" + "\n".join(text) + "\n")
        return out.getvalue()
