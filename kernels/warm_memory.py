"""Compute processes keep the memory they free, so a job after an idle spell does not fault it in.

A process that frees a large array hands its pages back to the kernel (glibc unmaps blocks over
its mmap threshold and trims the top of its heap). On a virtual machine with free page reporting
(a ``virtio_balloon`` with ``VIRTIO_BALLOON_F_REPORTING``, as on this project's machines) the guest
then reports those pages to the hypervisor, which discards them: touching fresh memory afterwards
costs a host page fault per 4 KiB, measured at ~2.5 ms per MiB against 0.04 ms per MiB for memory
still backed (``bench/README.md``). A genome job touches a few hundred MB in each Dask worker,
so the first job after start-up, and any job after a few idle seconds, ran up to 2x slower than
the same job run back to back.

:func:`keep_freed_memory` tells glibc's allocator to serve every block from its heap (no mmap
per block), one arena for the process, and to give back only a free top above
:data:`RETAINED_BYTES`; :func:`pretouch` then faults in a first heap of that memory when the process
starts, before it takes work. The Dask preload (:mod:`osler.kernels.preload`) and the Celery
compute worker call both. Elsewhere than glibc (no ``mallopt``) both do nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import time

import numpy as np

log = logging.getLogger(__name__)

RETAINED_BYTES = 1 << 30
"""Most free memory a compute process keeps for its next job (glibc trims what lies above)."""

PRETOUCH_BYTES = 256 << 20
"""Memory a compute process faults in when it starts: about what a Dask worker uses for a band
of a 2,000-sample, 100,000-variant genome job."""

# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_MAX, _M_ARENA_MAX = -1, -4, -8


def _mallopt() -> object | None:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).mallopt if name else None
    except (OSError, AttributeError):
        return None


def keep_freed_memory(retained: int = RETAINED_BYTES) -> bool:
    """Keep up to ``retained`` bytes of freed memory in this process; False where the allocator
    has no ``mallopt`` (not glibc) or refused a setting."""
    mallopt = _mallopt()
    if mallopt is None:
        return False
    settings = ((_M_MMAP_MAX, 0), (_M_ARENA_MAX, 1), (_M_TRIM_THRESHOLD, int(retained)))
    return all(mallopt(ctypes.c_int(param), ctypes.c_int(value)) == 1
               for param, value in settings)


def pretouch(size: int = PRETOUCH_BYTES) -> float:
    """Fault in ``size`` bytes of heap and free them (kept, after :func:`keep_freed_memory`);
    return the seconds it took."""
    started = time.perf_counter()
    block = np.ones(max(0, int(size)) // 8, dtype=np.float64)
    del block
    return time.perf_counter() - started


def warm_memory() -> None:
    """Both, once a compute process starts (logs what it did)."""
    if not keep_freed_memory():
        log.info("osler: this allocator keeps no freed memory (not glibc); no pretouch")
        return
    log.info("osler: %d MiB of memory faulted in for the first job in %.2f s",
             PRETOUCH_BYTES >> 20, pretouch())
