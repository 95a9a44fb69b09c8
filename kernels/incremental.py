"""Incremental matrices: a job that extends an earlier one computes only its new rows.

A ``genome-distance`` or ``drug-similarity`` (``all-pairs``) job given ``extends: JOB_ID`` reuses
the matrix of that finished job when its own inputs start with the earlier job's inputs (samples
or molecules appended, the same variants or fingerprints, the same metric): the old block is
copied from the earlier job's artifacts and only the new rows (and, by symmetry, columns) are
computed, so the result equals a full recompute exactly.

Every job that can be extended writes :data:`INPUTS_ARTIFACT`, a small JSON record of what its
matrix was computed from: the parameters that shape its values and SHA-256 digests of its inputs
(never a value read from them). A later job compares its own inputs' first rows with that record.

The earlier job's files are reached only through :class:`PriorJob`'s ``artifact`` callable (the
worker supplies it), so this package stays free of any storage layout.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from osler.kernels.errors import InputError

INPUTS_ARTIFACT = "inputs.json"
"""The artifact recording what a job's matrix was computed from (read by a job extending it)."""

RECORD_VERSION = 1
"""Version of a kind's :data:`INPUTS_ARTIFACT` layout unless it says otherwise (``version`` of
:meth:`PriorJob.record` and :func:`write_record`); a record of another version is not used."""


@dataclass(frozen=True)
class PriorJob:
    """The finished job a new job extends.

    Attributes
    ----------
    job_id : str
    artifact : callable
        ``artifact(name) -> Path``: a readable local path of one of its artifacts; raises
        InputError when the job or the artifact is gone.
    """

    job_id: str
    artifact: Callable[[str], Path]

    def record(self, kind: str, version: int = RECORD_VERSION) -> dict[str, Any]:
        """Its :data:`INPUTS_ARTIFACT`, checked to be a ``kind`` record of ``version``."""
        path = self.artifact(INPUTS_ARTIFACT)
        try:
            record = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise InputError(f"extends: job {self.job_id}'s {INPUTS_ARTIFACT} is not "
                             "readable") from None
        if not isinstance(record, dict) or record.get("kind") != kind:
            raise InputError(f"extends: job {self.job_id} is not a {kind} job")
        if record.get("version") != version:
            raise InputError(f"extends: job {self.job_id} was recorded by another version of "
                             f"osler ({INPUTS_ARTIFACT} version {record.get('version')!r}); "
                             "run it again to extend it")
        return record

    def mismatch(self, what: str) -> InputError:
        """The error for inputs that do not extend this job's: ``what`` names the difference."""
        return InputError(f"extends: {what}, so this job does not extend job {self.job_id} "
                          "(its inputs must be that job's with rows appended); submit it without "
                          "extends for a full computation")


def write_record(out_dir: Path, kind: str, fields: dict[str, Any],
                 version: int = RECORD_VERSION) -> None:
    """Write the :data:`INPUTS_ARTIFACT` of a job into its ``out_dir``."""
    record = {"kind": kind, "version": version, **fields}
    (Path(out_dir) / INPUTS_ARTIFACT).write_text(json.dumps(record, indent=1, sort_keys=True),
                                                 encoding="utf-8")


def sha256_hex(chunks: Iterable[bytes | memoryview | np.ndarray]) -> str:
    """SHA-256 of the concatenated chunks (contiguous arrays are hashed without a copy)."""
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


def strings_sha256(values: Iterable[str]) -> str:
    """SHA-256 of strings, one per line (a list of ids, say)."""
    return sha256_hex(f"{value}\n".encode() for value in values)


def copy_block(src: str, src_offset: int, src_cols: int, dst: str, dst_offset: int,
               dst_cols: int, rows: int, itemsize: int, r0: int = 0,
               r1: int | None = None) -> None:
    """Copy rows ``r0:r1`` of a row-major ``rows x src_cols`` matrix into the first ``src_cols``
    columns of a ``dst_cols``-wide one, in the kernel (``copy_file_range``), row by row.

    ``src_offset`` / ``dst_offset`` are where each matrix's first element sits in its file (a
    ``.npy`` header's length, 0 for a raw ``.bin``). Falls back to ``pread`` / ``pwrite`` where
    the file system cannot copy ranges.
    """
    r1 = rows if r1 is None else r1
    length = src_cols * itemsize
    fin = os.open(src, os.O_RDONLY)
    try:
        fout = os.open(dst, os.O_WRONLY)
        try:
            for r in range(r0, r1):
                _copy_range(fin, src_offset + r * length, fout,
                            dst_offset + r * dst_cols * itemsize, length)
        finally:
            os.close(fout)
    finally:
        os.close(fin)


def _copy_range(fin: int, src: int, fout: int, dst: int, length: int) -> None:
    while length > 0:
        try:
            done = os.copy_file_range(fin, fout, length, src, dst)
        except OSError:
            done = 0
        if done <= 0:  # not supported here (or at the end of the source): copy by hand
            data = os.pread(fin, length, src)
            if len(data) < length:
                raise InputError("extends: the earlier job's matrix is shorter than recorded")
            os.pwrite(fout, data, dst)
            return
        src, dst, length = src + done, dst + done, length - done


def npy_data_offset(path: str) -> int:
    """Where the data of a ``.npy`` file starts (its header's length)."""
    arr = np.load(path, mmap_mode="r")
    offset = int(arr.offset)
    del arr
    return offset
