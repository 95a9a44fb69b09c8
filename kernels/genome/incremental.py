"""``extends`` for genome-distance: a cohort grown by samples appended reuses the earlier matrix.

A job of ``n`` samples extends a finished job of ``n_old`` samples when its first ``n_old``
samples are that job's (same FID/IID, same calls), over the same variants (same ``.bim`` /
VCF records, in order), with the same ``metric``, ``maf`` and ``geno``, and the filters keep the
same variants in the grown cohort. Then every entry of the old ``n_old x n_old`` block depends
only on those samples' calls over those variants, so it is copied (``matrix.npy`` and the PLINK
``.bin``), and only rows ``n_old:n`` are computed, by the same tile functions, into an equal
result.

``grm`` is refused: its standardisation uses allele frequencies over *all* samples, so adding
samples changes every entry of the old block.

What is checked where: the metric and filters at submit (the gateway has both jobs' params);
the rest here, from the earlier job's :data:`~osler.kernels.incremental.INPUTS_ARTIFACT`:
sample count and ids, variant count and descriptions, the kind of file (a PLINK ``.bed`` and an
int8 matrix — ``.npy``, Zarr, VCF — are digested differently), the kept variants, and, at the
end of the job, the SHA-256 digests of the first ``n_old`` samples' calls (computed in a thread
while the job runs).

Calls are digested by blocks of :data:`DIGEST_BLOCK_SAMPLES` samples (the last one partial), so
a block's digest does not depend on how many samples follow it: one pass over the grown cohort
gives both its own record's digests and those of the earlier samples (every block but the
earlier cohort's last, partial one is the same), where one digest of each would read the calls
twice. Each job also keeps its per-variant counts (:data:`COUNTS_ARTIFACT`); an extension counts
only its new samples and adds them. Both are checked together: if the earlier samples' calls
differ, the job fails, whatever the counts made of them.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from osler.kernels.blocked import MatrixFile, TileFunction, extend_blockwise
from osler.kernels.errors import InputError
from osler.kernels.genome.genotypes import Genotypes
from osler.kernels.genome.options import EXTENDS_SAME, GRM_NOT_EXTENDED
from osler.kernels.incremental import (
    INPUTS_ARTIFACT,
    PriorJob,
    copy_block,
    npy_data_offset,
    sha256_hex,
    strings_sha256,
    write_record,
)
from osler.kernels.progress import ProgressCallback

KIND = "genome-distance"

RECORD_VERSION = 2
"""This kind's record layout: version 2 digests the calls by blocks of samples and keeps the
per-variant counts (a version 1 record, one digest of all calls, is refused: run it again)."""

DIGEST_BLOCK_SAMPLES = 256
"""Samples per digest block (a multiple of 4: a .bed block starts on a byte). A grown cohort
digests the earlier cohort's last, partial block twice (as it was and as it is now), at most
this many samples more than one pass."""

COUNTS_ARTIFACT = "variant_counts.npy"
"""Per variant of the file (before the filters), over the job's samples: called calls and their
sum of allele counts, an int64 ``(2, m)`` array."""

GRM_REFUSAL = f"extends: {GRM_NOT_EXTENDED}"

DIGEST_CHUNK_BYTES = 8 << 20
"""Bytes of genotypes read at a time while they are digested."""

LAYOUTS = {"bed": "a PLINK .bed", "int8": "an int8 matrix (.npy, .zarr.zip or VCF)"}
"""How each kind of genotype file is digested (a .bed's 2-bit codes, an int8 matrix's bytes)."""


def layout(cohort: Genotypes) -> str:
    return "bed" if cohort.is_bed else "int8"


# --------------------------------------------------------------------------- digests


def sample_blocks(n: int) -> list[tuple[int, int]]:
    """The digest blocks ``(s0, s1)`` of n samples."""
    return [(s0, min(n, s0 + DIGEST_BLOCK_SAMPLES)) for s0 in range(0, n, DIGEST_BLOCK_SAMPLES)]


def _bed_columns(rows: np.ndarray, s0: int, s1: int, out: np.ndarray) -> np.ndarray:
    """The bytes of ``rows`` (.bed variant rows) holding samples s0:s1 (s0 a multiple of 4),
    with the bits of later samples in the last byte cleared: the same whatever the cohort's
    size."""
    first, width = s0 // 4, (s1 - s0 + 3) // 4
    view = out[: rows.shape[0] * width].reshape(rows.shape[0], width)
    view[:] = rows[:, first: first + width]
    if s1 % 4:
        view[:, -1] &= np.uint8((1 << (2 * (s1 % 4))) - 1)
    return view


def _digest_ranges(cohort: Genotypes, ranges: list[tuple[int, int]]) -> list[str]:
    """SHA-256 of the calls of each sample range, in one pass over the file: a .bed range as the
    bytes of every variant row holding it (:func:`_bed_columns`), an int8 range as its rows'
    bytes; both read with plain reads, in chunks."""
    n, m = cohort.shape
    digests = [hashlib.sha256() for _ in ranges]
    if cohort.is_bed:
        width = (n + 3) // 4
        step = max(1, DIGEST_CHUNK_BYTES // width)
        buf = np.empty(step * width, np.uint8)
        spare = np.empty(step * width, np.uint8)
        with open(cohort.path, "rb", buffering=0) as fh:
            fh.seek(int(cohort.bed_offset or 0) + 3)
            for v0 in range(0, m, step):
                rows = _read_exactly(fh, buf[: min(step, m - v0) * width]).reshape(-1, width)
                for digest, (s0, s1) in zip(digests, ranges, strict=True):
                    digest.update(_bed_columns(rows, s0, s1, spare))
        return [d.hexdigest() for d in digests]
    offset = npy_data_offset(str(cohort.path))
    buf = np.empty(DIGEST_CHUNK_BYTES, np.uint8)
    with open(cohort.path, "rb", buffering=0) as fh:
        for digest, (s0, s1) in zip(digests, ranges, strict=True):
            fh.seek(offset + s0 * m)
            done, total = 0, (s1 - s0) * m
            while done < total:
                chunk = _read_exactly(fh, buf[: min(DIGEST_CHUNK_BYTES, total - done)])
                digest.update(chunk)
                done += chunk.size
    return [d.hexdigest() for d in digests]


def genotype_digests(cohort: Genotypes, prefix: int | None = None,
                     known: list[str] | None = None) -> tuple[list[str], list[str] | None]:
    """The digests of the cohort's :func:`sample_blocks` and, with ``prefix``, those of its
    first ``prefix`` samples' blocks (None without one), from one pass over the calls.

    ``known`` are the blocks' digests already (a dataset's :mod:`~osler.kernels.genome.
    calls_cache`): then only a prefix's partial last block is read, if there is one."""
    n = cohort.shape[0]
    blocks = sample_blocks(n)
    cut = None
    if prefix is not None and prefix % DIGEST_BLOCK_SAMPLES and prefix < n:
        cut = (prefix - prefix % DIGEST_BLOCK_SAMPLES, prefix)  # the earlier last block
    ranges = ([] if known is not None else blocks) + ([cut] if cut else [])
    digests = _digest_ranges(cohort, ranges) if ranges else []
    whole = list(known) if known is not None else digests[: len(blocks)]
    if prefix is None:
        return whole, None
    if cut is None:
        return whole, whole[: len(sample_blocks(prefix))]
    return whole, whole[: prefix // DIGEST_BLOCK_SAMPLES] + [digests[-1]]


def _read_exactly(fh: Any, out: np.ndarray) -> np.ndarray:
    view = memoryview(out)
    got = 0
    while got < out.size:
        read = fh.readinto(view[got:])
        if not read:
            raise InputError(f"{Path(fh.name).name}: the genotype file is shorter than its "
                             "header says")
        got += read
    return out


class Digests:
    """:func:`genotype_digests` of a cohort, computed in a thread while the job runs (the
    job's process is otherwise waiting for its tiles)."""

    def __init__(self, cohort: Genotypes, prefix: int | None,
                 known: list[str] | None = None) -> None:
        self._result: tuple[list[str], list[str] | None] | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(cohort, prefix, known),
                                        daemon=True, name="genotype-digests")
        self._thread.start()

    def _run(self, cohort: Genotypes, prefix: int | None, known: list[str] | None) -> None:
        try:
            self._result = genotype_digests(cohort, prefix, known)
        except BaseException as exc:  # noqa: BLE001 - handed to the job's thread in result()
            self._error = exc

    def result(self) -> tuple[list[str], list[str] | None]:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result


