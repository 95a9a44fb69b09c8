"""The bounded reader of submit-time inspections: bombs are refused early, with the limit named,
and valid files are counted as before; messages give numbers, never values from the file."""

from __future__ import annotations

import gzip
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest

from osler.kernels.capped import (
    MAX_ARCHIVE_MEMBERS,
    MAX_HEADER_LINE_BYTES,
    MAX_LINE_BYTES,
    MAX_METADATA_BYTES,
    count_lines,
)
from osler.kernels.errors import InputError
from osler.kernels.genome.genotypes import inspect_genotypes
from osler.kernels.molecules.readers import count_records
from tests.bombs import FAM, MiB, bim_bomb_zip, padded_tar_gz
from tests.conftest import peak_rss_growth

CANARY = "PATIENT-CANARY-7"


def reference_count(data: bytes) -> tuple[int, int | None]:
    """Non-blank lines and the first one-field line, the plain way."""
    rows = data.decode().splitlines()
    single = next((k for k, line in enumerate(rows, 1) if len(line.split()) == 1), None)
    return sum(1 for line in rows if line.strip()), single


@pytest.mark.parametrize("data", [
    b"a b\nc d\n", b"a b\n\n  \nc d\ne", b"a b\nx\n", b"", b"\n\n", b"a b\r\nc d\r\n",
    b"  a  \n", b"x", b"\ta b\n" * 3, (b"f i 0 0 0 -9\n" * 200_000) + b"\n\nlast one\n",
])
def test_count_lines_equals_a_line_by_line_count(data: bytes) -> None:
    assert count_lines(io.BytesIO(data), "f", ".fam", check_fields=True) == reference_count(data)
    assert count_lines(io.BytesIO(data), "f", ".bim")[0] == reference_count(data)[0]


def test_a_line_longer_than_the_cap_is_refused_by_number() -> None:
    data = b"a b\n" * 3 + b"x" * (MAX_LINE_BYTES + 1)
    with pytest.raises(InputError, match=r"\.bim line 4 is longer than"):
        count_lines(io.BytesIO(data), "f", ".bim")


def test_bim_bomb_zip_is_counted_as_a_stream_and_refused(tmp_path: Path) -> None:
    # Given a ~400 KB zip whose .bim inflates to 200 MiB (and a .bed of one variant)
    path = bim_bomb_zip(tmp_path / "bomb.zip")
    assert path.stat().st_size < 1 * MiB
    # Then the .bim is counted without being held, and the .bed's size does not match it
    with pytest.raises(InputError, match="15054498 variants"):
        inspect_genotypes(path)
    # and under a smaller budget the count stops at the budget, naming it
    with pytest.raises(InputError, match=f"more than {64 * MiB} bytes once decompressed"):
        inspect_genotypes(path, max_bytes=64 * MiB)


def test_npy_values_are_checked_without_holding_the_file_in_memory(tmp_path: Path) -> None:
    # Pages read through a memory map count in the process's RSS until it is closed
    path = tmp_path / "big.npy"
    big = np.lib.format.open_memmap(path, mode="w+", dtype=np.int8, shape=(2000, 100_000))
    big[:] = 1
    big[-1, -1] = 5
    del big

    def check() -> None:
        with pytest.raises(InputError, match="value 5 at row 1999, column 99999"):
            inspect_genotypes(path)

    _, growth = peak_rss_growth(check)
    assert growth < 64 * MiB, f"RSS grew {growth / MiB:.0f} MiB checking a 191 MiB .npy"
    path.unlink()


def test_tar_gz_padding_stops_at_the_budget(tmp_path: Path) -> None:
    path = padded_tar_gz(tmp_path / "padded.tar.gz", 4096 * MiB)
    with pytest.raises(InputError, match=f"more than {256 * MiB} bytes once decompressed"):
        inspect_genotypes(path)
    small = padded_tar_gz(tmp_path / "small.tar.gz", 32 * MiB)
    assert inspect_genotypes(small) == {"format": "plink", "n_samples": 4, "n_variants": 1}


