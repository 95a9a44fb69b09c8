"""Shared helpers for the imaging kernel tests (their fixtures are in ``conftest.py``).

Everything is tiny on purpose: 28x28 grey patches, a few dozen images, 1-2 epochs.
"""

from __future__ import annotations

import io
import os
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


TINY_CLASSES = ("CT", "histology_ihc", "phase_contrast_cell")
TRAIN_EPOCHS = 2


def png_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 ``H x W`` or ``H x W x 3`` array as PNG."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header announces ``width x height`` pixels but carries almost no data.

    The shape of a decompression bomb: tiny on disk, huge once decoded.
    """

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grey
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


def write_zip(path: Path, members: dict[str, bytes]) -> Path:
    """Write a zip holding ``members`` (name -> bytes), names stored exactly as given."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name), data)
    return path


def random_images(rng: np.random.Generator, n: int, shape=(28, 28)) -> list[np.ndarray]:
    return [rng.integers(0, 256, size=shape, dtype=np.uint8) for _ in range(n)]
