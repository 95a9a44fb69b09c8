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

import hashlib
import os
import struct
import tarfile
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from osler.kernels.capped import (
    DEFAULT_MAX_INSPECT_BYTES,
    MAX_HEADER_LINE_BYTES,
    MAX_HEADER_LINES,
    ByteBudget,
    count_lines,
    lines,
    open_capped,
    open_zip,
    tar_members,
    zip_member,
)
from osler.kernels.errors import InputError
from osler.kernels.file_memo import remembered

CHUNK_ELEMENTS = 1 << 25
"""Genotypes handled per chunk while scanning or converting (32 Mi int8 = 32 MiB)."""

SCAN_BYTES = 8 * 1024**2
"""Bytes of a ``.npy`` read at once while its values are checked."""

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
    variants_sha256 : str or None
        SHA-256 of the variants read, in order (PLINK: chromosome, id, position, A1, A2 of each
        .bim line; VCF: CHROM, POS, ID, REF, ALT of each record used); None for a matrix without
        variant descriptions (``.npy``, Zarr).
    """

    path: Path
    sample_ids: list[tuple[str, str]]
    format: str
    n_variants: int
    skipped: dict[str, int] = field(default_factory=dict)
    bed_offset: int | None = None
    variants_sha256: str | None = None

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
    except (ValueError, OSError, EOFError):  # numpy's messages quote the header: not repeated
        raise InputError(f"{path.name}: not a readable .npy array (a damaged header, or an "
                         "object array, which is never loaded)") from None
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
    """Raise InputError naming the first value outside {-1, 0, 1, 2} (scanned in chunks).

    A C-ordered file is scanned with plain reads of :data:`SCAN_BYTES` into memory that is
    freed chunk by chunk: pages read through the memory map would stay in the process's
    resident memory until it is closed (the gateway runs this check on every submit).
    """
    n, m = arr.shape
    rows = max(1, SCAN_BYTES // (m * arr.dtype.itemsize))
    direct = isinstance(arr, np.memmap) and arr.flags.c_contiguous
    with open(path, "rb") as fh:
        fh.seek(arr.offset if direct else 0)
        for r0 in range(0, n, rows):
            take = min(rows, n - r0)
            if direct:
                chunk = np.fromfile(fh, dtype=arr.dtype, count=take * m).reshape(take, m)
            else:
                chunk = np.asarray(arr[r0:r0 + take])
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


def _fileset_part(name: str) -> str | None:
    """'bed', 'bim' or 'fam' for an archive member of a PLINK fileset, else None."""
    base = os.path.basename(name)
    if base.startswith("._") or "__MACOSX" in name:
        return None
    ext = base.rsplit(".", 1)[-1].lower() if "." in base else ""
    return ext if ext in ("bed", "bim", "fam") else None


def _check_one_each(path: Path, counts: dict[str, int]) -> None:
    for ext in ("bed", "bim", "fam"):
        if counts.get(ext, 0) != 1:
            what = counts.get(ext) or "no"
            raise InputError(
                f"{path.name}: expected one .{ext} file in the archive, found {what}; "
                "upload one PLINK 1 fileset (.bed, .bim, .fam)"
            )


def _archive_members(path: Path) -> dict[str, Any]:
    """Map 'bed'/'bim'/'fam' to the archive member holding it."""
    found: dict[str, list[Any]] = {"bed": [], "bim": [], "fam": []}
    if path.name.lower().endswith(".zip"):
        archive: Any = open_zip(path)
        members = [(i.filename, i) for i in archive.infolist() if not i.is_dir()]
    else:
        try:
            archive = tarfile.open(path, "r:gz")
            members = [(m.name, m) for m in archive.getmembers() if m.isfile()]
        except (tarfile.TarError, OSError, EOFError):
            raise InputError(f"{path.name}: not a readable .tar.gz archive") from None
    for name, member in members:
        part = _fileset_part(name)
        if part is not None:
            found[part].append((name, member))
    try:
        _check_one_each(path, {ext: len(items) for ext, items in found.items()})
    except InputError:
        archive.close()
        raise
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
    ext = ""
    try:
        for ext, (_, member) in info.items():
            target = dest / f"data.{ext}"
            src = archive.open(member) if isinstance(archive, zipfile.ZipFile) else (
                archive.extractfile(member))
            with src, open(target, "wb") as fh:
                while block := src.read(1 << 22):
                    fh.write(block)
            out[ext] = target
    except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError) as exc:
        raise InputError(f"{path.name}: cannot extract its .{ext} file "
                         f"({type(exc).__name__})") from None
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


def count_bim(path: Path, label: str) -> tuple[int, str]:
    """Number of variants (non-empty lines) of a .bim file, checking each has 6 fields, and the
    variants' SHA-256: of each line's chromosome, id, position, A1 and A2, tab-separated (so
    spacing and the genetic map column do not change it).

    A plain .bim (see :func:`_plain_bim_lines`) is read with numpy, a chunk at a time; any other
    by the line loop, which rejects a malformed file naming its line.
    """
    plain = _count_plain_bim(path)
    if plain is not None:
        return plain
    digest = hashlib.sha256()
    count = 0
    with open(path, encoding="utf-8", errors="replace") as fh:
        for lineno, line in enumerate(fh, 1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 6:
                raise InputError(f"{label}: .bim line {lineno} has {len(fields)} fields; "
                                 "expected 6 (chrom, id, cM, position, A1, A2)")
            del fields[2]
            digest.update(("\t".join(fields) + "\n").encode())
            count += 1
    if count == 0:
        raise InputError(f"{label}: the .bim file lists no variants")
    return count, digest.hexdigest()


BIM_CHUNK_BYTES = 8 << 20
"""Bytes of a .bim read at a time by the numpy reader (its temporaries are a few times that)."""

_PLAIN_BIM_BYTES = np.zeros(256, dtype=bool)
_PLAIN_BIM_BYTES[[ord("\t"), ord("\n"), *range(ord(" "), 127)]] = True
"""The bytes of a plain .bim: printable ASCII, tabs and newlines (no other whitespace)."""


def _count_plain_bim(path: Path) -> tuple[int, str] | None:
    """:func:`count_bim` of a plain .bim, read :data:`BIM_CHUNK_BYTES` at a time (whole lines);
    None as soon as a chunk is not plain, for the line loop to read the file."""
    digest = hashlib.sha256()
    count = 0
    tail = b""
    with open(path, "rb") as fh:
        while True:
            block = fh.read(BIM_CHUNK_BYTES)
            if not block:
                break
            block = tail + block
            cut = block.rfind(b"\n") + 1
            tail = block[cut:]
            if cut:
                lines = _plain_bim_lines(block[:cut], digest)
                if lines is None:
                    return None
                count += lines
    if tail:
        lines = _plain_bim_lines(tail + b"\n", digest)
        if lines is None:
            return None
        count += lines
    return (count, digest.hexdigest()) if count else None


def _plain_bim_lines(data: bytes, digest: Any) -> int | None:
    """The lines of ``data`` (whole lines, the last ending in a newline), each fed to ``digest``
    as :func:`count_bim` defines, with numpy over the whole chunk (20x faster than the line loop,
    in which a job's first read of a cohort spent 0.1 s per 100,000 variants). Only a plain
    chunk: printable ASCII, every line six non-empty fields separated by one tab or space;
    None for any other (empty lines, other whitespace, non-ASCII bytes, other field counts)."""
    buf = np.frombuffer(data, dtype=np.uint8)
    if not _PLAIN_BIM_BYTES[buf].all():
        return None
    is_sep = (buf == 9) | (buf == 32)
    is_newline = buf == 10
    breaks = is_sep | is_newline
    # no field is empty: no separator or newline follows another, or starts the chunk
    if breaks[0] or (breaks[1:] & breaks[:-1]).any():
        return None
    newlines = np.flatnonzero(is_newline)
    lines = newlines.size
    starts = np.concatenate(([0], newlines[:-1] + 1))
    if (np.add.reduceat(is_sep, starts, dtype=np.int32) != 5).any():
        return None
    # chrom, id, position, A1 and A2, tab-separated: drop each line's cM and its separator
    per_line = np.flatnonzero(is_sep).reshape(lines, 5)
    edges = np.zeros(buf.size + 1, dtype=np.int8)
    edges[per_line[:, 1] + 1] = 1
    edges[per_line[:, 2] + 1] = -1
    kept = buf[np.cumsum(edges[:-1], dtype=np.int8) == 0]
    kept[kept == 32] = 9
    digest.update(kept.tobytes())
    return lines


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


def _count_samples(stream: IO[bytes], label: str) -> int:
    """Samples (non-empty lines) of a .fam stream, checking each has FID and IID."""
    n, single = count_lines(stream, label, ".fam", check_fields=True)
    if n == 0:
        raise InputError(f"{label}: the .fam file lists no samples")
    if single is not None:
        raise InputError(f"{label}: .fam line {single} has 1 field; expected FID IID ...")
    return n


def _count_variants(stream: IO[bytes], label: str) -> int:
    """Variants (non-empty lines) of a .bim stream."""
    m, _ = count_lines(stream, label, ".bim")
    if m == 0:
        raise InputError(f"{label}: the .bim file lists no variants")
    return m


def inspect_plink(path: Path, max_bytes: int = DEFAULT_MAX_INSPECT_BYTES) -> dict[str, Any]:
    """Count samples and variants of an archived fileset and check the .bed header and size.

    Reads through :mod:`osler.kernels.capped`: the .fam and .bim are streamed line by line, the
    .bed's first three bytes are read, and no more than ``max_bytes`` (or the file's own size,
    if larger) are decompressed in all; a ``.tar.gz`` is walked once, front to back.
    """
    _check_not_empty(path)
    budget = ByteBudget.for_file(path, max_bytes)
    counts: dict[str, int] = {}
    n = m = size = 0
    head = b""

    def take(part: str, stream: IO[bytes], member_size: int) -> None:
        nonlocal n, m, size, head
        counts[part] = counts.get(part, 0) + 1
        if counts[part] > 1:
            return  # refused below, once the listing is complete
        if part == "fam":
            n = _count_samples(stream, path.name)
        elif part == "bim":
            m = _count_variants(stream, path.name)
        else:
            head, size = stream.read(3), member_size

    try:
        if path.name.lower().endswith(".zip"):
            with open_zip(path) as archive:
                for info in archive.infolist():
                    part = None if info.is_dir() else _fileset_part(info.filename)
                    if part is not None:
                        with zip_member(archive, info, budget) as stream:
                            take(part, stream, info.file_size)
        else:
            for member, stream in tar_members(path, budget):
                part = _fileset_part(member.name) if stream is not None else None
                if part is not None and stream is not None:
                    take(part, stream, member.size)
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error, NotImplementedError, RuntimeError):
        # zipfile's messages quote member names; an encrypted or unknown codec lands here too
        raise InputError(f"{path.name}: not a readable archive") from None
    _check_one_each(path, counts)
    check_bed_header(head, size, n, m, path.name)
    return {"format": "plink", "n_samples": n, "n_variants": m}


def _plink_checked(path: Path, work_dir: Path) -> Genotypes:
    """A fileset's .bed (checked against .fam and .bim), read in place when stored in a .zip.

    A fileset whose .bed is read in place is parsed once per process
    (:func:`_plink_in_place`, remembered per file): a later job on the same dataset reads
    neither its .fam nor its .bim again."""
    known = _plink_in_place(path)
    if known is not None:
        ids, m, offset, variants = known
        return Genotypes(path, list(ids), "plink", m, bed_offset=offset,
                         variants_sha256=variants)
    return _plink_parsed(path, work_dir / "plink")


def _plink_parsed(path: Path, folder: Path) -> Genotypes:
    files = extract_plink(path, folder, in_place_bed=True)
    ids = read_fam(files["fam"], path.name)
    m, variants = count_bim(files["bim"], path.name)
    offset = files.get("bed_offset", 0)
    check_bed(files["bed"], len(ids), m, path.name, offset, files.get("bed_size"))
    return Genotypes(files["bed"], ids, "plink", m, bed_offset=offset, variants_sha256=variants)


@remembered
def _plink_in_place(path: Path) -> tuple[tuple[tuple[str, str], ...], int, int, str] | None:
    """(sample ids, variants, .bed offset, variants' sha256) of a fileset whose .bed is read in
    place inside ``path`` (a ``.zip`` member stored uncompressed); None for any other archive
    (its .bed is extracted for each job)."""
    _check_not_empty(path)
    info = _archive_members(path)
    archive = info.pop("archive")
    try:
        in_place = (isinstance(archive, zipfile.ZipFile)
                    and stored_zip_offset(path, info["bed"][1]) is not None)
    finally:
        archive.close()
    if not in_place:
        return None
    with tempfile.TemporaryDirectory(prefix="osler-plink-") as tmp:
        cohort = _plink_parsed(path, Path(tmp))
    if Path(cohort.path) != path or cohort.variants_sha256 is None:
        return None
    return (tuple(cohort.sample_ids), cohort.n_variants, int(cohort.bed_offset or 0),
            cohort.variants_sha256)


# --------------------------------------------------------------------------- VCF


def _open_vcf(path: Path) -> Any:
    from cyvcf2 import VCF

    _check_not_empty(path)
    try:
        vcf = VCF(str(path), lazy=True, threads=1)
    except Exception:  # cyvcf2 raises OSError / bare Exception for unparsable headers
        raise InputError(f"{path.name}: not a readable VCF") from None
    if len(vcf.samples) == 0:
        vcf.close()
        raise InputError(f"{path.name}: the VCF has no samples (no genotype columns)")
    return vcf


def vcf_sample_count(path: Path, max_bytes: int = DEFAULT_MAX_INSPECT_BYTES) -> int:
    """Samples named by a VCF's ``#CHROM`` line, reading only its header, under a byte cap.

    The header is streamed line by line (each line at most
    :data:`~osler.kernels.capped.MAX_HEADER_LINE_BYTES`), so a bomb in the header or a file
    with no line breaks is refused without being held in memory.
    """
    _check_not_empty(path)
    budget = ByteBudget.for_file(path, max_bytes)
    try:
        with open_capped(path, budget) as fh:
            for number, line in lines(fh, path.name, "VCF header", MAX_HEADER_LINE_BYTES):
                if number == 1 and not line.startswith(b"##fileformat=VCF"):
                    raise InputError(f"{path.name}: not a readable VCF (line 1 is not "
                                     "##fileformat=VCF...)")
                if line.startswith(b"##") and number < MAX_HEADER_LINES:
                    continue
                if line.startswith(b"##"):
                    raise InputError(f"{path.name}: the VCF header has more than "
                                     f"{MAX_HEADER_LINES} lines")
                if not line.startswith(b"#CHROM"):
                    raise InputError(f"{path.name}: not a readable VCF (line {number} comes "
                                     "before the #CHROM header line)")
                columns = len(line.rstrip(b"\r\n").split(b"\t"))
                if columns < 8:
                    raise InputError(f"{path.name}: not a readable VCF (the #CHROM line has "
                                     f"{columns} columns; expected at least 8)")
                if columns <= 9:
                    raise InputError(f"{path.name}: the VCF has no samples (no genotype columns)")
                return columns - 9
    except (OSError, EOFError, zlib.error):
        raise InputError(f"{path.name}: not a readable VCF (damaged compression)") from None
    raise InputError(f"{path.name}: not a readable VCF (no #CHROM header line)")


def vcf_skip_reason(ref: str, alts: list[str]) -> str | None:
    """Why a record is not a biallelic SNP (None when it is one)."""
    if len(alts) == 0:
        return "no_alt"
    if len(alts) > 1:
        return "multiallelic"
    if len(ref) != 1 or len(alts[0]) != 1 or alts[0] in ("*", "."):
        return "not_snp"
    return None


def vcf_record_genotypes(record: Any, label: str, index: int) -> np.ndarray:
    """ALT allele counts (-1 missing) of one biallelic record; InputError on non-diploid calls."""
    gt = record.genotype.array()
    where = f"{label}: record {index}"  # numbers only: a position or sample name is data
    if gt.shape[1] != 3:
        raise InputError(f"{where} has ploidy {gt.shape[1] - 1}; only diploid calls are supported")
    alleles = gt[:, :2]
    haploid = np.flatnonzero((alleles == -2).any(axis=1))
    if haploid.size:
        raise InputError(f"{where}: sample {haploid[0] + 1} (column {haploid[0] + 10}) has a "
                         "haploid call; only diploid calls are supported")
    counts = (alleles > 0).sum(axis=1).astype(np.int8)
    counts[(alleles < 0).any(axis=1)] = -1  # a half-missing call is missing, as in PLINK
    return counts


def _vcf_to_canonical(path: Path, work_dir: Path) -> tuple[Path, list[tuple[str, str]],
                                                            dict[str, int], str]:
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
    variants = hashlib.sha256()
    try:
        with open(raw_path, "wb") as raw:
            for index, record in enumerate(vcf, 1):
                reason = vcf_skip_reason(record.REF, record.ALT)
                if reason is not None:
                    skipped[reason] += 1
                    continue
                buf[filled] = vcf_record_genotypes(record, path.name, index)
                variants.update(f"{record.CHROM}\t{record.POS}\t{record.ID or '.'}\t"
                                f"{record.REF}\t{record.ALT[0]}\n".encode())
                filled += 1
                if filled == step:
                    raw.write(buf.tobytes())
                    m += filled
                    filled = 0
            raw.write(buf[:filled].tobytes())
            m += filled
    except InputError:
        raise
    except Exception as exc:  # cyvcf2's messages may quote the record: name the type only
        raise InputError(f"{path.name}: unreadable VCF after record {index} "
                         f"({type(exc).__name__})") from None
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
    return (out_path, [(s, s) for s in samples], {k: v for k, v in skipped.items() if v},
            variants.hexdigest())


def _describe(skipped: dict[str, int]) -> str:
    return ", ".join(f"{v} {k}" for k, v in skipped.items() if v) or "none"


# --------------------------------------------------------------------------- public


def inspect_genotypes(path: Path, max_bytes: int = DEFAULT_MAX_INSPECT_BYTES) -> dict[str, Any]:
    """Validate a genotype file cheaply, at submit time.

    Parameters
    ----------
    path : Path
        ``.npy`` (integer samples x variants, values -1/0/1/2), ``.zip`` / ``.tar.gz`` holding a
        PLINK 1 fileset, a zipped Zarr array, or ``.vcf`` / ``.vcf.gz``.
    max_bytes : int
        Most bytes an archive or VCF check may decompress (the file's own size, if larger):
        see :mod:`osler.kernels.capped`.

    Returns
    -------
    dict
        ``{"format", "n_samples", "n_variants"}``; counts are None when they would need a full
        parse (the VCF body).

    Raises
    ------
    InputError
        With a message naming the file and the first problem (shape, dtype, value, archive,
        a limit passed); never a value read from the file.
    """
    path = Path(path)
    fmt = genotype_format(path)
    if fmt == "npy":
        arr = open_npy(path)
        check_npy_values(path, arr)
        return {"format": fmt, "n_samples": int(arr.shape[0]), "n_variants": int(arr.shape[1])}
    if fmt == "plink":
        return inspect_plink(path, max_bytes)
    if fmt == "zarr":
        from osler.kernels.genome.zarr_store import open_zarr

        _check_not_empty(path)
        n, m = open_zarr(path).shape
        return {"format": fmt, "n_samples": int(n), "n_variants": int(m)}
    return {"format": fmt, "n_samples": vcf_sample_count(path, max_bytes), "n_variants": None}


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
    canonical, ids, skipped, variants = _vcf_to_canonical(path, work_dir)
    m = int(np.load(canonical, mmap_mode="r").shape[1])
    return Genotypes(canonical, ids, fmt, m, skipped, variants_sha256=variants)
