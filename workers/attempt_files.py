"""Where one attempt of a job writes, and how its outputs become the job's one visible result.

Each attempt writes under its own key, ``…/jobs/<id>/attempt-<n>/``; the job record names the
attempt it published (``published_attempt``, set in the same atomic step that marks the job
succeeded), so nothing is renamed and a job run twice after a crash still shows one result.
With a file store the attempt's folder *is* its key's folder (written in place, read in place by
Dask workers on the same disk); with a bucket the attempt writes into local scratch, uploads its
outputs when it succeeds, and shares the files its Dask tasks need under ``exchange-<n>/``.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from osler.kernels.locations import LOCAL, Exchange
from osler.workers.layout import LAYOUT, describe_artifacts
from osler.workers.settings import Settings
from osler.workers.storage import ObjectStore

ATTEMPT_PREFIX = "attempt-"
EXCHANGE_PREFIX = "exchange-"
WORK_FOLDER = "work"


@dataclass
class AttemptFiles:
    """The folders and keys of attempt ``attempt`` of one job."""

    store: ObjectStore
    settings: Settings
    owner: str
    job_id: str
    attempt: int
    _ended: bool = field(default=False, repr=False)

    @property
    def key(self) -> str:
        """Where the attempt's outputs live in the store."""
        return LAYOUT.attempt(self.owner, self.job_id, self.attempt)

    @property
    def _job_folder(self) -> Path:
        """The job's folder on this process's disk: in the store itself for a file store."""
        in_store = self.store.local_folder(LAYOUT.job(self.owner, self.job_id))
        if in_store is not None:
            return in_store
        return self.settings.data_dir / "scratch" / self.job_id

    @property
    def out_dir(self) -> Path:
        """Where the kernel writes the artifacts."""
        return self._job_folder / f"{ATTEMPT_PREFIX}{self.attempt}"

    @property
    def work_dir(self) -> Path:
        """Scratch for converted inputs (Dask workers on the same disk read it in place)."""
        return self._job_folder / WORK_FOLDER

    def exchange(self, known: dict[str, str]) -> Exchange:
        """How the attempt's Dask tasks reach its files (``known``: local copies of stored
        objects, by local path, to the location each was copied from)."""
        if not self.store.remote:
            return LOCAL
        prefix = self.store.location(LAYOUT.exchange(self.owner, self.job_id, self.attempt))
        return Exchange(prefix, known)

    def prepare(self) -> None:
        """Remove what earlier attempts left (a killed attempt's folders) and make this one's."""
        self.remove_unpublished(keep=None)
        self.out_dir.mkdir(parents=True)
        self.work_dir.mkdir(parents=True, exist_ok=True)

    def publish(self) -> list[dict[str, object]]:
        """Put the outputs where the store keeps them; the artifact list for the record."""
        artifacts = describe_artifacts(self.out_dir)
        if self.store.remote:
            self.store.put_tree(self.out_dir, self.key)
        return artifacts

    def local_bytes(self) -> int:
        """Bytes of outputs not in the store yet (a bucket's attempt before it publishes)."""
        if not self.store.remote:
            return 0
        return sum(p.stat().st_size for p in self.out_dir.rglob("*") if p.is_file())

    def end(self, published: bool) -> None:
        """After the attempt: scratch and the exchange go; unpublished outputs go too (once:
        a later call does nothing)."""
        if self._ended:
            return
        self._ended = True
        shutil.rmtree(self.work_dir, ignore_errors=True)
        self.store.delete(LAYOUT.exchange(self.owner, self.job_id, self.attempt))
        if self.store.remote:
            shutil.rmtree(self._job_folder, ignore_errors=True)
        if not published:
            shutil.rmtree(self.out_dir, ignore_errors=True)
            self.store.delete(self.key)

    def remove_unpublished(self, keep: int | None) -> None:
        """Every attempt's outputs but attempt ``keep``'s, every exchange, the scratch."""
        remove_unpublished(self.store, self.owner, self.job_id, keep)
        shutil.rmtree(self.work_dir, ignore_errors=True)


def remove_unpublished(store: ObjectStore, owner: str, job_id: str, keep: int | None) -> None:
    """Delete a job's attempt and exchange keys other than the published attempt ``keep``."""
    job_key = LAYOUT.job(owner, job_id)
    for name in store.children(job_key):
        if name == f"{ATTEMPT_PREFIX}{keep}":
            continue
        if name.startswith((ATTEMPT_PREFIX, EXCHANGE_PREFIX)) or name == WORK_FOLDER:
            store.delete(f"{job_key}/{name}")


def artifact_key(owner: str, job_id: str, published_attempt: int, name: str) -> str:
    """The store key of a finished job's artifact."""
    return f"{LAYOUT.attempt(owner, job_id, published_attempt)}/{name}"
