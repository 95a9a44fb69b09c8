"""What a process learned from reading a file, remembered per file, so a dataset is read once.

A dataset never changes once stored (a new upload is a new dataset at a new path), so what a
reader learned from a file — its record count, that its .bim has six fields per line, the sample
ids of its .fam — holds for every later job that names it. :func:`remembered` wraps such a
reader: the first call with a file and options runs it, later calls with the same file (path,
size, inode and modification time: a fresh copy in the input cache is read again) and options
answer from memory. A call that raises is not remembered. The memory is per process (a gateway
worker's submit-time checks, a compute pool process's job inputs) and bounded.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

REMEMBERED_FILES = 256
"""Checks kept per wrapped function and process (least recently used go first)."""


def remembered(check: Callable[..., T]) -> Callable[..., T]:
    """``check(path, **options)``, run once per file and options (see the module docstring)."""

    @functools.lru_cache(maxsize=REMEMBERED_FILES)
    def by_identity(identity: tuple[str, int, int, int], options: tuple[tuple[str, Any], ...]) -> T:
        return check(Path(identity[0]), **dict(options))

    @functools.wraps(check)
    def call(path: Path, **options: Any) -> T:
        stat = Path(path).stat()
        identity = (str(path), stat.st_size, stat.st_ino, stat.st_mtime_ns)
        return by_identity(identity, tuple(sorted(options.items())))

    return call
