"""Genome kernels: genotype readers (.npy, Zarr, PLINK .bed, VCF), bit planes, distance and
relationship matrices, simulated cohorts and plots.

Modules
-------
distance
    ``run_genome_distance``: the ``genome-distance`` job kernel.
metrics
    The tile functions of every metric (dot, IBS, allele-ct, GRM, KING) over bit planes.
gram
    The register-blocked popcount Gram kernel every bit-packed metric is a sum of.
genotypes, bed, zarr_store
    Reading and checking genotype files; packing a ``.bed`` into bit planes; zipped Zarr arrays.
simulate
    Balding-Nichols cohorts for the demo and tests.
plots
    The clustered heatmap and the principal components.
options
    The metrics and limits a job accepts (light: the gateway reads them).
"""
