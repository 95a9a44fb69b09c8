"""A dataset's cache entry: what a kernel derived from a dataset, kept for its later jobs.

An entry is a folder in the dataset's cache folder (the worker gives one per dataset and tenant,
:class:`~osler.workers.derived_cache.DerivedCache`), named by the dataset file's SHA-256 and
what was derived. It is complete once :data:`COMPLETE_MARK` exists in it: a kernel writes that
file last (into a temporary folder renamed into place), readers ignore an entry without it, and
a worker uploading entries to a bucket puts it last. Molecule fingerprints
(:mod:`osler.kernels.molecules.fingerprints`) and a cohort's counts and digests
(:mod:`osler.kernels.genome.calls_cache`) are kept this way.
"""

COMPLETE_MARK = "meta.json"
"""The file an entry is complete with (written last; it holds the entry's description)."""
