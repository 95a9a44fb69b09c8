"""Genotype inputs: .npy, PLINK filesets in .zip / .tar.gz, VCF; bad inputs give clear errors."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest

from osler.kernels.errors import InputError
from osler.kernels.genome.bed import count_bed_block
from osler.kernels.genome.distance import run_genome_distance
from osler.kernels.genome.genotypes import inspect_genotypes, load_genotypes
from osler.kernels.genome.metrics import genotype_source, pack_rows, packed_rows
from tests.kernels.genome_data import (
    REFERENCES,
    tar_fileset,
    write_plink,
    write_vcf,
    zip_fileset,
)

G = np.array([[0, 1, 2, -1, 1, 0, 2],
              [2, 2, 1, 0, -1, 0, 1],
              [0, 0, 0, 1, 1, 2, 2],
              [1, -1, 2, 2, 0, 1, 0],
              [0, 1, 1, 1, 1, 1, 1]], dtype=np.int8)


def matrix_of(path: Path, tmp_path: Path, metric: str = "ibs") -> tuple[np.ndarray, dict, Path]:
    out = tmp_path / f"out-{path.name}"
    out.mkdir(parents=True)
    summary = run_genome_distance(path, out, work_dir=tmp_path / f"work-{path.name}",
                                  metric=metric, plots=False)
    return np.load(out / "matrix.npy"), summary, out


@pytest.mark.parametrize("archive", ["zip", "deflated.zip", "tar.gz"])
def test_plink_fileset_equals_npy(tmp_path: Path, archive: str) -> None:
    files = write_plink(G, tmp_path / "cohort")
    path = tmp_path / f"cohort.{archive}"
    if archive == "tar.gz":
        tar_fileset(files, path)
    else:
        zip_fileset(files, path, zipfile.ZIP_DEFLATED if "deflated" in archive else
                    zipfile.ZIP_STORED)
    assert inspect_genotypes(path) == {"format": "plink", "n_samples": 5, "n_variants": 7}
    for metric in ("dot", "ibs", "king"):
        got, summary, out = matrix_of(path, tmp_path / metric, metric)
        np.testing.assert_allclose(got, REFERENCES[metric](G), rtol=1e-6)
    assert summary["format"] == "plink"
    ids = (out / "matrix.king.id").read_text().splitlines()
    assert ids[0] == "#FID\tIID" and ids[1] == "s0\ts0"


def test_bed_planes_equal_bed_reader(tmp_path: Path) -> None:
    # The .bed is packed without an int8 matrix: its planes and counts equal those of the
    # int8 matrix bed-reader reads from the same file.
    from bed_reader import open_bed

    g = np.random.default_rng(3).integers(-1, 3, size=(61, 150)).astype(np.int8)
    files = write_plink(g, tmp_path / "odd")
    with open_bed(files["bed"]) as bed:
        expected = bed.read(dtype="int8")
    expected[expected < 0] = -1
    cohort = load_genotypes(zip_fileset(files, tmp_path / "odd.zip"), tmp_path / "w")
    assert cohort.is_bed and cohort.shape == (61, 150)
    assert cohort.path.name == "odd.zip" and cohort.bed_offset > 0  # stored: read in place
    assert cohort.sample_ids[60] == ("s60", "s60")
    called, allele_sum = count_bed_block(0, 150, bed=str(cohort.path), n=61,
                                         offset=cohort.bed_offset)
    np.testing.assert_array_equal(called, (expected >= 0).sum(axis=0))
    np.testing.assert_array_equal(allele_sum, np.where(expected >= 0, expected, 0).sum(axis=0))
    keep = np.arange(3, 150, 2, dtype=np.int64)
    np.save(tmp_path / "keep.npy", keep)
    source = genotype_source(str(cohort.path), str(tmp_path / "keep.npy"),
                             (61, 150, cohort.bed_offset))
    reference = np.zeros((3, 61, 2), dtype=np.uint64)
    pack_rows(expected, keep, reference)
    np.testing.assert_array_equal(packed_rows(source, 0, 61), reference)
    np.testing.assert_array_equal(packed_rows(source, 5, 40), reference[:, 5:40])


@pytest.mark.parametrize("name", ["cohort.vcf", "cohort.vcf.gz"])
def test_vcf_equals_bed(tmp_path: Path, name: str) -> None:
    extra = ["1\t9000\tmulti\tA\tG,T\t.\tPASS\t.\tGT\t0/1\t0/2\t1/1\t0/0\t0/0",
             "1\t9100\tindel\tAT\tA\t.\tPASS\t.\tGT\t0/1\t0/1\t1/1\t0/0\t0/0"]
    vcf = write_vcf(G, tmp_path / name, extra_records=extra)
    bed = zip_fileset(write_plink(G, tmp_path / "cohort"), tmp_path / "cohort.zip")
    info = inspect_genotypes(vcf)
    assert info == {"format": "vcf", "n_samples": 5, "n_variants": None}
    for metric in ("dot", "allele-ct", "grm"):
        from_vcf, summary, out = matrix_of(vcf, tmp_path / f"v{metric}", metric)
        from_bed, _, _ = matrix_of(bed, tmp_path / f"b{metric}", metric)
        np.testing.assert_array_equal(from_vcf, from_bed)
    assert summary["skipped"] == {"multiallelic": 1, "not_snp": 1}
    assert summary["n_variants_skipped"] == 2 and summary["n_variants_used"] == 7
    assert (out / "samples.txt").read_text().split() == [f"s{i}" for i in range(5)]


def test_half_missing_vcf_call_is_missing(tmp_path: Path) -> None:
    vcf = write_vcf(G[:, :1], tmp_path / "a.vcf")
    lines = vcf.read_text().splitlines()
    lines[-1] = lines[-1].rsplit("\t", 5)[0] + "\t0/.\t1/1\t0/0\t0/1\t0/0"
    vcf.write_text("\n".join(lines) + "\n")
    cohort = load_genotypes(vcf, tmp_path / "w")
    np.testing.assert_array_equal(np.load(cohort.path)[:, 0], [-1, 2, 0, 1, 0])


# --------------------------------------------------------------------------- bad inputs


def plink_zip(tmp_path: Path, mutate, compression: int = zipfile.ZIP_STORED) -> Path:
    files = write_plink(G, tmp_path / "bad")
    mutate(files)
    return zip_fileset(files, tmp_path / "bad.zip", compression)


def truncate_bed(files: dict[str, Path]) -> None:
    data = files["bed"].read_bytes()
    files["bed"].write_bytes(data[:-2])


def wrong_magic(files: dict[str, Path]) -> None:
    data = files["bed"].read_bytes()
    files["bed"].write_bytes(b"\x00\x00" + data[2:])


def fewer_fam_lines(files: dict[str, Path]) -> None:
    lines = files["fam"].read_text().splitlines()
    files["fam"].write_text("\n".join(lines[:-1]) + "\n")


def more_fam_lines(files: dict[str, Path]) -> None:
    with open(files["fam"], "a") as fh:
        fh.writelines(f"x{k} x{k} 0 0 0 -9\n" for k in range(4))


@pytest.mark.parametrize("mutate,message", [
    (truncate_bed, "truncated"),
    (wrong_magic, "wrong magic bytes"),
    (fewer_fam_lines, "4 samples .* do not match"),
    (more_fam_lines, "9 samples .* do not match"),
])
@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_bad_plink_filesets(tmp_path: Path, mutate, message: str, compression: int) -> None:
    # A stored .bed is checked in place, a deflated one after extraction: the same errors.
    path = plink_zip(tmp_path, mutate, compression)
    with pytest.raises(InputError, match=message) as err:
        matrix_of(path, tmp_path)
    assert "bad.zip" in str(err.value)
    with pytest.raises(InputError, match=message):
        inspect_genotypes(path)  # the same check, at submit time


def test_archive_without_bed(tmp_path: Path) -> None:
    path = tmp_path / "nobed.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("x.fam", "a a 0 0 0 -9\n")
    with pytest.raises(InputError, match=r"expected one \.bed"):
        inspect_genotypes(path)


def test_vcf_without_samples(tmp_path: Path) -> None:
    path = tmp_path / "nosamples.vcf"
    path.write_text("##fileformat=VCFv4.2\n##contig=<ID=1>\n"
                    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n1\t100\t.\tA\tG\t.\t.\t.\n")
    with pytest.raises(InputError, match="no samples"):
        inspect_genotypes(path)


def test_vcf_haploid_call(tmp_path: Path) -> None:
    vcf = write_vcf(G[:, :2], tmp_path / "hap.vcf",
                    extra_records=["1\t5000\thap\tA\tG\t.\tPASS\t.\tGT\t0\t1\t0/1\t0/0\t1/1"])
    with pytest.raises(InputError, match=r"record 3: sample 1 \(column 10\) has a haploid") as err:
        matrix_of(vcf, tmp_path)
    assert "s0" not in str(err.value) and "5000" not in str(err.value)  # numbers, not data


def test_vcf_triploid_call(tmp_path: Path) -> None:
    vcf = write_vcf(G[:, :2], tmp_path / "tri.vcf",
                    extra_records=["1\t5000\ttri\tA\tG\t.\tPASS\t.\tGT\t0/0/1\t1/1\t0/1\t0/0\t1/1"])
    with pytest.raises(InputError, match="ploidy 3"):
        matrix_of(vcf, tmp_path)


def save(tmp_path: Path, arr: np.ndarray) -> Path:
    path = tmp_path / "g.npy"
    np.save(path, arr)
    return path


@pytest.mark.parametrize("arr,message", [
    (np.zeros((3, 4)), "float64 genotypes are not allowed"),
    (np.zeros(5, dtype=np.int8), "must be 2-D .* got 1-D"),
    (np.zeros((0, 4), dtype=np.int8), "at least 1 sample"),
    (np.array([[0, 1], [3, 0]]), "value 3 at row 1, column 0 is not a genotype"),
    (np.array([[0, -2]], dtype=np.int16), "value -2 at row 0, column 1"),
    (np.zeros((2, 2), dtype=bool), "bool genotypes are not allowed"),
])
def test_bad_npy(tmp_path: Path, arr: np.ndarray, message: str) -> None:
    path = save(tmp_path, arr)
    with pytest.raises(InputError, match=message):
        inspect_genotypes(path)
    with pytest.raises(InputError, match=message):
        matrix_of(path, tmp_path)


@pytest.mark.parametrize("name", ["empty.npy", "empty.vcf", "empty.zip", "empty.tar.gz"])
def test_empty_file(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"")
    with pytest.raises(InputError, match="empty file"):
        inspect_genotypes(path)


def test_not_an_npy(tmp_path: Path) -> None:
    path = tmp_path / "x.npy"
    path.write_bytes(b"hello world, not numpy")
    with pytest.raises(InputError, match="not a readable .npy"):
        inspect_genotypes(path)


def test_pickled_object_array_refused(tmp_path: Path) -> None:
    path = tmp_path / "obj.npy"
    buf = io.BytesIO()
    np.save(buf, np.array([[1, "a"]], dtype=object), allow_pickle=True)
    path.write_bytes(buf.getvalue())
    with pytest.raises(InputError):
        inspect_genotypes(path)


def test_unknown_extension(tmp_path: Path) -> None:
    path = tmp_path / "g.csv"
    path.write_text("0,1\n")
    with pytest.raises(InputError, match="unknown genotype file type"):
        inspect_genotypes(path)


def test_int64_npy_is_converted(tmp_path: Path) -> None:
    path = save(tmp_path, G.astype(np.int64))
    assert inspect_genotypes(path) == {"format": "npy", "n_samples": 5, "n_variants": 7}
    got, _, _ = matrix_of(path, tmp_path, "allele-ct")
    np.testing.assert_allclose(got, REFERENCES["allele-ct"](G), rtol=1e-6)


# --- zipped Zarr arrays -------------------------------------------------------------------


def write_zarr_zip(path: Path, array: np.ndarray, zarr_format: int = 3,
                   chunks: tuple[int, int] = (2, 3), group: bool = False) -> Path:
    import zarr
    from zarr.storage import ZipStore

    store = ZipStore(path, mode="w")
    try:
        if group:
            root = zarr.create_group(store=store, zarr_format=zarr_format)
            root.create_array("genotypes", shape=array.shape, chunks=chunks, dtype=array.dtype)
        else:
            z = zarr.create_array(store=store, shape=array.shape, chunks=chunks,
                                  dtype=array.dtype, zarr_format=zarr_format)
            z[:] = array
    finally:
        store.close()
    return path


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_zarr_equals_npy(tmp_path: Path, zarr_format: int) -> None:
    path = write_zarr_zip(tmp_path / "cohort.zarr.zip", G, zarr_format)
    assert inspect_genotypes(path) == {"format": "zarr", "n_samples": 5, "n_variants": 7}
    for metric in ("dot", "ibs", "king"):
        got, summary, _ = matrix_of(path, tmp_path / metric, metric)
        np.testing.assert_allclose(got, REFERENCES[metric](G), rtol=1e-6)
    assert summary["format"] == "zarr"


def test_zarr_int16_values_are_checked_when_read(tmp_path: Path) -> None:
    bad = G.astype(np.int16)
    bad[3, 4] = 7
    path = write_zarr_zip(tmp_path / "bad.zarr.zip", bad)
    with pytest.raises(InputError, match="value 7 at row 3, column 4"):
        matrix_of(path, tmp_path)


@pytest.mark.parametrize("make,message", [
    (lambda p: write_zarr_zip(p, G, group=True), "root is a group"),
    (lambda p: write_zarr_zip(p, G.astype(np.float32)), "float32 genotypes are not allowed"),
    (lambda p: write_zarr_zip(p, G[0], chunks=(3,)), "must be 2-D"),
    (lambda p: p.write_bytes(b"not a zip at all"), "not a readable zipped Zarr store"),
])
def test_bad_zarr_stores(tmp_path: Path, make, message: str) -> None:
    path = tmp_path / "bad.zarr.zip"
    make(path)
    with pytest.raises(InputError, match=message):
        inspect_genotypes(path)


def test_zarr_declaring_a_huge_shape_is_refused_before_expanding(tmp_path: Path) -> None:
    # A few kilobytes of store declaring 10^6 x 10^6 int8 genotypes (all fill value).
    import zarr
    from zarr.storage import ZipStore

    path = tmp_path / "bomb.zarr.zip"
    store = ZipStore(path, mode="w")
    zarr.create_array(store=store, shape=(10**6, 10**6), chunks=(1000, 1000), dtype="i1")
    store.close()
    with pytest.raises(InputError, match="refusing to expand"):
        inspect_genotypes(path)
