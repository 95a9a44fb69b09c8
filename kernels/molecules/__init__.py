"""Molecule kernels: readers, RDKit fingerprints, popcount similarity scores, tiles and plots.

Modules
-------
similarity_job
    ``run_drug_similarity``: the ``drug-similarity`` job kernel (top-k, threshold or
    all-pairs).
readers
    ``.smi``, CSV/TSV, SDF and fingerprint ``.npy`` files; counting records cheaply.
fingerprints
    RDKit fingerprints of a dataset, cached by its sha256; molecule tables read row by row.
popcount_order
    A cache entry's fingerprints sorted by popcount, with the permutation kept.
primitives
    The compiled pieces the kernels share: a pair's score, shared bits, the top-k heap.
scores
    Tanimoto, Dice, cosine and dot tiles over packed fingerprints; top-k of tiles; warm-up.
pruned
    Top-k and threshold search that skip the popcounts the Swamidass-Baldi bounds exclude.
tiles
    The Dask tasks of a similarity job (one block of queries x library rows each).
plots
    The hit grid and the similarity histogram.
options
    The fingerprints and metrics a job accepts (light: the gateway reads them).
"""
