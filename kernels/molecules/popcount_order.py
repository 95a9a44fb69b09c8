"""A fingerprint cache entry's rows sorted by popcount, with the permutation kept.

Beside ``fingerprints.npy`` (file order) an entry holds

- ``by_popcount.npy`` — the same fingerprints, stably sorted by popcount (ties keep file order);
- ``by_popcount.counts.npy`` — their popcounts (int32, ascending);
- ``by_popcount.word_columns.npy`` — the popcount of each of their 64-bit words, one row per
  word (uint8, shape (words, n): the word bound of :mod:`.pruned`, read a word of many rows at
  a time);
- ``by_popcount.rows.npy`` — the file-order row of each sorted row (int64).

Pruned searches (:mod:`.pruned`) read these; they report file-order rows through the
permutation, so ids, ranks and tie-breaking by the lower library row are unchanged. The files
are added to an entry the first time a search needs them (entries written before they existed
keep working), each written under a temporary name and renamed into place, the row file last:
a reader that sees it sees them all. An entry written before the word counts were kept by
column gets its column file then (and loses the row-layout ``by_popcount.words.npy``).
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from osler.kernels.molecules.primitives import popcounts, word_counts

GATHER_ROWS = 65_536
"""Rows copied at a time when writing the sorted file (bounds the memory used)."""


@dataclass(frozen=True)
class PopcountOrder:
    """Paths of an entry's popcount-sorted files (open them with ``np.load(mmap_mode="r")``)."""

    fps_path: Path
    words_path: Path
    counts_path: Path
    rows_path: Path

    def load(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Memory maps of (sorted fingerprints, their word popcounts, their popcounts, their
        file-order rows)."""
        return tuple(np.load(path, mmap_mode="r") for path in
                     (self.fps_path, self.words_path, self.counts_path, self.rows_path))

    def block(self, start: int, stop: int
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Sorted rows ``start:stop``: fingerprints and word popcounts (columns ``start:stop``;
        read-only memory maps: only the rows a kernel touches are read), popcounts (int64) and
        file-order rows (read-only int64)."""
        fps, words, counts, rows = self.load()
        return (fps[start:stop], words[:, start:stop], np.asarray(counts[start:stop], np.int64),
                np.asarray(rows[start:stop]))


def popcount_order(fps_path: Path) -> PopcountOrder:
    """The popcount-sorted files beside ``fps_path``, written now if missing.

    Parameters
    ----------
    fps_path : Path
        ``fingerprints.npy`` of a cache entry (uint64, shape (n, words)).

    Returns
    -------
    PopcountOrder
    """
    fps_path = Path(fps_path)
    folder = fps_path.parent
    order = PopcountOrder(folder / "by_popcount.npy", folder / "by_popcount.word_columns.npy",
                          folder / "by_popcount.counts.npy", folder / "by_popcount.rows.npy")
    if order.rows_path.exists():
        if not order.words_path.exists():  # an entry written before the column layout
            _write_word_columns(order, uuid.uuid4().hex[:8])
            (folder / "by_popcount.words.npy").unlink(missing_ok=True)
        return order
    fps = np.load(fps_path, mmap_mode="r")
    counts = popcounts(np.ascontiguousarray(fps)) if len(fps) else np.zeros(0, np.int64)
    rows = np.argsort(counts, kind="stable").astype(np.int64)
    tag = uuid.uuid4().hex[:8]
    tmp_fps = folder / f".tmp-{tag}-by_popcount.npy"
    out = np.lib.format.open_memmap(tmp_fps, mode="w+", dtype=np.uint64, shape=fps.shape)
    for start in range(0, len(rows), GATHER_ROWS):
        out[start:start + GATHER_ROWS] = fps[rows[start:start + GATHER_ROWS]]
    out.flush()
    del out
    os.replace(tmp_fps, order.fps_path)
    _write_word_columns(order, tag)
    _save_replace(order.counts_path, counts[rows].astype(np.int32), tag)
    _save_replace(order.rows_path, rows, tag)
    return order


def _write_word_columns(order: PopcountOrder, tag: str) -> None:
    sorted_fps = np.load(order.fps_path, mmap_mode="r")
    words = np.empty((sorted_fps.shape[1], len(sorted_fps)), np.uint8)
    for start in range(0, len(sorted_fps), GATHER_ROWS):
        stop = start + GATHER_ROWS
        words[:, start:stop] = word_counts(sorted_fps[start:stop])
    del sorted_fps
    _save_replace(order.words_path, words, tag)


def _save_replace(path: Path, array: np.ndarray, tag: str) -> None:
    tmp = path.with_name(f".tmp-{tag}-{path.name}")
    np.save(tmp, array)
    os.replace(tmp, path)
