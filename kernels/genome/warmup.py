"""Load every compiled genome kernel once, on a tiny cohort, so a worker's first job does not.

numba keeps each kernel's machine code in its on-disk cache, but a process still pays for loading
(or, after an upgrade, compiling) each one on its first call, for each argument type: a Dask
worker's first genome job spent seconds there. :func:`warm_up` runs every tile function the
genome-distance job uses on a 16 x 200 cohort with and without missing calls, from an int8 matrix
and from a PLINK ``.bed`` (the same files, memory maps and array types as a job), in a scratch
folder it removes afterwards.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from osler.kernels.blocked import MatrixFile, compute_tile
from osler.kernels.genome import metrics as gm
from osler.kernels.genome.bed import count_bed_block
from osler.kernels.genome.simulate import balding_nichols

WARM_SAMPLES, WARM_VARIANTS = 16, 200
"""The warm-up cohort: big enough for a band and a full register block, small enough to take
milliseconds once the code is loaded."""

TILES = ((0, WARM_SAMPLES // 2, 0, WARM_SAMPLES), (0, WARM_SAMPLES // 2, 0, WARM_SAMPLES // 2),
         (0, WARM_SAMPLES // 2, WARM_SAMPLES // 2, WARM_SAMPLES))
"""The tiles warmed up: a band, a diagonal tile and an off-diagonal one (every array type a job's
tiles pass to the kernels and to :func:`~osler.kernels.blocked.mirror_upper`)."""


def _write_bed(n: int, m: int, seed: int, path: Path) -> None:
    """A SNP-major .bed of n samples x m variants with random codes (every code is a call or
    a missing call, and the kernels skip the 3 header bytes without reading them)."""
    rows = np.random.default_rng(seed).integers(0, 256, size=(m, (n + 3) // 4), dtype=np.uint8)
    path.write_bytes(b"\x6c\x1b\x01" + rows.tobytes())


def _tile_jobs(source: dict, folder: Path, has_missing: bool) -> list[tuple]:
    """(tile function, its arguments) for every metric's code path on ``source``."""
    m = WARM_VARIANTS
    center = np.zeros(64 * ((m + 63) // 64), dtype=np.float32)
    scale = np.ones_like(center)
    np.save(folder / "center.npy", center)
    np.save(folder / "scale.npy", scale)
    jobs = [(gm.dot_tile, {"source": source, "n_variants": m}),
            (gm.king_tile, {"source": source, "has_missing": has_missing}),
            (gm.grm_tile, {"source": source, "center": str(folder / "center.npy"),
                           "scale": str(folder / "scale.npy"), "n_variants": m,
                           "has_missing": has_missing})]
    # the metric is a run-time argument of one compiled finisher: one of them loads it
    jobs.append((gm.distance_tile, {"source": source, "n_variants": m, "metric": "ibs",
                                    "has_missing": has_missing}))
    return jobs


def _sparse_distance_counts(source: dict) -> None:
    """The sparse missing-call corrections of the PLINK distances, on an off-diagonal tile's
    planes: the warm-up's tiles are all narrow, so they take the fused pass, and the only tiles
    that take these are a job's wide off-diagonal ones
    (:func:`~osler.kernels.genome.metrics.uses_fused_pass`)."""
    planes = gm.packed_rows(source, 0, WARM_SAMPLES)
    half = WARM_SAMPLES // 2
    gm.sparse_distance_counts(planes[:, :half], planes[:, half:], False, WARM_VARIANTS)


def warm_up() -> float:
    """Call every genome tile kernel once; return the seconds it took."""
    start = time.perf_counter()
    n, m = WARM_SAMPLES, WARM_VARIANTS
    with tempfile.TemporaryDirectory(prefix="osler-warmup-") as tmp:
        folder = Path(tmp)
        keep = folder / "keep.npy"
        np.save(keep, np.arange(m, dtype=np.int64))
        outputs = [MatrixFile(str(folder / "m.npy"), n, "float32", npy=True),
                   MatrixFile(str(folder / "m.bin"), n, "float64", npy=False)]
        for out in outputs:
            out.create()
        for missing_rate in (0.0, 0.1):  # the .bed's random codes include missing calls
            g, _ = balding_nichols(n, m, missing_rate=missing_rate, seed=0)
            np.save(folder / "g.npy", g)
            _write_bed(n, m, 0, folder / "g.bed")
            gm.count_block(0, n, genotypes=str(folder / "g.npy"))
            count_bed_block(0, m, bed=str(folder / "g.bed"), n=n)
            sources = [gm.genotype_source(str(folder / "g.npy"), str(keep), None),
                       gm.genotype_source(str(folder / "g.bed"), str(keep), (n, m, 0))]
            for source in sources:
                for fn, kwargs in _tile_jobs(source, folder, missing_rate > 0):
                    # a band, a diagonal tile (its square is the whole, C-contiguous tile:
                    # another array type for the mirroring) and an off-diagonal tile
                    for tile in TILES:
                        compute_tile(fn, tile, outputs, kwargs)
                if missing_rate > 0:
                    _sparse_distance_counts(source)
    return time.perf_counter() - start
