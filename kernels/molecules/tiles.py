"""Blocks of fingerprint-similarity work, run in-process or on Dask workers.

A block is described by a small frozen :class:`SimilarityBlock` (locations, row ranges, scalars):
the task memory-maps the cached fingerprint ``.npy`` files itself, each reached through
:func:`~osler.kernels.locations.readable` (a path of a shared disk is read in place, an object in
a store is fetched once per host), so nothing large travels in the task graph. Where the workers
share the job's disk a tile task writes its matrix tile straight into the output by path; where
they share only an object store (``send_back``) the tile comes back to the job's process, which
writes it.

Three kinds of block:

- :func:`top_k_task` — queries ``q0:q1`` against library rows ``l0:l1``, both counted in
  popcount order (:mod:`.popcount_order`), with the pruned top-k kernel (no score matrix);
  returns per-query top-k candidates and the file-order rows of its queries.
- :func:`threshold_task` — the same ranges, every pair scoring >= the threshold (a library
  against itself: only pairs above the diagonal of the popcount order); returns the pairs in
  file-order rows.
- :func:`tile_task` — an all-pairs tile: scores written into ``matrix_path`` (and mirrored below
  the diagonal when the library is compared with itself), or with ``send_back`` returned for the
  job's process to write (:func:`write_tile`); returns top-k candidates for the tile's rows (and,
  mirrored, its columns) and the histogram of the scores it owns. A ``matrix_path`` must be a
  float32 ``.npy`` on storage the workers share (it is written with ``pwrite``, by path).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from osler.kernels.dask_window import run_windowed
from osler.kernels.locations import npy_rows, readable
from osler.kernels.molecules import scores as similarity
from osler.kernels.molecules.popcount_order import PopcountOrder, popcount_order
from osler.kernels.molecules.pruned import TooManyHits, pruned_threshold, pruned_top_k

INFLIGHT_PER_THREAD = 2
"""Blocks submitted ahead per Dask worker thread: keeps workers busy, cancels quickly."""


@dataclass(frozen=True)
class SimilarityBlock:
    """One unit of work; every field is small and picklable.

    ``query_path`` and ``library_path`` are locations of the file-order ``fingerprints.npy``
    (read by tile blocks); ``query_order`` and ``library_order`` the locations of the
    popcount-sorted files ``(fingerprints, word counts, counts, rows)`` of
    :class:`~.popcount_order.PopcountOrder` (read by pruned blocks; None: the files beside
    ``query_path`` / ``library_path``, made there if missing). ``send_back``: the workers may not
    see ``matrix_path``, so a tile block returns its tile instead of writing it.
    """

    query_path: str
    library_path: str
    q0: int
    q1: int
    l0: int
    l1: int
    metric: str
    n_bits: int
    k: int
    threshold: float | None
    self_search: bool
    matrix_path: str | None = None
    n_threads: int | None = None
    max_hits: int | None = None
    query_order: tuple[str, str, str, str] | None = None
    library_order: tuple[str, str, str, str] | None = None
    send_back: bool = False

    @property
    def pairs(self) -> int:
        """Scores the block computes."""
        return (self.q1 - self.q0) * (self.l1 - self.l0)


@dataclass
class BlockResult:
    """What a block sends back: candidates for query rows ``q0:q0+len`` (``query_rows`` when
    given: the rows of a popcount-ordered block) and for ``l0:`` when mirrored (then
    ``mirror_scores`` is set); ``tile``: the scores of a ``send_back`` tile block, at
    ``(q0, l0)`` (and mirrored at ``(l0, q0)`` when ``mirror_scores`` is set)."""

    q0: int
    scores: np.ndarray
    rows: np.ndarray
    histogram: np.ndarray | None
    pairs: int
    l0: int = 0
    mirror_scores: np.ndarray | None = None
    mirror_rows: np.ndarray | None = None
    query_rows: np.ndarray | None = None
    tile: np.ndarray | None = None


@dataclass
class PairsResult:
    """Pairs of a threshold block, in file-order rows; ``overflow`` past ``max_hits``."""

    query_rows: np.ndarray
    library_rows: np.ndarray
    scores: np.ndarray
    pairs: int
    overflow: bool = False


def _rows(location: str, start: int, stop: int) -> np.ndarray:
    # A local file is memory-mapped; an object in a store is read by byte range.
    return npy_rows(location, start, stop)


def _order(locations: tuple[str, str, str, str] | None, fps_location: str) -> PopcountOrder:
    """The popcount-sorted files of a block's side, as local paths."""
    if locations is None:
        return popcount_order(Path(readable(fps_location)))
    return PopcountOrder(*(Path(readable(location)) for location in locations))


