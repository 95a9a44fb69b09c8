"""Derived data kept beside a dataset in the store (fingerprints, a cohort's counts and
digests), seen by a job as one folder.

A kernel keeps its cache of derived data in a local folder of entries (each entry complete once
its ``meta.json`` exists; see :mod:`osler.kernels.cache_entry`).
With a file store that folder is in the store. With a bucket, a job gets a folder of its own
whose entries link to copies in the host's input cache (fetched once per host), and the entries
the kernel adds are uploaded when the job's work is done: every file first, ``meta.json`` last,
so no host ever sees a half-uploaded entry as complete.
"""

from __future__ import annotations

from pathlib import Path

from osler.kernels.cache_entry import COMPLETE_MARK
from osler.workers.storage import ObjectStore


class DerivedCache:
    """One dataset's cache folder ``key`` (``…/datasets/<id>/cache/<namespace>``) for one job."""

    def __init__(self, store: ObjectStore, key: str, scratch: Path) -> None:
        self.store = store
        self.key = key.strip("/")
        in_store = store.local_folder(self.key)
        self.folder = in_store if in_store is not None else Path(scratch)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.known: dict[str, str] = {}
        """Local paths of stored entries' files, to the location each was copied from (a Dask
        task reads them from the store, which it may already have cached: no upload)."""
        if store.remote:
            self._link_stored_entries()

    def _link_stored_entries(self) -> None:
        for name in self.store.children(self.key):
            entry = f"{self.key}/{name}"
            link = self.folder / name
            if name.startswith(".") or link.exists():
                continue
            if not self.store.exists(f"{entry}/{COMPLETE_MARK}"):
                continue  # still being uploaded by another job
            copy = self.store.local_tree(entry)
            link.symlink_to(copy, target_is_directory=True)
            for path in copy.rglob("*"):
                if path.is_file():
                    relative = path.relative_to(copy).as_posix()
                    self.known[str(link / relative)] = self.store.location(f"{entry}/{relative}")

    def save_new_entries(self) -> None:
        """Upload the complete entries this job made (a bucket only)."""
        if not self.store.remote:
            return
        for entry in sorted(self.folder.iterdir()):
            if entry.is_symlink() or entry.name.startswith(".") or not entry.is_dir():
                continue
            mark = entry / COMPLETE_MARK
            if not mark.exists() or self.store.exists(f"{self.key}/{entry.name}/{COMPLETE_MARK}"):
                continue
            for path in sorted(entry.rglob("*")):
                if path.is_file() and path != mark:
                    self.store.put_file(path, f"{self.key}/{entry.name}/"
                                              f"{path.relative_to(entry).as_posix()}")
            self.store.put_file(mark, f"{self.key}/{entry.name}/{COMPLETE_MARK}")
