"""Which embedded stacks (``osler up``) run on this machine, so client and admin commands find
the one running even when their shell has another (or no) ``OSLER_DATA_DIR``.

``osler up`` records itself as ``<pid>.json`` under ``~/.osler/running`` while it runs; a record
whose process is gone is ignored (and removed).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


def registry_dir() -> Path:
    return Path.home() / ".osler" / "running"


@dataclass(frozen=True)
class RunningStack:
    data_dir: Path
    url: str
    pid: int


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running_stacks() -> list[RunningStack]:
    """The stacks whose ``osler up`` process is alive, by data directory."""
    stacks = []
    folder = registry_dir()
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            record = json.loads(path.read_text())
            stack = RunningStack(Path(record["data_dir"]), str(record["url"]), int(record["pid"]))
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if _alive(stack.pid):
            stacks.append(stack)
        else:
            path.unlink(missing_ok=True)
    return stacks


@contextmanager
def recorded(data_dir: Path, url: str) -> Iterator[None]:
    """Record this process as the stack on ``data_dir`` for the duration of the block."""
    folder = registry_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{os.getpid()}.json"
    path.write_text(json.dumps({"data_dir": str(data_dir.resolve()), "url": url,
                                "pid": os.getpid()}))
    try:
        yield
    finally:
        path.unlink(missing_ok=True)
