"""Run a probe script in a fresh interpreter and read the numba signatures its jobs compiled.

A probe (``tests/kernels/test_warm_up.py``, ``test_genome_warm_up.py``,
``test_sparse_missing.py``) counts each kernel's compiled signatures (:func:`signature_counts`),
optionally runs a warm-up (``argv[1] == "warm"``), runs real jobs and prints, as its last line,
the JSON of the kernels whose count changed (:func:`print_changed`): ``{name: [before,
after]}``. :func:`check_warm_up` is the tests' assertion on it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[2]


def new_signatures(probe: str, mode: str) -> dict:
    """The probe's ``{kernel: [before, after]}`` in ``mode`` (``"warm"`` or ``"cold"``)."""
    run = subprocess.run([sys.executable, "-c", probe, mode], capture_output=True, text=True,
                         timeout=600, cwd=REPO)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def check_warm_up(probe: str, mode: str, seen_cold: tuple[str, ...]) -> None:
    """Run ``probe`` in ``mode``. Warm: its jobs compiled no signature the warm-up missed.
    Cold: it sees each kernel of ``seen_cold`` compiled by the jobs, so a miss would show."""
    new = new_signatures(probe, mode)
    if mode == "warm":
        assert new == {}, f"jobs compiled signatures warm_up missed: {new}"
    else:
        for kernel in seen_cold:
            assert kernel in new, f"the probe did not see {kernel} compiled: {new}"


def signature_counts(modules: tuple[ModuleType, ...]) -> dict[str, int]:
    """In the probe: the compiled signatures of every numba kernel of ``modules``."""
    import numba

    return {f"{mod.__name__}.{name}": len(obj.signatures)
            for mod in modules for name, obj in vars(mod).items()
            if isinstance(obj, numba.core.registry.CPUDispatcher)}


def print_changed(before: dict[str, int], modules: tuple[ModuleType, ...]) -> None:
    """In the probe, last: the kernels whose count changed since ``before``, as JSON."""
    print(json.dumps({k: [before.get(k, 0), n] for k, n in signature_counts(modules).items()
                      if before.get(k, 0) != n}))