def start_digests(cohort: Genotypes, metric: str, grown: GrownCohort | None,
                  known: list[str] | None = None) -> Digests | None:
    """Start digesting the cohort, or only what ``known`` block digests leave (None for grm,
    whose matrices are never extended)."""
    if metric == "grm":
        return None
    return Digests(cohort, grown.n_old if grown is not None else None, known)


def first_counted(grown: GrownCohort | None) -> int:
    """The first sample whose calls the job counts: the earlier job counted the ones before."""
    return 0 if grown is None else grown.n_old


# --------------------------------------------------------------------------- the earlier job


@dataclass
class GrownCohort:
    """A cohort checked (so far) to extend the earlier job's: its first ``n_old`` samples."""

    prior: PriorJob
    record: dict[str, Any]
    n_old: int

    def old_counts(self, m: int) -> tuple[np.ndarray, np.ndarray]:
        """The earlier job's per-variant (called calls, allele count sums), its
        :data:`COUNTS_ARTIFACT`."""
        path = self.prior.artifact(self.record["files"]["variant_counts"])
        try:
            counts = np.load(path, allow_pickle=False)
        except (OSError, ValueError):
            counts = None
        if counts is None or counts.shape != (2, m) or counts.dtype != np.int64:
            raise InputError(f"extends: job {self.prior.job_id}'s {COUNTS_ARTIFACT} does not "
                             f"hold the counts of {m} variants")
        return counts[0], counts[1]

    def check_keep(self, keep: np.ndarray, digests: Digests) -> None:
        """The filters kept the same variants in the grown cohort as in the earlier one (when
        not, the earlier samples' calls are checked first: counts of other calls explain it)."""
        if _keep_sha256(keep) != self.record["keep_sha256"]:
            self.check_genotypes(digests.result()[1])
            raise self.prior.mismatch(
                f"the maf/geno filters keep other variants of the grown cohort ({keep.size} "
                f"here, {self.record['n_variants_used']} in that job): adding samples changed "
                "allele frequencies or missing-call rates across the threshold")

    def check_genotypes(self, prefix_digests: list[str] | None) -> None:
        """The first ``n_old`` samples' calls are the earlier job's."""
        if prefix_digests != self.record["genotype_blocks_sha256"]:
            raise self.prior.mismatch(
                f"the genotypes of the first {self.n_old} samples differ from that job's")

    def extend(self, tile_fn: TileFunction, n: int, outputs: list[MatrixFile], *,
               tile_kwargs: dict[str, Any], block_size: int | None, client: Any,
               progress: ProgressCallback | None, send_back: bool = False) -> dict[str, Any]:
        """Copy the earlier ``matrix.npy`` and PLINK ``.bin`` into the first ``n_old`` rows and
        columns of ``outputs`` (in a thread) while the tiles of rows ``n_old:n`` are computed."""
        files = self.record["files"]
        sources = [str(self.prior.artifact(files["matrix"])),
                   str(self.prior.artifact(files["plink_bin"]))]
        self._check_sizes(*sources)
        copies: list[BaseException] = []

        def copy() -> None:
            try:
                for out, src in zip(outputs, sources, strict=True):
                    itemsize = np.dtype(out.dtype).itemsize
                    copy_block(src, npy_data_offset(src) if out.npy else 0, self.n_old,
                               out.path, npy_data_offset(out.path) if out.npy else 0, out.n,
                               self.n_old, itemsize)
            except BaseException as exc:  # noqa: BLE001 - raised in the job's thread below
                copies.append(exc)

        copier = threading.Thread(target=copy, daemon=True, name="copy-earlier-matrix")
        copier.start()
        try:
            tiles = extend_blockwise(tile_fn, self.n_old, n, outputs, tile_kwargs=tile_kwargs,
                                     block_size=block_size, client=client, progress=progress,
                                     send_back=send_back)
        finally:
            copier.join()
        if copies:
            raise copies[0]
        return tiles

    def _check_sizes(self, matrix: str, plink_bin: str) -> None:
        old = np.load(matrix, mmap_mode="r")
        shape, dtype = old.shape, old.dtype
        del old
        size = Path(plink_bin).stat().st_size
        if shape != (self.n_old, self.n_old) or dtype != np.float32 or (
                size != self.n_old * self.n_old * 8):
            raise InputError(f"extends: job {self.prior.job_id}'s matrix files do not hold "
                             f"{self.n_old} x {self.n_old} values")


