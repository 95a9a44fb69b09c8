"""``extends`` for drug-similarity ``all-pairs``: a grown library reuses the earlier matrix.

A job extends a finished all-pairs job when its library's first ``n_old`` molecules are that
job's library (the same fingerprints and ids, in order), with the same metric and fingerprint
parameters, and it searches the same way: the library against itself, or queries whose first
rows are that job's queries. Every score depends only on its two fingerprints, so the old block
of ``matrix.npy`` is copied and only the new rows and columns are scored, by the same tile task;
the top-k hits and the histogram are rebuilt from the copied scores as the copy goes (so ``k``,
``threshold`` and ``plots`` may differ from the earlier job's). The matrix, ``hits.csv`` and the
summary's scores equal a full recompute's.

Each all-pairs job records :data:`~osler.kernels.incremental.INPUTS_ARTIFACT`: its metric, the
fingerprint parameters and width, and for the library (and queries) the row count and SHA-256
digests of the packed fingerprints and of the ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from osler.kernels.errors import InputError
from osler.kernels.incremental import PriorJob, sha256_hex, strings_sha256, write_record
from osler.kernels.molecules import scores as similarity
from osler.kernels.molecules.fingerprints import FingerprintSet
from osler.kernels.molecules.tiles import (
    BlockResult,
    SimilarityBlock,
    _write_tile,  # the all-pairs tiles' own writer: one pwrite per row
    tile_task,
)

KIND = "drug-similarity"

COPY_ELEMENTS = 4096 * 4096
"""Scores read from the earlier matrix per copy block (a 64 MiB float32 block, as a tile)."""


# --------------------------------------------------------------------------- digests


def fingerprint_digest(fps: FingerprintSet, rows: int | None = None) -> dict[str, Any]:
    """Row count and SHA-256 of the packed fingerprints and of the ids of the first ``rows``
    rows (all by default)."""
    rows = len(fps) if rows is None else rows
    packed = fps.load()
    digest = sha256_hex([np.ascontiguousarray(packed[:rows])])
    del packed
    return {"n": rows, "fps_sha256": digest,
            "ids_sha256": strings_sha256(fps.ids[i] for i in range(rows))}


# --------------------------------------------------------------------------- the earlier job


@dataclass(frozen=True)
class GrownLibrary:
    """An all-pairs job checked to extend the earlier one: its first ``q_old`` query rows and
    ``l_old`` library columns are the earlier matrix's."""

    prior: PriorJob
    q_old: int
    l_old: int
    old_matrix: str


def check_prior(prior: PriorJob, *, mode: str, metric: str, library: FingerprintSet,
                queries: FingerprintSet | None) -> GrownLibrary:
    """Check that this job's inputs extend the earlier job's (``queries`` None: the library
    against itself); the InputError names the first difference."""
    if mode != "all-pairs":
        raise InputError(f"extends: only an all-pairs matrix can be extended, not mode {mode}")
    record = prior.record(KIND)
    if record["metric"] != metric:
        raise prior.mismatch(f"metric is {metric!r} here and {record['metric']!r} in that job")
    if record["fingerprint"] != library.params or record["n_bits"] != library.n_bits:
        here = _describe(library.params, library.n_bits)
        there = _describe(record["fingerprint"], record["n_bits"])
        raise prior.mismatch(f"the fingerprints differ ({here} here, {there} in that job)")
    if (record["queries"] is None) != (queries is None):
        ours = "its library with itself" if queries is None else "queries with its library"
        raise prior.mismatch(f"this job compares {ours} and that one does not")
    l_old = _check_rows(prior, "library", library, record["library"])
    q_old = l_old if queries is None else _check_rows(prior, "queries", queries,
                                                       record["queries"])
    old_matrix = str(prior.artifact("matrix.npy"))
    old = np.load(old_matrix, mmap_mode="r")
    shape, dtype = old.shape, old.dtype
    del old
    if shape != (q_old, l_old) or dtype != np.float32:
        raise InputError(f"extends: job {prior.job_id}'s matrix.npy does not hold "
                         f"{q_old} x {l_old} scores")
    return GrownLibrary(prior, q_old, l_old, old_matrix)


def _describe(params: dict[str, Any] | None, n_bits: int) -> str:
    if params is None:
        return f"precomputed, {n_bits} bits"
    return ", ".join(f"{k} {v}" for k, v in sorted(params.items()))


def _check_rows(prior: PriorJob, name: str, fps: FingerprintSet, old: dict[str, Any]) -> int:
    n_old = int(old["n"])
    if n_old > len(fps):
        raise prior.mismatch(f"the {name} has {len(fps)} molecules, fewer than that job's "
                             f"{n_old}")
    mine = fingerprint_digest(fps, n_old)
    if mine["fps_sha256"] != old["fps_sha256"]:
        raise prior.mismatch(f"the fingerprints of the first {n_old} {name} molecules differ "
                             "from that job's")
    if mine["ids_sha256"] != old["ids_sha256"]:
        raise prior.mismatch(f"the ids of the first {n_old} {name} molecules differ from "
                             "that job's")
    return n_old


# --------------------------------------------------------------------------- blocks


