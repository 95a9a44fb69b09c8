"""The .bed -> planes / counts kernels against the int8 reference path of genome_metrics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from osler.kernels.genome import bed as bed_planes
from osler.kernels.genome.bed import bed_rows, count_bed_block, pack_bed_samples, pack_bed_words
from osler.kernels.genome.metrics import count_rows, pack_rows

SAMPLES = [1, 3, 63, 64, 65, 130, 257]
VARIANTS = [1, 63, 64, 65, 200]


def random_genotypes(n: int, m: int, seed: int, missing_rate: float = 0.05) -> np.ndarray:
    """int8 (samples x variants) allele counts 0/1/2 with about 5% of calls missing (-1)."""
    rng = np.random.default_rng(seed)
    g = rng.integers(0, 3, size=(n, m), dtype=np.int8)
    g[rng.random((n, m)) < missing_rate] = -1
    return g


def write_bed(g: np.ndarray, path: Path, garbage_padding: bool = False) -> Path:
    """A SNP-major PLINK 1 .bed of ``g``; padding bits of each row's last byte are 0 or 1."""
    n, m = g.shape
    per_variant = (n + 3) // 4
    # A1 count -> code: 2 -> 00, missing -> 01, 1 -> 10, 0 -> 11 (index g + 1)
    codes = np.array([1, 3, 2, 0], dtype=np.uint8)[g.T.astype(np.int64) + 1]
    fill = 3 if garbage_padding else 0
    padded = np.full((m, per_variant * 4), fill, dtype=np.uint8)
    padded[:, :n] = codes
    quads = padded.reshape(m, per_variant, 4)
    rows = quads[..., 0] | (quads[..., 1] << 2) | (quads[..., 2] << 4) | (quads[..., 3] << 6)
    path.write_bytes(b"\x6c\x1b\x01" + rows.astype(np.uint8).tobytes())
    return path


