"""Where everything durable lives: one object store, a local folder or an S3-compatible bucket.

``OSLER_STORAGE_URL`` names it: ``file:///path`` (the default is the data directory itself, so
the embedded stack keeps its files where it always did) or ``s3://bucket/prefix``, through
fsspec and s3fs with the standard ``AWS_*`` variables. Redis holds the records; the store holds
every file: datasets, the artifacts of each attempt, registered models and derived caches.
Keys are ``/``-separated paths under the store's root (see :mod:`osler.workers.layout`).

A process that needs a stored file on its own disk asks :meth:`ObjectStore.local_file`: a file
store answers with the file's own path; a bucket answers with a copy in the host's
content-addressed cache (:class:`osler.kernels.locations.LocalCache`), fetched once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from osler.kernels.locations import (
    LocalCache,
    copy_stream,
    filesystem,
    is_remote,
    local_path,
    strip_scheme,
)


@dataclass(frozen=True)
class StoredFile:
    """One object: its key and size in bytes."""

    key: str
    size: int

    @property
    def name(self) -> str:
        return self.key.rsplit("/", 1)[-1]


class ObjectStore:
    """Keys under one root URL, on a local folder or a bucket."""

    def __init__(self, url: str, cache: LocalCache) -> None:
        self.url = str(url).rstrip("/")
        self.cache = cache
        self.remote = is_remote(self.url)
        self._root = strip_scheme(self.url).rstrip("/")

    @property
    def fs(self) -> Any:
        """The fsspec filesystem, looked up on each use: fsspec keeps one per process and
        thread, and an S3 filesystem made before a fork cannot be used after it (the Celery
        pool forks after start-up has checked the store)."""
        return filesystem(self.url)

    def ensure_ready(self) -> None:
        """Make the store's root (a bucket: create it when missing); raises when unreachable."""
        if not self.remote:
            Path(local_path(self._root)).mkdir(parents=True, exist_ok=True)
            return
        bucket = self._root.split("/", 1)[0]
        if not self.fs.exists(bucket):
            self.fs.mkdir(bucket)

    # --------------------------------------------------------------------- naming

    def _path(self, key: str) -> str:
        key = key.strip("/")
        return f"{self._root}/{key}" if key else self._root

    def location(self, key: str) -> str:
        """What a Dask task reads the object at (:func:`osler.kernels.locations.readable`)."""
        return f"{self.url}/{key.strip('/')}" if self.remote else self._path(key)

    def local_folder(self, key: str) -> Path | None:
        """The folder a file store keeps ``key`` in (None for a bucket)."""
        return None if self.remote else Path(local_path(self._path(key)))

    # --------------------------------------------------------------------- reading

    def open(self, key: str, mode: str = "rb") -> IO[bytes]:
        """A file object on the object (reads and writes stream in parts)."""
        return self.fs.open(self._path(key), mode)

    def exists(self, key: str) -> bool:
        return bool(self.fs.exists(self._path(key)))

    def size(self, key: str) -> int | None:
        """Bytes of the object, or None when it does not exist."""
        try:
            return int(self.fs.info(self._path(key))["size"])
        except FileNotFoundError:
            return None

    def files(self, prefix: str) -> list[StoredFile]:
        """Every object under ``prefix`` (recursively), sorted by key."""
        base = self._path(prefix)
        try:
            found = self.fs.find(base, detail=True)
        except FileNotFoundError:
            return []
        out = []
        for path, info in found.items():
            if info.get("type") == "directory":
                continue
            key = path[len(self._root):].lstrip("/") if path.startswith(self._root) else path
            out.append(StoredFile(key, int(info.get("size") or 0)))
        return sorted(out, key=lambda f: f.key)

    def children(self, prefix: str) -> list[str]:
        """Names of the entries (objects or sub-prefixes) directly under ``prefix``."""
        try:
            entries = self.fs.ls(self._path(prefix), detail=False)
        except FileNotFoundError:
            return []
        return sorted(str(entry).rstrip("/").rsplit("/", 1)[-1] for entry in entries)

    def bytes_under(self, prefix: str) -> int:
        return sum(f.size for f in self.files(prefix))

    def stream(self, key: str, chunk: int = 1 << 20) -> Iterator[bytes]:
        """The object's bytes in chunks (a download through the gateway)."""
        with self.open(key, "rb") as handle:
            while data := handle.read(chunk):
                yield data

    def local_file(self, key: str, content_key: str | None = None) -> Path:
        """A local path holding the object: its own path in a file store, else a copy in the
        host's cache under ``content_key`` (a sha256 or another name of immutable content;
        the key itself by default)."""
        folder = self.local_folder(key)
        if folder is not None:
            return folder

        def fetch(handle: IO[bytes]) -> None:
            with self.open(key, "rb") as source:
                copy_stream(source, handle)

        name = key.rsplit("/", 1)[-1]
        return self.cache.file(f"{self.url}|{content_key or key}", name, fetch)

    def local_tree(self, prefix: str, content_key: str | None = None) -> Path:
        """A local folder holding every object under ``prefix`` (a registered model)."""
        folder = self.local_folder(prefix)
        if folder is not None:
            return folder

        def fill(target: Path) -> None:
            for stored in self.files(prefix):
                relative = stored.key[len(prefix.strip("/")):].lstrip("/")
                path = target / relative
                path.parent.mkdir(parents=True, exist_ok=True)
                self.fs.get_file(self._path(stored.key), str(path))

        return self.cache.get(f"{self.url}|{content_key or prefix}", fill)

    # --------------------------------------------------------------------- writing

    def open_for_upload(self, key: str, part_bytes: int) -> IO[bytes]:
        """A file object writing ``key`` in parts of ``part_bytes`` (a bucket's multipart
        upload; the object appears whole when it is closed)."""
        if self.remote:
            return self.fs.open(self._path(key), "wb", block_size=part_bytes)
        return self.fs.open(self._path(key), "wb")

    def put_file(self, path: Path, key: str) -> None:
        """Copy a local file to ``key`` (a bucket receives it in parts)."""
        self.fs.put_file(str(path), self._path(key))

    def put_tree(self, folder: Path, prefix: str) -> None:
        """Copy every file under a local folder to keys under ``prefix`` (a bucket receives
        them concurrently)."""
        paths = [path for path in sorted(Path(folder).rglob("*")) if path.is_file()]
        if not paths:
            return
        keys = [self._path(f"{prefix.strip('/')}/{p.relative_to(folder).as_posix()}")
                for p in paths]
        self.fs.put([str(p) for p in paths], keys)

    def move(self, source: str, target: str) -> None:
        """Give an object another key (a rename in a folder, copy and delete in a bucket)."""
        self.fs.mv(self._path(source), self._path(target))

    def copy_tree(self, source: str, target: str) -> None:
        """Copy every object under ``source`` to the same names under ``target`` (in the store:
        a bucket copies server-side)."""
        for stored in self.files(source):
            relative = stored.key[len(source.strip("/")):].lstrip("/")
            self.fs.copy(self._path(stored.key), self._path(f"{target.strip('/')}/{relative}"))

    def delete(self, prefix: str) -> None:
        """Remove the object or every object under ``prefix`` (nothing there is fine).

        Stores with real folders behind their S3 face (SeaweedFS's filer) keep a folder whose
        objects were deleted, listed as an empty prefix; a second pass removes it."""
        path = self._path(prefix)
        for _ in range(3):
            try:
                if not self.fs.exists(path):
                    return
                self.fs.rm(path, recursive=True)
            except FileNotFoundError:
                return


_stores: dict[str, ObjectStore] = {}


def open_store(settings: Any) -> ObjectStore:
    """The store of ``settings.storage_url``, with the input cache under the data directory
    (one object per store and data directory in a process)."""
    cache_root = settings.data_dir / "cache" / "objects"
    key = f"{settings.storage_url}|{cache_root}"
    if key not in _stores:
        _stores[key] = ObjectStore(settings.storage_url,
                                   LocalCache(cache_root, settings.cache_bytes))
    return _stores[key]
