"""Compute processes keep the memory they free (osler.kernels.warm_memory), in a fresh interpreter
each so this test process's allocator is left as it is."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

PROBE = """
import json, sys
import numpy as np, psutil
from osler.kernels import warm_memory
kept = warm_memory.keep_freed_memory() if sys.argv[1] == "keep" else None
start = psutil.Process().memory_info().rss
warm_memory.pretouch(48 << 20)
pretouched = (psutil.Process().memory_info().rss - start) / 2**20
rss = psutil.Process().memory_info().rss
block = np.ones(96 << 17, dtype=np.float64)  # 96 MiB, over glibc's largest mmap threshold
del block
print(json.dumps({"kept": kept, "pretouched_mib": pretouched,
                  "grown_mib": (psutil.Process().memory_info().rss - rss) / 2**20}))
"""


def _probe(mode: str) -> dict:
    done = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True,
                          check=True, timeout=60)
    return json.loads(done.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_freed_memory_stays_with_the_process_only_when_asked() -> None:
    kept = _probe("keep")
    assert kept["kept"] is True
    assert kept["pretouched_mib"] > 40, kept  # the pretouched heap stays for the first job
    # the 96 MiB block reused the 48 pretouched and grew the heap; freed, all of it stays
    assert kept["grown_mib"] > 40, kept
    default = _probe("default")
    assert default["pretouched_mib"] < 16, default  # without it glibc unmaps what is freed
    assert default["grown_mib"] < 16, default
