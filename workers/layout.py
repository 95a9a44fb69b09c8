"""Where things live: keys in the object store (:mod:`osler.workers.storage`), scratch on disk.

Keys under the store's root::

    tenants/<tenant>/datasets/<dataset id>/<file name>
    tenants/<tenant>/datasets/<dataset id>/cache/<namespace>/<entry>/...  (derived data)
    tenants/<tenant>/jobs/<job id>/attempt-<n>/<artifact>   (each attempt's outputs; the job
                                                            record names the published one)
    tenants/<tenant>/jobs/<job id>/exchange-<n>/...         (files the attempt's Dask tasks read)
    tenants/<tenant>/models/<model id>/...                  (registered models)

Each process's own disk (``OSLER_DATA_DIR``) holds scratch space, ``scratch/<job id>/…``
(converted inputs; an attempt's outputs before they go to a bucket), and the input cache.
With a file store the attempt folders are written in place and Dask workers read the job's
scratch where it lies, so the embedded stack copies nothing.
"""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass
from pathlib import Path

MEDIA_TYPES = {
    ".npy": "application/x-npy",
    ".csv": "text/csv",
    ".tsv": "text/tab-separated-values",
    ".txt": "text/plain",
    ".json": "application/json",
    ".png": "image/png",
    ".bin": "application/octet-stream",
    ".id": "text/plain",
    ".keras": "application/octet-stream",
}


def media_type(name: str) -> str:
    """The media type an artifact is served with."""
    suffix = Path(name).suffix.lower()
    return MEDIA_TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"


@dataclass(frozen=True)
class DataLayout:
    """The store keys of datasets, jobs and models."""

    def tenant(self, tenant: str) -> str:
        return f"tenants/{tenant}"

    def datasets(self, tenant: str) -> str:
        return f"{self.tenant(tenant)}/datasets"

    def dataset(self, tenant: str, dataset_id: str) -> str:
        return f"{self.datasets(tenant)}/{dataset_id}"

    def jobs(self, tenant: str) -> str:
        return f"{self.tenant(tenant)}/jobs"

    def job(self, tenant: str, job_id: str) -> str:
        return f"{self.jobs(tenant)}/{job_id}"

    def attempt(self, tenant: str, job_id: str, attempt: int) -> str:
        return f"{self.job(tenant, job_id)}/attempt-{attempt}"

    def exchange(self, tenant: str, job_id: str, attempt: int) -> str:
        return f"{self.job(tenant, job_id)}/exchange-{attempt}"

    def model(self, tenant: str, model_id: str) -> str:
        return f"{self.tenant(tenant)}/models/{model_id}"


LAYOUT = DataLayout()


def describe_artifacts(folder: Path) -> list[dict[str, object]]:
    """``[{"name", "size", "media_type"}]`` for the files in ``folder``, sorted by name."""
    return [
        {"name": path.name, "size": path.stat().st_size, "media_type": media_type(path.name)}
        for path in sorted(folder.iterdir())
        if path.is_file()
    ]
