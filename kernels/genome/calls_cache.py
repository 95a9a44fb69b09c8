"""What a genome job learns of a dataset's calls, kept beside the dataset for its later jobs.

Every genome-distance job reads all calls twice besides its tiles: it counts them per variant
(called calls and allele counts, for the filters and the tiles) and digests them by blocks of
samples (for :mod:`~osler.kernels.genome.incremental`: a later job extending this one checks
its first samples against these digests). Both depend only on the dataset's bytes, so a job
keeps them in the dataset's cache folder (the worker gives one per dataset and tenant, deleted
with the dataset), under an entry named by the file's SHA-256 and :data:`VERSION`; a later job
on the same dataset, of any metric or extending another job, takes them instead of reading the
calls again.

An entry is a folder holding ``variant_counts.npy`` (int64 ``(2, m)``: called calls, allele
count sums) and, written last, ``meta.json`` (its shape, the kind of file and the block
digests); an entry without ``meta.json`` is incomplete and never read. An entry whose contents
do not fit the cohort (damaged) is ignored: the job counts and digests as if there were none,
and replaces it (in a bucket the stored entry stays, as the worker never overwrites a complete
one there: each job then reads the calls, as without a cache).
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from osler.kernels.cache_entry import COMPLETE_MARK
from osler.kernels.genome.genotypes import Genotypes
from osler.kernels.genome.incremental import DIGEST_BLOCK_SAMPLES, layout, sample_blocks

VERSION = 1
"""Layout of an entry and of what it holds (the digests' block size, the counts' order)."""

COUNTS_FILE = "variant_counts.npy"


@dataclass(frozen=True)
class KnownCalls:
    """A dataset's per-variant counts and block digests, read from its cache entry."""

    called: np.ndarray
    allele_sum: np.ndarray
    block_digests: list[str]


def entry_name(sha256: str) -> str:
    return f"{sha256}-genome-calls-v{VERSION}"


def _meta(cohort: Genotypes) -> dict[str, object]:
    n, m = cohort.shape
    return {"n_samples": n, "n_variants": m, "layout": layout(cohort),
            "block_samples": DIGEST_BLOCK_SAMPLES, "variants_sha256": cohort.variants_sha256}


def load(cache_dir: Path | None, sha256: str | None, cohort: Genotypes) -> KnownCalls | None:
    """The entry of this dataset when it is complete and fits ``cohort``; None otherwise (and
    without a cache folder or the file's SHA-256)."""
    if cache_dir is None or sha256 is None:
        return None
    entry = Path(cache_dir) / entry_name(sha256)
    try:
        meta = json.loads((entry / COMPLETE_MARK).read_text(encoding="utf-8"))
        counts = np.load(entry / COUNTS_FILE, allow_pickle=False)
    except (OSError, ValueError):
        return None
    digests = meta.get("genotype_blocks_sha256") if isinstance(meta, dict) else None
    n, m = cohort.shape
    expected = _meta(cohort)
    if ({k: meta.get(k) for k in expected} != expected
            or counts.shape != (2, m) or counts.dtype != np.int64
            or not isinstance(digests, list) or len(digests) != len(sample_blocks(n))
            or not all(isinstance(d, str) for d in digests)):
        return None
    return KnownCalls(counts[0], counts[1], digests)


def save(cache_dir: Path | None, sha256: str | None, cohort: Genotypes,
         block_digests: list[str], counts: tuple[np.ndarray, np.ndarray]) -> None:
    """Write the dataset's entry, complete or not at all, in place of one that does not fit
    the cohort (damaged); an entry that fits, another job's, stays. Nothing without a cache
    folder or the file's SHA-256. A cache that cannot be written costs the next job time,
    never this one its result: file system errors are not raised."""
    if cache_dir is None or sha256 is None or load(cache_dir, sha256, cohort) is not None:
        return
    cache_dir = Path(cache_dir)
    entry = cache_dir / entry_name(sha256)
    tmp = cache_dir / f".tmp-{entry.name}-{uuid.uuid4().hex[:8]}"
    try:
        tmp.mkdir(parents=True)
        np.save(tmp / COUNTS_FILE, np.stack(counts).astype(np.int64, copy=False))
        meta = {**_meta(cohort), "genotype_blocks_sha256": block_digests}
        (tmp / COMPLETE_MARK).write_text(json.dumps(meta, indent=1), encoding="utf-8")
        if load(cache_dir, sha256, cohort) is not None:
            return  # another job's, finished meanwhile
        if entry.is_symlink():  # a damaged entry, stored in a bucket
            entry.unlink()
        elif entry.exists():
            shutil.rmtree(entry)
        os.replace(tmp, entry)
    except OSError:  # another job's entry came in between, or the folder is not writable
        pass
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
