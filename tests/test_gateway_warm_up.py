"""A gateway worker imports, as it starts, the modules its first requests would import, and
builds Celery's result backend (without connecting: no Redis runs here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

PROBE = """
import json, sys
import osler.api.wsgi  # what gunicorn imports in each worker
celery = osler.api.wsgi.app.extensions["osler"].celery
print(json.dumps({"modules": sorted(sys.modules), "frozen": __import__("gc").get_freeze_count(),
                  "backend_built": "backend" in vars(celery._local)}))
"""


def test_wsgi_module_imports_the_first_requests_modules_and_freezes(tmp_path: Path) -> None:
    from osler.api.warm_up import FIRST_REQUEST_IMPORTS

    env = {"PATH": "/usr/bin:/bin", "OSLER_DATA_DIR": str(tmp_path)}
    probe = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                           timeout=120, cwd=REPO, env=env)
    assert probe.returncode == 0, probe.stderr[-3000:]
    state = json.loads(probe.stdout.strip().splitlines()[-1])
    assert set(FIRST_REQUEST_IMPORTS) <= set(state["modules"])
    assert state["backend_built"]
    assert state["frozen"] > 10_000  # the start-up objects are out of the collector's way
