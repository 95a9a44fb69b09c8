"""A worker keeps the rows it packed for the next tiles of the same job, and only for them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from osler.kernels.genome import metrics as gm
from osler.kernels.genome import packed_memo


@pytest.fixture(autouse=True)
def _empty_memo():
    packed_memo.forget()
    yield
    packed_memo.forget()


def int8_source(tmp_path: Path, g: np.ndarray, token: str | None) -> dict:
    np.save(tmp_path / "g.npy", g)
    np.save(tmp_path / "keep.npy", np.arange(g.shape[1], dtype=np.int64))
    return gm.genotype_source(str(tmp_path / "g.npy"), str(tmp_path / "keep.npy"), None,
                              token=token)


def reference_planes(g: np.ndarray) -> np.ndarray:
    out = np.zeros((3, g.shape[0], (g.shape[1] + 63) // 64), dtype=np.uint64)
    gm.pack_rows(g, np.arange(g.shape[1], dtype=np.int64), out)
    return out


def test_rows_packed_once_serve_later_tiles_of_the_job(tmp_path: Path, monkeypatch) -> None:
    # Given a job's source and a count of the packing calls
    g = np.random.default_rng(1).integers(-1, 3, size=(40, 300)).astype(np.int8)
    source = int8_source(tmp_path, g, token="job-a")
    packs = []
    real = gm._pack_source
    monkeypatch.setattr(gm, "_pack_source", lambda s, a, b: (packs.append((a, b)),
                                                           real(s, a, b))[1])
    # when its tiles ask for rows 20:40, then rows 20:40 and 25:40 again (an extension's
    # rectangle and the bands of its new square)
    first = gm.packed_rows(source, 20, 40)
    again = gm.packed_rows(source, 20, 40)
    part = gm.packed_rows(source, 25, 40)
    # then the rows were packed once, and every answer equals the rows packed from the file
    assert packs == [(20, 40)]
    expected = reference_planes(g)
    np.testing.assert_array_equal(first, expected[:, 20:40])
    np.testing.assert_array_equal(again, expected[:, 20:40])
    np.testing.assert_array_equal(part, expected[:, 25:40])
    # and rows outside them are packed anew
    np.testing.assert_array_equal(gm.packed_rows(source, 10, 30), expected[:, 10:30])
    assert packs == [(20, 40), (10, 30)]


def test_another_job_never_sees_the_planes(tmp_path: Path) -> None:
    # Given a job that packed rows of its file
    g = np.random.default_rng(2).integers(-1, 3, size=(30, 200)).astype(np.int8)
    gm.packed_rows(int8_source(tmp_path, g, token="job-a"), 0, 30)
    # when the file is replaced by other genotypes of the same shape and a second job (a new
    # token) or the warm-up (no token) packs the same rows
    other = np.random.default_rng(3).integers(-1, 3, size=(30, 200)).astype(np.int8)
    second = gm.packed_rows(int8_source(tmp_path, other, token="job-b"), 0, 30)
    untracked = gm.packed_rows(int8_source(tmp_path, other, token=None), 0, 30)
    # then both get the new file's rows, and the first job's planes are no longer kept
    np.testing.assert_array_equal(second, reference_planes(other))
    np.testing.assert_array_equal(untracked, reference_planes(other))
    assert [key[0] for key in packed_memo._entries] == ["job-b"]


def test_the_memo_keeps_at_most_its_bytes(tmp_path: Path, monkeypatch) -> None:
    # Given a memo of room for two blocks of 10 rows x 4 words x 3 planes
    g = np.random.default_rng(4).integers(-1, 3, size=(40, 256)).astype(np.int8)
    source = int8_source(tmp_path, g, token="job-a")
    monkeypatch.setattr(packed_memo, "MEMO_BYTES", 2 * 3 * 10 * 4 * 8)
    # when three blocks are packed, and then one bigger than the room
    for r0 in (0, 10, 20):
        gm.packed_rows(source, r0, r0 + 10)
    big = gm.packed_rows(source, 0, 40)
    # then only the two packed last are kept, the big one is returned but not kept
    assert [key[1:] for key in packed_memo._entries] == [(10, 20), (20, 30)]
    np.testing.assert_array_equal(big, reference_planes(g))
