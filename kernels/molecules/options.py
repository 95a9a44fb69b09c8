"""What a drug-similarity job accepts, stated once for the kernels and the gateway's schema.

Light on purpose: the gateway imports this module, so it imports nothing.
"""

FINGERPRINTS: tuple[str, ...] = ("morgan", "feature-morgan", "maccs", "rdkit")
"""RDKit fingerprint generators: Morgan (ECFP-like), feature Morgan (FCFP-like), MACCS keys,
RDKit path fingerprints."""

METRICS: tuple[str, ...] = ("tanimoto", "dice", "cosine", "dot")
"""Similarity of two bit vectors; ``dot`` is the shared-bit count over the vector length."""

MODES: tuple[str, ...] = ("top-k", "threshold", "all-pairs")
"""``top-k``: the k best library molecules per query; ``threshold``: every pair scoring at least
the threshold (a sparse matrix); ``all-pairs``: the full score matrix."""

DEFAULT_MAX_HITS = 1_000_000
"""Most pairs a threshold job returns unless told otherwise (it fails past them)."""

MAX_HITS = 50_000_000
"""Largest ``max_hits`` accepted (a threshold job holds its hits in memory, 20 bytes each)."""

MAX_K = 10_000
"""Largest ``k`` accepted."""

EXTENDS_SAME = ("metric", "fingerprint", "radius", "fp_size")
"""Params an all-pairs job that ``extends`` another must share with it (they shape the scores)."""

SCORE_BYTES = 4
"""Scores are float32: an all-pairs matrix of q x l molecules is ``q * l * SCORE_BYTES`` bytes."""
