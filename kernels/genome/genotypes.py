"""Genotype readers: ``.npy``, zipped Zarr, PLINK 1 filesets (``.zip`` / ``.tar.gz``) and VCF.

A ``.npy``, a zipped Zarr array (``.zarr.zip``, :mod:`.zarr_store`) or a VCF becomes
an ``int8`` ``.npy`` of shape (samples, variants) holding allele counts 0/1/2 and -1 for a
missing call (an int8 ``.npy`` upload is used as it is). A PLINK fileset stays a SNP-major
``.bed``, checked against its ``.fam`` and ``.bim``: the kernels of :mod:`osler.kernels.genome.bed`
count and pack its 2-bit codes directly. For PLINK filesets the counted allele is A1 (PLINK's
convention, bed-reader's ``count_A1``); for VCF it is ALT (read with cyvcf2). Only biallelic
SNPs are read from a VCF; other records are skipped and counted.
"""

from __future__ import annotations

import os
import struct
import tarfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from osler.kernels.errors import InputError

CHUNK_ELEMENTS = 1 << 25
"""Genotypes handled per chunk while scanning or converting (32 Mi int8 = 32 MiB)."""

BED_MAGIC = b"\x6c\x1b"
"""The first two bytes of every PLINK 1 .bed file."""

FORMATS = {".npy": "npy", ".zarr.zip": "zarr", ".zip": "plink", ".tar.gz": "plink",
           ".tgz": "plink", ".vcf": "vcf", ".vcf.gz": "vcf", ".vcf.bgz": "vcf"}
"""File name endings accepted, and the format each means."""


@dataclass
class Genotypes:
    """A cohort ready for the kernels.

    Attributes
    ----------
    path : Path
        int8 ``.npy`` (samples x variants, -1 = missing) or a SNP-major PLINK ``.bed``.
    sample_ids : list of (FID, IID)
    format : str
        ``"npy"``, ``"plink"`` or ``"vcf"``.
    n_variants : int
    skipped : dict
        Records not read, by reason (VCF: ``multiallelic``, ``not_snp``, ``no_alt``).
    bed_offset : int or None
        For a .bed: where its first byte sits in ``path`` (0 for an extracted file, the data
        offset of an uncompressed ``.zip`` member read in place); None for an int8 matrix.
    """

    path: Path
    sample_ids: list[tuple[str, str]]
    format: str
    n_variants: int
    skipped: dict[str, int] = field(default_factory=dict)
    bed_offset: int | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.sample_ids), self.n_variants

    @property
    def is_bed(self) -> bool:
        """True for a PLINK ``.bed`` (variant-major 2-bit codes), False for an int8 matrix."""
        return self.bed_offset is not None


def genotype_format(path: Path) -> str:
    """The format a file name announces; InputError for an unknown ending."""
    name = path.name.lower()
    for ending in sorted(FORMATS, key=len, reverse=True):
        if name.endswith(ending):
            return FORMATS[ending]
    raise InputError(
        f"{path.name}: unknown genotype file type; use .npy, a zipped Zarr array (.zarr.zip), a "
        ".zip or .tar.gz holding a PLINK .bed/.bim/.fam fileset, or .vcf / .vcf.gz"
    )


def _check_not_empty(path: Path) -> None:
    if not path.exists():
        raise InputError(f"{path.name}: file not found")
    if path.stat().st_size == 0:
        raise InputError(f"{path.name}: empty file")


# --------------------------------------------------------------------------- .npy


def open_npy(path: Path) -> np.ndarray:
    """Memory-map a genotype ``.npy`` and check its shape and dtype (not its values)."""
    _check_not_empty(path)
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InputError(f"{path.name}: not a readable .npy array ({exc})") from None
    if not isinstance(arr, np.ndarray):
        raise InputError(f"{path.name}: not a single .npy array")
    if arr.ndim != 2:
        raise InputError(
            f"{path.name}: genotype matrix must be 2-D (samples x variants), got {arr.ndim}-D"
        )
    if arr.dtype.kind not in "iu":
        raise InputError(
            f"{path.name}: {arr.dtype} genotypes are not allowed: use integers 0/1/2 "
            "and -1 for missing"
        )
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise InputError(
            f"{path.name}: genotype matrix needs at least 1 sample and 1 variant, "
            f"got shape {arr.shape}"
        )
    return arr


