"""Where things live under the data directory (shared by the gateway, workers and Dask workers).

::

    <data_dir>/tenants/<tenant>/datasets/<dataset id>/<file name>
    <data_dir>/tenants/<tenant>/jobs/<job id>/artifacts/<artifact>   (a finished job's outputs)
    <data_dir>/tenants/<tenant>/jobs/<job id>/attempt-<n>/            (outputs being written)
    <data_dir>/tenants/<tenant>/jobs/<job id>/work/                   (scratch: converted inputs)
    <data_dir>/tenants/<tenant>/datasets/<dataset id>/cache/<namespace>/  (derived data, by sha256)
    <data_dir>/tmp/                                                   (uploads in flight)
"""

from __future__ import annotations

import mimetypes
import shutil
import time
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
    root: Path

    def tenant_dir(self, tenant: str) -> Path:
        return self.root / "tenants" / tenant

    def dataset_dir(self, tenant: str, dataset_id: str) -> Path:
        return self.tenant_dir(tenant) / "datasets" / dataset_id

    def job_dir(self, tenant: str, job_id: str) -> Path:
        return self.tenant_dir(tenant) / "jobs" / job_id

    def artifacts_dir(self, tenant: str, job_id: str) -> Path:
        return self.job_dir(tenant, job_id) / "artifacts"

    def tmp_dir(self) -> Path:
        path = self.root / "tmp"
        path.mkdir(parents=True, exist_ok=True)
        return path


def describe_artifacts(folder: Path) -> list[dict[str, object]]:
    """``[{"name", "size", "media_type"}]`` for the files in ``folder``, sorted by name."""
    return [
        {"name": path.name, "size": path.stat().st_size, "media_type": media_type(path.name)}
        for path in sorted(folder.iterdir())
        if path.is_file()
    ]


def sweep_expired_jobs(layout: DataLayout, ttl_seconds: int, now: float | None = None) -> int:
    """Delete job folders older than the TTL (their records expired in Redis). Returns a count."""
    cutoff = (time.time() if now is None else now) - ttl_seconds
    removed = 0
    for jobs_dir in (layout.root / "tenants").glob("*/jobs"):
        for job_dir in jobs_dir.iterdir():
            try:
                if job_dir.stat().st_mtime < cutoff:
                    shutil.rmtree(job_dir, ignore_errors=True)
                    removed += 1
            except FileNotFoundError:
                continue
    return removed
