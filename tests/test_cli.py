"""The ``osler`` command end to end: ``demo``, ``up`` with the client commands, ``token create``."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from osler.workers.redis_connection import connect
from osler.workers.redis_server import RedisServer, unix_socket_answers
from osler.workers.settings import Settings
from osler.workers.tenants import TenantStore
from tests.conftest import REPO

TOKEN_LINE = re.compile(r"^token: ([A-Za-z0-9_-]{32,})$")


def clean_env(data_dir: Path | None, **env: str) -> dict[str, str]:
    """This environment without any OSLER_* setting, pointed at ``data_dir`` (None: unset), with
    a home of its own (``data_dir/home`` unless HOME is given), where ``osler up`` records the
    stacks it runs: tests never see each other's stacks or the user's."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("OSLER_")}
    home = env.pop("HOME", None) or str(data_dir / "home")
    environ.update(HOME=home, MPLCONFIGDIR=str(Path.home() / ".config" / "matplotlib"))
    if data_dir is not None:
        environ["OSLER_DATA_DIR"] = str(data_dir)
    environ.update(env)
    return environ


def osler(*args: str, data_dir: Path | None, timeout: float = 180, cwd: Path = REPO,
          **env: str):
    environ = clean_env(data_dir, **env)
    return subprocess.run(
        [sys.executable, "-m", "osler.api.cli", *args],
        env=environ, cwd=cwd, capture_output=True, text=True, timeout=timeout,
    )


