"""Pruned similarity search over a library sorted by popcount: top-k and every pair >= threshold.

A pair of fingerprints with ``a`` and ``b`` bits set shares at most ``min(a, b)`` bits, and every
metric of :mod:`.scores` grows with the shared count, so the score of any pair is at most the
score with ``c = min(a, b)`` (the Swamidass-Baldi bounds):

================  ===============================
metric            bound
================  ===============================
``tanimoto``      min(a, b) / max(a, b)
``dice``          2 min(a, b) / (a + b)
``cosine``        min(a, b) / sqrt(a b)
``dot``           min(a, b) / n_bits
================  ===============================

A second, tighter bound works per 64-bit word: the pair shares at most
``m = sum over words w of min(a_w, b_w)`` bits (``a_w``, ``b_w``: the bits set in word ``w``),
so its score is at most the score with ``c = m``. Word popcounts are kept as one byte each (32
bytes for 2048 bits, an eighth of the fingerprint) and by column (word ``w`` of every row
together), so the bound of one query against :data:`SPAN` library rows is one vectorised
byte-wise min-and-add per word (64 rows per 512-bit instruction): about 1 ns a pair, against
4-5 ns row by row and 4 ns to score a pair with a 4 x 4 register-blocked popcount. For
drug-like Morgan fingerprints it rules out most pairs that the popcount bound lets through (at
0.6 it keeps under 1 % of them).

The library is stored sorted by popcount (:mod:`.popcount_order`), so all rows with popcount
``b`` are one contiguous group. A query skips every group whose bound is below its gate: the
threshold, or in top-k the k-th best score so far once its heap is full (the gate then rises as
better hits arrive). The bound is computed by the same float32 rounding as the scores and a
group is skipped only when the bound is strictly below the gate, so nothing that could enter
the results is skipped: results are identical to brute force, ties included. For ``dot`` the
bound excludes little (dot scores are small next to ``popcount / n_bits``).

Memory access: the library is walked in cache-sized chunks, every query of a block passing over
each chunk while it is in the L2 cache (as :func:`.scores.similarity_tile` does); top-k visits the
chunks nearest the block's popcounts first so the gates rise early.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from osler.kernels.bits import prefer_wide_vectors
from osler.kernels.molecules.primitives import (
    chunk_rows,
    common_bits,
    common_bits_of4,
    heap_offer,
    heap_sort,
    metric_code,
    packed,
    pair_score,
    word_counts,
)

NO_ROW = -1
"""``skip_rows`` entry of a query that may hit every library row."""

SPAN = 1024
"""Most library rows whose word bounds are computed together (a buffer of SPAN bytes, in L1):
a 2048-bit library's cache chunk. Each word's pass over them, and each span's gate, has a fixed
cost, which 256-row spans paid four times as often (``bench/README.md``, 2026-12-08). The
buffers of :func:`bound_buffers` take 9 KiB per query."""

THRESHOLD_CHUNK_ROWS = 1024
"""Most library rows per threshold chunk: bounds the candidate buffer at 12 bytes x queries x
this, whatever the fingerprint width (narrow ones would otherwise get long cache chunks)."""


@njit(cache=True, inline="always")
def bound(a, b, metric, n_bits):
    """Highest score a pair with popcounts a and b can have (float32, rounded like scores)."""
    return pair_score(min(a, b), a, b, metric, n_bits)


@njit(cache=True)
def _min_shared(a, b, gate, metric, n_bits):
    """Fewest shared bits with which a pair of popcounts a, b scores >= gate (float32, as the
    scores): ``min(a, b) + 1`` when none does. Scores grow with the shared count, so a binary
    search finds it, and the hot loops compare integers instead of dividing."""
    lo = 0
    hi = min(a, b) + 1
    while lo < hi:
        mid = (lo + hi) // 2
        if pair_score(mid, a, b, metric, n_bits) >= gate:
            hi = mid
        else:
            lo = mid + 1
    return lo


@njit(cache=True, inline="always")
def _word_bounds(Qw, i, Lw, j, n, acc):
    """``acc[r]``: the most bits query ``i`` and library row ``j + r`` can share (the sum over
    words of the smaller word popcount), for ``r < n``. One word of ``n`` rows at a time, so
    LLVM vectorises over rows (``acc`` is uint8: 64 rows per 512-bit instruction). A word the
    query has no bits in adds nothing and is skipped (sparse drug-like Morgan fingerprints leave
    many words empty; the branch goes the same way for the query's every span)."""
    for r in range(n):
        acc[r] = 0
    for w in range(Lw.shape[0]):
        q = Qw[w, i]
        if q == 0:
            continue
        column = Lw[w, j:j + n]
        for r in range(n):
            x = column[r]
            acc[r] += x if x < q else q


@njit(cache=True, inline="always")
def _passing(Qw, i, Lw, j, n, most, need, acc, picked):
    """Write the ``r < n`` whose word bound (query ``i``, library row ``j + r``) reaches
    ``need`` into ``picked``; return how many. ``most`` is ``min(a, b)``, which bounds the sum:
    above 255 it would not fit ``acc``'s bytes, and every row is listed (fingerprints that
    dense share bits in nearly every word, where the bound rules out little). The bytes are
    compared with ``need`` as a byte, and a span where none reaches it (their maximum, one
    vectorised pass) lists nothing. Otherwise the list is made without a branch: half the rows
    pass at a low gate, and a mispredicted branch costs as much as a word bound."""
    if most > 255:
        for r in range(n):
            picked[r] = r
        return n
    if need > most:
        return 0
    _word_bounds(Qw, i, Lw, j, n, acc)
    gate = np.uint8(need)
    top = np.uint8(0)
    for r in range(n):
        top = max(top, acc[r])
    if top < gate:
        return 0
    count = 0
    for r in range(n):
        picked[count] = r
        count += acc[r] >= gate
    return count


@njit(cache=True, inline="always")
def _share_passing(Q, Qw, i, L, Lw, j, n, most, need, acc, picked, shared):
    """Count the bits query ``i`` shares with each library row ``j..j + n`` whose word bound
    reaches ``need``: their offsets from ``j`` into ``picked``, the counts into ``shared``, four
    rows per pass over the query's row; return how many. The callers score only the rows that
    share ``need`` bits or more: the others score below the gate, and a score costs a division
    (most rows listed at a low gate miss it; ``bench/README.md``, 2026-12-08)."""
    count = _passing(Qw, i, Lw, j, n, most, need, acc, picked)
    t = 0
    while t + 4 <= count:
        cs = common_bits_of4(Q, i, L, j + picked[t], j + picked[t + 1], j + picked[t + 2],
                             j + picked[t + 3])
        for u in range(4):
            shared[t + u] = cs[u]
        t += 4
    while t < count:
        shared[t] = common_bits(Q, i, L, j + picked[t])
        t += 1
    return count


@njit(cache=True, inline="always")
def _offer_group(Q, Qw, i, L, Lw, rows, j, j1, a, p, metric, n_bits, hs, hr, size, gate, own,
                 acc, picked, shared):
    """Offer library indices ``j..j1`` (all with popcount ``p``) that reach the gate to query
    ``i``'s heap; return (size, gate, pairs whose shared bits were counted). Until the heap is
    full the gate is at most 0 and every row passes."""
    done = 0
    while j < j1:
        n = min(acc.shape[0], j1 - j)
        need = _min_shared(a, p, gate, metric, n_bits)  # the gate rises as the heap fills
        count = _share_passing(Q, Qw, i, L, Lw, j, n, min(a, p), need, acc, picked, shared)
        for t in range(count):
            if shared[t] >= need:  # else it scores below the gate (need may lag it: harmless)
                size, gate = heap_offer(hs, hr, size, gate,
                                        pair_score(shared[t], a, p, metric, n_bits),
                                        rows[j + picked[t]], own)
        done += count
        j += n
    return size, gate, done


@njit(parallel=True, nogil=True, cache=True)
def _pruned_top_k(Q, Qw, pq, L, Lw, pl, rows, starts, metric, n_bits, threshold, skip, chunks,
                  chunk, out_s, out_r, computed, bounds, passed, counted):
    """Per query the best ``k`` rows of the popcount-sorted library ``L``.

    ``Qw``, ``Lw`` are the word popcounts, by column; ``rows[j]`` is the library row reported
    for ``L[j]`` (its row in file order; ties break by it); ``starts[p]`` is the first index of
    ``L`` with popcount >= p; ``chunks`` lists chunk numbers in visiting order; query ``i``
    never hits row ``skip[i]``. ``computed[i]`` counts the scores query ``i`` computed. Inside
    a chunk each
    query visits the popcount groups nearest its own first (``a``, ``a + 1``, ``a - 1``, ...),
    so its gate rises early.
    """
    prefer_wide_vectors()
    n = Q.shape[0]
    m = L.shape[0]
    k = out_s.shape[1]
    sizes = np.zeros(n, np.int64)
    for t in range(chunks.shape[0]):
        b0 = chunks[t] * chunk
        b1 = min(m, b0 + chunk)
        p_lo = pl[b0]
        p_hi = pl[b1 - 1]
        for i in prange(n):
            acc = bounds[i]
            picked = passed[i]
            shared = counted[i]
            hs = out_s[i]
            hr = out_r[i]
            size = sizes[i]
            gate = np.float32(threshold) if size < k else hs[0]
            a = pq[i]
            own = skip[i]
            done = 0
            d_lo = max(0, p_lo - a, a - p_hi)
            d_hi = max(p_hi - a, a - p_lo)
            for d in range(d_lo, d_hi + 1):
                for side in range(2):
                    p = a + d if side == 0 else a - d
                    if (side == 1 and d == 0) or p < p_lo or p > p_hi:
                        continue
                    if bound(a, p, metric, n_bits) < gate:
                        continue
                    j = max(starts[p], b0)
                    j1 = min(starts[p + 1], b1)
                    if j < j1:
                        size, gate, did = _offer_group(Q, Qw, i, L, Lw, rows, j, j1, a, p,
                                                       metric, n_bits, hs, hr, size, gate, own,
                                                       acc, picked, shared)
                        done += did
            sizes[i] = size
            computed[i] += done
    for i in prange(n):
        heap_sort(out_s[i], out_r[i], sizes[i])


@njit(cache=True, inline="always")
def _keep(hit_j, hit_s, i, cnt, j, s, gate):
    if s >= gate:
        hit_j[i, cnt] = j
        hit_s[i, cnt] = s
        cnt += 1
    return cnt


@njit(cache=True, inline="always")
def _keep_group(Q, Qw, i, L, Lw, j, j1, a, p, metric, n_bits, gate, hit_j, hit_s, cnt, acc,
                picked, shared):
    """Keep library indices ``j..j1`` (popcount ``p``) scoring >= gate with query ``i``, counting
    shared bits only where the word bound reaches it; return (hits so far, pairs counted)."""
    done = 0
    need = _min_shared(a, p, gate, metric, n_bits)
    while j < j1:
        n = min(acc.shape[0], j1 - j)
        count = _share_passing(Q, Qw, i, L, Lw, j, n, min(a, p), need, acc, picked, shared)
        for t in range(count):
            if shared[t] >= need:
                cnt = _keep(hit_j, hit_s, i, cnt, j + picked[t],
                            pair_score(shared[t], a, p, metric, n_bits), gate)
        done += count
        j += n
    return cnt, done


@njit(parallel=True, nogil=True, cache=True)
def _threshold_chunk(Q, Qw, pq, L, Lw, pl, starts, metric, n_bits, gate, upper, diagonal, b0,
                     b1, hit_j, hit_s, counts, computed, bounds, passed, counted):
    """Library indices ``j`` in ``b0:b1`` scoring >= gate with each query, into ``hit_*[i]``.

    With ``upper`` query ``i`` is library index ``diagonal + i`` and only ``j`` above it are
    scored (each unordered pair of a library searched against itself once).
    """
    prefer_wide_vectors()
    n = Q.shape[0]
    for i in prange(n):
        acc = bounds[i]
        picked = passed[i]
        shared = counted[i]
        a = pq[i]
        cnt = 0
        done = 0
        lo = max(b0, diagonal + i + 1) if upper else b0
        if lo < b1:
            for p in range(pl[lo], pl[b1 - 1] + 1):
                if bound(a, p, metric, n_bits) < gate:
                    continue
                j = max(starts[p], lo)
                j1 = min(starts[p + 1], b1)
                cnt, did = _keep_group(Q, Qw, i, L, Lw, j, j1, a, p, metric, n_bits, gate, hit_j,
                                       hit_s, cnt, acc, picked, shared)
                done += did
        counts[i] = cnt
        computed[i] += done


@njit(cache=True)
def _append_hits(hit_j, hit_s, counts, out_q, out_j, out_s, at):
    """Copy each query's ``counts[i]`` hits after position ``at`` of the flat outputs."""
    for i in range(hit_j.shape[0]):
        for t in range(counts[i]):
            out_q[at] = i
            out_j[at] = hit_j[i, t]
            out_s[at] = hit_s[i, t]
            at += 1
    return at


def word_columns(fps: np.ndarray, words: np.ndarray | None = None) -> np.ndarray:
    """The word popcounts of ``fps`` as the compiled kernels take them: ``words`` when given
    (a cache's column file), else computed; C-contiguous and read-only, whatever slice of a
    cache file they are (a block of rows is a strided view of the column file), so one compiled
    signature serves every job and the Dask preload's warm-up covers it."""
    out = np.ascontiguousarray(word_counts(fps) if words is None else words)
    if out.flags.writeable:
        out = out.view()
        out.flags.writeable = False
    return out


def bound_buffers(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each query's word bounds (uint8, see :func:`_passing`), the rows that passed and the
    bits each shares with the query (allocated once per search, not per chunk)."""
    return (np.empty((n, SPAN), np.uint8), np.empty((n, SPAN), np.int32),
            np.empty((n, SPAN), np.int32))


def group_starts(library_counts: np.ndarray) -> np.ndarray:
    """``starts[p]``: first index of a popcount-sorted library with popcount >= p (p up to the
    largest popcount + 1)."""
    top = int(library_counts[-1]) if len(library_counts) else 0
    return np.searchsorted(library_counts, np.arange(top + 2), side="left").astype(np.int64)


def _visiting_order(n_chunks: int, first: int) -> np.ndarray:
    """Chunk numbers from ``first`` outwards, alternating above and below."""
    order = [first]
    for step in range(1, n_chunks):
        for c in (first + step, first - step):
            if 0 <= c < n_chunks:
                order.append(c)
    return np.asarray(order, np.int64)


def _check(queries: np.ndarray, library: np.ndarray, library_counts: np.ndarray) -> None:
    if queries.ndim != 2 or library.ndim != 2 or queries.dtype != np.uint64 \
            or library.dtype != np.uint64:
        raise ValueError("fingerprints must be 2-D uint64 arrays")
    if queries.shape[1] != library.shape[1]:
        raise ValueError(f"fingerprint widths differ: {queries.shape[1]} and "
                         f"{library.shape[1]} words")
    if len(library_counts) != len(library) or np.any(np.diff(library_counts) < 0):
        raise ValueError("library_counts must be the library's popcounts, in ascending order")


def pruned_top_k(
    queries: np.ndarray,
    query_counts: np.ndarray,
    library: np.ndarray,
    library_counts: np.ndarray,
    library_rows: np.ndarray,
    k: int,
    *,
    metric: str = "tanimoto",
    n_bits: int | None = None,
    threshold: float | None = None,
    skip_rows: np.ndarray | None = None,
    query_words: np.ndarray | None = None,
    library_words: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, int]:
    """The ``k`` best library rows for each query, skipping popcounts that cannot reach them.

    Parameters
    ----------
    queries : ndarray of uint64, shape (n, words)
    query_counts : ndarray of int64, shape (n,)
        Popcounts of ``queries``.
    library : ndarray of uint64, shape (m, words)
        Library fingerprints sorted by popcount (a read-only memory map is fine: only the rows
        scored are read).
    library_counts : ndarray of int64, shape (m,)
        Their popcounts, ascending.
    library_rows : ndarray of int64, shape (m,)
        Row reported for each library fingerprint (its row in file order); ties in score are
        broken by the lower reported row.
    k : int
    metric, n_bits : see :func:`.scores.similarity_tile`
    threshold : float, optional
        Keep only scores >= threshold (compared in float32).
    skip_rows : ndarray of int64, shape (n,), optional
        A reported row query ``i`` never hits (its own, in a library searched against itself);
        :data:`NO_ROW` for none.
    query_words, library_words : ndarray of uint8, optional
        Precomputed :func:`word_counts`, by column: shape (words, n) and (words, m) (the cache
        keeps the library's).

    Returns
    -------
    scores : ndarray of float32, shape (n, k)
        Best first; empty slots ``-inf``.
    rows : ndarray of int64, shape (n, k)
        Reported rows; empty slots ``-1``.
    computed : int
        Scores computed (pairs not skipped by the bounds).

    Examples
    --------
    >>> lib = np.array([[0b1], [0b11], [0b111]], np.uint64)  # popcounts 1, 2, 3
    >>> s, r, _ = pruned_top_k(lib[[2]], np.array([3]), lib, np.array([1, 2, 3]),
    ...                        np.array([10, 11, 12]), 2)
    >>> r.tolist(), s.round(4).tolist()
    ([[12, 11]], [[1.0, 0.6667]])
    """
    queries, library = packed(queries), library
    _check(queries, library, library_counts)
    if k < 1:
        raise ValueError("k must be at least 1")
    n, m = queries.shape[0], library.shape[0]
    out_s = np.empty((n, k), np.float32)
    out_r = np.empty((n, k), np.int64)
    computed = np.zeros(n, np.int64)
    skip = np.full(n, NO_ROW, np.int64) if skip_rows is None else np.asarray(skip_rows, np.int64)
    bits = queries.shape[1] * 64 if n_bits is None else n_bits
    thr = -1.0 if threshold is None else float(threshold)
    pl = np.asarray(library_counts, np.int64)
    pq = np.asarray(query_counts, np.int64)
    if m == 0 or n == 0:
        out_s[:] = -np.inf
        out_r[:] = NO_ROW
        return out_s, out_r, 0
    chunk = chunk_rows(library)
    starts = group_starts(pl)
    n_chunks = (m + chunk - 1) // chunk
    first = int(min(m - 1, starts[min(int(np.median(pq)), len(starts) - 1)])) // chunk
    qw = word_columns(queries, query_words)
    lw = word_columns(library, library_words)
    _pruned_top_k(queries, qw, pq, library, lw, pl, np.asarray(library_rows, np.int64), starts,
                  metric_code(metric), bits, thr, skip, _visiting_order(n_chunks, first), chunk,
                  out_s, out_r, computed, *bound_buffers(n))
    return out_s, out_r, int(computed.sum())


class TooManyHits(Exception):
    """A threshold search found more pairs than it was allowed to return."""


def pruned_threshold(
    queries: np.ndarray,
    query_counts: np.ndarray,
    library: np.ndarray,
    library_counts: np.ndarray,
    threshold: float,
    *,
    metric: str = "tanimoto",
    n_bits: int | None = None,
    upper_from: int | None = None,
    max_hits: int | None = None,
    query_words: np.ndarray | None = None,
    library_words: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Every (query, library) pair scoring >= ``threshold``, skipping popcounts that cannot.

    Parameters
    ----------
    queries, query_counts, library, library_counts, metric, n_bits : see :func:`pruned_top_k`
    threshold : float
        Compared in float32, like the scores.
    upper_from : int, optional
        Query ``i`` is library index ``upper_from + i`` (which may lie outside ``library``: it
        is a block of a larger one) and is paired only with the library indices above it (a
        library against itself, each unordered pair once, no self pairs).
    max_hits : int, optional
        Raise :class:`TooManyHits` as soon as more pairs than this are found.
    query_words, library_words : see :func:`pruned_top_k`

    Returns
    -------
    query_index, library_index : ndarray of int64
        Positions in ``queries`` and ``library`` of each pair, in no particular order.
    scores : ndarray of float32
    computed : int
        Scores computed.
    """
    queries = packed(queries)
    _check(queries, library, library_counts)
    n, m = queries.shape[0], library.shape[0]
    bits = queries.shape[1] * 64 if n_bits is None else n_bits
    pl = np.asarray(library_counts, np.int64)
    pq = np.asarray(query_counts, np.int64)
    gate = np.float32(threshold)
    code = metric_code(metric)
    chunk = min(chunk_rows(library), THRESHOLD_CHUNK_ROWS)
    starts = group_starts(pl) if m else np.zeros(1, np.int64)
    hit_j = np.empty((n, chunk), np.int64)
    hit_s = np.empty((n, chunk), np.float32)
    counts = np.zeros(n, np.int64)
    computed = np.zeros(n, np.int64)
    parts_q, parts_j, parts_s = [], [], []
    total = 0
    buffers = bound_buffers(n)
    qw = word_columns(queries, query_words)
    lw = word_columns(library, library_words)
    upper = upper_from is not None
    diagonal = int(upper_from) if upper else 0
    first = max(0, diagonal + 1) if upper else 0
    for b0 in range(first - first % chunk, m, chunk):
        b1 = min(m, b0 + chunk)
        _threshold_chunk(queries, qw, pq, library, lw, pl, starts, code, bits, gate, upper,
                         diagonal, b0, b1, hit_j, hit_s, counts, computed, *buffers)
        found = int(counts.sum())
        if found == 0:
            continue
        total += found
        if max_hits is not None and total > max_hits:
            raise TooManyHits(f"more than {max_hits} pairs score at least {threshold}")
        q = np.empty(found, np.int64)
        j = np.empty(found, np.int64)
        s = np.empty(found, np.float32)
        _append_hits(hit_j, hit_s, counts, q, j, s, 0)
        parts_q.append(q)
        parts_j.append(j)
        parts_s.append(s)
    if not parts_q:
        return (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32),
                int(computed.sum()))
    return (np.concatenate(parts_q), np.concatenate(parts_j), np.concatenate(parts_s),
            int(computed.sum()))


def warm_up() -> None:
    """Compile (or load from numba's cache) the pruned kernels for the arrays the job's tasks
    pass them: rows of a cache entry's popcount-ordered files, read as the tasks read them."""
    import tempfile
    from pathlib import Path

    from osler.kernels.molecules.popcount_order import popcount_order

    fps = np.zeros((8, 2), np.uint64)
    fps[:, 0] = np.arange(8, dtype=np.uint64)
    with tempfile.TemporaryDirectory() as tmp:
        np.save(Path(tmp) / "fingerprints.npy", fps)
        order = popcount_order(Path(tmp) / "fingerprints.npy")
        queries, q_words, q_counts, q_rows = order.block(0, 4)
        library, l_words, l_counts, l_rows = order.block(0, 8)
        words = {"query_words": q_words, "library_words": l_words}
        for skip in (None, q_rows):
            pruned_top_k(queries, q_counts, library, l_counts, l_rows, 2, skip_rows=skip,
                         **words)
        for upper_from in (None, 0):
            pruned_threshold(queries, q_counts, library, l_counts, 0.5, upper_from=upper_from,
                             **words)
        del queries, library, q_rows, l_rows, q_words, l_words, words  # maps of files removed
