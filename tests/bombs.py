"""Small files that expand enormously: the inputs the gateway's bounded inspection must refuse.

Built in a second or two: the padding of a ``.tar.gz`` is one gzip member of zeros repeated (a
gzip file may be many members back to back), the ``.bim`` one repeated line deflated.
"""

from __future__ import annotations

import gzip
import io
import tarfile
import zipfile
from pathlib import Path

MiB = 1024**2

FAM = b"f1 s1 0 0 0 -9\nf2 s2 0 0 0 -9\nf3 s3 0 0 0 -9\nf4 s4 0 0 0 -9\n"
"""Four samples."""

BED_ONE_VARIANT = b"\x6c\x1b\x01\x00"
"""A .bed of four samples x one variant."""


def bim_bomb_zip(path: Path, bim_bytes: int = 200 * MiB) -> Path:
    """A PLINK fileset zip whose .bim is ``bim_bytes`` of one repeated line (a ~200 KB file)."""
    line = b"1\trs1\t0\t1\tA\tG\n"
    block = line * (MiB // len(line))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("cohort.fam", FAM)
        zf.writestr("cohort.bed", BED_ONE_VARIANT)
        with zf.open("cohort.bim", "w") as fh:
            written = 0
            while written < bim_bytes:
                fh.write(block)
                written += len(block)
    return path


def padded_tar_gz(path: Path, padding_bytes: int = 4 * 1024 * MiB,
                  members: dict[str, bytes] | None = None) -> Path:
    """A ``.tar.gz`` whose first member is ``padding_bytes`` of zeros, then ``members``
    (default: a valid one-variant fileset), so listing it means inflating the padding."""
    piece = 16 * MiB
    assert padding_bytes % piece == 0
    members = members if members is not None else {
        "cohort.fam": FAM, "cohort.bed": BED_ONE_VARIANT, "cohort.bim": b"1\trs1\t0\t1\tA\tG\n"}
    head = tarfile.TarInfo("padding.bin")
    head.size = padding_bytes
    tail = io.BytesIO()
    with tarfile.open(fileobj=tail, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    zeros = gzip.compress(bytes(piece), 9)
    with open(path, "wb") as out:
        out.write(gzip.compress(head.tobuf()))
        for _ in range(padding_bytes // piece):
            out.write(zeros)
        out.write(gzip.compress(tail.getvalue()))
    return path
