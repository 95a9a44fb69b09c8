"""The genome-distance job: sample-by-sample matrices of a cohort, equal to PLINK's.

Metrics (``metric``), for allele counts g in {0, 1, 2} (-1 missing), over the variants kept:

==========  =====================================================================================
dot         ``A·Aᵀ / m``, missing calls counted as 0 (the seed formula).
ibs         ``plink1.9 --distance square bin ibs flat-missing``: 1 - d / (2 M_ij).
1-ibs       ``... 1-ibs flat-missing``: d / (2 M_ij).
allele-ct   ``... allele-ct flat-missing``: d · M / M_ij.
grm         ``plink --make-rel square bin``: Σ z_i z_j / M_ij, z = (g - 2p)/sqrt(2p(1-p)).
king        ``plink2 --make-king square bin`` (KING-robust kinship).
==========  =====================================================================================

d = Σ |g_i - g_j| over variants called in both samples, M_ij = their number, M = all variants.
Bit-packed popcount kernels compute dot, ibs, allele-ct and king; grm uses float32 BLAS.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from osler.kernels.blocked import (
    CHUNK_ROWS_ELEMENTS,
    MatrixFile,
    run_row_blocks,
    symmetric_blockwise,
)
from osler.kernels.errors import InputError
from osler.kernels.genome import calls_cache, incremental
from osler.kernels.genome import metrics as gm
from osler.kernels.genome.bed import count_bed_block
from osler.kernels.genome.genotypes import Genotypes, load_genotypes
from osler.kernels.genome.options import METRICS
from osler.kernels.locations import LOCAL, Exchange
from osler.kernels.progress import ProgressCallback, report

PLINK_SUFFIX = {"dot": "dot", "ibs": "mibs", "1-ibs": "mdist", "allele-ct": "dist",
                "grm": "rel", "king": "king"}
"""The file suffix PLINK gives each metric's ``.bin`` / ``.id`` pair (``dot`` is osler's own)."""

N_PCS = 10
"""Principal components written for ``grm``."""

def run_genome_distance(
    dataset_path: Path,
    out_dir: Path,
    *,
    work_dir: Path,
    metric: str = "dot",
    block_size: int | None = None,
    maf: float | None = None,
    geno: float | None = None,
    plots: bool = True,
    extends: incremental.PriorJob | None = None,
    dataset_sha256: str | None = None,
    cache_dir: Path | None = None,
    client: Any = None,
    progress: ProgressCallback | None = None,
    exchange: Exchange = LOCAL,
) -> dict[str, Any]:
    """Compute a sample x sample genome matrix, tile by tile, into ``out_dir``.

    Parameters
    ----------
    dataset_path : Path
        The genotypes; the file name's ending gives the format (see
        :func:`~osler.kernels.genome.genotypes.inspect_genotypes`).
    out_dir : Path
        Empty folder for the artifacts: ``matrix.npy`` (float32 n x n), ``matrix.<suffix>.bin``
        + ``matrix.<suffix>.id`` (PLINK ``bin`` layout: float64, and the suffix PLINK uses for
        the metric), ``samples.txt``, ``heatmap.png``; for ``grm`` also ``pcs.csv``, ``pcs.png``.
    work_dir : Path
        Scratch folder of this process (the canonical int8 matrix, the kept variants); the Dask
        tiles read what they need of it through ``exchange``.
    metric : str
        One of :data:`METRICS`.
    block_size : int, optional
        Tile edge in samples; chosen from the worker count when None.
    maf, geno : float, optional
        PLINK's filters: drop variants with minor allele frequency below ``maf`` / with a
        missing-call rate above ``geno``.
    plots : bool
        False skips the PNG files.
    extends : PriorJob, optional
        A finished job whose cohort is this one's first samples: its matrix is copied and only
        the new rows are computed (see :mod:`osler.kernels.genome.incremental`; not ``grm``).
    dataset_sha256 : str, optional
        SHA-256 of the dataset file's bytes: with ``cache_dir``, names its entry there.
    cache_dir : Path, optional
        The dataset's cache folder (:mod:`osler.kernels.genome.calls_cache`): the per-variant
        counts and block digests of its calls are taken from there when an earlier job left
        them, and left there otherwise. None reads the calls every time.
    client : distributed.Client, optional
        Tiles run on its workers; None computes in this process.
    progress : callable, optional
        ``progress(fraction, message)``; exceptions from it propagate (tiles are cancelled).
    exchange : Exchange
        How the Dask workers reach this process's files: the same disk (the default), or an
        object store, in which case tiles come back to be written here.

    Returns
    -------
    dict
        ``metric``, ``n_samples``, ``n_variants_used``, ``n_variants_skipped``, ``skipped``
        (by reason), ``missing_fraction``, ``format``, ``block_size``, ``n_tiles``, ``seconds``,
        ``phase_seconds`` (read, count, tiles, plots), ``files``, ``calls_cached`` (the counts
        and digests came from ``cache_dir``); ``eigenvalues`` for grm;
        ``extends`` and ``rows_computed`` for an extension. Every metric but grm also writes
        ``inputs.json`` (what a later job extending this one checks) and
        ``variant_counts.npy`` (the per-variant counts it adds its new samples to).

    Examples
    --------
    >>> run_genome_distance(Path("cohort.zip"), Path("out"), work_dir=Path("tmp"),
    ...                     metric="ibs")                                  # doctest: +SKIP
    {'metric': 'ibs', 'n_samples': 2000, 'n_variants_used': 100000, ...}
    """
    started = time.perf_counter()
    _check_params(metric, maf, geno, block_size)
    out_dir, work_dir = Path(out_dir), Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)

    report(progress, 0.0, "reading genotypes")
    clock = _PhaseClock()
    cohort = load_genotypes(Path(dataset_path), work_dir)
    clock.lap("read")
    n, m_all = cohort.shape
    grown = None if extends is None else incremental.check_prior(extends, cohort, metric, maf,
                                                                   geno)
    known = calls_cache.load(cache_dir, dataset_sha256, cohort)
    digests = incremental.start_digests(cohort, metric, grown,
                                        known.block_digests if known is not None else None)
    report(progress, 0.08, f"{n} samples x {m_all} variants read")

    if known is not None:
        called, allele_sum = known.called, known.allele_sum
    else:
        called, allele_sum = _variant_counts(cohort, client, exchange,
                                             incremental.first_counted(grown))
        if grown is not None:  # the earlier samples' counts are that job's
            old_called, old_sum = grown.old_counts(m_all)
            called, allele_sum = called + old_called, allele_sum + old_sum
    keep, skipped = _variant_filter(called, allele_sum, n, maf, geno, cohort)
    clock.lap("count")
    m = int(keep.size)
    if m == 0:
        raise InputError(f"{Path(dataset_path).name}: no variants left after the filters "
                         f"(maf={maf}, geno={geno})")
    if grown is not None:
        grown.check_keep(keep, digests)
    called_kept = called[keep]
    missing_fraction = 1.0 - float(called_kept.sum()) / (n * m)
    has_missing = bool((called_kept < n).any())
    report(progress, 0.12, f"{m} variants kept")

    keep_path = work_dir / "keep.npy"
    np.save(keep_path, keep)
    bed = (n, m_all, cohort.bed_offset) if cohort.is_bed else None
    source = gm.genotype_source(exchange.share(cohort.path), exchange.share(keep_path), bed,
                                token=uuid.uuid4().hex)
    report(progress, 0.15, "computing tiles")

    tile_fn, tile_kwargs = _tile_job(metric, keep, called, allele_sum, work_dir, source, m,
                                     has_missing, exchange)
    suffix = PLINK_SUFFIX[metric]
    matrix = MatrixFile(str(out_dir / "matrix.npy"), n, "float32", npy=True)
    plink_bin = MatrixFile(str(out_dir / f"matrix.{suffix}.bin"), n, "float64", npy=False)
    for f in (matrix, plink_bin):
        f.create()

    def tile_progress(fraction: float, message: str) -> None:
        report(progress, 0.15 + 0.75 * fraction, message)

    blockwise = symmetric_blockwise if grown is None else grown.extend
    tiles = blockwise(tile_fn, n, [matrix, plink_bin], tile_kwargs=tile_kwargs,
                      block_size=block_size, client=client, progress=tile_progress,
                      send_back=exchange.remote)

    clock.lap("tiles")
    _write_ids(out_dir, cohort.sample_ids, suffix, plink2_header=metric == "king")
    summary: dict[str, Any] = {
        "metric": metric,
        "format": cohort.format,
        "n_samples": n,
        "n_variants_used": m,
        "n_variants_skipped": int(sum(skipped.values())),
        "skipped": skipped,
        "missing_fraction": round(missing_fraction, 6),
        "block_size": tiles["block_size"],
        "n_tiles": tiles["n_tiles"],
        "files": {"matrix": "matrix.npy", "plink_bin": f"matrix.{suffix}.bin",
                  "plink_id": f"matrix.{suffix}.id", "samples": "samples.txt"},
    }
    incremental.finish(out_dir, summary, digests, grown, cohort, keep, (called, allele_sum),
                       maf=maf, geno=geno)
    summary["calls_cached"] = known is not None
    if known is None and digests is not None:  # checked against the earlier job's by finish
        calls_cache.save(cache_dir, dataset_sha256, cohort, digests.result()[0],
                         (called, allele_sum))
    values = matrix.open("r")
    if metric == "grm":
        report(progress, 0.92, "principal components")
        summary.update(_write_pcs(values, cohort.sample_ids, out_dir, plots))
    if plots:
        from osler.kernels.genome.plots import plot_heatmap

        report(progress, 0.96, "drawing heatmap")
        summary.update(plot_heatmap(values, metric, out_dir / "heatmap.png"))
    del values
    clock.lap("plots")
    summary["seconds"] = round(time.perf_counter() - started, 3)
    summary["phase_seconds"] = clock.phases
    report(progress, 1.0, "done")
    return summary


class _PhaseClock:
    """Seconds spent per phase, reported in the summary (where the time of a job goes)."""

    def __init__(self) -> None:
        self.phases: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.phases[name] = round(now - self._last, 3)
        self._last = now


IN_PROCESS_GENOTYPES = 1 << 28
"""Below this many genotypes the per-variant counts run in the job's process: a few tens of
milliseconds of work, less than the Dask round trips of splitting it."""


def _variant_counts(cohort: Genotypes, client: Any, exchange: Exchange,
                    first: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Per variant: called genotypes and the sum of allele counts of samples ``first:n``, in
    blocks (on Dask when big)."""
    n, m = cohort.shape
    if first >= n:
        return np.zeros(m, dtype=np.int64), np.zeros(m, dtype=np.int64)
    if (n - first) * m < IN_PROCESS_GENOTYPES:
        client = None
    path = exchange.share(cohort.path) if client is not None else str(cohort.path)
    if cohort.is_bed:
        step = max(64, CHUNK_ROWS_ELEMENTS // n)
        parts = run_row_blocks(count_bed_block, m, rows=step, client=client,
                               fn_kwargs={"bed": path, "n": n, "offset": cohort.bed_offset,
                                          "first": first})
        return (np.concatenate([c for c, _ in parts]), np.concatenate([s for _, s in parts]))
    rows = max(1, CHUNK_ROWS_ELEMENTS // m)
    parts = run_row_blocks(gm.count_block, n, rows=rows, client=client, start=first,
                           fn_kwargs={"genotypes": path})
    return np.sum([c for c, _ in parts], axis=0), np.sum([s for _, s in parts], axis=0)


def _check_params(metric: str, maf: float | None, geno: float | None,
                  block_size: int | None) -> None:
    if metric not in METRICS:
        raise InputError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")
    if maf is not None and not 0.0 <= float(maf) <= 0.5:
        raise InputError(f"maf must be between 0 and 0.5, got {maf}")
    if geno is not None and not 0.0 <= float(geno) <= 1.0:
        raise InputError(f"geno must be between 0 and 1, got {geno}")
    if block_size is not None and int(block_size) < 1:
        raise InputError(f"block_size must be a positive integer, got {block_size}")


def allele_frequency(called: np.ndarray, allele_sum: np.ndarray) -> np.ndarray:
    """Frequency of the counted allele among called genotypes (NaN where none is called)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(called > 0, allele_sum / (2.0 * called), np.nan)


def _variant_filter(called: np.ndarray, allele_sum: np.ndarray, n: int, maf: float | None,
                    geno: float | None, cohort: Genotypes) -> tuple[np.ndarray, dict[str, int]]:
    """Indices of the variants kept and the counts skipped by reason (PLINK's --maf / --geno)."""
    ok = np.ones(called.shape, dtype=bool)
    skipped = dict(cohort.skipped)
    if geno is not None:
        bad = (1.0 - called / n) > float(geno) + 1e-12
        skipped["geno"] = int(bad.sum())
        ok &= ~bad
    if maf is not None:
        freq = allele_frequency(called, allele_sum)
        minor = np.minimum(freq, 1.0 - freq)
        bad = ok & ~(minor >= float(maf) - 1e-12)  # NaN (never called) fails the test too
        skipped["maf"] = int(bad.sum())
        ok &= ~bad
    return np.flatnonzero(ok).astype(np.int64), {k: v for k, v in skipped.items() if v}


def _tile_job(metric: str, keep: np.ndarray, called: np.ndarray, allele_sum: np.ndarray,
              work_dir: Path, source: dict[str, Any], m: int,
              has_missing: bool, exchange: Exchange) -> tuple[Any, dict[str, Any]]:
    """The tile function of the metric and its arguments (locations and scalars)."""
    if metric == "dot":
        return gm.dot_tile, {"source": source, "n_variants": m}
    if metric in ("ibs", "1-ibs", "allele-ct"):
        return gm.distance_tile, {"source": source, "n_variants": m, "metric": metric,
                                  "has_missing": has_missing}
    if metric == "king":
        return gm.king_tile, {"source": source, "has_missing": has_missing}
    # grm: z is unpacked from the planes of the kept variants; center and scale are padded
    # to whole words with zeros so the padding bits give z = 0.
    p = allele_frequency(called[keep], allele_sum[keep])
    var = 2.0 * p * (1.0 - p)
    polymorphic = np.isfinite(var) & (var > 0)
    padded = 64 * ((m + 63) // 64)
    center = np.zeros(padded, dtype=np.float32)
    scale = np.zeros(padded, dtype=np.float32)
    center[:m] = np.where(polymorphic, 2.0 * p, 0.0)
    scale[:m] = np.where(polymorphic, 1.0 / np.sqrt(np.where(polymorphic, var, 1.0)), 0.0)
    np.save(work_dir / "grm_center.npy", center)
    np.save(work_dir / "grm_scale.npy", scale)
    return gm.grm_tile, {"source": source,
                         "center": exchange.share(work_dir / "grm_center.npy"),
                         "scale": exchange.share(work_dir / "grm_scale.npy"),
                         "n_variants": m, "has_missing": has_missing}


def _write_ids(out_dir: Path, ids: list[tuple[str, str]], suffix: str,
               plink2_header: bool) -> None:
    with open(out_dir / "samples.txt", "w", encoding="utf-8") as fh:
        fh.writelines(f"{iid}\n" for _, iid in ids)
    with open(out_dir / f"matrix.{suffix}.id", "w", encoding="utf-8") as fh:
        if plink2_header:
            fh.write("#FID\tIID\n")
        fh.writelines(f"{fid}\t{iid}\n" for fid, iid in ids)


def _write_pcs(values: np.ndarray, ids: list[tuple[str, str]], out_dir: Path,
               plots: bool) -> dict[str, Any]:
    from osler.kernels.genome.plots import plot_pcs, principal_components

    eigenvalues, pcs = principal_components(values, N_PCS)
    with open(out_dir / "pcs.csv", "w", encoding="utf-8") as fh:
        fh.write("FID,IID," + ",".join(f"PC{k + 1}" for k in range(pcs.shape[1])) + "\n")
        for (fid, iid), row in zip(ids, pcs, strict=True):
            fh.write(f"{fid},{iid}," + ",".join(f"{v:.8g}" for v in row) + "\n")
    if plots:
        plot_pcs(pcs, eigenvalues, out_dir / "pcs.png")
    return {"eigenvalues": [round(float(v), 6) for v in eigenvalues]}
