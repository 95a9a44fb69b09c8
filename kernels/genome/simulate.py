"""Realistic-looking genotypes without msprime: Balding-Nichols populations (numpy only).

Each variant has an ancestral allele frequency p ~ U(0.05, 0.95)-ish (a Beta draw); each of K
populations drifts from it to p_k ~ Beta(p (1-F)/F, (1-p)(1-F)/F) with fixation index F
(Balding & Nichols 1995), and individuals draw genotypes ~ Binomial(2, p_k) (Hardy-Weinberg).
This gives population structure (visible in a GRM's PCs and a clustered heatmap), a realistic
spread of allele frequencies, and optional missing calls (-1) at a given rate. Seeded.
"""

from __future__ import annotations

import numpy as np


def balding_nichols(
    n_samples: int,
    n_variants: int,
    *,
    n_populations: int = 3,
    fst: float = 0.05,
    missing_rate: float = 0.0,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Simulate an int8 genotype matrix (samples x variants) and each sample's population.

    Parameters
    ----------
    n_samples, n_variants : int
        Matrix shape.
    n_populations : int
        Populations, of near-equal size.
    fst : float
        Balding-Nichols F (0 < F < 1): how far each population's frequencies drift.
    missing_rate : float
        Share of calls set to -1, uniformly at random.
    seed : int
        Seed of the random generator.

    Returns
    -------
    genotypes : ndarray of int8, (n_samples, n_variants)
        Allele counts 0/1/2, -1 missing.
    population : ndarray of int, (n_samples,)

    Examples
    --------
    >>> g, pop = balding_nichols(100, 1000, seed=1)
    >>> g.shape, g.dtype
    ((100, 1000), dtype('int8'))
    """
    if not 0.0 < fst < 1.0:
        raise ValueError("fst must be in (0, 1)")
    rng = np.random.default_rng(seed)
    ancestral = np.clip(rng.beta(0.8, 0.8, size=n_variants), 0.02, 0.98)
    a = ancestral * (1.0 - fst) / fst
    b = (1.0 - ancestral) * (1.0 - fst) / fst
    freqs = rng.beta(a, b, size=(n_populations, n_variants))
    population = np.sort(np.arange(n_samples) % n_populations)
    genotypes = np.empty((n_samples, n_variants), dtype=np.int8)
    step = max(1, (1 << 24) // max(1, n_variants))
    for r0 in range(0, n_samples, step):
        r1 = min(n_samples, r0 + step)
        genotypes[r0:r1] = rng.binomial(2, freqs[population[r0:r1]])
        if missing_rate > 0:
            genotypes[r0:r1][rng.random((r1 - r0, n_variants)) < missing_rate] = -1
    return genotypes, population
