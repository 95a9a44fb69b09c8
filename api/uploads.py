"""Streaming uploads: a multipart file part goes straight into the store, hashed as it arrives.

Each file part is written to its dataset's key while it is received (a bucket receives it as a
multipart upload, :data:`UPLOAD_PART_BYTES` at a time), so memory stays one part whatever the
size; the request's size limit (413) still ends it early, and an upload that is refused or cut
off is deleted.
"""

from __future__ import annotations

import hashlib
from typing import IO

from flask import Request, current_app

from osler.api.auth import current_tenant
from osler.workers.datasets import upload_name
from osler.workers.ids import new_id
from osler.workers.layout import LAYOUT
from osler.workers.storage import ObjectStore

UPLOAD_PART_BYTES = 8 << 20
"""Bytes a bucket upload buffers before it sends a part (S3's smallest part is 5 MiB)."""


class StoreUpload:
    """A file part on its way into the store, under a dataset id of its own; keeps the SHA-256
    and size of what is written."""

    def __init__(self, objects: ObjectStore, tenant: str, filename: str | None) -> None:
        self.objects = objects
        self.dataset_id = new_id()
        self.folder = LAYOUT.dataset(tenant, self.dataset_id)
        self.key = f"{self.folder}/{upload_name(filename)}"
        self._file: IO[bytes] = objects.open_for_upload(self.key, UPLOAD_PART_BYTES)
        self._hash = hashlib.sha256()
        self.size = 0
        self.closed = False

    def write(self, data: bytes) -> int:
        self._hash.update(data)
        self.size += len(data)
        return self._file.write(data)

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def finish(self) -> None:
        """Complete the upload (the object exists whole from now on)."""
        if not self.closed:
            self.closed = True
            self._file.close()

    def discard(self) -> None:
        """Drop the upload: an unfinished one is aborted, a finished one deleted."""
        if not self.closed:
            self.closed = True
            try:
                self._file.close()
            except Exception:  # noqa: BLE001 - an aborted stream may not close cleanly
                pass
        self.objects.delete(self.folder)

    def seek(self, offset: int, whence: int = 0) -> int:
        # Werkzeug rewinds a finished part; the bytes are already on their way to the store.
        return self.size if (offset, whence) == (0, 0) else self._file.seek(offset, whence)

    def __getattr__(self, name: str) -> object:
        return getattr(self._file, name)


class UploadRequest(Request):
    """Flask's request, with file parts streamed into :class:`StoreUpload` objects."""

    def _get_file_stream(  # type: ignore[override]
        self,
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None = None,
        content_length: int | None = None,
    ) -> StoreUpload:
        return StoreUpload(current_app.extensions["osler"].objects, current_tenant(), filename)