def check_npy_values(path: Path, arr: np.ndarray) -> None:
    """Raise InputError naming the first value outside {-1, 0, 1, 2} (scanned in chunks)."""
    rows = max(1, CHUNK_ELEMENTS // arr.shape[1])
    for r0 in range(0, arr.shape[0], rows):
        chunk = np.asarray(arr[r0:r0 + rows])
        if chunk.size and (chunk.min() < -1 or chunk.max() > 2):
            r, c = np.argwhere((chunk < -1) | (chunk > 2))[0]
            raise InputError(
                f"{path.name}: value {int(chunk[r, c])} at row {r0 + r}, column {c} is not a "
                "genotype (use 0/1/2, -1 for missing)"
            )


def _npy_to_canonical(path: Path, work_dir: Path) -> Path:
    arr = open_npy(path)
    check_npy_values(path, arr)
    if arr.dtype == np.int8 and arr.flags.c_contiguous:
        return path  # already canonical: the kernels map the uploaded file itself
    out_path = work_dir / "genotypes.npy"
    out = np.lib.format.open_memmap(out_path, mode="w+", dtype=np.int8, shape=arr.shape)
    rows = max(1, CHUNK_ELEMENTS // arr.shape[1])
    for r0 in range(0, arr.shape[0], rows):
        out[r0:r0 + rows] = arr[r0:r0 + rows]
    del out
    return out_path


def _zarr_to_canonical(path: Path, work_dir: Path) -> Path:
    from osler.kernels.genome.zarr_store import zarr_to_int8

    _check_not_empty(path)
    out_path = work_dir / "genotypes.npy"
    zarr_to_int8(path, out_path, CHUNK_ELEMENTS)
    return out_path


# --------------------------------------------------------------------------- PLINK filesets


def _archive_members(path: Path) -> dict[str, Any]:
    """Map 'bed'/'bim'/'fam' to the archive member holding it."""
    found: dict[str, list[Any]] = {"bed": [], "bim": [], "fam": []}
    try:
        if path.name.lower().endswith(".zip"):
            archive: Any = zipfile.ZipFile(path)
            members = [(i.filename, i) for i in archive.infolist() if not i.is_dir()]
        else:
            archive = tarfile.open(path, "r:gz")
            members = [(m.name, m) for m in archive.getmembers() if m.isfile()]
    except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError) as exc:
        raise InputError(f"{path.name}: not a readable archive ({exc})") from None
    for name, member in members:
        base = os.path.basename(name)
        if base.startswith("._") or "__MACOSX" in name:
            continue
        ext = base.rsplit(".", 1)[-1].lower() if "." in base else ""
        if ext in found:
            found[ext].append((name, member))
    for ext, items in found.items():
        if len(items) != 1:
            what = "no" if not items else f"{len(items)}"
            archive.close()
            raise InputError(
                f"{path.name}: expected one .{ext} file in the archive, found {what}; "
                "upload one PLINK 1 fileset (.bed, .bim, .fam)"
            )
    return {"archive": archive, **{ext: items[0] for ext, items in found.items()}}


def stored_zip_offset(path: Path, member: zipfile.ZipInfo) -> int | None:
    """Byte offset of an uncompressed, unencrypted ``.zip`` member's data, else None."""
    if member.compress_type != zipfile.ZIP_STORED or member.flag_bits & 0x1:
        return None
    with open(path, "rb") as fh:
        fh.seek(member.header_offset)
        head = fh.read(30)
    if len(head) < 30 or head[:4] != b"PK\x03\x04":
        return None
    name_length, extra_length = struct.unpack("<HH", head[26:30])
    return member.header_offset + 30 + name_length + extra_length


def extract_plink(path: Path, dest: Path, in_place_bed: bool = False) -> dict[str, Any]:
    """Extract the .bed/.bim/.fam of an archive into ``dest``; returns their paths.

    With ``in_place_bed``, a .bed stored uncompressed in a ``.zip`` is not copied: ``"bed"``
    is then the archive itself and ``"bed_offset"`` where the .bed starts in it.
    """
    _check_not_empty(path)
    info = _archive_members(path)
    archive = info.pop("archive")
    dest.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {}
    if in_place_bed and isinstance(archive, zipfile.ZipFile):
        offset = stored_zip_offset(path, info["bed"][1])
        if offset is not None:
            out.update(bed=path, bed_offset=offset, bed_size=info.pop("bed")[1].file_size)
    name = ""
    try:
        for ext, (member_name, member) in info.items():
            name = member_name  # named in the error message if extraction fails
            target = dest / f"data.{ext}"
            src = archive.open(member) if isinstance(archive, zipfile.ZipFile) else (
                archive.extractfile(member))
            with src, open(target, "wb") as fh:
                while block := src.read(1 << 22):
                    fh.write(block)
            out[ext] = target
    except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError) as exc:
        raise InputError(f"{path.name}: cannot extract {name} ({exc})") from None
    finally:
        archive.close()
    return out


