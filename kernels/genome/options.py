"""What a genome-distance job accepts, stated once for the kernels and the gateway's schema.

Light on purpose: the gateway imports this module, so it imports nothing.
"""

METRICS = ("dot", "ibs", "1-ibs", "allele-ct", "grm", "king")
"""Genome matrices: dot product, PLINK's IBS / 1-IBS / allele-count distances, GRM, KING."""