def check_prior(prior: PriorJob, cohort: Genotypes, metric: str, maf: float | None,
                geno: float | None) -> GrownCohort:
    """What can be checked before any work: params, sizes, variants, file kind, sample ids."""
    if metric == "grm":
        raise InputError(GRM_REFUSAL)
    record = prior.record(KIND, RECORD_VERSION)
    for name, value in zip(EXTENDS_SAME, (metric, maf, geno), strict=True):
        if record.get(name) != value:
            raise prior.mismatch(f"{name} is {value!r} here and {record.get(name)!r} in that job")
    n, m_all = cohort.shape
    n_old = int(record["n_samples"])
    if n_old > n:
        raise prior.mismatch(f"this cohort has {n} samples, fewer than that job's {n_old}")
    if record["layout"] != layout(cohort):
        raise prior.mismatch(f"that job read {LAYOUTS[record['layout']]} and this one "
                             f"{LAYOUTS[layout(cohort)]} (extend with the same kind of file)")
    if int(record["n_variants"]) != m_all:
        raise prior.mismatch(f"this cohort has {m_all} variants and that job's "
                             f"{record['n_variants']}")
    if record["variants_sha256"] != cohort.variants_sha256:
        raise prior.mismatch("the variants (chromosome, id, position, alleles) differ from "
                             "that job's")
    if _samples_sha256(cohort.sample_ids[:n_old]) != record["samples_sha256"]:
        row = _first_other_id(prior, record, cohort.sample_ids[:n_old])
        raise prior.mismatch(f"sample {row} (FID, IID) is not that job's sample {row}")
    return GrownCohort(prior, record, n_old)