def test_duplicate_member_in_a_tar_gz_is_refused(tmp_path: Path) -> None:
    members = {"a.fam": FAM, "b.fam": FAM, "x.bim": b"1 rs1 0 1 A G\n", "x.bed": b"l\x1b\x01\x00"}
    path = padded_tar_gz(tmp_path / "two.tar.gz", 16 * MiB, members)
    with pytest.raises(InputError, match=r"expected one \.fam file in the archive, found 2"):
        inspect_genotypes(path)


def test_zip_with_too_many_entries_is_refused_before_its_directory_is_read(tmp_path) -> None:
    path = tmp_path / "many.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for k in range(MAX_ARCHIVE_MEMBERS + 1):
            zf.writestr(f"{k}", b"")
    with pytest.raises(InputError, match=f"{MAX_ARCHIVE_MEMBERS + 1} entries, more than"):
        inspect_genotypes(path)


def test_oversized_zarr_metadata_is_refused_before_zarr_reads_it(tmp_path: Path) -> None:
    path = tmp_path / "meta.zarr.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zarr.json", b"{" + b" " * (MAX_METADATA_BYTES + 1) + b"}")
    with pytest.raises(InputError, match="metadata document of .* over the limit"):
        inspect_genotypes(path)


def test_vcf_header_without_line_breaks_is_refused_at_the_line_cap(tmp_path: Path) -> None:
    path = tmp_path / "flat.vcf.gz"
    with gzip.open(path, "wb", compresslevel=1) as fh:
        fh.write(b"##fileformat=VCFv4.2\n")
        fh.write(b"#" * (MAX_HEADER_LINE_BYTES + 2))
    with pytest.raises(InputError, match="VCF header line 2 is longer than"):
        inspect_genotypes(path)


@pytest.mark.parametrize("text,message", [
    ("not a vcf\n", "line 1 is not ##fileformat"),
    ("##fileformat=VCFv4.2\n1\t100\t.\tA\tG\n", "line 2 comes before the #CHROM"),
    ("##fileformat=VCFv4.2\n", "no #CHROM header line"),
])
def test_vcf_header_problems_name_line_numbers(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.vcf"
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        inspect_genotypes(path)


def test_vcf_sample_count_reads_only_the_header(tmp_path: Path) -> None:
    path = tmp_path / "c.vcf.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT"
                 f"\t{CANARY}\ts2\n")
        fh.write("garbage that is never read\n" * 10)
    assert inspect_genotypes(path) == {"format": "vcf", "n_samples": 2, "n_variants": None}


def test_molecule_count_is_capped_in_line_length_and_bytes(tmp_path: Path) -> None:
    flat = tmp_path / "flat.smi.gz"
    with gzip.open(flat, "wb", compresslevel=1) as fh:
        fh.write(b"CCO a\n" + b"C" * (MAX_LINE_BYTES + 1))
    with pytest.raises(InputError, match="SMI line 2 is longer than"):
        count_records(flat)
    many = tmp_path / "many.smi.gz"
    with gzip.open(many, "wb", compresslevel=1) as fh:
        fh.write(b"CCO\n" * (2 * MiB // 4))
    assert count_records(many) == 2 * MiB // 4
    with pytest.raises(InputError, match=f"more than {1 * MiB} bytes once decompressed"):
        count_records(many, max_bytes=1 * MiB)


def test_table_without_the_named_column_never_quotes_its_first_row(tmp_path: Path) -> None:
    # A headerless table's "header" is its first record: its cells are never repeated
    path = tmp_path / "lib.csv"
    path.write_text(f"CCO,{CANARY}\nc1ccccc1,other\n")
    with pytest.raises(InputError, match="has 2 columns") as err:
        count_records(path)
    assert CANARY not in str(err.value)
