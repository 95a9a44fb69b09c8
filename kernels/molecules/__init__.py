"""Molecule kernels: readers, RDKit fingerprints, popcount similarity scores, tiles and plots.

Modules
-------
similarity_job
    ``run_drug_similarity``: the ``drug-similarity`` job kernel (all-pairs or top-k).
readers
    ``.smi``, CSV/TSV, SDF and fingerprint ``.npy`` files; counting records cheaply.
fingerprints
    RDKit fingerprints of a dataset, cached by its sha256.
scores
    Tanimoto, Dice, cosine and dot over packed fingerprints; top-k selection.
tiles
    The Dask tasks of a similarity job (one block of queries x library rows each).
plots
    The hit grid and the similarity histogram.
options
    The fingerprints and metrics a job accepts (light: the gateway reads them).
"""
