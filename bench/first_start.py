"""A fresh install's first start: how long the embedded stack takes to be ready with numba's
cache empty (every kernel compiled), then with it full.

Run from the repository root (it deletes the compiled kernels of this checkout, which the next
start compiles again)::

    python bench/first_start.py

Prints the seconds of one process compiling the kernels the compute processes warm up, the
seconds to readiness of an ``EmbeddedStack`` started with an empty cache, and of one started
right after (the cache full).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import osler.kernels
from osler.api.cli.embedded import EmbeddedStack, free_port
from osler.workers.settings import Settings

WARM_UP = ("from osler.kernels.genome.warmup import warm_up as g; g(); "
           "from osler.kernels.molecules.scores import warm_up as m; m()")


def clear_cache() -> int:
    """Delete numba's cache files of this checkout's kernels; return how many."""
    files = [p for p in Path(osler.kernels.__file__).parent.rglob("*")
             if p.suffix in (".nbi", ".nbc")]
    for path in files:
        path.unlink()
    return len(files)


def time_ready(root: Path) -> float:
    settings = Settings.from_env().with_changes(data_dir=root, redis_url=None,
                                                dask_scheduler=None)
    start = time.perf_counter()
    with EmbeddedStack(settings, port=free_port()):
        return time.perf_counter() - start


def main() -> None:
    removed = clear_cache()
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", WARM_UP], check=True)
    print(f"one process compiling the warm-up kernels ({removed} cache files removed first): "
          f"{time.perf_counter() - start:.1f} s", flush=True)
    clear_cache()
    with tempfile.TemporaryDirectory() as tmp:
        cold = time_ready(Path(tmp) / "cold")
        print(f"embedded stack ready, numba's cache empty: {cold:.1f} s", flush=True)
        warm = time_ready(Path(tmp) / "warm")
        print(f"embedded stack ready, numba's cache full: {warm:.1f} s", flush=True)


if __name__ == "__main__":
    main()
