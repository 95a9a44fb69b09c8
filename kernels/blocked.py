"""The chunked symmetric product: an n x n matrix computed tile by tile, on and above the diagonal.

A symmetric n x n result (a distance, kinship or relationship matrix) is split into square tiles
of ``block_size`` rows. Only tiles (i, j) with i <= j are computed; each is written into its place
and mirrored into (j, i). A tile is computed by a *tile function*

    tile_fn(i0, i1, j0, j1, **tile_kwargs) -> ndarray of shape (i1 - i0, j1 - j0)

which reads the rows it needs by location (:mod:`osler.kernels.locations`: the keyword arguments
are locations and scalars, never big arrays, so nothing large travels inside the Dask graph).
Where the Dask workers share the job's disk, each tile is written into every output file
(memory-mapped ``.npy`` or raw ``.bin``) by the process that computed it, so the n x n result
never crosses the network; writes go through shared memory maps without ``msync`` (a flush per
tile cost 0.25 s of disk I/O), which processes on one host see through the page cache at once.
Where they share only an object store (``send_back``), each tile comes back to the job's process,
which writes it; memory stays bounded by the tiles in flight either way.

With ``client=None`` the tiles run in this process; with a ``distributed.Client`` they are
submitted to the Dask workers, biggest first, a few at a time, and cancelled if the progress
callback raises.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import njit, prange

from osler.kernels.dask_window import run_windowed
from osler.kernels.limits import MAX_BLOCK_ROWS
from osler.kernels.progress import ProgressCallback, report

TileFunction = Callable[..., np.ndarray]
"""``tile_fn(i0, i1, j0, j1, **kwargs) -> (i1-i0, j1-j0) array``; diagonal tiles have i0 == j0."""


MIN_BLOCK_ROWS = 64
"""Smallest tile edge chosen automatically (smaller tiles spend more time in overhead than work)."""

CHUNK_ROWS_ELEMENTS = 1 << 25
"""Genotypes per row block in the row-wise passes (rows = this // variants)."""

INFLIGHT_PER_WORKER = 1
"""Tiles in flight per Dask worker. One: the next tile goes to whichever worker frees first,
biggest first, which balances the workers (with two per worker the scheduler could queue a
second tile behind the biggest one while the other worker idled); a worker waits only for one
round trip between tiles."""


@dataclass(frozen=True)
class MatrixFile:
    """An n x n on-disk matrix that tiles are written into.

    Parameters
    ----------
    path : str
        File path (on storage every Dask worker can reach).
    n : int
        Number of rows and columns.
    dtype : str
        Element type, e.g. ``"float32"`` or ``"float64"``.
    npy : bool
        True for a ``.npy`` file with a header; False for a raw little-endian matrix
        (PLINK's ``.bin``).
    """

    path: str
    n: int
    dtype: str = "float32"
    npy: bool = True

    def create(self) -> None:
        """Create the file at full size without writing its n x n elements (sparse on disk)."""
        if self.npy:
            mm = np.lib.format.open_memmap(
                self.path, mode="w+", dtype=np.dtype(self.dtype), shape=(self.n, self.n)
            )
            del mm
        else:
            with open(self.path, "wb") as fh:
                fh.truncate(self.n * self.n * np.dtype(self.dtype).itemsize)

    def open(self, mode: str = "r+") -> np.memmap:
        """Memory-map the matrix (``"r"`` to read, ``"r+"`` to write tiles)."""
        if self.npy:
            return np.load(self.path, mmap_mode=mode)
        return np.memmap(
            self.path, dtype=np.dtype(self.dtype).newbyteorder("<"), mode=mode,
            shape=(self.n, self.n),
        )


def tile_grid(n: int, block_size: int) -> list[tuple[int, int, int, int]]:
    """The tiles ``(i0, i1, j0, j1)`` on and above the diagonal, biggest work first.

    Diagonal tiles need only their upper triangle, so they count as half an off-diagonal tile.
    """
    if n < 1 or block_size < 1:
        raise ValueError("n and block_size must be positive")
    edges = list(range(0, n, block_size)) + [n]
    tiles = [
        (edges[a], edges[a + 1], edges[b], edges[b + 1])
        for a in range(len(edges) - 1)
        for b in range(a, len(edges) - 1)
    ]
    tiles.sort(key=lambda t: -tile_work(t))
    return tiles


def band_grid(n: int, n_bands: int) -> list[tuple[int, int, int, int]]:
    """``n_bands`` row bands ``(i0, i1, i0, n)`` of equal work, biggest first.

    A band holds rows i0:i1 against every column from i0 on: its square part is a diagonal tile
    (upper triangle only), the rest an off-diagonal rectangle. One band per worker balances the
    workers with one task each, and each task packs its rows once.
    """
    if n < 1 or n_bands < 1:
        raise ValueError("n and n_bands must be positive")
    total = n * (n + 1) / 2
    edges = [0]
    for k in range(1, n_bands):
        # rows r whose bands before them hold k / n_bands of the pairs: r n - r (r - 1) / 2
        target = total * k / n_bands
        r = int(round(n + 0.5 - math.sqrt((n + 0.5) ** 2 - 2 * target)))
        if edges[-1] < r < n:
            edges.append(r)
    edges.append(n)
    tiles = [(a, b, a, n) for a, b in zip(edges[:-1], edges[1:], strict=True)]
    tiles.sort(key=lambda t: -tile_work(t))
    return tiles


def tile_work(tile: tuple[int, int, int, int]) -> float:
    """Pairs a tile computes: a tile starting on the diagonal (i0 == j0: a diagonal tile or a
    band) computes only the pairs with j >= i."""
    i0, i1, j0, j1 = tile
    rows, cols = i1 - i0, j1 - j0
    if i0 == j0:
        return rows * cols - rows * (rows - 1) / 2
    return float(rows * cols)


def choose_block_size(n: int, n_workers: int = 1, max_rows: int = MAX_BLOCK_ROWS) -> int:
    """A tile edge that balances ``n_workers`` single-threaded workers.

    With k row blocks there are k(k+1)/2 tiles worth k^2/2 off-diagonal tiles of work; an even k
    splits evenly between two workers (k = 2: one off-diagonal tile against two diagonal halves).
    We take the smallest even k (or 1 for one worker) that keeps tiles under ``max_rows``.
    """
    if n_workers <= 1:
        k = 1
    else:
        # Enough tiles that dynamic scheduling balances the workers: k^2/2 >= n_workers units.
        k = max(2, math.ceil(math.sqrt(2 * n_workers)))
        k += k % 2
    k = max(k, math.ceil(n / max_rows))
    size = math.ceil(n / k)
    return max(min(n, MIN_BLOCK_ROWS), min(size, max_rows))


def compute_tile(
    tile_fn: TileFunction,
    tile: tuple[int, int, int, int],
    outputs: Sequence[MatrixFile] | None,
    tile_kwargs: dict[str, Any],
) -> float | tuple[np.ndarray, float]:
    """Compute one tile; write it and its mirror into every output and return the seconds it
    took, or with ``outputs=None`` return ``(values, seconds)`` for the caller to write.

    This is what runs on a Dask worker. A worker that shares the job's disk writes the tile
    itself: it opens the output files and closes them again, so the memory-mapped pages it
    touched are not kept in its resident set. A worker on another host (a store
    :class:`~osler.kernels.locations.Exchange`) sends the tile back instead.
    """
    start = time.perf_counter()
    i0, i1, j0, j1 = tile
    values = tile_fn(i0, i1, j0, j1, **tile_kwargs)
    if values.shape != (i1 - i0, j1 - j0) or (i0 == j0 and j1 < i1):
        raise ValueError(f"tile function returned shape {values.shape} for tile {tile}")
    if outputs is None:
        return values, time.perf_counter() - start
    write_tile(values, tile, outputs)
    return time.perf_counter() - start


def write_tile(values: np.ndarray, tile: tuple[int, int, int, int],
               outputs: Sequence[MatrixFile]) -> None:
    """Write a computed tile and its mirror into every output."""
    i0, i1, j0, j1 = tile
    for out in outputs:
        mm = out.open("r+")
        try:
            block = values.astype(mm.dtype, copy=False)
            rows = i1 - i0
            if i0 == j0:
                # Starts on the diagonal: only its upper triangle is meaningful; mirror it in
                # place. Columns past the square part (a band) are an off-diagonal rectangle.
                mirror_upper(block[:, :rows])
                mm[i0:i1, j0:j1] = block
                if j1 > i1:
                    mm[i1:j1, i0:i1] = block[:, rows:].T
            else:
                mm[i0:i1, j0:j1] = block
                mm[j0:j1, i0:i1] = block.T
        finally:
            del mm


_MIRROR_BLOCK = 64
"""Edge of the cache blocks :func:`mirror_upper` copies (64 x 64 float32 = 16 KiB)."""


@njit(parallel=True, nogil=True, cache=True)
def mirror_upper(a: np.ndarray) -> None:
    """Copy the upper triangle of a square array onto its lower triangle, in place.

    Cache-blocked so the transposed reads stay in L1; row blocks run in parallel.
    """
    n = a.shape[0]
    for ib in prange((n + _MIRROR_BLOCK - 1) // _MIRROR_BLOCK):
        i0 = ib * _MIRROR_BLOCK
        i1 = min(n, i0 + _MIRROR_BLOCK)
        for j0 in range(0, i1, _MIRROR_BLOCK):
            j1 = min(n, j0 + _MIRROR_BLOCK)
            for i in range(i0, i1):
                for j in range(j0, min(j1, i)):
                    a[i, j] = a[j, i]


def symmetric_grid(n: int, n_workers: int = 1,
                   block_size: int | None = None) -> list[tuple[int, int, int, int]]:
    """The tiles :func:`symmetric_blockwise` computes an n x n matrix in, biggest first:
    square tiles of ``block_size``; by default one band of equal work per worker when the
    matrix fits one tile, else square tiles that balance the workers."""
    if block_size:
        return tile_grid(n, int(block_size))
    if 1 < n_workers and n <= MAX_BLOCK_ROWS:
        return band_grid(n, n_workers)  # the whole matrix fits a tile: one band per worker
    return tile_grid(n, choose_block_size(n, n_workers))


def symmetric_blockwise(
    tile_fn: TileFunction,
    n: int,
    outputs: Sequence[MatrixFile],
    *,
    tile_kwargs: dict[str, Any] | None = None,
    block_size: int | None = None,
    client: Any = None,
    progress: ProgressCallback | None = None,
    send_back: bool = False,
) -> dict[str, Any]:
    """Fill the symmetric n x n ``outputs`` tile by tile (i <= j only, mirrored).

    Parameters
    ----------
    tile_fn : callable
        ``tile_fn(i0, i1, j0, j1, **tile_kwargs)`` returns the (i1-i0, j1-j0) tile. For a tile
        that starts on the diagonal (i0 == j0: a diagonal tile, or a band with j1 > i1) only the
        entries with j >= i are used. It must be importable by the Dask workers (a module-level
        function).
    n : int
        Number of rows (samples).
    outputs : sequence of MatrixFile
        Created beforehand (``MatrixFile.create``); every tile is written into each of them.
    tile_kwargs : dict, optional
        Small picklable arguments for ``tile_fn`` (file paths, scalars).
    block_size : int, optional
        Tile edge in rows. By default a matrix that fits one tile is split into one band of equal
        work per worker (:func:`band_grid`), a bigger one into square tiles of
        :func:`choose_block_size` for the cluster's worker count.
    client : distributed.Client, optional
        Run tiles on its workers; None runs them here, one after another.
    progress : callable, optional
        ``progress(fraction, message)`` after each tile; if it raises, outstanding tiles are
        cancelled and the exception propagates.
    send_back : bool
        The Dask workers may not see ``outputs`` (they share only an object store with this
        process): each tile comes back and this process writes it. Memory stays bounded by the
        tiles in flight (one per worker).

    Returns
    -------
    dict
        ``{"n_tiles", "block_size", "tile_seconds"}`` (seconds summed over tiles).

    Examples
    --------
    >>> out = MatrixFile("/tmp/gram.npy", n=5); out.create()            # doctest: +SKIP
    >>> symmetric_blockwise(gram_tile, 5, [out],
    ...                     tile_kwargs={"path": "/tmp/a.npy"})   # doctest: +SKIP
    """
    kwargs = dict(tile_kwargs or {})
    n_workers = _worker_count(client)
    tiles = symmetric_grid(n, n_workers, block_size)
    size = max(i1 - i0 for i0, i1, _, _ in tiles)
    return _run_tiles(tile_fn, tiles, outputs, kwargs, client, n_workers, progress, send_back,
                      size)


def _run_tiles(tile_fn: TileFunction, tiles: list[tuple[int, int, int, int]],
               outputs: Sequence[MatrixFile], kwargs: dict[str, Any], client: Any,
               n_workers: int, progress: ProgressCallback | None, send_back: bool,
               size: int) -> dict[str, Any]:
    """Compute ``tiles`` here (no client) or on Dask, reporting progress by work done;
    ``size`` is the tile edge the summary reports."""
    total = sum(tile_work(t) for t in tiles)
    report(progress, 0.0, f"0/{len(tiles)} tiles")
    if client is None:
        seconds = 0.0
        done = 0.0
        for k, tile in enumerate(tiles, 1):
            seconds += compute_tile(tile_fn, tile, outputs, kwargs)
            done += tile_work(tile)
            report(progress, done / total, f"{k}/{len(tiles)} tiles")
    else:
        seconds = _run_on_dask(client, tile_fn, tiles, outputs, kwargs, n_workers, total, progress,
                               send_back)
    return {"n_tiles": len(tiles), "block_size": size, "tile_seconds": round(seconds, 3)}


def run_row_blocks(
    fn: Callable[..., Any],
    n: int,
    *,
    rows: int,
    fn_kwargs: dict[str, Any] | None = None,
    client: Any = None,
    start: int = 0,
) -> list[Any]:
    """Run ``fn(r0, r1, **fn_kwargs)`` over row blocks of ``rows`` rows from ``start`` to ``n``;
    results in row order.

    The row-wise passes before a symmetric product (per-variant counts, bit packing) use this so
    that they too read and write by path and run on the Dask workers when there is a client.
    """
    kwargs = dict(fn_kwargs or {})
    bounds = [(r0, min(n, r0 + rows)) for r0 in range(start, n, max(1, rows))]
    if client is None:
        return [fn(r0, r1, **kwargs) for r0, r1 in bounds]
    token = uuid.uuid4().hex[:12]
    name = getattr(fn, "__name__", "rows")
    futures = [
        client.submit(fn, r0, r1, **kwargs, key=f"{name}-{token}-{k}", pure=False)
        for k, (r0, r1) in enumerate(bounds)
    ]
    try:
        return client.gather(futures)
    finally:
        client.cancel(futures, force=True)


def _worker_count(client: Any) -> int:
    if client is None:
        return 1
    try:
        return max(1, len(client.scheduler_info().get("workers", {})))
    except Exception:  # a client that cannot answer still gets a sensible tiling
        return max(1, os.cpu_count() or 1)


def _run_on_dask(
    client: Any,
    tile_fn: TileFunction,
    tiles: list[tuple[int, int, int, int]],
    outputs: Sequence[MatrixFile],
    kwargs: dict[str, Any],
    n_workers: int,
    total: float,
    progress: ProgressCallback | None,
    send_back: bool,
) -> float:
    calls = [(tile_fn, tile, None if send_back else outputs, kwargs) for tile in tiles]
    seconds = 0.0
    done = 0.0
    window = INFLIGHT_PER_WORKER * n_workers
    with contextlib.closing(run_windowed(client, compute_tile, calls, window=window)) as results:
        for count, (index, result) in enumerate(results, 1):
            if send_back:
                values, tile_seconds = result
                write_tile(values, tiles[index], outputs)
                del values
            else:
                tile_seconds = result
            seconds += tile_seconds
            done += tile_work(tiles[index])
            report(progress, done / total, f"{count}/{len(tiles)} tiles")
    return seconds


def extension_grid(n_old: int, n: int, n_workers: int = 1,
                   block_size: int | None = None) -> list[tuple[int, int, int, int]]:
    """The tiles that fill rows and columns ``n_old:n`` of a symmetric n x n matrix whose first
    ``n_old`` x ``n_old`` block is known, biggest first.

    Rectangles (i0, i1, j0, j1) of old rows ``i0:i1`` (< n_old) against new columns ``j0:j1``
    (>= n_old), above the diagonal, and the new square ``n_old:n`` tiled as
    :func:`symmetric_blockwise` tiles a matrix of its own (diagonal tiles or bands), shifted.
    By default the old rows are cut so that each worker gets about one rectangle of equal work.
    """
    if not 0 <= n_old <= n:
        raise ValueError("need 0 <= n_old <= n")
    n_new = n - n_old
    if n_new == 0:
        return []
    if block_size:
        square = tile_grid(n_new, int(block_size))
        row_step = col_step = int(block_size)
    else:
        square = (band_grid(n_new, n_workers) if 1 < n_workers and n_new <= MAX_BLOCK_ROWS
                  else tile_grid(n_new, choose_block_size(n_new, n_workers)))
        col_step = min(n_new, MAX_BLOCK_ROWS)
        share = (n_new * n_old + n_new * (n_new + 1) / 2) / max(1, n_workers)
        row_step = max(MIN_BLOCK_ROWS, min(MAX_BLOCK_ROWS, math.ceil(share / col_step)))
    tiles = [(n_old + a, n_old + b, n_old + c, n_old + d) for a, b, c, d in square]
    tiles += [(r0, min(n_old, r0 + row_step), c0, min(n, c0 + col_step))
              for r0 in range(0, n_old, row_step) for c0 in range(n_old, n, col_step)]
    tiles.sort(key=lambda t: -tile_work(t))
    return tiles


def extend_blockwise(
    tile_fn: TileFunction,
    n_old: int,
    n: int,
    outputs: Sequence[MatrixFile],
    *,
    tile_kwargs: dict[str, Any] | None = None,
    block_size: int | None = None,
    client: Any = None,
    progress: ProgressCallback | None = None,
    send_back: bool = False,
) -> dict[str, Any]:
    """Fill rows and columns ``n_old:n`` of the symmetric n x n ``outputs`` (the first
    ``n_old`` x ``n_old`` block is left as it is: the caller copies it from an earlier result).

    The tiles are those of :func:`extension_grid`, computed by ``tile_fn`` exactly as
    :func:`symmetric_blockwise` computes them (each pair once, with i <= j, and mirrored), so
    with the old block copied from a full computation the outputs equal one of n x n.

    Returns
    -------
    dict
        ``{"n_tiles", "block_size", "tile_seconds"}`` as :func:`symmetric_blockwise`.
    """
    kwargs = dict(tile_kwargs or {})
    n_workers = _worker_count(client)
    tiles = extension_grid(n_old, n, n_workers, block_size)
    if not tiles:
        report(progress, 1.0, "no new rows")
        return {"n_tiles": 0, "block_size": 0, "tile_seconds": 0.0}
    size = max(max(i1 - i0, j1 - j0) for i0, i1, j0, j1 in tiles)
    return _run_tiles(tile_fn, tiles, outputs, kwargs, client, n_workers, progress, send_back,
                      size)
