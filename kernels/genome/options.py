"""What a genome-distance job accepts, stated once for the kernels and the gateway's schema.

Light on purpose: the gateway imports this module, so it imports nothing.
"""

METRICS = ("dot", "ibs", "1-ibs", "allele-ct", "grm", "king")
"""Genome matrices: dot product, PLINK's IBS / 1-IBS / allele-count distances, GRM, KING."""

EXTENDS_SAME = ("metric", "maf", "geno")
"""Params a job that ``extends`` another must share with it (they shape the matrix's values)."""

GRM_NOT_EXTENDED = (
    "a grm matrix cannot be extended: its standardisation uses the allele frequencies of all "
    "samples, so adding samples changes every entry of the earlier matrix; submit the grm job "
    "without extends (a full computation)"
)
"""Why ``extends`` refuses ``grm`` (at submit, and in the kernel)."""
