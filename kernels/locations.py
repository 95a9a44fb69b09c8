"""Locations: how a Dask task finds a file that the job's process made, on any host.

A *location* is a string: a local path (``/data/…`` or ``file:///data/…``), which every process
reads in place, or an fsspec URL of an object store (``s3://bucket/key``), which a process reads
through a copy fetched once into its host's cache (:class:`LocalCache`). Task graphs carry
locations, never arrays, so the same task runs on a host that shares the job's disk and on one
that shares nothing but the object store.

Credentials and the endpoint of ``s3://`` come from the standard variables
(``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_ENDPOINT_URL``, ``AWS_REGION``), read
by s3fs itself.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np


def default_data_dir() -> Path:
    """Each process's own local state unless ``OSLER_DATA_DIR`` says otherwise: ``~/.osler``."""
    return Path.home() / ".osler"


DEFAULT_CACHE_BYTES = 20 * 1024**3
"""Most bytes a host's input cache keeps (``OSLER_CACHE_BYTES``) before it drops the least
recently used entries (20 GiB)."""

COPY_CHUNK_BYTES = 8 << 20
"""Bytes per read when an object streams to or from the store."""


def is_remote(location: str) -> bool:
    """Whether ``location`` names an object in a store (a URL with a scheme other than file)."""
    scheme, sep, _ = str(location).partition("://")
    return bool(sep) and scheme != "file"


def local_path(location: str) -> str:
    """The local path of a ``file://`` URL or a plain path (unchanged)."""
    text = str(location)
    return text[len("file://"):] if text.startswith("file://") else text


def filesystem(location: str) -> Any:
    """The fsspec filesystem that serves ``location``."""
    import fsspec

    if not is_remote(location):
        return fsspec.filesystem("file", auto_mkdir=True)
    scheme = str(location).partition("://")[0]
    if scheme != "s3":
        return fsspec.filesystem(scheme)
    # Listings are not cached: other hosts write the same store. The endpoint is named, so a
    # process that talks to two stores (tests) gets one filesystem object for each.
    return fsspec.filesystem("s3", use_listings_cache=False,
                             endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or None)


def strip_scheme(location: str) -> str:
    """The path fsspec's filesystem uses for ``location`` (``bucket/key`` of ``s3://bucket/key``)."""
    return str(location).partition("://")[2] if is_remote(location) else local_path(location)


class LocalCache:
    """Objects copied from a store onto this host, by content key, bounded in bytes (LRU).

    Entries are immutable: a key names one content (a sha256, or a location under an attempt's
    own prefix), so an entry once fetched is reused by every later task and job on the host.
    An entry is a folder, filled under a temporary name and renamed into place, so two
    processes fetching the same key at once both end with a whole entry. Using an entry
    touches it; when the cache passes ``max_bytes`` the least recently used entries go (a
    process that still has a file of one open keeps reading it: Linux frees the data when the
    last handle closes).
    """

    def __init__(self, root: Path, max_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self.root = Path(root)
        self.max_bytes = int(max_bytes)
        self._lock = threading.Lock()

    def entry(self, key: str) -> Path:
        digest = hashlib.sha256(key.encode()).hexdigest()
        return self.root / digest[:2] / digest

    def get(self, key: str, fill: Callable[[Path], None]) -> Path:
        """The entry folder for ``key``, made by ``fill(folder)`` when it is missing."""
        entry = self.entry(key)
        if entry.is_dir():
            _touch(entry)
            return entry
        entry.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".fetch-", dir=entry.parent))
        try:
            fill(tmp)
            try:
                tmp.rename(entry)
            except OSError:  # another process filled it first: keep theirs
                if not entry.is_dir():
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        self.evict(keep=entry)
        return entry

    def file(self, key: str, name: str, fetch: Callable[[IO[bytes]], None]) -> Path:
        """A cached file called ``name`` (the name keeps its suffix, which tells formats),
        written by ``fetch(handle)`` when missing."""

        def fill(folder: Path) -> None:
            with open(folder / name, "wb") as handle:
                fetch(handle)

        return self.get(key, fill) / name

    def evict(self, keep: Path | None = None) -> int:
        """Drop least recently used entries until the cache fits ``max_bytes``; bytes freed."""
        with self._lock:
            entries = []
            for path in self.root.glob("*/*"):
                if path.name.startswith(".fetch-") or path == keep:
                    continue
                try:
                    used = path.stat().st_mtime
                except FileNotFoundError:
                    continue
                entries.append((used, _tree_bytes(path), path))
            total = sum(size for _, size, _ in entries)
            if keep is not None:
                total += _tree_bytes(keep)
            freed = 0
            for _, size, path in sorted(entries, key=lambda e: e[0]):
                if total - freed <= self.max_bytes:
                    break
                shutil.rmtree(path, ignore_errors=True)
                freed += size
            return freed


def _tree_bytes(folder: Path) -> int:
    total = 0
    for path in folder.rglob("*"):
        try:
            if path.is_file():
                total += path.stat().st_size
        except FileNotFoundError:
            continue
    return total


