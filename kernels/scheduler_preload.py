"""Dask scheduler preload: ``dask scheduler ... --preload osler.kernels.scheduler_preload``.

The scheduler unpickles every task graph a client submits, and with it imports the module of each
task's function. Without this preload the first genome job after start-up waited 0.15 s for the
scheduler to import :mod:`osler.kernels.blocked` and numba (``bench/README.md``); the first drug
job paid the same for its modules. Importing them when the scheduler starts moves that wait off
the first job.
"""

from __future__ import annotations

import importlib
import logging
import time
from typing import Any

logger = logging.getLogger(__name__)

TASK_MODULES = (
    "osler.kernels.blocked",  # compute_tile
    "osler.kernels.genome.metrics",  # the genome tile functions, count_block
    "osler.kernels.genome.bed",  # count_bed_block
    "osler.kernels.molecules.tiles",  # top_k_task, threshold_task, tile_task
    "osler.kernels.molecules.fingerprints",  # fingerprint_shard
)
"""The modules of the functions osler submits to Dask as tasks."""


def dask_setup(scheduler: Any = None) -> None:
    """Import :data:`TASK_MODULES` before the scheduler takes graphs."""
    started = time.perf_counter()
    for name in TASK_MODULES:
        importlib.import_module(name)
    logger.info("osler task modules imported in %.2f s", time.perf_counter() - started)
