"""Packed rows a Dask worker built for one tile, kept for the next tile of the same job.

Every genome tile packs its own rows from the genotype file (:func:`~osler.kernels.genome.
metrics.packed_rows`). Some tiles of one job pack the same rows: the rectangles of an extension
and the bands of its new square all pack the new samples, and the square tiles of a big cohort
share their row blocks. A worker keeps the planes it packed last, so a later tile of the same
job on the same worker takes them, or a slice of them, instead of packing again. A tile of a
new job drops the planes of every other job, so a worker holds none once its jobs moved on
(two jobs whose tiles interleave on one worker only pack more).

Entries are keyed by the job's *token* (a random id :func:`~osler.kernels.genome.metrics.
genotype_source` puts in the job's tile source, never reused), so a tile of one job never
sees another job's planes, whatever happened to the files in between. At most
:data:`MEMO_BYTES` of planes are kept per process, least recently used first out, and none
are kept for a source without a token (the warm-up).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

import numpy as np

MEMO_BYTES = 64 << 20
"""Planes kept per worker process: an extension's 200 new samples over 100,000 variants are
7.5 MB, a rectangle's 1,000 old ones 37.5 MB."""

_entries: OrderedDict[tuple[str, int, int], np.ndarray] = OrderedDict()
_lock = threading.Lock()


def packed(token: str | None, r0: int, r1: int,
           pack: Callable[[int, int], np.ndarray]) -> np.ndarray:
    """The ``(3, r1 - r0, W)`` planes of rows r0:r1: a view of kept planes of the same job
    that cover those rows, or ``pack(r0, r1)``, kept when it fits.

    The planes returned may be shared with later tiles: callers only read them.
    """
    if token is None:
        return pack(r0, r1)
    with _lock:
        for (owner, a, b), planes in reversed(_entries.items()):
            if owner == token and a <= r0 and r1 <= b:
                _entries.move_to_end((owner, a, b))
                return planes[:, r0 - a: r1 - a]
    planes = pack(r0, r1)
    with _lock:
        for key in [key for key in _entries if key[0] != token]:
            del _entries[key]  # another job's: never asked for again
        if planes.nbytes <= MEMO_BYTES:
            _entries[(token, r0, r1)] = planes
            total = sum(p.nbytes for p in _entries.values())
            while total > MEMO_BYTES:
                _, dropped = _entries.popitem(last=False)
                total -= dropped.nbytes
    return planes


def forget() -> None:
    """Drop every kept entry (tests; a worker never needs to)."""
    with _lock:
        _entries.clear()
