"""The chunked symmetric product: tiles on and above the diagonal, mirrored, in-process and Dask."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from osler.kernels.blocked import (
    MatrixFile,
    band_grid,
    choose_block_size,
    run_row_blocks,
    symmetric_blockwise,
    tile_grid,
    tile_work,
)


def gram_tile(i0: int, i1: int, j0: int, j1: int, *, path: str) -> np.ndarray:
    """A_I A_J^T in float64, rows read from the file by path."""
    a = np.load(path, mmap_mode="r")
    return np.asarray(a[i0:i1], dtype=np.float64) @ np.asarray(a[j0:j1], dtype=np.float64).T


def upper_only_tile(i0: int, i1: int, j0: int, j1: int, *, path: str) -> np.ndarray:
    """Like gram_tile but garbage below the diagonal of diagonal tiles (must be ignored)."""
    t = gram_tile(i0, i1, j0, j1, path=path)
    if i0 == j0:
        t[np.tril_indices_from(t, -1)] = -999.0
    return t


def stop_after_first(fraction: float, message: str) -> None:
    if fraction > 0:
        raise KeyboardInterrupt("cancelled")


@pytest.mark.parametrize("n,block", [(1, 1), (10, 3), (17, 17), (23, 5), (40, 64)])
def test_tile_grid_covers_upper_triangle_once(n: int, block: int) -> None:
    covered = np.zeros((n, n), dtype=int)
    for i0, i1, j0, j1 in tile_grid(n, block):
        assert i0 <= j0
        covered[i0:i1, j0:j1] += 1
    # tiles are disjoint, and every pair (r, c) is reached directly or by its mirror
    assert covered.max() == 1
    assert ((covered + covered.T) >= 1).all()
    # strictly-below-diagonal blocks are never computed
    assert (np.tril(covered, -block) == 0).all()


def test_choose_block_size_balances_two_workers() -> None:
    # 2 workers: 2 row blocks -> one off-diagonal tile against two half-cost diagonal tiles
    assert choose_block_size(2000, 2) == 1000
    assert choose_block_size(2000, 1) == 2000
    assert choose_block_size(20000, 2) <= 4096


@pytest.mark.parametrize("block", [None, 4, 7, 30])
@pytest.mark.parametrize("use_dask", [False, True])
def test_symmetric_blockwise_matches_numpy(tmp_path: Path, block: int | None, use_dask: bool,
                                           request: pytest.FixtureRequest) -> None:
    client = request.getfixturevalue("dask_client") if use_dask else None
    rng = np.random.default_rng(0)
    a = rng.normal(size=(29, 11))
    np.save(tmp_path / "a.npy", a)
    outs = [MatrixFile(str(tmp_path / "m.npy"), 29, "float32", npy=True),
            MatrixFile(str(tmp_path / "m.bin"), 29, "float64", npy=False)]
    for out in outs:
        out.create()
    seen = []
    info = symmetric_blockwise(upper_only_tile, 29, outs,
                               tile_kwargs={"path": str(tmp_path / "a.npy")},
                               block_size=block, client=client,
                               progress=lambda f, msg: seen.append(f))
    expected = a @ a.T
    np.testing.assert_allclose(np.load(tmp_path / "m.npy"), expected, rtol=1e-5, atol=1e-5)
    raw = np.fromfile(tmp_path / "m.bin", dtype="<f8").reshape(29, 29)
    np.testing.assert_allclose(raw, expected, rtol=1e-12, atol=1e-12)
    assert seen[-1] == pytest.approx(1.0) and seen == sorted(seen)
    assert len(seen) == info["n_tiles"] + 1


def test_progress_exception_propagates_in_process(tmp_path: Path) -> None:
    np.save(tmp_path / "a.npy", np.ones((20, 3)))
    out = MatrixFile(str(tmp_path / "m.npy"), 20)
    out.create()
    with pytest.raises(KeyboardInterrupt):
        symmetric_blockwise(gram_tile, 20, [out], tile_kwargs={"path": str(tmp_path / "a.npy")},
                            block_size=5, progress=stop_after_first)


def test_progress_exception_cancels_dask_tiles(tmp_path: Path, dask_client) -> None:
    import time

    np.save(tmp_path / "a.npy", np.ones((60, 3)))
    out = MatrixFile(str(tmp_path / "m.npy"), 60)
    out.create()
    with pytest.raises(KeyboardInterrupt):
        symmetric_blockwise(gram_tile, 60, [out], tile_kwargs={"path": str(tmp_path / "a.npy")},
                            block_size=5, client=dask_client, progress=stop_after_first)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        tasks = dask_client.run_on_scheduler(
            lambda dask_scheduler: [k for k in dask_scheduler.tasks if "gram_tile" in str(k)])
        if not tasks:
            break
        time.sleep(0.1)
    assert tasks == []


def row_sums(r0: int, r1: int, *, path: str) -> np.ndarray:
    return np.load(path)[r0:r1].sum(axis=1)


@pytest.mark.parametrize("use_dask", [False, True])
def test_run_row_blocks_in_order(tmp_path: Path, use_dask: bool,
                                 request: pytest.FixtureRequest) -> None:
    client = request.getfixturevalue("dask_client") if use_dask else None
    a = np.arange(70.0).reshape(14, 5)
    np.save(tmp_path / "a.npy", a)
    parts = run_row_blocks(row_sums, 14, rows=4, client=client,
                           fn_kwargs={"path": str(tmp_path / "a.npy")})
    np.testing.assert_array_equal(np.concatenate(parts), a.sum(axis=1))


@pytest.mark.parametrize("n", [1, 2, 7, 100, 2000])
@pytest.mark.parametrize("bands", [1, 2, 3, 5])
def test_band_grid_covers_upper_triangle_once_in_equal_work(n: int, bands: int) -> None:
    seen = np.zeros((n, n), dtype=int)
    tiles = band_grid(n, bands)
    for i0, i1, j0, j1 in tiles:
        assert j0 == i0 and j1 == n
        for i in range(i0, i1):
            seen[i, i:] += 1
    assert (seen[np.triu_indices(n)] == 1).all()
    assert sum(tile_work(t) for t in tiles) == n * (n + 1) / 2
    if n >= 100:  # big enough for one band per part: equal work up to about one row's pairs
        works = [tile_work(t) for t in tiles]
        assert len(tiles) == bands and max(works) - min(works) <= n
