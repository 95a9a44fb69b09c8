"""Reading molecule files and fingerprinting them: positions, ids, invalid records, RDKit bits."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

from osler.kernels.bits import pack_bits, unpack_bits
from osler.kernels.errors import InputError
from osler.kernels.molecules.fingerprints import (
    FingerprintSpec,
    dataset_fingerprints,
    fingerprint_texts,
)
from osler.kernels.molecules.readers import (
    count_records,
    detect_format,
    read_fingerprint_array,
    read_molecules,
)
from tests.kernels.molecule_data import (
    NCI_INVALID_LINE,
    NCI_SDF,
    NCI_SMI,
    nci_lines,
    rdkit_fps,
    write_smi,
)


def test_smi_keeps_line_numbers_and_ids(tmp_path):
    lines = nci_lines(4)
    path = write_smi(tmp_path / "a.smi", [lines[0], "", "# comment", lines[1], "CCO", lines[2]])
    rec = read_molecules(path)
    assert rec.numbers.tolist() == [1, 4, 5, 6]
    assert rec.ids == [lines[0].split()[1], lines[1].split()[1], "5", lines[2].split()[1]]
    assert rec.texts[2] == "CCO"
    assert count_records(path) == 4


def test_invalid_nci_smiles_reported_at_its_line(tmp_path):
    # Given the real NCI file, whose line 2098 RDKit rejects
    from rdkit import Chem

    raw = NCI_SMI.read_text().splitlines()[NCI_INVALID_LINE - 1].split()
    assert Chem.MolFromSmiles(raw[0]) is None
    # When it is fingerprinted
    fs = dataset_fingerprints(NCI_SMI, sha256="nci", cache_dir=tmp_path, spec=FingerprintSpec())
    # Then the record is reported with that 1-based line number and its id, and skipped
    bad = {r.number: r for r in fs.invalid}
    assert bad[NCI_INVALID_LINE].id == raw[1]
    assert "valence" in bad[NCI_INVALID_LINE].reason
    assert len(fs) + len(fs.invalid) == count_records(NCI_SMI) == 4999
    for number in bad:  # every reported line really fails in RDKit
        smiles = NCI_SMI.read_text().splitlines()[number - 1].split()[0]
        assert Chem.MolFromSmiles(smiles) is None
    assert NCI_INVALID_LINE not in fs.numbers


def test_syntax_errors_and_empty_cells_in_csv(tmp_path):
    path = tmp_path / "lib.csv"
    path.write_text('id,name,smiles\nm1,"two\nlines",CCO\nm2,x,C1CC\nm3,y,\nm4,z,c1ccccc1\n')
    fs = dataset_fingerprints(path, sha256="csv", cache_dir=tmp_path / "c", spec=FingerprintSpec())
    assert fs.ids == ["m1", "m4"]
    assert fs.numbers.tolist() == [2, 6]  # the quoted newline makes m1 span lines 2-3
    assert [(r.number, r.id) for r in fs.invalid] == [(4, "m2"), (5, "m3")]
    assert fs.invalid[0].reason == "SMILES syntax error"
    assert fs.invalid[1].reason == "empty SMILES"
    assert count_records(path) == 4


def test_csv_missing_smiles_column_names_it(tmp_path):
    path = tmp_path / "lib.csv"
    path.write_text("id,structure\n1,CCO\n")
    with pytest.raises(InputError, match=r"lib\.csv has no column 'smiles'"):
        read_molecules(path)
    with pytest.raises(InputError, match="'smiles'"):
        count_records(path)
    with pytest.raises(InputError, match="'chembl_id'"):
        read_molecules(path, smiles_column="structure", id_column="chembl_id")


def test_csv_default_id_falls_back_to_line_numbers_and_case_insensitive_columns(tmp_path):
    path = tmp_path / "lib.csv"
    path.write_text("SMILES\nCCO\nCCN\n")
    rec = read_molecules(path)
    assert rec.ids == ["2", "3"] and rec.texts == ["CCO", "CCN"]


def test_tsv_and_gzip(tmp_path):
    path = tmp_path / "lib.tsv.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("name\tsmiles\tid\nethanol\tCCO\tE1\nbenzene\tc1ccccc1\tB1\n")
    assert detect_format(path) == "tsv"
    rec = read_molecules(path)
    assert rec.ids == ["E1", "B1"] and rec.numbers.tolist() == [2, 3]


def test_sdf_ids_from_title_and_record_numbers(tmp_path):
    from rdkit import Chem

    blocks = []
    for name, smi in [("aspirin", "CC(=O)Oc1ccccc1C(=O)O"), ("", "CCO"), ("caffeine",
                                                                       "Cn1cnc2n(C)c(=O)n(C)c(=O)c12")]:
        mol = Chem.MolFromSmiles(smi)
        mol.SetProp("_Name", name)
        blocks.append(Chem.MolToMolBlock(mol) + "> <note>\nx\n\n$$$$\n")
    blocks.insert(2, "broken\n  RDKit\n\n  1  0  0  0  0  0  0  0  0  0999 V2000\nM  END\n$$$$\n")
    path = tmp_path / "mols.sdf"
    path.write_text("".join(blocks))
    fs = dataset_fingerprints(path, sha256="sdf", cache_dir=tmp_path / "c", spec=FingerprintSpec())
    assert fs.ids == ["aspirin", "2", "caffeine"]
    assert fs.numbers.tolist() == [1, 2, 4]
    assert fs.unit == "record"
    assert [(r.number, r.id) for r in fs.invalid] == [(3, "broken")]
    assert fs.smiles[1] == "CCO"
    assert count_records(path) == 4


def test_rdkit_sdf_file_reads_all_records():
    rec = read_molecules(NCI_SDF)
    assert len(rec) == count_records(NCI_SDF) == 200
    assert rec.numbers[-1] == 200


@pytest.mark.parametrize("kind,radius,fp_size", [("morgan", 2, 2048), ("morgan", 3, 1024),
                                                 ("feature-morgan", 2, 2048), ("maccs", 2, 2048),
                                                 ("rdkit", 2, 512)])
def test_packed_bits_equal_rdkit_fingerprints(kind, radius, fp_size):
    smiles = [line.split()[0] for line in nci_lines(60)]
    spec = FingerprintSpec(kind, radius, fp_size)
    packed, valid, reasons, _ = fingerprint_texts(smiles, spec)
    ref = [fp for fp in rdkit_fps(smiles, kind, radius, fp_size) if fp is not None]
    assert valid.sum() == len(ref) and not reasons
    bits = unpack_bits(packed, spec.n_bits)
    for fp, row in zip(ref, bits, strict=True):
        assert list(fp.GetOnBits()) == np.flatnonzero(row).tolist()


def test_pack_bits_order():
    bits = np.zeros((1, 130), np.uint8)
    bits[0, [0, 63, 64, 129]] = 1
    assert pack_bits(bits).tolist() == [[1 | (1 << 63), 1, 2]]
    assert np.array_equal(unpack_bits(pack_bits(bits), 130), bits)


def test_npy_bit_matrix_and_packed_words(tmp_path):
    rng = np.random.default_rng(0)
    bits = (rng.random((5, 100)) < 0.2).astype(np.uint8)
    np.save(tmp_path / "bits.npy", bits)
    np.save(tmp_path / "words.npy", pack_bits(bits))
    packed, n_bits = read_fingerprint_array(tmp_path / "bits.npy")
    assert n_bits == 100 and np.array_equal(packed, pack_bits(bits))
    packed2, n_bits2 = read_fingerprint_array(tmp_path / "words.npy")
    assert n_bits2 == 128 and np.array_equal(packed2, packed)
    assert count_records(tmp_path / "bits.npy") == 5
    bits[3, 7] = 2
    np.save(tmp_path / "bad.npy", bits)
    with pytest.raises(InputError, match="record 4"):
        read_fingerprint_array(tmp_path / "bad.npy")
    np.save(tmp_path / "flat.npy", np.zeros(4))
    with pytest.raises(InputError, match="2-D"):
        count_records(tmp_path / "flat.npy")


def test_unreadable_file_is_input_error(tmp_path):
    with pytest.raises(InputError, match="missing.smi"):
        count_records(tmp_path / "missing.smi")
    (tmp_path / "latin.smi").write_bytes(b"CCO caf\xe9\n")
    with pytest.raises(InputError, match="UTF-8"):
        read_molecules(tmp_path / "latin.smi")


def test_all_invalid_file_is_input_error(tmp_path):
    path = write_smi(tmp_path / "bad.smi", ["C1CC a", "N(C)(C)(C)(C)C b", "xyz c"])
    with pytest.raises(InputError, match="no valid molecule"):
        dataset_fingerprints(path, sha256="bad", cache_dir=tmp_path / "c", spec=FingerprintSpec())
    assert not list((tmp_path / "c").iterdir())  # no half-written cache entry left


def test_cache_is_reused_and_keyed_by_params(tmp_path):
    path = write_smi(tmp_path / "a.smi", nci_lines(30))
    spec = FingerprintSpec()
    first = dataset_fingerprints(path, sha256="a", cache_dir=tmp_path / "c", spec=spec)
    again = dataset_fingerprints(path, sha256="a", cache_dir=tmp_path / "c", spec=spec)
    other = dataset_fingerprints(path, sha256="a", cache_dir=tmp_path / "c",
                                 spec=FingerprintSpec("morgan", 3, 2048))
    assert not first.from_cache and again.from_cache and not other.from_cache
    assert np.array_equal(first.load(), again.load())
    assert again.ids == first.ids and again.smiles == first.smiles
    assert first.fps_path.parent != other.fps_path.parent
    entries = sorted(p.name for p in (tmp_path / "c").iterdir())
    assert len(entries) == 2 and all(e.startswith("a-") for e in entries)
    meta = json.loads((first.fps_path.parent / "meta.json").read_text())
    assert meta["params"] == {"fingerprint": "morgan", "n_bits": 2048, "radius": 2}


def test_bad_fingerprint_params():
    with pytest.raises(InputError, match="unknown fingerprint"):
        FingerprintSpec("ecfp4")
    with pytest.raises(InputError, match="fp_size"):
        FingerprintSpec(fp_size=0)
