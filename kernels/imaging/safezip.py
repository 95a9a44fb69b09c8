"""Read a zip in memory with limits on entry count, sizes and names (zip bombs, path traversal)."""

from __future__ import annotations

import zipfile
from pathlib import Path, PurePosixPath

import numpy as np

from osler.kernels.errors import InputError
from osler.kernels.imaging.decoding import decode_image

MAX_ZIP_MEMBERS = 100_000
"""Most entries a dataset zip (or ``.npz``) may hold."""
MAX_MEMBER_BYTES = 64 * 1024**2
"""Largest uncompressed size of one zip member."""
MAX_TOTAL_BYTES = 4 * 1024**3
"""Largest total uncompressed size of a dataset zip (or ``.npz``)."""


class DatasetZip:
    """A dataset zip read in memory with limits on member count, sizes and member names."""

    def __init__(self, path: Path, *, max_member_bytes: int | None = None):
        self.name = path.name
        if max_member_bytes is None:
            max_member_bytes = MAX_MEMBER_BYTES
        self.max_member_bytes = max_member_bytes
        try:
            self._zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise InputError(f"{self.name}: not a valid zip file ({exc})") from None
        infos = self._zip.infolist()
        if len(infos) > MAX_ZIP_MEMBERS:
            self.close()
            raise InputError(f"{self.name}: {len(infos)} entries exceeds the limit of "
                             f"{MAX_ZIP_MEMBERS}")
        total = 0
        self.members: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            try:
                _check_member_name(info.filename)
            except InputError as exc:
                self.close()
                raise InputError(f"{self.name}: {exc}") from None
            if info.file_size > max_member_bytes:
                self.close()
                raise InputError(f"{self.name}: {info.filename} is {info.file_size} bytes "
                                 f"uncompressed, over the limit of {max_member_bytes}")
            total += info.file_size
            if total > MAX_TOTAL_BYTES:
                self.close()
                raise InputError(f"{self.name}: uncompressed size exceeds the limit of "
                                 f"{MAX_TOTAL_BYTES} bytes (possible zip bomb)")
            if not info.is_dir() and not _is_junk(info.filename):
                self.members[info.filename] = info

    def __enter__(self) -> DatasetZip:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._zip.close()

    def read(self, member: str) -> bytes:
        """Read one member, never more than ``MAX_MEMBER_BYTES`` whatever its header claims."""
        try:
            with self._zip.open(self.members[member]) as handle:
                data = handle.read(self.max_member_bytes + 1)
        except Exception as exc:  # encrypted, corrupt, bad CRC
            raise InputError(f"{member}: cannot be read from {self.name} "
                             f"({type(exc).__name__})") from None
        if len(data) > self.max_member_bytes:
            raise InputError(f"{member}: larger than {self.max_member_bytes} bytes uncompressed "
                             "(possible zip bomb)")
        return data

    def read_image(self, member: str) -> np.ndarray:
        """Decode one member as PNG/JPEG/DICOM; errors name the member."""
        return decode_image(self.read(member), name=member)


def _check_member_name(member: str) -> None:
    parts = member.replace("\\", "/").split("/")
    if member.startswith(("/", "\\")) or ".." in parts or (len(member) > 1 and member[1] == ":"):
        raise InputError(f"{member}: unsafe path in zip (absolute or '..')")


def _is_junk(member: str) -> bool:
    parts = PurePosixPath(member).parts
    base = parts[-1] if parts else ""
    return (parts[0] == "__MACOSX" or base.startswith(".")
            or base.lower() in ("thumbs.db", "desktop.ini"))
