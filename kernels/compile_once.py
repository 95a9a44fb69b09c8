"""One process of a host compiles the kernels at a time; the others then load numba's cache.

On a fresh install numba's cache is empty, and every compute process of the embedded stack (two
Dask workers and the Celery compute pool) warms the same kernels as it starts: compiled three
times side by side on a 2-core machine that took 86-115 s instead of 76 s, past the stack's
readiness wait. Holding an exclusive lock around the warm-up makes the first process compile
and write the cache while the others wait, then load it in about a second.

The lock is an ``flock`` on a file in the temporary folder, named after this package's folder
(the cache's key), so the kernels of different installs do not wait on each other. The kernel
releases it when the holder exits, killed or not.
"""

from __future__ import annotations

import fcntl
import hashlib
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import osler.kernels


def lock_path() -> Path:
    """The lock file of this install's kernels."""
    folder = str(Path(osler.kernels.__file__).resolve().parent)
    tag = hashlib.sha256(folder.encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"osler-kernels-{tag}.lock"


@contextmanager
def compiling_alone() -> Iterator[None]:
    """Hold this host's kernel-compilation lock for the body (blocks while another holds it)."""
    with open(lock_path(), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
