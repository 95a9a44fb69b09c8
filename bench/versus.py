"""Kernels of this checkout against those of an earlier git revision, in one process, alternately.

Shared by ``bench/gram_versus.py`` and ``bench/bed_versus.py``: :func:`load_revision` imports a
module file as it was at a revision (read with ``git show``, imported under another name), and
:func:`alternate` runs each (old, new) pair once per round, old then new, so both see the same
machine load, after checking they agree.
"""

from __future__ import annotations

import importlib.util
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np

Kernel = Callable[[], object]


def load_revision(rev: str, path: str) -> ModuleType:
    """The module ``path`` (relative to the repository root) as it was at ``rev``."""
    source = subprocess.run(["git", "show", f"{rev}:{path}"], check=True, capture_output=True,
                            text=True).stdout
    name = f"{Path(path).stem}_old"
    file = Path(tempfile.mkdtemp()) / f"{name}.py"
    file.write_text(source)
    spec = importlib.util.spec_from_file_location(name, file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _same(a: object, b: object) -> bool:
    if isinstance(a, tuple | list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(np.array_equal(a, b))


def alternate(kernels: dict[str, tuple[Kernel, Kernel]], repeats: int,
              unit: str = "s") -> list[str]:
    """Check each pair agrees, time it ``repeats`` times alternately and return report lines:
    the load average before and after, then each pair's medians and ratio (in ``unit``: "s" or
    "ms")."""
    for name, (old, new) in kernels.items():  # compile, and check they agree
        assert _same(old(), new()), name
    load_before = os.getloadavg()
    times: dict[tuple[str, str], list[float]] = {
        (name, side): [] for name in kernels for side in ("old", "new")}
    for _ in range(repeats):
        for name, (old, new) in kernels.items():
            for side, fn in (("old", old), ("new", new)):
                start = time.perf_counter()
                fn()
                times[name, side].append(time.perf_counter() - start)
    load_after = os.getloadavg()
    scale, digits = (1e3, 1) if unit == "ms" else (1.0, 3)
    width = max(len(name) for name in kernels)
    lines = [f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} (1 min)"]
    for name in kernels:
        t_old = statistics.median(times[name, "old"])
        t_new = statistics.median(times[name, "new"])
        lines.append(f"{name:{width}s}  old {scale * t_old:.{digits}f} {unit}  new "
                     f"{scale * t_new:.{digits}f} {unit}  {t_old / t_new:.2f}x faster")
    return lines