def read_fam(path: Path, label: str) -> list[tuple[str, str]]:
    """(FID, IID) per line of a .fam file."""
    ids = []
    with open(path, encoding="utf-8", errors="replace") as fh:
        for lineno, line in enumerate(fh, 1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) < 2:
                raise InputError(f"{label}: .fam line {lineno} has {len(fields)} field; "
                                 "expected FID IID ...")
            ids.append((fields[0], fields[1]))
    if not ids:
        raise InputError(f"{label}: the .fam file lists no samples")
    return ids


def count_bim(path: Path, label: str) -> int:
    """Number of variants (non-empty lines) of a .bim file, checking each has 6 fields."""
    count = 0
    with open(path, encoding="utf-8", errors="replace") as fh:
        for lineno, line in enumerate(fh, 1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 6:
                raise InputError(f"{label}: .bim line {lineno} has {len(fields)} fields; "
                                 "expected 6 (chrom, id, cM, position, A1, A2)")
            count += 1
    if count == 0:
        raise InputError(f"{label}: the .bim file lists no variants")
    return count


def check_bed(bed: Path, n: int, m: int, label: str, offset: int = 0,
              size: int | None = None) -> None:
    """Check the magic bytes, the mode and the size of a .bed against n samples, m variants.

    ``offset`` and ``size`` locate a .bed inside another file (an uncompressed ``.zip`` member);
    by default the whole file is the .bed.
    """
    with open(bed, "rb") as fh:
        fh.seek(offset)
        head = fh.read(3)
    check_bed_header(head, bed.stat().st_size if size is None else size, n, m, label)


def check_bed_header(head: bytes, size: int, n: int, m: int, label: str) -> None:
    """The checks of :func:`check_bed` on a .bed's first bytes and its size."""
    if size == 0:
        raise InputError(f"{label}: the .bed file is empty")
    if head[:2] != BED_MAGIC:
        raise InputError(f"{label}: the .bed file has wrong magic bytes (not a PLINK 1 .bed)")
    if len(head) < 3 or head[2] != 1:
        raise InputError(f"{label}: sample-major .bed files (mode 0) are not supported; "
                         "re-save with plink --make-bed")
    expected = 3 + m * ((n + 3) // 4)
    if size < expected:
        raise InputError(
            f"{label}: the .bed file is truncated: {size} bytes, expected {expected} for "
            f"{n} samples (.fam) x {m} variants (.bim); or the three files do not match"
        )
    if size > expected:
        raise InputError(
            f"{label}: the .bed file has {size} bytes but .fam and .bim give {n} samples x "
            f"{m} variants ({expected} bytes): the three files do not match"
        )


def inspect_plink(path: Path) -> dict[str, Any]:
    """Count samples and variants of an archived fileset and check the .bed header and size."""
    _check_not_empty(path)
    info = _archive_members(path)
    archive = info.pop("archive")
    is_zip = isinstance(archive, zipfile.ZipFile)
    try:
        def lines(ext: str) -> list[str]:
            member = info[ext][1]
            fh = archive.open(member) if is_zip else archive.extractfile(member)
            with fh:
                return fh.read().decode("utf-8", errors="replace").splitlines()

        fam = [line.split() for line in lines("fam") if line.strip()]
        bad = next((k for k, f in enumerate(fam, 1) if len(f) < 2), None)
        if not fam or bad:
            raise InputError(f"{path.name}: the .fam file lists no samples" if not fam else
                             f"{path.name}: .fam line {bad} has 1 field; expected FID IID ...")
        n = len(fam)
        m = sum(1 for line in lines("bim") if line.strip())
        if m == 0:
            raise InputError(f"{path.name}: the .bim file lists no variants")
        bed = info["bed"][1]
        size = bed.file_size if is_zip else bed.size
        fh = archive.open(bed) if is_zip else archive.extractfile(bed)
        with fh:
            head = fh.read(3)
        check_bed_header(head, size, n, m, path.name)
    except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError) as exc:
        raise InputError(f"{path.name}: not a readable archive ({exc})") from None
    finally:
        archive.close()
    return {"format": "plink", "n_samples": n, "n_variants": m}


def _plink_checked(path: Path, work_dir: Path) -> Genotypes:
    """A fileset's .bed (checked against .fam and .bim), read in place when stored in a .zip."""
    files = extract_plink(path, work_dir / "plink", in_place_bed=True)
    ids = read_fam(files["fam"], path.name)
    m = count_bim(files["bim"], path.name)
    offset = files.get("bed_offset", 0)
    check_bed(files["bed"], len(ids), m, path.name, offset, files.get("bed_size"))
    return Genotypes(files["bed"], ids, "plink", m, bed_offset=offset)


# --------------------------------------------------------------------------- VCF


def _open_vcf(path: Path) -> Any:
    from cyvcf2 import VCF

    _check_not_empty(path)
    try:
        vcf = VCF(str(path), lazy=True, threads=1)
    except Exception as exc:  # cyvcf2 raises OSError / bare Exception for unparsable headers
        raise InputError(f"{path.name}: not a readable VCF ({exc})") from None
    if len(vcf.samples) == 0:
        vcf.close()
        raise InputError(f"{path.name}: the VCF has no samples (no genotype columns)")
    return vcf


def vcf_skip_reason(ref: str, alts: list[str]) -> str | None:
    """Why a record is not a biallelic SNP (None when it is one)."""
    if len(alts) == 0:
        return "no_alt"
    if len(alts) > 1:
        return "multiallelic"
    if len(ref) != 1 or len(alts[0]) != 1 or alts[0] in ("*", "."):
        return "not_snp"
    return None


def vcf_record_genotypes(record: Any, samples: list[str], label: str, index: int) -> np.ndarray:
    """ALT allele counts (-1 missing) of one biallelic record; InputError on non-diploid calls."""
    gt = record.genotype.array()
    where = f"{label}: record {index} ({record.CHROM}:{record.POS})"
    if gt.shape[1] != 3:
        raise InputError(f"{where} has ploidy {gt.shape[1] - 1}; only diploid calls are supported")
    alleles = gt[:, :2]
    haploid = np.flatnonzero((alleles == -2).any(axis=1))
    if haploid.size:
        raise InputError(f"{where}: sample {samples[haploid[0]]} has a haploid call; "
                         "only diploid calls are supported")
    counts = (alleles > 0).sum(axis=1).astype(np.int8)
    counts[(alleles < 0).any(axis=1)] = -1  # a half-missing call is missing, as in PLINK
    return counts


def _vcf_to_canonical(path: Path, work_dir: Path) -> tuple[Path, list[tuple[str, str]],
                                                            dict[str, int]]:
    vcf = _open_vcf(path)
    samples = list(vcf.samples)
    n = len(samples)
    skipped = {"multiallelic": 0, "not_snp": 0, "no_alt": 0}
    raw_path = work_dir / "genotypes.variant-major.raw"
    step = max(1, CHUNK_ELEMENTS // n)
    buf = np.empty((step, n), dtype=np.int8)
    filled = 0
    m = 0
    index = 0
    try:
        with open(raw_path, "wb") as raw:
            for index, record in enumerate(vcf, 1):
                reason = vcf_skip_reason(record.REF, record.ALT)
                if reason is not None:
                    skipped[reason] += 1
                    continue
                buf[filled] = vcf_record_genotypes(record, samples, path.name, index)
                filled += 1
                if filled == step:
                    raw.write(buf.tobytes())
                    m += filled
                    filled = 0
            raw.write(buf[:filled].tobytes())
            m += filled
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"{path.name}: unreadable VCF after record {index} ({exc})") from None
    finally:
        vcf.close()
    if m == 0:
        raw_path.unlink(missing_ok=True)
        raise InputError(f"{path.name}: no biallelic SNP records to use "
                         f"(skipped: {_describe(skipped)})")
    variant_major = np.memmap(raw_path, dtype=np.int8, mode="r", shape=(m, n))
    out_path = work_dir / "genotypes.npy"
    out = np.lib.format.open_memmap(out_path, mode="w+", dtype=np.int8, shape=(n, m))
    for v0 in range(0, m, step):
        out[:, v0:v0 + step] = variant_major[v0:v0 + step].T
    del out, variant_major
    raw_path.unlink()
    return out_path, [(s, s) for s in samples], {k: v for k, v in skipped.items() if v}


def _describe(skipped: dict[str, int]) -> str:
    return ", ".join(f"{v} {k}" for k, v in skipped.items() if v) or "none"


# --------------------------------------------------------------------------- public


def inspect_genotypes(path: Path) -> dict[str, Any]:
    """Validate a genotype file cheaply, at submit time.

    Parameters
    ----------
    path : Path
        ``.npy`` (integer samples x variants, values -1/0/1/2), ``.zip`` / ``.tar.gz`` holding a
        PLINK 1 fileset, or ``.vcf`` / ``.vcf.gz``.

    Returns
    -------
    dict
        ``{"format", "n_samples", "n_variants"}``; counts are None when they would need a full
        parse (the archive or VCF body).

    Raises
    ------
    InputError
        With a message naming the file and the first problem (shape, dtype, value, archive).
    """
    path = Path(path)
    fmt = genotype_format(path)
    if fmt == "npy":
        arr = open_npy(path)
        check_npy_values(path, arr)
        return {"format": fmt, "n_samples": int(arr.shape[0]), "n_variants": int(arr.shape[1])}
    if fmt == "plink":
        return inspect_plink(path)
    if fmt == "zarr":
        from osler.kernels.genome.zarr_store import open_zarr

        n, m = open_zarr(path).shape
        return {"format": fmt, "n_samples": int(n), "n_variants": int(m)}
    vcf = _open_vcf(path)
    n = len(vcf.samples)
    vcf.close()
    return {"format": fmt, "n_samples": n, "n_variants": None}


def load_genotypes(path: Path, work_dir: Path) -> Genotypes:
    """Check any accepted input and bring it into a form the kernels read (see the module)."""
    path = Path(path)
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    fmt = genotype_format(path)
    if fmt in ("npy", "zarr"):
        canonical = _npy_to_canonical(path, work_dir) if fmt == "npy" else _zarr_to_canonical(
            path, work_dir)
        n, m = np.load(canonical, mmap_mode="r").shape
        ids = [(f"sample_{i + 1}", f"sample_{i + 1}") for i in range(n)]
        return Genotypes(canonical, ids, fmt, int(m))
    if fmt == "plink":
        return _plink_checked(path, work_dir)
    canonical, ids, skipped = _vcf_to_canonical(path, work_dir)
    m = int(np.load(canonical, mmap_mode="r").shape[1])
    return Genotypes(canonical, ids, fmt, m, skipped)
