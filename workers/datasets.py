"""Uploaded datasets: metadata in Redis, the file in the store under the tenant's datasets."""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import redis
from werkzeug.utils import secure_filename

from osler.workers.clock import utc_now
from osler.workers.errors import BadRequest, Conflict, NotFound
from osler.workers.ids import is_uuid4
from osler.workers.layout import LAYOUT
from osler.workers.storage import ObjectStore


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


def upload_name(name: str | None) -> str:
    """The name an upload is stored under while it arrives (a name the route will refuse is
    stored as ``upload`` until it is refused)."""
    try:
        return safe_file_name(name or "")
    except BadRequest:
        return "upload"


def _size_and_sha256(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return path.stat().st_size, digest.hexdigest()


class DatasetStore:
    def __init__(self, client: redis.Redis, objects: ObjectStore) -> None:
        self.redis = client
        self.objects = objects

    def add(
        self, owner: str, dataset_id: str, name: str, stored_key: str, size: int, sha256: str,
        *, deidentify: bool = False, tmp_dir: Path | None = None,
    ) -> Dataset:
        """Record an upload already in the store at ``stored_key`` (under the dataset's own
        folder); with ``deidentify``, DICOM is de-identified first
        (:mod:`osler.workers.deidentify`), and size and hash describe the stored file. On any
        failure the dataset's folder is deleted: no file stays without a record."""
        filename = safe_file_name(name)
        folder = LAYOUT.dataset(owner, dataset_id)
        key = f"{folder}/{filename}"
        try:
            if stored_key != key:
                self.objects.move(stored_key, key)
            report = None
            if deidentify:
                report, size, sha256 = self._deidentify(key, filename, tmp_dir)
            dataset = Dataset(dataset_id, name, size, sha256, utc_now(), owner, filename, report)
            pipe = self.redis.pipeline(transaction=True)
            pipe.set(_dataset_key(dataset_id), json.dumps(asdict(dataset)))
            pipe.zadd(_tenant_datasets_key(owner), {dataset_id: time.time()})
            pipe.execute()
        except BaseException:
            self.objects.delete(folder)
            raise
        return dataset

    def _deidentify(self, key: str, filename: str,
                    tmp_dir: Path | None) -> tuple[dict[str, Any], int, str]:
        from osler.workers.deidentify import deidentify_file

        if tmp_dir is not None:
            tmp_dir.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix="deidentify-", dir=tmp_dir))
        try:
            local = folder / filename
            with self.objects.open(key, "rb") as source, open(local, "wb") as target:
                shutil.copyfileobj(source, target, 1 << 20)
            report = deidentify_file(local, filename)
            size, sha256 = _size_and_sha256(local)
            self.objects.put_file(local, key)
            return report, size, sha256
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def get(self, dataset_id: str, owner: str) -> Dataset:
        """The caller's dataset; another tenant's dataset is as unknown as a missing one."""
        raw = self.redis.get(_dataset_key(dataset_id)) if is_uuid4(dataset_id) else None
        dataset = Dataset(**json.loads(raw)) if raw else None
        if dataset is None or dataset.owner != owner:
            raise NotFound(f"no dataset with id {dataset_id!r}")
        return dataset

    def key(self, dataset: Dataset) -> str:
        """The dataset file's key in the store."""
        return f"{LAYOUT.dataset(dataset.owner, dataset.id)}/{dataset.filename}"

    def local_path(self, dataset: Dataset) -> Path:
        """A local path holding the dataset's file (a bucket's is cached by sha256)."""
        return self.objects.local_file(self.key(dataset), content_key=f"sha256:{dataset.sha256}")

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
        self.objects.delete(LAYOUT.dataset(owner, dataset.id))
        self._forget_derived(owner, dataset.sha256)

    def _forget_derived(self, owner: str, sha256: str) -> None:
        """Remove what other datasets' caches derived from this content (a query set's
        fingerprints cached beside the library they were searched against), unless another of
        the owner's datasets has the same content."""
        others = [self.get(i, owner) for i in self.redis.zrange(_tenant_datasets_key(owner), 0, -1)]
        if any(other.sha256 == sha256 for other in others):
            return
        datasets = LAYOUT.datasets(owner)
        for other in others:
            cache = f"{datasets}/{other.id}/cache"
            for namespace in self.objects.children(cache):
                for entry in self.objects.children(f"{cache}/{namespace}"):
                    if entry.startswith(f"{sha256}-"):
                        self.objects.delete(f"{cache}/{namespace}/{entry}")