def reference_counts(g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    called = np.zeros(g.shape[1], dtype=np.int32)
    allele_sum = np.zeros(g.shape[1], dtype=np.int32)
    count_rows(g, called, allele_sum)
    return called.astype(np.int64), allele_sum.astype(np.int64)


def reference_planes(g: np.ndarray, keep: np.ndarray) -> np.ndarray:
    planes = np.zeros((3, g.shape[0], (keep.shape[0] + 63) // 64), dtype=np.uint64)
    pack_rows(g, keep, planes)
    return planes


def pack_in_pieces(tmp_path: Path, bed: Path, n: int, keep: np.ndarray,
                   bounds: list[int]) -> np.ndarray:
    """Planes filled by pack_bed_words over the word ranges bounds[i]:bounds[i + 1]."""
    words = (keep.shape[0] + 63) // 64
    planes = np.full((3, n, words), 0xDEADBEEFDEADBEEF, dtype=np.uint64)  # all overwritten
    rows = np.asarray(bed_rows(str(bed), n, 0, (bed.stat().st_size - 3) // ((n + 3) // 4)))
    kept = np.ascontiguousarray(keep, dtype=np.int64)
    for w0, w1 in zip(bounds[:-1], bounds[1:], strict=True):
        block = np.empty((3, n, w1 - w0), dtype=np.uint64)
        pack_bed_words(rows, n, kept, w0, w1, block)
        planes[:, :, w0:w1] = block
    return planes


def samples_in_pieces(bed: Path, n: int, keep: np.ndarray, bounds: list[int]) -> np.ndarray:
    """Planes packed by pack_bed_samples over the sample ranges bounds[i]:bounds[i + 1]."""
    words = (keep.shape[0] + 63) // 64
    rows = np.asarray(bed_rows(str(bed), n, 0, (bed.stat().st_size - 3) // ((n + 3) // 4)))
    kept = np.ascontiguousarray(keep, dtype=np.int64)
    parts = []
    for s0, s1 in zip(bounds[:-1], bounds[1:], strict=True):
        block = np.full((3, s1 - s0, words), 0xDEADBEEFDEADBEEF, dtype=np.uint64)
        pack_bed_samples(rows, n, kept, s0, s1, block)
        parts.append(block)
    return np.concatenate(parts, axis=1)


def word_bounds(words: int, rng: np.random.Generator) -> list[int]:
    """0, a few random interior cut points, words."""
    inner = rng.choice(np.arange(1, words), size=min(2, words - 1), replace=False)
    return [0, *sorted(int(x) for x in inner), words]


def count_in_pieces(bed: Path, n: int, m: int, bounds: list[int]) -> tuple[np.ndarray, ...]:
    parts = [count_bed_block(v0, v1, bed=str(bed), n=n)
             for v0, v1 in zip(bounds[:-1], bounds[1:], strict=True)]
    for called, allele_sum in parts:
        assert called.dtype == np.int64 and allele_sum.dtype == np.int64
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


@pytest.mark.parametrize("m", VARIANTS)
@pytest.mark.parametrize("n", SAMPLES)
def test_counts_match_count_rows(tmp_path: Path, n: int, m: int) -> None:
    # Given random genotypes written as a .bed, when counted per variant block, then the
    # called calls and allele sums equal count_rows on the int8 matrix.
    g = random_genotypes(n, m, seed=n * 1000 + m)
    bed = write_bed(g, tmp_path / "g.bed")
    called, allele_sum = reference_counts(g)
    for bounds in ([0, m], sorted({0, m // 3, m // 2, m})):
        got_called, got_sum = count_in_pieces(bed, n, m, bounds)
        np.testing.assert_array_equal(got_called, called)
        np.testing.assert_array_equal(got_sum, allele_sum)


@pytest.mark.parametrize("n", [1, 7, 65, 130])
def test_counts_of_the_samples_from_first_on(tmp_path: Path, n: int) -> None:
    # Given a .bed whose last byte holds padding bits set, when only samples first:n are
    # counted (an extension counts its new samples), from every first sample 0..n (inside a
    # byte, on a byte, in the last byte, none), then the counts are those of g[first:] alone.
    g = random_genotypes(n, 90, seed=n)
    bed = write_bed(g, tmp_path / "g.bed", garbage_padding=True)
    for first in range(n + 1):
        called, allele_sum = count_bed_block(0, 90, bed=str(bed), n=n, first=first)
        later = g[first:]
        np.testing.assert_array_equal(called, (later >= 0).sum(axis=0))
        np.testing.assert_array_equal(allele_sum, np.where(later >= 0, later, 0).sum(axis=0))


@pytest.mark.parametrize("subset", [False, True], ids=["all", "subset"])
@pytest.mark.parametrize("m", VARIANTS)
@pytest.mark.parametrize("n", SAMPLES)
def test_planes_match_pack_rows(tmp_path: Path, n: int, m: int, subset: bool) -> None:
    # Given a .bed and kept variants (all, or a random sorted subset), when packed in word
    # ranges into one planes file, then all three planes (padding bits too) equal pack_rows.
    rng = np.random.default_rng(n * 1000 + m + subset)
    g = random_genotypes(n, m, seed=n * 1000 + m)
    bed = write_bed(g, tmp_path / "g.bed")
    if subset:
        keep = np.sort(rng.choice(m, size=int(rng.integers(1, m + 1)), replace=False))
    else:
        keep = np.arange(m)
    keep = keep.astype(np.int64)
    expected = reference_planes(g, keep)
    words = expected.shape[2]
    for bounds in ([0, words], word_bounds(words, rng)):
        planes = pack_in_pieces(tmp_path, bed, n, keep, bounds)
        assert planes.dtype == np.uint64 and planes.shape == expected.shape
        np.testing.assert_array_equal(planes, expected)


@pytest.mark.parametrize("subset", [False, True], ids=["all", "subset"])
def test_planes_across_word_groups_and_sample_chunks(tmp_path: Path, subset: bool) -> None:
    # Given more samples than one column chunk and more words than one word group, when
    # packed in ranges that straddle both, then the planes equal pack_rows.
    n = bed_planes.COLUMN_CHUNK * 32 + 70
    m = 64 * (bed_planes.WORD_GROUP + 1) + 5
    rng = np.random.default_rng(11)
    g = random_genotypes(n, m, seed=11)
    bed = write_bed(g, tmp_path / "g.bed")
    keep = np.arange(m, dtype=np.int64)
    if subset:
        keep = np.sort(rng.choice(m, size=m - 500, replace=False)).astype(np.int64)
    expected = reference_planes(g, keep)
    words = expected.shape[2]
    planes = pack_in_pieces(tmp_path, bed, n, keep, [0, 3, words - 1, words])
    np.testing.assert_array_equal(planes, expected)
    called, allele_sum = reference_counts(g)
    got = count_in_pieces(bed, n, m, [0, 1000, m])
    np.testing.assert_array_equal(got[0], called)
    np.testing.assert_array_equal(got[1], allele_sum)


@pytest.mark.parametrize("n", [1, 2, 3, 65, 130])
def test_garbage_padding_bits_are_ignored(tmp_path: Path, n: int) -> None:
    # Given a .bed whose last byte per row has its padding bits set to 1 (code 11, hom A2),
    # when counted and packed, then the result is that of the clean file.
    m = 70
    g = random_genotypes(n, m, seed=n)
    bed = write_bed(g, tmp_path / "g.bed", garbage_padding=True)
    raw = np.fromfile(bed, dtype=np.uint8)[3:].reshape(m, -1)
    if n % 4:
        assert (raw[:, -1] >> (2 * (n % 4)) == 0xFF >> (2 * (n % 4))).all()
    called, allele_sum = reference_counts(g)
    got_called, got_sum = count_in_pieces(bed, n, m, [0, 33, m])
    np.testing.assert_array_equal(got_called, called)
    np.testing.assert_array_equal(got_sum, allele_sum)
    keep = np.arange(m, dtype=np.int64)
    planes = pack_in_pieces(tmp_path, bed, n, keep, [0, 1, 2])
    np.testing.assert_array_equal(planes, reference_planes(g, keep))


def test_writer_round_trips_through_bed_reader(tmp_path: Path) -> None:
    # The test's .bed writer agrees with bed-reader (PLINK's A1 count).
    from bed_reader import open_bed

    n, m = 130, 65
    g = random_genotypes(n, m, seed=5)
    bed = write_bed(g, tmp_path / "g.bed", garbage_padding=True)
    (tmp_path / "g.fam").write_text("".join(f"s{i} s{i} 0 0 0 -9\n" for i in range(n)))
    (tmp_path / "g.bim").write_text("".join(f"1 v{v} 0 {v + 1} A C\n" for v in range(m)))
    with open_bed(bed) as reader:
        decoded = reader.read(dtype="int8")
    decoded[decoded < 0] = -1
    np.testing.assert_array_equal(decoded, g)


def test_bed_rows_maps_a_variant_range(tmp_path: Path) -> None:
    n, m = 10, 7
    g = random_genotypes(n, m, seed=3)
    bed = write_bed(g, tmp_path / "g.bed")
    raw = np.fromfile(bed, dtype=np.uint8)[3:].reshape(m, 3)
    rows = bed_rows(str(bed), n, 2, 5)
    assert rows.dtype == np.uint8 and rows.shape == (3, 3)
    np.testing.assert_array_equal(rows, raw[2:5])
    assert bed_rows(str(bed), n, 4, 4).shape == (0, 3)


def test_pack_bed_words_leaves_extra_columns_alone() -> None:
    # out may be wider than w1 - w0: only its first w1 - w0 words are written; words past the
    # last kept variant come out zero.
    n, m = 5, 70
    g = random_genotypes(n, m, seed=9)
    codes = np.array([1, 3, 2, 0], dtype=np.uint8)[g.T.astype(np.int64) + 1]
    padded = np.zeros((m, 8), dtype=np.uint8)
    padded[:, :n] = codes
    q = padded.reshape(m, 2, 4)
    rows = (q[..., 0] | (q[..., 1] << 2) | (q[..., 2] << 4) | (q[..., 3] << 6)).astype(np.uint8)
    keep = np.arange(m, dtype=np.int64)
    out = np.full((3, n, 4), 7, dtype=np.uint64)
    pack_bed_words(rows, n, keep, 1, 3, out)
    expected = reference_planes(g, keep)
    np.testing.assert_array_equal(out[:, :, 0], expected[:, :, 1])
    assert (out[:, :, 1] == 0).all()  # word 2 holds no kept variant
    assert (out[:, :, 2:] == 7).all()


@pytest.mark.parametrize("n", [1, 33, 64, 130, 257])
@pytest.mark.parametrize("subset", [False, True])
def test_sample_ranges_match_pack_rows(tmp_path: Path, n: int, subset: bool) -> None:
    # A tile packs only its samples: ranges that start and end inside 32-sample words, packed
    # one by one, equal the whole matrix packed from int8.
    m = 150
    g = random_genotypes(n, m, seed=n + 7)
    bed = write_bed(g, tmp_path / "g.bed", garbage_padding=True)
    rng = np.random.default_rng(n)
    keep = (np.sort(rng.choice(m, size=97, replace=False)) if subset
            else np.arange(m)).astype(np.int64)
    cuts = sorted({0, n, *(int(x) for x in rng.integers(0, n + 1, size=3))})
    got = samples_in_pieces(bed, n, keep, cuts)
    np.testing.assert_array_equal(got, reference_planes(g, keep))