@dataclass(frozen=True)
class CopyBlock:
    """Rows ``q0:q1`` of the earlier matrix, copied into the new one, with their top-k and
    histogram computed from the copied scores (nothing is scored again)."""

    old_matrix: str
    matrix_path: str
    q0: int
    q1: int
    k: int
    threshold: float | None
    self_search: bool
    n_threads: int | None = None

    @property
    def pairs(self) -> int:
        return 0


def copy_task(block: CopyBlock) -> BlockResult:
    """Copy rows ``q0:q1`` of the earlier matrix; their hits and histogram over its columns.

    The histogram counts what the full job's tiles count: every score of a query against the
    library, or, for a library against itself, each unordered pair once (the columns after a
    row), so the copies and the new tiles add up to the full job's histogram.
    """
    similarity.set_threads(block.n_threads)
    old = np.load(block.old_matrix, mmap_mode="r")
    scores = np.ascontiguousarray(old[block.q0:block.q1])
    del old
    _write_tile(block.matrix_path, scores, block.q0, 0)
    rows, cols = scores.shape
    bins = similarity.HISTOGRAM_BINS
    top = {"threshold": block.threshold}
    if not block.self_search:
        hist = np.zeros((rows, bins), np.int64)
        best, where = similarity.top_k_of_tile(scores, block.k, histogram=hist, **top)
        return BlockResult(block.q0, best, where, hist.sum(axis=0), 0)
    a, b = block.q0, block.q1
    square = np.zeros((rows, bins), np.int64)  # each pair of the square part is counted twice
    best, where = similarity.top_k_of_tile(scores[:, a:b], block.k, col_offset=a,
                                           skip_self_offset=a, histogram=square, **top)
    hist = square.sum(axis=0) // 2
    if a > 0:  # columns before the rows: counted by the blocks of those rows
        left = similarity.top_k_of_tile(scores[:, :a], block.k, **top)
        best, where = similarity.merge_top_k(best, where, *left)
    if b < cols:
        after = np.zeros((rows, bins), np.int64)
        right = similarity.top_k_of_tile(scores[:, b:], block.k, col_offset=b, histogram=after,
                                         **top)
        best, where = similarity.merge_top_k(best, where, *right)
        hist += after.sum(axis=0)
    return BlockResult(block.q0, best, where, hist, 0)


def extension_task(block: CopyBlock | SimilarityBlock) -> BlockResult:
    """The task of an extension's blocks: copies of the earlier matrix, tiles of new scores."""
    return copy_task(block) if isinstance(block, CopyBlock) else tile_task(block)


def extension_blocks(grown: GrownLibrary, queries: FingerprintSet, library: FingerprintSet,
                     matrix_path: Path, edge: int, *, metric: str, k: int,
                     threshold: float | None,
                     self_search: bool) -> list[CopyBlock | SimilarityBlock]:
    """Copy blocks of the earlier rows, then the all-pairs tiles of the new scores: the
    earlier rows against the new columns and the new rows against every column (above the
    diagonal only, for a library against itself)."""
    n_q, n_l = len(queries), len(library)
    q_old, l_old = grown.q_old, grown.l_old
    step = max(1, min(q_old, COPY_ELEMENTS // max(1, l_old)))
    blocks: list[CopyBlock | SimilarityBlock] = [
        CopyBlock(grown.old_matrix, str(matrix_path), r0, min(q_old, r0 + step), k, threshold,
                  self_search)
        for r0 in range(0, q_old, step)]

    def tile(q0: int, q1: int, l0: int, l1: int) -> SimilarityBlock:
        return SimilarityBlock(str(queries.fps_path), str(library.fps_path), q0, q1, l0, l1,
                               metric=metric, n_bits=library.n_bits, k=k, threshold=threshold,
                               self_search=self_search, matrix_path=str(matrix_path))

    blocks += [tile(q0, min(q_old, q0 + edge), l0, min(n_l, l0 + edge))
               for q0 in range(0, q_old, edge) for l0 in range(l_old, n_l, edge)]
    blocks += [tile(q0, min(n_q, q0 + edge), l0, min(n_l, l0 + edge))
               for q0 in range(q_old, n_q, edge)
               for l0 in range(q0 if self_search else 0, n_l, edge)]
    return blocks


# --------------------------------------------------------------------------- this job's record


def finish(out_dir: Path, *, metric: str, library: FingerprintSet,
           queries: FingerprintSet | None, grown: GrownLibrary | None) -> dict[str, Any]:
    """Write this all-pairs job's record; the summary's ``extends`` / ``rows_computed`` (and
    ``columns_computed`` for queries against a library) when it extended an earlier job."""
    write_record(out_dir, KIND, {
        "metric": metric, "fingerprint": library.params, "n_bits": library.n_bits,
        "library": fingerprint_digest(library),
        "queries": None if queries is None else fingerprint_digest(queries),
    })
    if grown is None:
        return {}
    fields: dict[str, Any] = {"extends": grown.prior.job_id}
    if queries is None:
        fields["rows_computed"] = len(library) - grown.l_old
    else:
        fields["rows_computed"] = len(queries) - grown.q_old
        fields["columns_computed"] = len(library) - grown.l_old
    return fields
