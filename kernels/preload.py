"""Dask worker preload: ``dask worker ... --preload osler.kernels.preload``.

A fresh Dask worker loads numba's compiled kernels on the first call of each, which made the first
job after start-up seconds slower than the same job warm. Dask imports this module when the worker
starts and calls :func:`dask_setup` before the worker takes tasks, so the worker loads them then,
and faults in the memory its first job will use (:mod:`osler.kernels.warm_memory`); then it sets
the objects of all that aside from the garbage collector (:mod:`osler.kernels.startup_objects`).
"""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)


def dask_setup(worker: Any = None) -> None:
    """Keep freed memory and fault in a first heap; load the compiled kernels of every job family
    that runs on Dask workers."""
    import time

    from osler.kernels.compile_once import compiling_alone
    from osler.kernels.genome.warmup import warm_up as warm_up_genome
    from osler.kernels.molecules.scores import warm_up as warm_up_molecules
    from osler.kernels.startup_objects import freeze_startup_objects
    from osler.kernels.warm_memory import warm_memory

    started = time.perf_counter()
    warm_memory()
    executor = getattr(worker, "executors", {}).get("default")
    if executor is not None:  # tasks run in its thread, whose allocations its arena serves
        executor.submit(warm_memory).result()
    with compiling_alone():  # on a fresh install one process compiles, the others load
        warm_up_genome()
        warm_up_molecules()
    freeze_startup_objects()
    logger.info("osler kernels loaded in %.2f s", time.perf_counter() - started)
