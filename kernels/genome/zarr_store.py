"""Zarr genotype matrices: a zipped Zarr store (``.zarr.zip``) holding one 2-D integer array.

The array is samples x variants like a ``.npy`` (0/1/2 counted alleles, -1 missing), at the root
of the store, in Zarr format 2 or 3 with any codec zarr-python reads. It is read chunk by chunk
into the canonical int8 matrix, so memory stays bounded by the chunk size. A store is compressed,
so the declared shape is checked against the file size before anything is decompressed: a small
file cannot expand into an unbounded matrix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from osler.kernels.capped import MAX_METADATA_BYTES, open_zip
from osler.kernels.errors import InputError

METADATA_NAMES = frozenset({".zarray", ".zgroup", ".zattrs", ".zmetadata", "zarr.json"})
"""Zarr's metadata documents (format 2 and 3), which zarr reads whole when it opens a store."""

MAX_EXPANSION = 4096
"""Most genotypes per byte of the zipped store (int8 0/1/2 compress ~5-50x; 4096x is a bomb)."""

MIN_ALLOWED_GENOTYPES = 1 << 24
"""Stores this small may declare any shape up to this many genotypes, whatever their size."""


def _check_metadata_sizes(path: Path) -> None:
    """Refuse a store whose listing or metadata documents pass the submit-time caps.

    zarr reads a metadata document whole, so each one's declared (uncompressed) size, which
    bounds what ``zipfile`` will inflate, is checked before zarr sees the store.
    """
    with open_zip(path, "zipped Zarr store") as archive:
        for info in archive.infolist():
            name = info.filename.rsplit("/", 1)[-1]
            if name in METADATA_NAMES and info.file_size > MAX_METADATA_BYTES:
                raise InputError(f"{path.name}: a Zarr metadata document of {info.file_size} "
                                 f"bytes is over the limit of {MAX_METADATA_BYTES}")


def open_zarr(path: Path) -> Any:
    """Open the store's root array read-only and check its shape, dtype and declared size."""
    import zarr
    from zarr.storage import ZipStore

    _check_metadata_sizes(path)
    try:
        store = ZipStore(path, mode="r")
        node = zarr.open(store=store, mode="r")
    except Exception:  # zarr raises many types for a bad store; their messages quote keys
        raise InputError(f"{path.name}: not a readable zipped Zarr store") from None
    if not isinstance(node, zarr.Array):
        raise InputError(f"{path.name}: the Zarr store's root is a group; store one 2-D "
                         "genotype array (samples x variants) at the root")
    if node.ndim != 2:
        raise InputError(f"{path.name}: genotype matrix must be 2-D (samples x variants), "
                         f"got {node.ndim}-D")
    if np.dtype(node.dtype).kind not in "iu":
        raise InputError(f"{path.name}: {node.dtype} genotypes are not allowed: use integers "
                         "0/1/2 and -1 for missing")
    n, m = (int(x) for x in node.shape)
    if n < 1 or m < 1:
        raise InputError(f"{path.name}: genotype matrix needs at least 1 sample and 1 "
                         f"variant, got shape {node.shape}")
    limit = max(MIN_ALLOWED_GENOTYPES, MAX_EXPANSION * path.stat().st_size)
    if n * m > limit:
        raise InputError(f"{path.name}: declares {n} x {m} genotypes, more than {MAX_EXPANSION}x "
                         "its compressed size; refusing to expand it")
    return node


def zarr_to_int8(path: Path, out_path: Path, chunk_elements: int) -> tuple[int, int]:
    """Copy the store's array into an int8 ``.npy`` in row blocks of about ``chunk_elements``
    genotypes; returns its shape.

    Raises InputError naming the first value outside {-1, 0, 1, 2}.
    """
    array = open_zarr(path)
    n, m = (int(x) for x in array.shape)
    rows_per_chunk = max(1, chunk_elements // m)
    out = np.lib.format.open_memmap(out_path, mode="w+", dtype=np.int8, shape=(n, m))
    try:
        for r0 in range(0, n, rows_per_chunk):
            block = np.asarray(array[r0:r0 + rows_per_chunk])
            bad = (block < -1) | (block > 2)
            if bad.any():
                r, c = np.argwhere(bad)[0]
                raise InputError(f"{path.name}: value {int(block[r, c])} at row {r0 + r}, "
                                 f"column {c} is not a genotype (use 0/1/2, -1 for missing)")
            out[r0:r0 + block.shape[0]] = block
    finally:
        del out
    return n, m