def _sorted_rows(block: SimilarityBlock):
    """The block's queries and library slice in popcount order, with counts and file rows."""
    return (*_order(block.query_order, block.query_path).block(block.q0, block.q1),
            *_order(block.library_order, block.library_path).block(block.l0, block.l1))


def top_k_task(block: SimilarityBlock) -> BlockResult:
    """Top-k candidates of popcount-ordered queries ``q0:q1`` among library rows ``l0:l1``.

    The library slice stays a memory map: the pruned kernel reads only the rows it scores.
    """
    similarity.set_threads(block.n_threads)
    queries, q_words, q_counts, q_rows, library, l_words, l_counts, l_rows = _sorted_rows(block)
    scores, rows, computed = pruned_top_k(
        queries, q_counts, library, l_counts, l_rows, block.k, metric=block.metric,
        n_bits=block.n_bits, threshold=block.threshold,
        skip_rows=q_rows if block.self_search else None, query_words=q_words,
        library_words=l_words)
    return BlockResult(block.q0, scores, rows, None, computed, query_rows=q_rows)


def threshold_task(block: SimilarityBlock) -> PairsResult:
    """Every pair of popcount-ordered queries ``q0:q1`` and library rows ``l0:l1`` scoring at
    least the threshold; a library against itself pairs each query only with rows after it."""
    similarity.set_threads(block.n_threads)
    queries, q_words, q_counts, q_rows, library, l_words, l_counts, l_rows = _sorted_rows(block)
    try:
        qi, lj, scores, computed = pruned_threshold(
            queries, q_counts, library, l_counts, block.threshold, metric=block.metric,
            n_bits=block.n_bits, upper_from=block.q0 - block.l0 if block.self_search else None,
            max_hits=block.max_hits, query_words=q_words, library_words=l_words)
    except TooManyHits:
        empty = np.zeros(0, np.int64)
        return PairsResult(empty, empty, np.zeros(0, np.float32), 0, overflow=True)
    return PairsResult(q_rows[qi], l_rows[lj], scores, computed)


def tile_task(block: SimilarityBlock) -> BlockResult:
    """An all-pairs tile written into ``matrix_path`` (or, with ``send_back``, returned in
    ``tile``), plus its top-k candidates and histogram.

    With ``self_search`` the tile (q0:q1, l0:l1) lies on or above the diagonal; it is mirrored
    into (l0:l1, q0:q1), and the histogram counts each unordered pair once (no diagonal).
    """
    similarity.set_threads(block.n_threads)
    diagonal = block.self_search and block.l0 == block.q0
    queries = _rows(block.query_path, block.q0, block.q1)
    if diagonal:
        tile = similarity.self_similarity_tile(queries, metric=block.metric, n_bits=block.n_bits)
    else:
        library = _rows(block.library_path, block.l0, block.l1)
        tile = similarity.similarity_tile(queries, library, metric=block.metric,
                                          n_bits=block.n_bits)
    mirror = similarity.transpose_tile(tile) if block.self_search and not diagonal else None
    if block.matrix_path is not None and not block.send_back:
        _write_tile(block.matrix_path, tile, block.q0, block.l0)
        if mirror is not None:
            _write_tile(block.matrix_path, mirror, block.l0, block.q0)
    hist = np.zeros((tile.shape[0], similarity.HISTOGRAM_BINS), np.int64)
    scores, rows = similarity.top_k_of_tile(
        tile, block.k, col_offset=block.l0, threshold=block.threshold,
        skip_self_offset=block.q0 if block.self_search else None, histogram=hist)
    hist = hist.sum(axis=0)
    n = block.q1 - block.q0
    if diagonal:  # both (i, j) and (j, i) were counted, with equal scores
        hist //= 2
    pairs = n * (n - 1) // 2 if diagonal else block.pairs
    result = BlockResult(block.q0, scores, rows, hist, pairs, l0=block.l0,
                         tile=tile if block.send_back else None)
    if mirror is not None:
        result.mirror_scores, result.mirror_rows = similarity.top_k_of_tile(
            mirror, block.k, col_offset=block.q0, threshold=block.threshold)
    return result


