"""The drug-similarity job: fingerprints of a library (and queries), then top-k, every pair above
a threshold, or all pairs.

Artifacts written into ``out_dir``:

- ``hits.csv`` — ``query_id, query_smiles, hit_id, hit_smiles, similarity, rank`` (best first,
  ties by the lower library row; a library searched against itself never lists a molecule as its
  own hit): the k best per query, or in ``threshold`` mode every hit >= the threshold;
- ``matrix.npy`` — float32 scores, queries × library (``all-pairs`` only), filled tile by tile
  (by the Dask workers where they share this process's disk, else by this process as the tiles
  come back);
- ``matrix.npz`` — ``threshold`` mode: the hits as a SciPy CSR matrix (float32, queries ×
  library, sorted indices; ``scipy.sparse.load_npz``), no self pairs;
- ``invalid.csv`` — ``input, unit, number, id, reason`` for records that gave no molecule;
- ``hits.png`` — the first 12 queries with their best hits; ``similarity_histogram.png`` (every
  score in ``all-pairs``; the reported hits' scores in the pruned modes, which never compute the
  scores they skip).

``top-k`` and ``threshold`` search the library in popcount order (:mod:`.popcount_order`) and
skip the rows the bounds of :mod:`.pruned` exclude; their results equal brute force.

The Dask tasks reach this process's files through an
:class:`~osler.kernels.locations.Exchange`: the files themselves on a shared disk (``LOCAL``, the
default), or copies uploaded to an object store, in which case the tasks also return what they
would have written (fingerprint shards, matrix tiles) for this process to write.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import time
from pathlib import Path

import numpy as np

from osler.kernels.errors import InputError
from osler.kernels.incremental import PriorJob
from osler.kernels.locations import LOCAL, Exchange
from osler.kernels.molecules import incremental
from osler.kernels.molecules import scores as similarity
from osler.kernels.molecules.fingerprints import (
    FingerprintSet,
    FingerprintSpec,
    dataset_fingerprints,
)
from osler.kernels.molecules.options import DEFAULT_MAX_HITS, MAX_K, MODES
from osler.kernels.molecules.popcount_order import popcount_order
from osler.kernels.molecules.tiles import (
    SimilarityBlock,
    parallel_slots,
    run_blocks,
    threshold_task,
    tile_task,
    top_k_task,
    write_tile,
)
from osler.kernels.progress import ProgressCallback, report

TILE_ROWS = 4096
"""Default all-pairs tile edge: a 64 MiB float32 tile, about 0.2 s of kernel work."""

QUERY_BLOCK_ROWS = 8192
"""Most queries per top-k block (each block searches the whole library unless ``block_size``
splits it, so its queries' gates rise over all of it)."""

THRESHOLD_QUERY_ROWS = 1024
"""Queries per threshold block (its candidate buffer is ``rows × THRESHOLD_CHUNK_ROWS``)."""

MIN_QUERY_ROWS = 16
"""Fewest queries per block when few queries are split over several workers."""

HITS_CSV_ROWS = 65_536
"""Lines of ``hits.csv`` made and written at a time."""


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
    max_hits: int | None = DEFAULT_MAX_HITS,
    fingerprint: str = "morgan",
    radius: int = 2,
    fp_size: int = 2048,
    smiles_column: str = "smiles",
    id_column: str = "id",
    block_size: int | None = None,
    plots: bool = True,
    extends: PriorJob | None = None,
    client=None,
    progress: ProgressCallback | None = None,
    exchange: Exchange = LOCAL,
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
        Where fingerprint cache entries live (this process's disk; the Dask workers read the
        files they need through ``exchange``).
    mode : {"top-k", "threshold", "all-pairs"}
    metric : {"tanimoto", "dice", "cosine", "dot"}
        ``dot`` is ``A·Aᵀ / n_bits`` on 0/1 fingerprints.
    k : int
        Hits per query in ``hits.csv`` (``top-k`` and ``all-pairs``).
    threshold : float, optional
        Keep hits scoring at least this (compared in float32); required in ``threshold`` mode;
        the all-pairs matrix is never thresholded.
    max_hits : int or None
        ``threshold`` mode: fail (InputError) rather than return more pairs than this (None:
        no limit).
    fingerprint, radius, fp_size
        See :class:`.fingerprints.FingerprintSpec`; ignored for ``.npy`` input.
    smiles_column, id_column : str
        CSV/TSV columns.
    block_size : int, optional
        Library rows per block (all-pairs: the tile edge; by default top-k and threshold blocks
        search the whole library). Results do not depend on it.
    plots : bool
        Write ``hits.png`` and ``similarity_histogram.png``.
    extends : PriorJob, optional
        ``all-pairs``: a finished all-pairs job whose library is this library's first
        molecules; its scores are copied and only the new ones computed
        (:mod:`.incremental`). Every all-pairs job writes ``inputs.json`` for this.
    client : distributed.Client, optional
        Spread fingerprint shards and similarity blocks over Dask workers.
    progress : callable, optional
        ``progress(fraction, message)``; an exception from it cancels the outstanding Dask
        work and propagates.
    exchange : Exchange
        How the Dask workers reach this process's files: the same disk (the default), or an
        object store, in which case shards and tiles come back to be written here. Without a
        client nothing is shared (everything runs here).

    Returns
    -------
    dict
        ``mode, metric, fingerprint, n_bits, k, threshold, n_queries, n_library,
        n_invalid_queries, n_invalid_library, comparisons`` (queries × library),
        ``pairs_computed`` (distinct pairs scored), ``n_hits``, ``mean_best_similarity``,
        ``library_cached``, ``seconds`` per stage, ``pairs_per_second`` (distinct pairs scored
        per second of the similarity stage) and ``artifacts``; with ``extends``, also
        ``extends`` and ``rows_computed`` (``columns_computed`` for queries and a library).

    Raises
    ------
    InputError
        Bad parameters, unreadable files, a missing column, a file without any valid molecule,
        or queries and library with different fingerprint widths.
    """
    _check_params(mode, metric, k, threshold, block_size, max_hits)
    spec = FingerprintSpec(fingerprint, radius, fp_size)
    if client is None:  # every task runs in this process, which sees its own files
        exchange = LOCAL
    out_dir = Path(out_dir)
    seconds: dict[str, float] = {}

    start = time.perf_counter()
    library = dataset_fingerprints(
        library_path, sha256=library_sha256, cache_dir=cache_dir, spec=spec,
        smiles_column=smiles_column, id_column=id_column, client=client,
        progress=_scaled(progress, 0.0, 0.15, "library: "), exchange=exchange)
    self_search = queries_path is None
    if self_search:
        queries = library
    else:
        queries = dataset_fingerprints(
            queries_path, sha256=queries_sha256 or _sha256_file(Path(queries_path)),
            cache_dir=cache_dir, spec=spec, smiles_column=smiles_column, id_column=id_column,
            client=client, progress=_scaled(progress, 0.15, 0.2, "queries: "),
            exchange=exchange)
        if queries.n_bits != library.n_bits:
            raise InputError(f"queries have {queries.n_bits}-bit fingerprints but the library has "
                             f"{library.n_bits}-bit ones")
    seconds["fingerprints"] = time.perf_counter() - start
    grown = None if extends is None else incremental.check_prior(
        extends, mode=mode, metric=metric, library=library,
        queries=None if self_search else queries)

    start = time.perf_counter()
    compute = {"all-pairs": _all_pairs, "top-k": _top_k, "threshold": _threshold}[mode]
    hits, hist, pairs = compute(queries, library, out_dir, metric=metric, k=k,
                                threshold=threshold, self_search=self_search,
                                block_size=block_size, max_hits=max_hits, client=client,
                                progress=_scaled(progress, 0.2, 0.92, ""), exchange=exchange,
                                **({"grown": grown} if grown is not None else {}))
    seconds["similarity"] = time.perf_counter() - start

    start = time.perf_counter()
    report(progress, 0.93, "writing hits")
    _write_hits(out_dir / "hits.csv", queries, library, hits)
    _write_invalid(out_dir / "invalid.csv", library, None if self_search else queries)
    extension = incremental.finish(out_dir, metric=metric, library=library,
                                   queries=None if self_search else queries,
                                   grown=grown) if mode == "all-pairs" else {}
    if plots:
        report(progress, 0.96, "drawing")
        _plots(out_dir, queries, library, hits, hist, metric)
    seconds["outputs"] = time.perf_counter() - start
    report(progress, 1.0, "done")

    best = hits.best()
    comparisons = len(queries) * len(library)
    return {
        "mode": mode,
        "metric": metric,
        "fingerprint": library.params or {"fingerprint": "precomputed"},
        "n_bits": library.n_bits,
        "k": None if mode == "threshold" else k,
        "threshold": threshold,
        "n_queries": len(queries),
        "n_library": len(library),
        "n_invalid_queries": len(queries.invalid),
        "n_invalid_library": len(library.invalid),
        "comparisons": comparisons,
        "pairs_computed": pairs,
        "n_hits": len(hits.rows),
        "mean_best_similarity": round(float(best.mean()), 6) if best.size else None,
        "library_cached": library.from_cache,
        "seconds": {key: round(v, 3) for key, v in seconds.items()},
        "pairs_per_second": round(pairs / max(seconds["similarity"], 1e-9)),
        "artifacts": sorted(p.name for p in out_dir.iterdir()),
        **extension,
    }


class Hits:
    """Every query's hits, best first (ties by the lower library row): query ``i``'s are
    ``rows[indptr[i]:indptr[i+1]]`` with ``scores`` alike."""

    def __init__(self, indptr: np.ndarray, rows: np.ndarray, scores: np.ndarray) -> None:
        self.indptr, self.rows, self.scores = indptr, rows, scores

    @classmethod
    def from_top_k(cls, scores: np.ndarray, rows: np.ndarray) -> Hits:
        found = rows >= 0
        indptr = np.concatenate([[0], np.cumsum(found.sum(axis=1))]).astype(np.int64)
        return cls(indptr, rows[found], scores[found])

    @classmethod
    def from_pairs(cls, n_queries: int, queries: np.ndarray, rows: np.ndarray,
                   scores: np.ndarray) -> Hits:
        order = np.lexsort((rows, -scores, queries))
        counts = np.bincount(queries, minlength=n_queries)
        indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return cls(indptr, rows[order], scores[order])

    def of(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows, scores) of query ``i``."""
        lo, hi = self.indptr[i], self.indptr[i + 1]
        return self.rows[lo:hi], self.scores[lo:hi]

    def best(self) -> np.ndarray:
        """The best score of every query that has a hit."""
        has = np.diff(self.indptr) > 0
        return self.scores[self.indptr[:-1][has]]


def _check_params(mode: str, metric: str, k: int, threshold: float | None,
                  block_size: int | None, max_hits: int | None) -> None:
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
    if mode == "threshold" and threshold is None:
        raise InputError("mode threshold needs a threshold")
    if max_hits is not None and max_hits < 1:
        raise InputError(f"max_hits must be positive, got {max_hits!r}")


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


def _block(query_path: str, library_path: str, library: FingerprintSet, q0: int, q1: int,
           l0: int, l1: int, **kwargs) -> SimilarityBlock:
    return SimilarityBlock(query_path, library_path, q0, q1, l0, l1, n_bits=library.n_bits,
                           **kwargs)


def _shared_order(fps_path: Path, exchange: Exchange) -> tuple[str, str, str, str]:
    """Locations of the popcount-sorted files of a cache entry (written now if missing, once
    per entry, before the tasks read them)."""
    order = popcount_order(fps_path)
    return tuple(exchange.share(path) for path in
                 (order.fps_path, order.words_path, order.counts_path, order.rows_path))


def _consume(blocks: list[SimilarityBlock], task, client, n_queries: int, k: int, progress,
             label: str, matrix_path: Path | None = None) -> tuple[Hits, np.ndarray | None, int]:
    """Run blocks and merge their top-k candidates (and histograms) as they complete; tiles
    that come back (``send_back`` blocks) are written into ``matrix_path`` here."""
    scores, rows = similarity.empty_top_k(n_queries, k)
    hist = np.zeros(similarity.HISTOGRAM_BINS, np.int64)
    pairs = 0
    report(progress, 0.0, f"{label}: {len(blocks)} blocks")
    with contextlib.closing(run_blocks(task, blocks, client)) as results:
        for done, res in enumerate(results, start=1):
            if res.tile is not None:
                write_tile(matrix_path, res)
                res.tile = None  # memory stays bounded by the blocks in flight
            where = (slice(res.q0, res.q0 + res.scores.shape[0]) if res.query_rows is None
                     else res.query_rows)
            scores[where], rows[where] = similarity.merge_top_k(
                scores[where], rows[where], res.scores, res.rows)
            if res.mirror_scores is not None:
                stop = res.l0 + res.mirror_scores.shape[0]
                scores[res.l0:stop], rows[res.l0:stop] = similarity.merge_top_k(
                    scores[res.l0:stop], rows[res.l0:stop], res.mirror_scores, res.mirror_rows)
            if res.histogram is not None:
                hist += res.histogram
            pairs += res.pairs
            report(progress, min(1.0, done / len(blocks)),
                   f"{label}: block {done}/{len(blocks)}")
    return Hits.from_top_k(scores, rows), hist, pairs


def _query_rows_per_block(n_queries: int, client, most: int) -> int:
    """Queries per block: at most ``most``, and one block per worker thread when fewer queries
    than that fill them all. Each block walks the whole library and pays a fixed cost (reading
    the popcount order, a round trip), and its queries share each library chunk's trip through
    the cache, so fewer blocks do less work (``bench/README.md``, 2026-12-08). Larger jobs get many
    blocks, which even out."""
    spread = parallel_slots(client)
    return int(max(1, min(most, n_queries, max(MIN_QUERY_ROWS, -(-n_queries // spread)))))


def _pruned_blocks(queries: FingerprintSet, library: FingerprintSet, *, q_rows: int,
                   block_size: int | None, self_search: bool, exchange: Exchange,
                   upper_only: bool = False, **kwargs) -> list[SimilarityBlock]:
    """Blocks over the popcount order; ``upper_only`` drops those wholly below the diagonal
    (a threshold search of a library against itself scores only pairs above it).

    The tasks read only the popcount-sorted files (shared through ``exchange``); the
    file-order paths in the blocks are this process's, never read by them."""
    query_order = _shared_order(queries.fps_path, exchange)
    library_order = _shared_order(library.fps_path, exchange)
    n_q, n_l = len(queries), len(library)
    l_rows = block_size or n_l
    return [_block(str(queries.fps_path), str(library.fps_path), library, q0,
                   min(n_q, q0 + q_rows), l0, min(n_l, l0 + l_rows), self_search=self_search,
                   query_order=query_order, library_order=library_order, **kwargs)
            for q0 in range(0, n_q, q_rows) for l0 in range(0, n_l, l_rows)
            if not (upper_only and l0 + l_rows <= q0)]


def _top_k(queries: FingerprintSet, library: FingerprintSet, out_dir: Path, *, metric: str,
           k: int, threshold: float | None, self_search: bool, block_size: int | None,
           max_hits: int | None, client, progress, exchange: Exchange):
    q_rows = _query_rows_per_block(len(queries), client, QUERY_BLOCK_ROWS)
    blocks = _pruned_blocks(queries, library, q_rows=q_rows, block_size=block_size,
                            self_search=self_search, exchange=exchange, metric=metric, k=k,
                            threshold=threshold)
    hits, _, pairs = _consume(blocks, top_k_task, client, len(queries), k, progress, "top-k")
    return hits, _hits_histogram(hits), pairs


def _threshold(queries: FingerprintSet, library: FingerprintSet, out_dir: Path, *, metric: str,
               k: int, threshold: float, self_search: bool, block_size: int | None,
               max_hits: int | None, client, progress, exchange: Exchange):
    from scipy import sparse

    n_q, n_l = len(queries), len(library)
    q_rows = _query_rows_per_block(n_q, client, THRESHOLD_QUERY_ROWS)
    blocks = _pruned_blocks(queries, library, q_rows=q_rows, block_size=block_size,
                            self_search=self_search, exchange=exchange, upper_only=self_search,
                            metric=metric, k=k, threshold=threshold, max_hits=max_hits)
    parts_q, parts_l, parts_s = [], [], []
    pairs = found = 0
    report(progress, 0.0, f"threshold: {len(blocks)} blocks")
    with contextlib.closing(run_blocks(threshold_task, blocks, client)) as results:
        for done, res in enumerate(results, start=1):
            found += len(res.scores) * (2 if self_search else 1)
            if res.overflow or (max_hits is not None and found > max_hits):
                raise InputError(f"more than {max_hits} pairs score at least {threshold}; "
                                 "raise the threshold or max_hits")
            parts_q.append(res.query_rows)
            parts_l.append(res.library_rows)
            parts_s.append(res.scores)
            pairs += res.pairs
            report(progress, done / len(blocks), f"threshold: block {done}/{len(blocks)}")
    q = np.concatenate(parts_q) if parts_q else np.zeros(0, np.int64)
    lib = np.concatenate(parts_l) if parts_l else np.zeros(0, np.int64)
    s = np.concatenate(parts_s) if parts_s else np.zeros(0, np.float32)
    if self_search:  # each unordered pair was scored once: list it for both molecules
        q, lib, s = np.concatenate([q, lib]), np.concatenate([lib, q]), np.concatenate([s, s])
    matrix = sparse.csr_matrix((s, (q, lib)), shape=(n_q, n_l), dtype=np.float32)
    matrix.sort_indices()
    sparse.save_npz(out_dir / "matrix.npz", matrix, compressed=False)
    hits = Hits.from_pairs(n_q, q, lib, s)
    return hits, _hits_histogram(hits), pairs


def _hits_histogram(hits: Hits) -> np.ndarray:
    bins = similarity.HISTOGRAM_BINS
    where = np.clip((hits.scores.astype(np.float64) * bins).astype(np.int64), 0, bins - 1)
    return np.bincount(where, minlength=bins).astype(np.int64)


def _all_pairs(queries: FingerprintSet, library: FingerprintSet, out_dir: Path, *, metric: str,
               k: int, threshold: float | None, self_search: bool, block_size: int | None,
               max_hits: int | None, client, progress, exchange: Exchange, grown=None):
    n_q, n_l = len(queries), len(library)
    edge = block_size or TILE_ROWS
    matrix_path = out_dir / "matrix.npy"
    matrix = np.lib.format.open_memmap(matrix_path, mode="w+", dtype=np.float32,
                                       shape=(n_q, n_l))
    del matrix  # created at full size (sparse); tiles fill it through their own maps
    query_path = exchange.share(queries.fps_path)
    library_path = exchange.share(library.fps_path)
    send_back = exchange.remote  # the workers may not see matrix.npy: tiles come back here
    if grown is not None:
        # An extension copies the earlier matrix by path: with workers that share only the
        # store it runs here, in the job's process.
        client = None if send_back else client
        blocks = incremental.extension_blocks(
            grown, queries, library, matrix_path, edge, metric=metric, k=k,
            threshold=threshold, self_search=self_search)
        task = incremental.extension_task
    else:
        blocks = [
            _block(query_path, library_path, library, q0, min(n_q, q0 + edge), l0,
                   min(n_l, l0 + edge), metric=metric, k=k, threshold=threshold,
                   self_search=self_search,
                   matrix_path=None if send_back else str(matrix_path), send_back=send_back)
            for q0 in range(0, n_q, edge) for l0 in range(q0 if self_search else 0, n_l, edge)]
        task = tile_task
    try:
        return _consume(blocks, task, client, n_q, k, progress, "all-pairs",
                        matrix_path=matrix_path)
    except BaseException:
        matrix_path.unlink(missing_ok=True)  # never leave a half-filled matrix as an artifact
        raise


def _write_hits(path: Path, queries: FingerprintSet, library: FingerprintSet,
                hits: Hits) -> None:
    """``hits.csv``: a line per hit, by query, best first. Each molecule is read once (the
    queries with hits and the distinct hit rows; one set of them when the library is searched
    against itself), and the lines go out :data:`HITS_CSV_ROWS` at a time, so the Python
    objects held stay bounded by the molecules, not the hits."""
    counts = np.diff(hits.indptr)
    with_hits = np.flatnonzero(counts)
    if queries is library:
        query_molecules = hit_molecules = _molecules_of(library, np.union1d(with_hits, hits.rows))
    else:
        query_molecules = _molecules_of(queries, with_hits)
        hit_molecules = _molecules_of(library, np.unique(hits.rows))
    query_of = np.repeat(np.arange(len(counts)), counts)
    rank = np.arange(1, len(hits.rows) + 1) - np.repeat(hits.indptr[:-1], counts)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["query_id", "query_smiles", "hit_id", "hit_smiles", "similarity",
                         "rank"])
        for start in range(0, len(hits.rows), HITS_CSV_ROWS):
            part = slice(start, start + HITS_CSV_ROWS)
            writer.writerows(
                (*query_molecules[q], *hit_molecules[r], f"{s:.6f}", n)
                for q, r, s, n in zip(query_of[part].tolist(), hits.rows[part].tolist(),
                                      hits.scores[part].tolist(), rank[part].tolist(),
                                      strict=True))


def _molecules_of(molecules: FingerprintSet, rows: np.ndarray) -> dict[int, tuple[str, str]]:
    """Row -> (id, SMILES) for the distinct ``rows``."""
    return dict(zip(rows.tolist(), molecules.molecules(rows), strict=True))


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


def _plots(out_dir: Path, queries: FingerprintSet, library: FingerprintSet, hits: Hits,
           hist: np.ndarray, metric: str) -> None:
    from osler.kernels.molecules.plots import (
        HITS_DRAWN,
        MAX_QUERIES_DRAWN,
        draw_hits,
        plot_histogram,
    )

    plot_histogram(out_dir / "similarity_histogram.png", hist, metric=metric,
                   best=hits.best().astype(np.float64),
                   title=f"{len(queries):,} queries × {len(library):,} library molecules")
    drawn_q, drawn_hits = [], []
    for qi in range(len(queries)):
        if len(drawn_q) == MAX_QUERIES_DRAWN * 2:
            break
        rows, scores = hits.of(qi)
        if not len(rows):
            continue
        q_id, q_smiles = queries.molecule(qi)
        if not q_smiles:
            continue
        drawn_q.append((q_id, q_smiles))
        drawn_hits.append([(*library.molecule(r), float(s))
                           for s, r in zip(scores[:HITS_DRAWN], rows[:HITS_DRAWN],
                                           strict=True)])
    if drawn_q:
        draw_hits(out_dir / "hits.png", drawn_q, drawn_hits)
