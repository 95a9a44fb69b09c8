"""Streaming uploads: multipart file parts go straight to disk, hashed as they arrive."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import IO

from flask import Request, current_app


class HashingFile:
    """A temporary file under the data directory; keeps the SHA-256 and size of what is written."""

    def __init__(self, folder: Path) -> None:
        fd, name = tempfile.mkstemp(prefix="upload-", dir=folder)
        self.path = Path(name)
        self._file: IO[bytes] = os.fdopen(fd, "w+b")
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self._hash.update(data)
        self.size += len(data)
        return self._file.write(data)

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def discard(self) -> None:
        self._file.close()
        self.path.unlink(missing_ok=True)

    def __getattr__(self, name: str) -> object:
        return getattr(self._file, name)


class UploadRequest(Request):
    """Flask's request, with file parts streamed into :class:`HashingFile` objects."""

    def _get_file_stream(  # type: ignore[override]
        self,
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None = None,
        content_length: int | None = None,
    ) -> HashingFile:
        return HashingFile(current_app.extensions["osler"].layout.tmp_dir())