def test_demo_runs_a_real_job_end_to_end_and_exits_0(tmp_path):
    other = tmp_path / "demo" / "models" / "result" / "keep.txt"  # another demo's results
    other.parent.mkdir(parents=True)
    other.write_text("kept")
    result = osler("demo", data_dir=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert other.read_text() == "kept"
    out = tmp_path / "demo" / "genome" / "result"
    assert str(out) in result.stdout
    matrix = np.load(out / "matrix.npy")
    assert matrix.shape == (300, 300) and matrix.dtype == np.float32
    assert (out / "heatmap.png").read_bytes()[:4] == b"\x89PNG"
    # The stack stopped: nothing answers on the embedded socket any more.
    socket = tmp_path / "demo" / "genome" / "service" / "redis" / "redis.sock"
    assert not unix_socket_answers(socket)


@dataclass
class Stack:
    data_dir: Path
    url: str
    token: str


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """One ``osler up`` for this module's client-command tests."""
    from osler.api.cli.embedded import free_port

    data_dir = tmp_path_factory.mktemp("stack")
    port = free_port()
    dask_port = free_port()
    up = subprocess.Popen(
        [sys.executable, "-m", "osler.api.cli", "up", "--port", str(port),
         "--dask-dashboard-port", str(dask_port)],
        env=clean_env(data_dir), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )
    try:
        token_line = up.stdout.readline().strip()
        assert TOKEN_LINE.match(token_line), (token_line, up.stderr.read()[-2000:])
        url_line = up.stdout.readline().strip()
        url = url_line.removeprefix("url: ")
        assert up.stdout.readline().strip() == f"dashboard: {url}/dashboard/"
        dask_line = up.stdout.readline().strip()
        assert dask_line == f"dask dashboard: http://127.0.0.1:{dask_port}/status"
        # The Dask dashboard it printed renders (bokeh is installed)
        import requests

        page = requests.get(dask_line.removeprefix("dask dashboard: "), timeout=20)
        assert page.status_code == 200 and "needs bokeh" not in page.text.lower()
        yield Stack(data_dir, url, TOKEN_LINE.match(token_line)[1])
    finally:
        up.send_signal(signal.SIGINT)
        assert up.wait(timeout=60) == 0


def run(stack: Stack, *args: str, **kwargs):
    return osler(*args, data_dir=stack.data_dir, **kwargs)


def test_up_prints_a_token_and_the_client_commands_work(stack, tmp_path):
    assert stack.url.startswith("http://127.0.0.1:")
    saved = json.loads((stack.data_dir / "client.json").read_text())
    assert saved == {"url": stack.url, "token": stack.token}
    assert oct((stack.data_dir / "client.json").stat().st_mode)[-3:] == "600"
    cohort = tmp_path / "cohort.npy"
    np.save(cohort, np.random.default_rng(0).integers(0, 3, (20, 100), dtype=np.int8))
    submitted = run(stack, "submit", "genome-distance", "--input", str(cohort),
                    "--param", "plots=false", "--watch")
    assert submitted.returncode == 0, submitted.stderr
    # Not a terminal: one line per change, no carriage-return redraws
    assert "\r" not in submitted.stderr and "succeeded 100% done" in submitted.stderr
    job_id = submitted.stdout.strip().splitlines()[0]
    # By default the result goes into ./<job id>/, and nothing there is overwritten
    fetched = run(stack, "result", job_id, cwd=tmp_path)
    assert fetched.returncode == 0, fetched.stderr
    matrix = tmp_path / job_id / "matrix.npy"
    a = np.load(cohort).astype(np.float64)
    np.testing.assert_allclose(np.load(matrix), a @ a.T / 100, rtol=1e-5)
    matrix.write_bytes(b"mine")
    again = run(stack, "result", job_id, cwd=tmp_path)
    assert again.returncode == 2 and "--force" in again.stderr
    assert "already holds 7 of this job's files" in again.stderr
    assert matrix.read_bytes() == b"mine"
    forced = run(stack, "result", job_id, "--force", "--json", cwd=tmp_path)
    assert forced.returncode == 0 and str(matrix) in json.loads(forced.stdout)["files"]
    np.testing.assert_allclose(np.load(matrix), a @ a.T / 100, rtol=1e-5)
    listed = run(stack, "jobs")
    assert job_id in listed.stdout and "succeeded" in listed.stdout
    assert [j["id"] for j in json.loads(run(stack, "jobs", "--json").stdout)] == [job_id]
    bad = run(stack, "submit", "genome-distance", "--param", "dataset=nope")
    assert bad.returncode != 0
    assert "422" in bad.stderr and "Traceback" not in bad.stderr
    missing = run(stack, "status", "00000000-0000-4000-8000-000000000000")
    assert missing.returncode != 0 and "404" in missing.stderr


def datasets(stack: Stack) -> list[dict]:
    listed = run(stack, "datasets", "--json")
    assert listed.returncode == 0, listed.stderr
    return json.loads(listed.stdout)


def test_multi_input_submit_validates_before_uploading_and_uploads_a_file_once(stack, tmp_path):
    from rdkit import RDConfig

    nci = Path(RDConfig.RDDataDir, "NCI", "first_5K.smi").read_text().splitlines()
    library, queries = tmp_path / "library.smi", tmp_path / "queries.smi"
    library.write_text("\n".join(nci[:40]) + "\n")
    queries.write_text("\n".join(nci[100:103]) + "\n")
    before = len(datasets(stack))
    # A bare --input for a kind with two dataset params, and bad params: refused, nothing sent
    bare = run(stack, "submit", "drug-similarity", "--input", str(library))
    assert bare.returncode == 2 and "library, queries" in bare.stderr
    bad = run(stack, "submit", "drug-similarity", "--input", f"library={library}",
              "--input", f"queries={queries}", "--param", "k=0")
    assert bad.returncode == 2 and "422" in bad.stderr and "params.k" in bad.stderr
    assert len(datasets(stack)) == before
    args = ("submit", "drug-similarity", "--input", f"library={library}",
            "--input", f"queries={queries}", "--param", "k=2", "--watch", "--json")
    first = run(stack, *args)
    assert first.returncode == 0, first.stderr
    job = json.loads(first.stdout[first.stdout.index("{"):])
    assert job["state"] == "succeeded" and job["params"]["k"] == 2
    assert len(datasets(stack)) == before + 2
    # The same files again: the datasets already there are reused
    second = run(stack, *args)
    assert second.returncode == 0, second.stderr
    assert second.stderr.count("reusing dataset") == 2
    again = json.loads(second.stdout[second.stdout.index("{"):])
    assert {again["params"]["library"], again["params"]["queries"]} == {
        job["params"]["library"], job["params"]["queries"]}
    assert len(datasets(stack)) == before + 2


def test_kinds_models_and_predict(stack, tmp_path):
    kinds = run(stack, "kinds")
    assert kinds.returncode == 0 and "genome-distance" in kinds.stdout
    drug = run(stack, "kinds", "drug-similarity")
    assert "--input library=FILE --input queries=FILE" in drug.stdout
    row = next(line for line in drug.stdout.splitlines() if line.startswith("k "))
    assert "integer" in row and "10" in row
    described = json.loads(run(stack, "kinds", "train-word2vec", "--json").stdout)
    assert described["dataset_params"] == ["dataset"]
    unknown = run(stack, "kinds", "nope")
    assert unknown.returncode == 2 and "404" in unknown.stderr
    words = ["heart", "cardiac", "atrial"], ["kidney", "renal", "dialysis"]
    corpus = tmp_path / "corpus.txt"
    rng = np.random.default_rng(0)
    corpus.write_text("\n".join(" ".join(rng.choice(words[i % 2], 8)) for i in range(400)))
    trained = run(stack, "submit", "train-word2vec", "--input", str(corpus), "--watch",
                  "--param", "vector_size=8", "--param", "min_count=1", "--param", "workers=1")
    assert trained.returncode == 0, trained.stderr
    models = json.loads(run(stack, "models", "--json").stdout)
    assert [m["kind"] for m in models] == ["word2vec"]
    model_id = models[0]["id"]
    shown = run(stack, "models", model_id)
    assert shown.returncode == 0 and "word2vec" in shown.stdout
    similar = run(stack, "predict", model_id, "--word", "heart", "--top", "2", "--json")
    assert similar.returncode == 0, similar.stderr
    hits = json.loads(similar.stdout)["similar"]
    assert len(hits) == 2 and {h["word"] for h in hits} <= set(words[0] + words[1]) - {"heart"}
    assert hits[0]["similarity"] >= hits[1]["similarity"]
    table = run(stack, "predict", model_id, "--word", "heart")
    assert table.stdout.splitlines()[0].split() == ["WORD", "SIMILARITY"]
    wrong = run(stack, "predict", model_id, "--text", "chest pain")
    assert wrong.returncode == 2 and "--word WORD" in wrong.stderr


def test_token_create_and_clients_find_the_stack_running_elsewhere(stack, tmp_path):
    home = str(stack.data_dir / "home")  # where the stack recorded itself
    made = osler("token", "create", "elsewhere", data_dir=None, HOME=home, timeout=60)
    assert made.returncode == 0, made.stderr
    assert f"the stack running on {stack.data_dir}" in made.stderr
    token = made.stdout.strip()
    listed = osler("jobs", data_dir=None, HOME=home, OSLER_URL=stack.url, OSLER_TOKEN=token)
    assert listed.returncode == 0, listed.stderr  # the running gateway accepts it
    found = osler("datasets", data_dir=None, HOME=home)
    assert found.returncode == 0, found.stderr
    # With OSLER_DATA_DIR naming a folder no stack runs on: refused, no Redis started there
    other = tmp_path / "other"
    refused = osler("token", "create", "x", data_dir=other, HOME=home, timeout=60)
    assert refused.returncode == 2 and f"one runs on {stack.data_dir}" in refused.stderr
    assert not (other / "redis").exists()


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


def test_demo_saliency_overlays_are_upscaled_by_whole_pixels(tmp_path):
    import io

    from PIL import Image

    from osler.api.cli.demo import SALIENCY_MIN_PIXELS, write_readable_png

    small = np.random.default_rng(0).integers(0, 255, (28, 28, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(small).save(buffer, format="PNG")
    big = np.asarray(Image.open(write_readable_png(buffer.getvalue(), tmp_path / "s.png")))
    factor = -(-SALIENCY_MIN_PIXELS // 28)
    assert big.shape == (28 * factor, 28 * factor, 3)
    np.testing.assert_array_equal(big, small.repeat(factor, axis=0).repeat(factor, axis=1))


def test_logs_rerun_and_delete_from_the_command_line(stack, tmp_path):
    cohort = tmp_path / "small.npy"
    np.save(cohort, np.random.default_rng(4).integers(0, 3, (8, 30), dtype=np.int8))
    submitted = run(stack, "submit", "genome-distance", "--input", f"dataset={cohort}",
                    "--param", "plots=false", "--watch")
    assert submitted.returncode == 0, submitted.stderr
    job_id = submitted.stdout.strip().splitlines()[0]
    logs = run(stack, "logs", job_id)
    assert logs.returncode == 0, logs.stderr
    states = [line.split()[1] for line in logs.stdout.splitlines()
              if line.split()[1] in ("queued", "running", "succeeded")]
    assert states == ["queued", "running", "succeeded"]
    followed = run(stack, "logs", job_id, "--follow", "--json")
    assert json.loads(followed.stdout.splitlines()[-1])["state"] == "succeeded"
    rerun = run(stack, "rerun", job_id)
    assert rerun.returncode == 0, rerun.stderr
    new_id = rerun.stdout.strip()
    assert new_id != job_id
    waited = run(stack, "status", new_id, "--watch")
    assert waited.returncode == 0, waited.stderr
    deleted = run(stack, "delete", job_id)
    assert deleted.returncode == 0 and job_id in deleted.stdout
    gone = run(stack, "status", job_id)
    assert gone.returncode == 2 and "404" in gone.stderr
    for command in ("logs", "delete", "rerun"):
        unknown = run(stack, command, job_id)
        assert unknown.returncode == 2 and "404" in unknown.stderr, (command, unknown.stderr)
        assert "Traceback" not in unknown.stderr


def test_a_bad_setting_is_one_line_and_exit_2(tmp_path):
    for name, value in (("OSLER_METRICS", "maybe"), ("OSLER_LEASE_SECONDS", "soon"),
                        ("OSLER_STORAGE_URL", "ftp://host/x"), ("OSLER_STORAGE_URL", "file://x"),
                        ("OSLER_CACHE_BYTES", "lots")):
        result = osler("jobs", data_dir=tmp_path, **{name: value})
        assert result.returncode == 2 and name in result.stderr, result.stderr
        assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", [["gateway", "--port", "1"], ["worker"]])
def test_a_store_that_cannot_be_reached_stops_start_up_with_one_line(tmp_path, command):
    from osler.api.cli.embedded import free_port

    result = osler(*command, data_dir=tmp_path, timeout=120,
                   OSLER_STORAGE_URL="s3://osler/prod", AWS_ACCESS_KEY_ID="k",
                   AWS_SECRET_ACCESS_KEY="s", AWS_REGION="us-east-1",
                   AWS_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}", AWS_MAX_ATTEMPTS="1")
    assert result.returncode == 2, result.stderr
    assert "the store s3://osler/prod cannot be used" in result.stderr
    assert "Traceback" not in result.stderr


def test_up_on_a_busy_port_says_so_at_once(tmp_path):
    import socket
    import time

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        started = time.monotonic()
        result = osler("up", "--port", str(port), data_dir=tmp_path, timeout=60)
        assert result.returncode == 2
        assert f"port {port} is in use" in result.stderr and "--port" in result.stderr
        assert time.monotonic() - started < 15  # no stack was started and waited for