def write_tile(matrix_path: str | Path, result: BlockResult) -> None:
    """Write the tile a ``send_back`` block returned (and its mirror) into the matrix."""
    assert result.tile is not None
    _write_tile(str(matrix_path), result.tile, result.q0, result.l0)
    if result.mirror_scores is not None:
        _write_tile(str(matrix_path), similarity.transpose_tile(result.tile), result.l0,
                    result.q0)


def _write_tile(matrix_path: str, tile: np.ndarray, row0: int, col0: int) -> None:
    """Write ``tile`` at (row0, col0) of a float32 ``.npy`` matrix with one pwrite per row.

    pwrite into the page cache is 2-3x faster than storing through a fresh memory map (no page
    faults), and nothing is synced to disk here: other processes read the same page cache.
    """
    header = np.load(matrix_path, mmap_mode="r")
    offset, n_cols = header.offset, header.shape[1]
    del header
    tile = np.ascontiguousarray(tile, dtype=np.float32)
    fd = os.open(matrix_path, os.O_WRONLY)
    try:
        row_bytes = n_cols * 4
        start = offset + row0 * row_bytes + col0 * 4
        for i in range(tile.shape[0]):
            os.pwrite(fd, tile[i], start + i * row_bytes)
    finally:
        os.close(fd)


def run_blocks(
    task: Callable[[SimilarityBlock], Any],
    blocks: list[SimilarityBlock],
    client: Any = None,
) -> Iterator[BlockResult]:
    """Yield the results of ``task`` over ``blocks``, in completion order.

    With ``client=None`` the blocks run here one after another (each using every kernel
    thread). With a Dask client a few blocks per worker thread are in flight at a time
    (:func:`~osler.kernels.dask_window.run_windowed`); when the consumer stops early (an
    exception in the caller's loop, e.g. a cancelled job's progress callback) the outstanding
    futures are cancelled.
    """
    if client is None:
        yield from _run_here(task, blocks)
        return
    threads = _worker_threads(client)
    per_task = max(1, (os.cpu_count() or 1) // max(threads, 1))
    calls = [(_with_threads(b, per_task),) for b in blocks]
    window = threads * INFLIGHT_PER_THREAD
    with contextlib.closing(run_windowed(client, task, calls, window=window)) as results:
        for _, result in results:
            yield result


def _run_here(task: Callable[[SimilarityBlock], Any],
              blocks: list[SimilarityBlock]) -> Iterator[BlockResult]:
    threads = similarity.max_threads()
    if threads == 1 or all(b.q1 - b.q0 >= 4 * threads for b in blocks):
        for block in blocks:  # the kernels spread each block's query rows over the threads
            yield task(block)
        return
    # Too few query rows to share out: run blocks side by side, one thread each (the kernels
    # release the GIL).
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=threads) as pool:
        futures = [pool.submit(task, _with_threads(b, 1)) for b in blocks]
        try:
            for future in futures:
                yield future.result()
        finally:
            for future in futures:
                future.cancel()


def _with_threads(block: SimilarityBlock, n: int) -> SimilarityBlock:
    from dataclasses import replace

    return replace(block, n_threads=n)


def _worker_threads(client: Any) -> int:
    return max(1, sum(client.nthreads().values()))


def parallel_slots(client: Any) -> int:
    """Blocks that run at once: Dask worker threads, or 1 in-process (where each block uses
    every kernel thread)."""
    return 1 if client is None else _worker_threads(client)
