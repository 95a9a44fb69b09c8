"""What is read from a stored file is read once per process (osler.kernels.file_memo)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from osler.kernels.errors import InputError
from osler.kernels.file_memo import remembered
from osler.workers.kinds.molecules import _record_count


def test_a_check_runs_once_per_file_and_options(tmp_path: Path) -> None:
    reads: list[tuple[str, int]] = []

    @remembered
    def lines(path: Path, *, at_most: int) -> int:
        reads.append((path.name, at_most))
        return min(at_most, len(path.read_text().splitlines()))

    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("1\n2\n3\n")
    b.write_text("1\n")
    assert [lines(a, at_most=10), lines(a, at_most=10), lines(b, at_most=10)] == [3, 3, 1]
    assert lines(a, at_most=2) == 2
    assert reads == [("a.txt", 10), ("b.txt", 10), ("a.txt", 2)]

    # A file replaced at the same path (another size, inode or time) is a new file: read again.
    a.unlink()
    a.write_text("1\n2\n3\n4\n")
    os.utime(a, ns=(1, 1))
    assert lines(a, at_most=10) == 4
    assert reads[-1] == ("a.txt", 10)


def test_a_failed_check_is_not_remembered(tmp_path: Path) -> None:
    calls = []

    @remembered
    def refuse(path: Path) -> None:
        calls.append(path)
        raise InputError(f"{path.name}: unreadable")

    bad = tmp_path / "bad.smi"
    bad.write_text("x\n")
    for _ in range(2):
        with pytest.raises(InputError, match="unreadable"):
            refuse(bad)
    assert len(calls) == 2


def test_molecule_counts_are_the_files_own(tmp_path: Path) -> None:
    library = tmp_path / "library.csv"
    library.write_text("smiles,id\nCCO,1\nc1ccccc1,2\nCC(=O)O,3\n")
    columns = {"smiles_column": "smiles", "id_column": "id", "max_bytes": 1 << 20}
    assert _record_count(library, **columns) == 3
    assert _record_count(library, **columns) == 3
    with pytest.raises(InputError, match="structure"):
        _record_count(library, **{**columns, "smiles_column": "structure"})


def test_a_stored_plink_fileset_is_parsed_once_per_process(tmp_path: Path) -> None:
    import zipfile

    from osler.kernels.genome.genotypes import _plink_in_place, _plink_parsed, load_genotypes
    from tests.kernels.genome_data import simulate_cohort, tar_fileset, write_plink, zip_fileset

    g = simulate_cohort(n_samples=9, min_variants=300)
    files = write_plink(g, tmp_path / "cohort")
    stored = zip_fileset(files, tmp_path / "stored.zip", compression=zipfile.ZIP_STORED)
    fresh = _plink_parsed(stored, tmp_path / "parsed")
    first = load_genotypes(stored, tmp_path / "job-1")
    again = load_genotypes(stored, tmp_path / "job-2")
    assert first == again == fresh  # the remembered fileset is the one a parse gives
    assert not (tmp_path / "job-2" / "plink").exists()  # nothing extracted for the later job
    # a .bed that is extracted for each job (deflated in the zip, or in a .tar.gz) is not kept
    deflated = zip_fileset(files, tmp_path / "deflated.zip", compression=zipfile.ZIP_DEFLATED)
    assert _plink_in_place(deflated) is None
    assert _plink_in_place(tar_fileset(files, tmp_path / "cohort.tar.gz")) is None
    assert load_genotypes(deflated, tmp_path / "job-3").shape == fresh.shape
