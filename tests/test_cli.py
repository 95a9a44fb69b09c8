"""The ``osler`` command end to end: ``demo``, ``up`` with the client commands, ``token create``."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np

from osler.workers.redis_connection import connect
from osler.workers.redis_server import RedisServer, unix_socket_answers
from osler.workers.settings import Settings
from osler.workers.tenants import TenantStore
from tests.conftest import REPO

TOKEN_LINE = re.compile(r"^token: ([A-Za-z0-9_-]{32,})$")


def clean_env(data_dir: Path, **env: str) -> dict[str, str]:
    """This environment without any OSLER_* setting, pointed at ``data_dir``."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("OSLER_")}
    environ.update(OSLER_DATA_DIR=str(data_dir), **env)
    return environ


def osler(*args: str, data_dir: Path, timeout: float = 180, **env: str):
    environ = clean_env(data_dir, **env)
    return subprocess.run(
        [sys.executable, "-m", "osler.api.cli", *args],
        env=environ, cwd=REPO, capture_output=True, text=True, timeout=timeout,
    )


def test_demo_runs_a_real_job_end_to_end_and_exits_0(tmp_path):
    result = osler("demo", data_dir=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    out = tmp_path / "demo" / "result"
    assert str(out) in result.stdout
    matrix = np.load(out / "matrix.npy")
    assert matrix.shape == (300, 300) and matrix.dtype == np.float32
    assert (out / "heatmap.png").read_bytes()[:4] == b"\x89PNG"
    # The stack stopped: nothing answers on the embedded socket any more.
    assert not unix_socket_answers(tmp_path / "demo" / "service" / "redis" / "redis.sock")


def test_up_prints_a_token_and_the_client_commands_work(tmp_path):
    environ = clean_env(tmp_path)
    from osler.api.cli.embedded import free_port

    port = free_port()
    up = subprocess.Popen(
        [sys.executable, "-m", "osler.api.cli", "up", "--port", str(port)],
        env=environ, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        token_line = up.stdout.readline().strip()
        assert TOKEN_LINE.match(token_line), (token_line, up.stderr.read()[-2000:])
        assert up.stdout.readline().strip() == f"url: http://127.0.0.1:{port}"
        saved = json.loads((tmp_path / "client.json").read_text())
        assert saved["token"] == TOKEN_LINE.match(token_line).group(1)
        assert oct((tmp_path / "client.json").stat().st_mode)[-3:] == "600"
        cohort = tmp_path / "cohort.npy"
        np.save(cohort, np.random.default_rng(0).integers(0, 3, (20, 100), dtype=np.int8))
        submitted = osler("submit", "genome-distance", "--input", str(cohort),
                          "--param", "plots=false", "--watch", data_dir=tmp_path)
        assert submitted.returncode == 0, submitted.stderr
        job_id = submitted.stdout.strip().splitlines()[0]
        fetched = osler("result", job_id, "-o", str(tmp_path / "out"), data_dir=tmp_path)
        assert fetched.returncode == 0, fetched.stderr
        a = np.load(cohort).astype(np.float64)
        np.testing.assert_allclose(np.load(tmp_path / "out" / "matrix.npy"), a @ a.T / 100,
                                   rtol=1e-5)
        listed = osler("jobs", data_dir=tmp_path)
        assert job_id in listed.stdout and "succeeded" in listed.stdout
        bad = osler("submit", "genome-distance", "--param", "dataset=nope", data_dir=tmp_path)
        assert bad.returncode != 0
        assert "422" in bad.stderr and "Traceback" not in bad.stderr
        missing = osler("status", "00000000-0000-4000-8000-000000000000", data_dir=tmp_path)
        assert missing.returncode != 0 and "404" in missing.stderr
    finally:
        up.send_signal(signal.SIGINT)
        assert up.wait(timeout=60) == 0


def test_client_commands_without_a_gateway_fail_with_one_line(tmp_path):
    result = osler("jobs", data_dir=tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "osler up" in result.stderr


def test_token_create_uses_the_embedded_store(tmp_path):
    result = osler("token", "create", "acme", data_dir=tmp_path, timeout=60)
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert re.fullmatch(r"[A-Za-z0-9_-]{32,}", token)
    settings = Settings(data_dir=tmp_path)
    server = RedisServer(settings.embedded_redis_socket.parent,
                         unix_socket=settings.embedded_redis_socket).start()
    try:
        assert TenantStore(connect(settings)).authenticate(token) == "acme"
    finally:
        server.stop()
    bad = osler("token", "create", "no spaces allowed", data_dir=tmp_path, timeout=60)
    assert bad.returncode == 2 and "tenant name" in bad.stderr
