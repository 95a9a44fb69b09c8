"""osler installs as one import package, and the gateway stays light.

A wheel built from the checkout holds only ``osler/``; installed outside the checkout,
``import osler.api`` works and ``import api`` does not. Creating the gateway app and validating
a job of every kind imports none of the heavy libraries the workers use.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

HEAVY = ("numba", "tensorflow", "keras", "rdkit", "gensim", "distributed")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(REPO)],
        check=True, capture_output=True, timeout=300,
    )
    return next(out.glob("osler-*.whl"))


def test_the_wheel_holds_only_the_osler_package(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/", 1)[0] for name in names}
    assert tops == {"osler", "osler-0.1.0.dist-info"}
    for family in ("genome", "molecules", "imaging", "text"):
        assert f"osler/kernels/{family}/__init__.py" in names
    assert "osler/api/cli/__main__.py" in names
    dashboard = {"osler/api/templates/dashboard/base.html", "osler/api/static/dashboard/api.js"}
    assert dashboard <= set(names)


def test_installed_outside_the_checkout_only_osler_imports(
    wheel: Path, tmp_path: Path
) -> None:
    # Given the wheel unpacked into a folder of its own, and Python started without site
    # (so the checkout's editable install is not on the path) in a folder outside the checkout
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
         str(wheel)], check=True, capture_output=True, timeout=300,
    )
    path = f"{target}:{sysconfig.get_paths()['purelib']}"

    def run(code: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-S", "-c", code], cwd=tmp_path, text=True,
                              capture_output=True, env={"PYTHONPATH": path}, timeout=120)

    # Then osler's three layers import from the installed copy, and the bare names do not
    ok = run("import osler.api, osler.workers, osler.kernels, osler.api.cli; "
             "print(osler.api.__file__)")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith(str(target))
    for bare in ("api", "workers", "kernels"):
        failed = run(f"import {bare}")
        assert failed.returncode != 0 and "ModuleNotFoundError" in failed.stderr


GATEWAY_PROBE = r"""
import json, sys, tempfile
from pathlib import Path
import numpy as np
from osler.api import create_app
from osler.api.validation import parse_job_request
from osler.workers.settings import Settings

root = Path(tempfile.mkdtemp())
settings = Settings(data_dir=root, redis_url="redis://127.0.0.1:1/0")
app = create_app(settings)
np.save(root / "cohort.npy", np.zeros((4, 8), np.int8))
(root / "library.smi").write_text("CCO ethanol\nc1ccccc1 benzene\n")
np.savez(root / "images.npz", train_images=np.zeros((2, 28, 28), np.uint8))
files = {"genome-distance": {"dataset": root / "cohort.npy"},
         "drug-similarity": {"library": root / "library.smi"},
         "train-image-classifier": {"dataset": root / "images.npz"}}
checked = []
with app.app_context():
    from osler.workers.kinds import all_kinds
    for name, kind in sorted(all_kinds().items()):
        params = {p: "00000000-0000-4000-8000-000000000000" for p in kind.dataset_params[:1]}
        params.update({p: "00000000-0000-4000-8000-000000000000" for p in kind.model_params})
        kind, filled = parse_job_request({"kind": name, "params": params})
        if kind.check_inputs is not None:
            kind.check_inputs(filled, files[name], settings)
        checked.append(name)
print(json.dumps({"checked": checked,
                  "heavy": [m for m in HEAVY if m in sys.modules]}))
"""


def test_the_gateway_imports_no_heavy_library() -> None:
    # When a gateway app is created and a job of every kind is parsed and its inputs checked
    code = f"HEAVY = {HEAVY!r}\n" + GATEWAY_PROBE
    probe = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           timeout=120, cwd=REPO)
    assert probe.returncode == 0, probe.stderr
    import json

    report = json.loads(probe.stdout.strip().splitlines()[-1])
    # Then every kind was validated, and none of the workers' libraries was imported
    from osler.workers.kinds import all_kinds

    assert sorted(report["checked"]) == sorted(all_kinds())
    assert report["heavy"] == []


def _module_imports() -> dict[str, set[str]]:
    """Every osler module and the osler modules it imports (at any depth of its code)."""
    import ast

    roots = {"api": "osler.api", "workers": "osler.workers", "kernels": "osler.kernels"}
    modules: dict[str, Path] = {}
    for folder, package in roots.items():
        for path in (REPO / folder).rglob("*.py"):
            parts = list(path.relative_to(REPO / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join([package, *parts])] = path
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            else:
                continue
            edges |= {t for t in targets if t in modules and t != name}
        graph[name] = edges
    return graph


def test_no_module_imports_one_that_imports_it_back() -> None:
    graph = _module_imports()
    assert len(graph) > 80
    # Tarjan's strongly connected components: any component of two or more is a cycle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    assert cycles == []


def test_kernels_import_nothing_of_the_service() -> None:
    for name, edges in _module_imports().items():
        if name.startswith("osler.kernels"):
            assert all(e.startswith("osler.kernels") for e in edges), name


def test_the_http_client_needs_no_redis_and_importing_reads_no_environment() -> None:
    # An environment that Settings.from_env() refuses: importing must not read it
    code = (
        "import sys\n"
        "import osler.api.client\n"
        "assert 'redis' not in sys.modules, 'the client imported redis'\n"
        "import osler.workers.tasks, osler.workers.celery_app, osler.api.wsgi\n"
        "print('imported')\n"
    )
    env = {"PATH": "/usr/bin:/bin", "OSLER_JOB_TIME_LIMIT": "not-a-number",
           "OSLER_DATA_DIR": "/nonexistent/osler"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=120, cwd=REPO)
    # osler.api.wsgi builds the app from the environment on purpose (it is gunicorn's entry)
    assert "OSLER_JOB_TIME_LIMIT must be an integer" in done.stderr
    assert "the client imported redis" not in done.stderr
    code = code.replace(", osler.api.wsgi", "")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=120, cwd=REPO)
    assert done.returncode == 0 and done.stdout.strip() == "imported", done.stderr
