"""Uploaded datasets: metadata in Redis, the file under the tenant's datasets folder."""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import redis
from werkzeug.utils import secure_filename

from osler.workers.clock import utc_now
from osler.workers.errors import BadRequest, Conflict, NotFound
from osler.workers.ids import is_uuid4, new_id
from osler.workers.layout import DataLayout


def _dataset_key(dataset_id: str) -> str:
    return f"osler:dataset:{dataset_id}"


def _tenant_datasets_key(owner: str) -> str:
    return f"osler:datasets:{owner}"


@dataclass
class Dataset:
    id: str
    name: str
    size: int
    sha256: str
    created_at: str
    owner: str
    filename: str
    deidentification: dict[str, Any] | None = None
    """What ``deidentify=true`` changed (counts per DICOM attribute), or None."""

    def public(self) -> dict[str, object]:
        hidden = ("owner", "filename") + (() if self.deidentification else ("deidentification",))
        return {k: v for k, v in asdict(self).items() if k not in hidden}


MAX_FILE_NAME_CHARS = 128
"""Longest name a dataset's file is stored under (file systems allow 255 bytes); the full name
the client sent stays in the dataset's ``name``."""

MAX_SUFFIX_PARTS = 3
"""Most trailing suffixes kept when a long name is shortened (``.zarr.zip``, ``.vcf.gz``)."""

MAX_SUFFIX_PART_CHARS = 10
"""Longest single suffix kept whole (``.smiles``); a longer dotted tail is part of the stem."""


def _suffix(name: str) -> str:
    """The trailing suffixes of ``name`` that tell its format: ``.tar.gz`` of ``a.b.tar.gz``."""
    parts = name.split(".")[1:]
    kept: list[str] = []
    for part in reversed(parts[-MAX_SUFFIX_PARTS:]):
        if not part or len(part) > MAX_SUFFIX_PART_CHARS or not part.isalnum():
            break
        kept.insert(0, part)
    return "".join(f".{part}" for part in kept)


def safe_file_name(name: str) -> str:
    """A file name safe to store: no path parts, ASCII, at most :data:`MAX_FILE_NAME_CHARS`,
    keeping its multi-part suffix (``.vcf.gz``), which tells the format."""
    cleaned = secure_filename(name or "")
    if not cleaned:
        raise BadRequest("the uploaded file needs a file name (it tells the format)")
    if len(cleaned) <= MAX_FILE_NAME_CHARS:
        return cleaned
    suffix = _suffix(cleaned)
    stem = cleaned[: len(cleaned) - len(suffix)][: MAX_FILE_NAME_CHARS - len(suffix)]
    return (stem.rstrip("._-") or "dataset") + suffix


def _size_and_sha256(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return path.stat().st_size, digest.hexdigest()


class DatasetStore:
    def __init__(self, client: redis.Redis, layout: DataLayout) -> None:
        self.redis = client
        self.layout = layout

    def add(
        self, owner: str, name: str, staged: Path, size: int, sha256: str,
        *, deidentify: bool = False,
    ) -> Dataset:
        """Move a fully received upload into place and record it; with ``deidentify``, DICOM
        is de-identified first (:mod:`osler.workers.deidentify`), and size and hash describe
        the stored file."""
        dataset_id = new_id()
        filename = safe_file_name(name)
        report = None
        if deidentify:
            from osler.workers.deidentify import deidentify_file

            report = deidentify_file(staged, filename)
            size, sha256 = _size_and_sha256(staged)
        folder = self.layout.dataset_dir(owner, dataset_id)
        dataset = Dataset(dataset_id, name, size, sha256, utc_now(), owner, filename, report)
        folder.mkdir(parents=True)
        try:
            staged.replace(folder / filename)
            pipe = self.redis.pipeline(transaction=True)
            pipe.set(_dataset_key(dataset_id), json.dumps(asdict(dataset)))
            pipe.zadd(_tenant_datasets_key(owner), {dataset_id: time.time()})
            pipe.execute()
        except BaseException:  # nothing half-made stays behind: no folder without a record
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return dataset

    def get(self, dataset_id: str, owner: str) -> Dataset:
        """The caller's dataset; another tenant's dataset is as unknown as a missing one."""
        raw = self.redis.get(_dataset_key(dataset_id)) if is_uuid4(dataset_id) else None
        dataset = Dataset(**json.loads(raw)) if raw else None
        if dataset is None or dataset.owner != owner:
            raise NotFound(f"no dataset with id {dataset_id!r}")
        return dataset

    def path(self, dataset: Dataset) -> Path:
        return self.layout.dataset_dir(dataset.owner, dataset.id) / dataset.filename

    def list(self, owner: str) -> list[Dataset]:
        ids = self.redis.zrevrange(_tenant_datasets_key(owner), 0, -1)
        return [self.get(dataset_id, owner) for dataset_id in ids]

    def delete(self, dataset_id: str, owner: str, in_use_by: list[str]) -> None:
        """Delete a dataset unless a queued or running job (``in_use_by``) needs it."""
        dataset = self.get(dataset_id, owner)
        if in_use_by:
            raise Conflict(
                f"dataset {dataset_id} is used by active job(s) {', '.join(in_use_by)}",
                jobs=in_use_by,
            )
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(_dataset_key(dataset_id))
        pipe.zrem(_tenant_datasets_key(owner), dataset_id)
        pipe.execute()
        shutil.rmtree(self.layout.dataset_dir(owner, dataset.id), ignore_errors=True)
        self._forget_derived(owner, dataset.sha256)

    def _forget_derived(self, owner: str, sha256: str) -> None:
        """Remove what other datasets' caches derived from this content (a query set's
        fingerprints cached beside the library they were searched against), unless another of
        the owner's datasets has the same content."""
        datasets_dir = self.layout.tenant_dir(owner) / "datasets"
        others = [self.get(i, owner) for i in self.redis.zrange(_tenant_datasets_key(owner), 0, -1)]
        if any(other.sha256 == sha256 for other in others):
            return
        for entry in datasets_dir.glob(f"*/cache/*/{sha256}-*"):
            shutil.rmtree(entry, ignore_errors=True)
