"""Bounds shared by the blocked kernels and the gateway's params schemas (light: numpy-free)."""

MAX_BLOCK_ROWS = 4096
"""Largest tile edge: a float64 tile of this size is 128 MiB, which bounds a worker's memory."""