def _touch(path: Path) -> None:
    try:
        now = time.time()
        os.utime(path, (now, now))
    except FileNotFoundError:
        pass


_host_cache: LocalCache | None = None


def host_cache() -> LocalCache:
    """This process's cache of remote inputs, under ``$OSLER_DATA_DIR/cache/objects``."""
    global _host_cache
    if _host_cache is None:
        data_dir = Path(os.environ.get("OSLER_DATA_DIR") or default_data_dir()).expanduser()
        limit = int(os.environ.get("OSLER_CACHE_BYTES") or DEFAULT_CACHE_BYTES)
        _host_cache = LocalCache(data_dir / "cache" / "objects", limit)
    return _host_cache


def copy_stream(source: IO[bytes], target: IO[bytes]) -> int:
    """Copy in :data:`COPY_CHUNK_BYTES` reads; bytes copied (memory stays one chunk)."""
    total = 0
    while chunk := source.read(COPY_CHUNK_BYTES):
        target.write(chunk)
        total += len(chunk)
    return total


def readable(location: str) -> str:
    """A local path holding the object at ``location``.

    A local path is returned as it is; an object in a store is fetched whole into this host's
    cache the first time any task asks for it (an immutable location: every later call is a
    cache hit). Dask tasks call this on each location they read.
    """
    if not is_remote(location):
        return local_path(location)
    fs = filesystem(location)

    def fetch(handle: IO[bytes]) -> None:
        with fs.open(strip_scheme(location), "rb") as source:
            copy_stream(source, handle)

    return str(host_cache().file(str(location), Path(strip_scheme(location)).name, fetch))


def upload(path: Path, location: str) -> None:
    """Copy a local file to ``location`` (in parts, never whole in memory)."""
    fs = filesystem(location)
    fs.put_file(str(path), strip_scheme(location))


class Exchange:
    """Where one attempt's Dask tasks find the files the job's process made.

    With no ``prefix`` the tasks share the job's disk (the embedded stack, or a shared POSIX
    directory): :meth:`share` returns the path itself and tasks write their outputs in place.
    With a store ``prefix`` (``s3://bucket/…/attempt-2/exchange``) each shared file is uploaded
    once under it and tasks return their outputs to the job's process instead of writing them.
    ``known`` maps local copies of objects already in the store (a dataset in the input cache)
    to their locations, so they are not uploaded again.
    """

    def __init__(self, prefix: str | None = None, known: dict[str, str] | None = None) -> None:
        self.prefix = prefix.rstrip("/") if prefix else None
        self.known = {str(Path(k)): v for k, v in (known or {}).items()}
        self._shared: dict[str, str] = {}

    @property
    def remote(self) -> bool:
        """Whether the Dask tasks may run on hosts that do not see the job's disk."""
        return self.prefix is not None

    def share(self, path: str | Path) -> str:
        """The location a Dask task reads ``path`` at (uploaded on first use when remote)."""
        text = str(Path(path))
        if self.prefix is None:
            return text
        if text in self.known:
            return self.known[text]
        if text not in self._shared:
            digest = hashlib.sha256(text.encode()).hexdigest()[:16]
            location = f"{self.prefix}/{digest}-{Path(text).name}"
            upload(Path(text), location)
            self._shared[text] = location
        return self._shared[text]


LOCAL = Exchange()
"""The exchange of a job whose Dask tasks share its disk (and of kernels called directly)."""


NPY_HEADER_BYTES = 4096
"""Bytes read to parse a ``.npy`` header from a store (numpy pads headers to 64 bytes; 4 KiB
holds any header numpy writes for a 2-D array)."""


def npy_rows(location: str, start: int, stop: int) -> np.ndarray:
    """Rows ``start:stop`` of a C-ordered ``.npy``.

    A local file is memory-mapped (only those rows' pages are read). An object in a store is
    read by byte range: its header, then exactly the bytes of those rows, so a task reads what
    it uses and no host keeps a copy of the whole file.
    """
    if not is_remote(location):
        return np.ascontiguousarray(np.load(local_path(location), mmap_mode="r")[start:stop])
    fs = filesystem(location)
    path = strip_scheme(location)
    head = io.BytesIO(fs.cat_file(path, start=0, end=NPY_HEADER_BYTES))
    version = np.lib.format.read_magic(head)
    read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                   else np.lib.format.read_array_header_2_0)
    shape, fortran, dtype = read_header(head)
    if fortran or not shape:
        raise ValueError(f"{Path(path).name}: rows can be read only from a C-ordered array")
    row_bytes = dtype.itemsize * int(np.prod(shape[1:], dtype=np.int64))
    start, stop = max(0, start), min(int(shape[0]), stop)
    if stop <= start:
        return np.empty((0, *shape[1:]), dtype=dtype)
    offset = head.tell()
    data = fs.cat_file(path, start=offset + start * row_bytes, end=offset + stop * row_bytes)
    return np.frombuffer(data, dtype=dtype).reshape((stop - start, *shape[1:]))
