"""Compute processes set the objects of their start-up aside from the garbage collector.

A compute process imports numba, the kernels, Celery or Dask before its first job: some 160,000
long-lived objects or more. CPython's full collection walks every tracked object, about 70 ms for
those, and the first job's allocations set one off: the first genome job after start-up spent
0.09 s in it while reading 2,000 sample ids (``bench/README.md``). :func:`freeze_startup_objects`,
called once the process has warmed up, collects once and moves what survives into the permanent
generation (``gc.freeze``), which later collections skip.
"""

from __future__ import annotations

import gc


def freeze_startup_objects() -> int:
    """Collect, then freeze every object that survives; return how many are frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
