"""The drug-similarity job: fingerprints of a library (and queries), then all-pairs or top-k.

Artifacts written into ``out_dir``:

- ``hits.csv`` — ``query_id, query_smiles, hit_id, hit_smiles, similarity, rank`` (best first,
  ties by the lower library row; a library searched against itself never lists a molecule as its
  own hit);
- ``matrix.npy`` — float32 scores, queries × library (``all-pairs`` only), filled tile by tile
  through a memory map;
- ``invalid.csv`` — ``input, unit, number, id, reason`` for records that gave no molecule;
- ``hits.png`` — the first 12 queries with their best hits; ``similarity_histogram.png``.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import time
from pathlib import Path

import numpy as np

from osler.kernels.errors import InputError
from osler.kernels.molecules import scores as similarity
from osler.kernels.molecules.fingerprints import (
    FingerprintSet,
    FingerprintSpec,
    dataset_fingerprints,
)
from osler.kernels.molecules.options import MAX_K
from osler.kernels.molecules.tiles import SimilarityBlock, run_blocks, tile_task, top_k_task
from osler.kernels.progress import ProgressCallback, report

MODES: tuple[str, ...] = ("top-k", "all-pairs")
"""``top-k``: the k best library molecules per query; ``all-pairs``: the full score matrix."""

TILE_ROWS = 4096
"""Default all-pairs tile edge: a 64 MiB float32 tile, about 0.2 s of kernel work."""

QUERY_BLOCK_ROWS = 8192
"""Queries per top-k block."""

PAIRS_PER_BLOCK = 2**27
"""Target scores per top-k block (about a second of one thread), which sets library rows."""



def run_drug_similarity(
    library_path: Path,
    out_dir: Path,
    *,
    queries_path: Path | None = None,
    library_sha256: str,
    queries_sha256: str | None = None,
    cache_dir: Path,
    mode: str = "top-k",
    metric: str = "tanimoto",
    k: int = 10,
    threshold: float | None = None,
    fingerprint: str = "morgan",
    radius: int = 2,
    fp_size: int = 2048,
    smiles_column: str = "smiles",
    id_column: str = "id",
    block_size: int | None = None,
    plots: bool = True,
    client=None,
    progress: ProgressCallback | None = None,
) -> dict:
    """Similarity of query molecules to a library: all-pairs matrix or per-query top-k hits.

    Parameters
    ----------
    library_path : Path
        Molecule file (``.smi``, CSV, TSV, SDF, or ``.npy`` fingerprints).
    out_dir : Path
        Empty folder for the artifacts (see the module docstring).
    queries_path : Path, optional
        Query molecules; omitted, the library is compared with itself.
    library_sha256, queries_sha256 : str
        Hashes of the files, naming their fingerprint cache entries (the queries' is computed
        when omitted).
    cache_dir : Path
        Where fingerprint cache entries live (Dask workers must see it).
    mode : {"top-k", "all-pairs"}
    metric : {"tanimoto", "dice", "cosine", "dot"}
        ``dot`` is ``A·Aᵀ / n_bits`` on 0/1 fingerprints.
    k : int
        Hits per query in ``hits.csv`` (both modes).
    threshold : float, optional
        Keep hits scoring at least this (compared in float32); the matrix is never thresholded.
    fingerprint, radius, fp_size
        See :class:`.fingerprints.FingerprintSpec`; ignored for ``.npy`` input.
    smiles_column, id_column : str
        CSV/TSV columns.
    block_size : int, optional
        Library rows per block (all-pairs: the tile edge). Results do not depend on it.
    plots : bool
        Write ``hits.png`` and ``similarity_histogram.png``.
    client : distributed.Client, optional
        Spread fingerprint shards and similarity blocks over Dask workers.
    progress : callable, optional
        ``progress(fraction, message)``; an exception from it cancels the outstanding Dask
        work and propagates.

    Returns
    -------
    dict
        ``mode, metric, fingerprint, n_bits, k, threshold, n_queries, n_library,
        n_invalid_queries, n_invalid_library, comparisons`` (queries × library),
        ``pairs_computed`` (distinct pairs scored), ``n_hits``, ``mean_best_similarity``,
        ``library_cached``, ``seconds`` per stage, ``pairs_per_second`` (distinct pairs scored
        per second of the similarity stage) and ``artifacts``.

    Raises
    ------
    InputError
        Bad parameters, unreadable files, a missing column, a file without any valid molecule,
        or queries and library with different fingerprint widths.
    """
    _check_params(mode, metric, k, threshold, block_size)
    spec = FingerprintSpec(fingerprint, radius, fp_size)
    out_dir = Path(out_dir)
    seconds: dict[str, float] = {}

    start = time.perf_counter()
    library = dataset_fingerprints(
        library_path, sha256=library_sha256, cache_dir=cache_dir, spec=spec,
        smiles_column=smiles_column, id_column=id_column, client=client,
        progress=_scaled(progress, 0.0, 0.15, "library: "))
    self_search = queries_path is None
    if self_search:
        queries = library
    else:
        queries = dataset_fingerprints(
            queries_path, sha256=queries_sha256 or _sha256_file(Path(queries_path)),
            cache_dir=cache_dir, spec=spec, smiles_column=smiles_column, id_column=id_column,
            client=client, progress=_scaled(progress, 0.15, 0.2, "queries: "))
        if queries.n_bits != library.n_bits:
            raise InputError(f"queries have {queries.n_bits}-bit fingerprints but the library has "
                             f"{library.n_bits}-bit ones")
    seconds["fingerprints"] = time.perf_counter() - start

    start = time.perf_counter()
    compute = _all_pairs if mode == "all-pairs" else _top_k
    scores, rows, hist, pairs = compute(queries, library, out_dir, metric=metric, k=k,
                                        threshold=threshold, self_search=self_search,
                                        block_size=block_size, client=client,
                                        progress=_scaled(progress, 0.2, 0.92, ""))
    seconds["similarity"] = time.perf_counter() - start

    start = time.perf_counter()
    report(progress, 0.93, "writing hits")
    n_hits = _write_hits(out_dir / "hits.csv", queries, library, scores, rows)
    _write_invalid(out_dir / "invalid.csv", library, None if self_search else queries)
    if plots:
        report(progress, 0.96, "drawing")
        _plots(out_dir, queries, library, scores, rows, hist, metric)
    seconds["outputs"] = time.perf_counter() - start
    report(progress, 1.0, "done")

    best = scores[:, 0][rows[:, 0] >= 0]
    comparisons = len(queries) * len(library)
    return {
        "mode": mode,
        "metric": metric,
        "fingerprint": library.params or {"fingerprint": "precomputed"},
        "n_bits": library.n_bits,
        "k": k,
        "threshold": threshold,
        "n_queries": len(queries),
        "n_library": len(library),
        "n_invalid_queries": len(queries.invalid),
        "n_invalid_library": len(library.invalid),
        "comparisons": comparisons,
        "pairs_computed": pairs,
        "n_hits": n_hits,
        "mean_best_similarity": round(float(best.mean()), 6) if best.size else None,
        "library_cached": library.from_cache,
        "seconds": {key: round(v, 3) for key, v in seconds.items()},
        "pairs_per_second": round(pairs / max(seconds["similarity"], 1e-9)),
        "artifacts": sorted(p.name for p in out_dir.iterdir()),
    }


def _check_params(mode: str, metric: str, k: int, threshold: float | None,
                  block_size: int | None) -> None:
    if mode not in MODES:
        raise InputError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
    if metric not in similarity.METRICS:
        raise InputError(f"unknown metric {metric!r}; expected one of "
                         f"{', '.join(similarity.METRICS)}")
    if not isinstance(k, int | np.integer) or not 1 <= k <= MAX_K:
        raise InputError(f"k must be an integer between 1 and {MAX_K}, got {k!r}")
    if threshold is not None and not (0.0 <= float(threshold) <= 1.0):
        raise InputError(f"threshold must be between 0 and 1, got {threshold!r}")
    if block_size is not None and block_size < 1:
        raise InputError(f"block_size must be positive, got {block_size!r}")


def _scaled(progress: ProgressCallback | None, lo: float, hi: float, prefix: str):
    if progress is None:
        return None
    return lambda fraction, message: progress(lo + (hi - lo) * fraction, prefix + message)


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _block(queries: FingerprintSet, library: FingerprintSet, q0: int, q1: int, l0: int, l1: int,
           **kwargs) -> SimilarityBlock:
    return SimilarityBlock(str(queries.fps_path), str(library.fps_path), q0, q1, l0, l1,
                           n_bits=library.n_bits, **kwargs)


def _consume(blocks: list[SimilarityBlock], task, client, n_queries: int, k: int, progress,
             label: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Run blocks and merge their top-k candidates and histograms as they complete."""
    scores, rows = similarity.empty_top_k(n_queries, k)
    hist = np.zeros(similarity.HISTOGRAM_BINS, np.int64)
    pairs = 0
    report(progress, 0.0, f"{label}: {len(blocks)} blocks")
    with contextlib.closing(run_blocks(task, blocks, client)) as results:
        for done, res in enumerate(results, start=1):
            _merge_into(scores, rows, res.q0, res.scores, res.rows)
            if res.mirror_scores is not None:
                _merge_into(scores, rows, res.l0, res.mirror_scores, res.mirror_rows)
            hist += res.histogram
            pairs += res.pairs
            report(progress, min(1.0, done / len(blocks)),
                   f"{label}: block {done}/{len(blocks)}")
    return scores, rows, hist, pairs


