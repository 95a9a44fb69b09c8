"""sgkit's Dask-based relatedness functions on an int8 genotype matrix, timed (a benchmark peer).

Run by ``bench/genome_distance.py --sgkit`` with the Python of a separate environment that has
sgkit (sgkit 0.10 pins numpy < 2.2, dask <= 2024.8 and zarr < 3, which would downgrade osler's
own stack if installed beside it)::

    python3 -m venv .venv-sgkit && .venv-sgkit/bin/pip install sgkit
    .venv-sgkit/bin/python bench/sgkit_peer.py cohort.npy OUT --metrics ibs grm king

The input is the bench's ``(samples, variants)`` int8 matrix (allele counts 0/1/2, -1 missing).
It becomes sgkit's ``call_genotype`` ``(variants, samples, ploidy=2)``: a count g gives the
alleles (g >= 1, g == 2), so g = their sum; a missing call is -1 in both (``call_genotype_mask``).
That Dataset is built from numpy, as dask arrays of ``--chunks``, before any clock starts. Each
timed run then calls the sgkit function on it, derivations included (allele frequencies, the
dosage and its mean, PC-Relate's regression), and ``.compute()``s the matrix, on Dask's threaded
scheduler with ``--threads`` threads (BLAS held to one thread each by the caller's environment):

- ``ibs``: ``sgkit.identity_by_state`` (default ``method="frequencies"``, ``skipna=True``),
- ``grm``: ``sgkit.genomic_relationship`` (``estimator="VanRaden"``, ``skipna=True``,
  ``ancestral_frequency`` = the cohort's allele frequency among called genotypes, the p that
  PLINK's --make-rel uses),
- ``king``: ``sgkit.pc_relate`` (default ``maf=0.01``) on 2 principal components that are
  computed beforehand in numpy, untimed (sgkit.pca refuses missing calls); sgkit has no KING.

Every metric is first run once, untimed, on the first 64 samples and 1,000 variants (imports,
numba's compiled functions). Each result is saved as float64 ``OUT/<metric>.npy``; one JSON
line per metric on stdout gives the function and the seconds of every run.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import dask
import dask.array as da
import numpy as np
import sgkit
import xarray as xr

FUNCTIONS = {
    "ibs": "sgkit.identity_by_state(method='frequencies', skipna=True)",
    "grm": "sgkit.genomic_relationship(estimator='VanRaden', skipna=True, "
           "ancestral_frequency=sample allele frequency)",
    "king": "sgkit.pc_relate(maf=0.01), 2 PCs from numpy (untimed)",
}


def genotype_dataset(genotypes: np.ndarray, chunks: tuple[int, int]) -> xr.Dataset:
    """sgkit's call dataset of a (samples, variants) int8 matrix of allele counts, -1 missing."""
    g = np.ascontiguousarray(genotypes.T)  # (variants, samples)
    calls = np.empty(g.shape + (2,), dtype=np.int8)
    calls[..., 0] = g >= 1
    calls[..., 1] = g == 2
    calls[g < 0] = -1
    m, n = g.shape
    return sgkit.create_genotype_call_dataset(
        variant_contig_names=["1"],
        variant_contig=np.zeros(m, dtype=np.int16),
        variant_position=np.arange(1, m + 1, dtype=np.int32),
        variant_allele=np.tile(np.array([b"A", b"C"], dtype="S1"), (m, 1)),
        sample_id=np.array([f"s{i}" for i in range(n)]),
        call_genotype=da.from_array(calls, chunks=(chunks[0], chunks[1], -1)),
    )


def sample_pcs(genotypes: np.ndarray, components: int = 2) -> np.ndarray:
    """Top principal components (samples x components) of the standardised, mean-imputed calls."""
    called = genotypes >= 0
    x = np.where(called, genotypes, 0).astype(np.float32)
    mean = x.sum(axis=0, dtype=np.float64) / np.maximum(called.sum(axis=0), 1)  # 2p
    sd = np.sqrt(mean * (1.0 - mean / 2.0))  # sqrt(2p(1 - p))
    x -= mean.astype(np.float32)
    x[~called] = 0.0
    x /= np.where(sd > 0, sd, 1.0).astype(np.float32)
    values, vectors = np.linalg.eigh((x @ x.T).astype(np.float64))
    top = np.argsort(values)[::-1][:components]
    return vectors[:, top] * np.sqrt(np.maximum(values[top], 0.0))


def relatedness(ds: xr.Dataset, metric: str) -> np.ndarray:
    """The sgkit matrix for ``metric``, computed now (builds the Dask graph, then computes it)."""
    if metric == "ibs":
        out = sgkit.identity_by_state(ds, merge=False)["stat_identity_by_state"]
    elif metric == "grm":
        mask = ds["call_genotype_mask"].any(dim="ploidy")
        dosage = xr.where(mask, np.nan, ds["call_genotype"].sum(dim="ploidy").astype(np.float64))
        ds = ds.assign(call_dosage=dosage,
                       sample_frequency=dosage.mean(dim="samples", skipna=True) / 2.0)
        out = sgkit.genomic_relationship(ds, ancestral_frequency="sample_frequency",
                                         estimator="VanRaden", skipna=True,
                                         merge=False)["stat_genomic_relationship"]
    elif metric == "king":
        out = sgkit.pc_relate(ds, merge=False)["pc_relate_phi"]
    else:
        raise SystemExit(f"sgkit_peer: no sgkit function for {metric}")
    return np.asarray(out.data.compute(), dtype=np.float64)


def with_pcs(ds: xr.Dataset, genotypes: np.ndarray) -> xr.Dataset:
    pcs = sample_pcs(genotypes)
    return ds.assign(sample_pca_projection=(("samples", "components"), pcs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("genotypes", type=Path, help="(samples, variants) int8 .npy, -1 missing")
    parser.add_argument("out", type=Path, help="folder for <metric>.npy")
    parser.add_argument("--metrics", nargs="+", default=["ibs", "grm"],
                        choices=sorted(FUNCTIONS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--chunks", type=int, nargs=2, default=[10_000, 1_000],
                        metavar=("VARIANTS", "SAMPLES"))
    args = parser.parse_args()
    # sgkit's own noise: allele frequencies of a missing call are 0/0 = NaN (skipped by
    # skipna), and identity_by_state passes dask arrays to da.array.
    warnings.filterwarnings("ignore", "invalid value encountered in divide", RuntimeWarning)
    warnings.filterwarnings("ignore", "Passing an object to dask.array.from_array", UserWarning)

    genotypes = np.load(args.genotypes)
    chunks = (args.chunks[0], args.chunks[1])
    small = genotypes[:64, :1000]
    with dask.config.set(scheduler="threads", num_workers=args.threads):
        for metric in args.metrics:
            warm = genotype_dataset(small, chunks)
            relatedness(with_pcs(warm, small) if metric == "king" else warm, metric)
        ds = genotype_dataset(genotypes, chunks)
        if "king" in args.metrics:
            ds = with_pcs(ds, genotypes)
        for metric in args.metrics:
            times = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                matrix = relatedness(ds, metric)
                times.append(time.perf_counter() - start)
            np.save(args.out / f"{metric}.npy", matrix)
            print(json.dumps({"metric": metric, "function": FUNCTIONS[metric], "seconds": times,
                              "threads": args.threads, "chunks": list(chunks),
                              "sgkit": sgkit.__version__, "dask": dask.__version__,
                              "numpy": np.__version__}), flush=True)


if __name__ == "__main__":
    main()