def _samples_sha256(ids: list[tuple[str, str]]) -> str:
    return strings_sha256(f"{fid}\t{iid}" for fid, iid in ids)


def _keep_sha256(keep: np.ndarray) -> str:
    return sha256_hex([np.ascontiguousarray(keep, dtype="<i8")])


def _first_other_id(prior: PriorJob, record: dict[str, Any],
                    ids: list[tuple[str, str]]) -> int:
    """The 1-based row of the first sample whose id differs from the earlier job's ``.id``."""
    path = prior.artifact(record["files"]["plink_id"])
    with open(path, encoding="utf-8") as fh:
        old = [tuple(line.rstrip("\n").split("\t")[:2]) for line in fh
               if line.strip() and not line.startswith("#")]
    for row, (mine, theirs) in enumerate(zip(ids, old, strict=False), 1):
        if tuple(mine) != theirs:
            return row
    return min(len(ids), len(old)) + 1


# --------------------------------------------------------------------------- this job's record


def finish(out_dir: Path, summary: dict[str, Any], digests: Digests | None,
           grown: GrownCohort | None, cohort: Genotypes, keep: np.ndarray,
           counts: tuple[np.ndarray, np.ndarray], *, maf: float | None,
           geno: float | None) -> None:
    """Check the earlier samples' calls (an extension), write this job's per-variant
    ``counts`` and :data:`INPUTS_ARTIFACT`, and add ``extends`` / ``rows_computed`` to
    ``summary``."""
    if digests is None:
        return
    whole, prefix = digests.result()
    if grown is not None:
        grown.check_genotypes(prefix)
        summary["extends"] = grown.prior.job_id
        summary["rows_computed"] = cohort.shape[0] - grown.n_old
    np.save(out_dir / COUNTS_ARTIFACT, np.stack(counts).astype(np.int64, copy=False))
    summary["files"]["variant_counts"] = COUNTS_ARTIFACT
    write_record(out_dir, KIND, {
        "metric": summary["metric"], "maf": maf, "geno": geno,
        "n_samples": cohort.shape[0], "n_variants": cohort.shape[1],
        "variants_sha256": cohort.variants_sha256, "layout": layout(cohort),
        "samples_sha256": _samples_sha256(cohort.sample_ids),
        "genotype_blocks_sha256": whole,
        "n_variants_used": int(keep.size), "keep_sha256": _keep_sha256(keep),
        "files": dict(summary["files"]),
    }, RECORD_VERSION)
    summary["files"]["inputs"] = INPUTS_ARTIFACT