def _merge_into(scores: np.ndarray, rows: np.ndarray, start: int, new_scores: np.ndarray,
                new_rows: np.ndarray) -> None:
    stop = start + new_scores.shape[0]
    scores[start:stop], rows[start:stop] = similarity.merge_top_k(
        scores[start:stop], rows[start:stop], new_scores, new_rows)


def _top_k(queries: FingerprintSet, library: FingerprintSet, out_dir: Path, *, metric: str,
           k: int, threshold: float | None, self_search: bool, block_size: int | None, client,
           progress):
    n_q, n_l = len(queries), len(library)
    q_rows = min(n_q, QUERY_BLOCK_ROWS)
    l_rows = block_size or int(min(262_144, max(4096, PAIRS_PER_BLOCK // max(q_rows, 1))))
    blocks = [
        _block(queries, library, q0, min(n_q, q0 + q_rows), l0, min(n_l, l0 + l_rows),
               metric=metric, k=k, threshold=threshold, self_search=self_search)
        for q0 in range(0, n_q, q_rows) for l0 in range(0, n_l, l_rows)]
    return _consume(blocks, top_k_task, client, n_q, k, progress, "top-k")


def _all_pairs(queries: FingerprintSet, library: FingerprintSet, out_dir: Path, *, metric: str,
               k: int, threshold: float | None, self_search: bool, block_size: int | None,
               client, progress):
    n_q, n_l = len(queries), len(library)
    edge = block_size or TILE_ROWS
    matrix_path = out_dir / "matrix.npy"
    matrix = np.lib.format.open_memmap(matrix_path, mode="w+", dtype=np.float32,
                                       shape=(n_q, n_l))
    del matrix  # created at full size (sparse); tiles fill it through their own maps
    blocks = [
        _block(queries, library, q0, min(n_q, q0 + edge), l0, min(n_l, l0 + edge),
               metric=metric, k=k, threshold=threshold, self_search=self_search,
               matrix_path=str(matrix_path))
        for q0 in range(0, n_q, edge) for l0 in range(q0 if self_search else 0, n_l, edge)]
    try:
        return _consume(blocks, tile_task, client, n_q, k, progress, "all-pairs")
    except BaseException:
        matrix_path.unlink(missing_ok=True)  # never leave a half-filled matrix as an artifact
        raise


def _write_hits(path: Path, queries: FingerprintSet, library: FingerprintSet,
                scores: np.ndarray, rows: np.ndarray) -> int:
    n_hits = 0
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["query_id", "query_smiles", "hit_id", "hit_smiles", "similarity",
                         "rank"])
        for qi in range(scores.shape[0]):
            q_id, q_smi = queries.ids[qi], queries.smiles[qi]
            found = rows[qi] >= 0
            for rank, (score, row) in enumerate(zip(scores[qi][found].tolist(),
                                                    rows[qi][found].tolist(), strict=True),
                                                start=1):
                writer.writerow((q_id, q_smi, library.ids[row], library.smiles[row],
                                 f"{score:.6f}", rank))
                n_hits += 1
    return n_hits


def _write_invalid(path: Path, library: FingerprintSet, queries: FingerprintSet | None) -> bool:
    sets = [("library", library)] + ([("queries", queries)] if queries is not None else [])
    if not any(fs.invalid for _, fs in sets):
        return False
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["input", "unit", "number", "id", "reason"])
        for name, fs in sets:
            writer.writerows((name, fs.unit, r.number, r.id, r.reason) for r in fs.invalid)
    return True


def _plots(out_dir: Path, queries: FingerprintSet, library: FingerprintSet, scores: np.ndarray,
           rows: np.ndarray, hist: np.ndarray, metric: str) -> None:
    from osler.kernels.molecules.plots import MAX_QUERIES_DRAWN, draw_hits, plot_histogram

    best = scores[:, 0][rows[:, 0] >= 0].astype(np.float64)
    plot_histogram(out_dir / "similarity_histogram.png", hist, metric=metric, best=best,
                   title=f"{len(queries):,} queries × {len(library):,} library molecules")
    drawn_q, drawn_hits = [], []
    for qi in range(scores.shape[0]):
        if len(drawn_q) == MAX_QUERIES_DRAWN * 2:
            break
        found = rows[qi] >= 0
        if not found.any() or not queries.smiles[qi]:
            continue
        drawn_q.append((queries.ids[qi], queries.smiles[qi]))
        drawn_hits.append([(library.ids[r], library.smiles[r], float(s))
                           for s, r in zip(scores[qi][found], rows[qi][found], strict=True)])
    if drawn_q:
        draw_hits(out_dir / "hits.png", drawn_q, drawn_hits)

