"""ICD-10-CM datasets: records agree with simple-icd-10-cm, the split is seeded and by code."""

from __future__ import annotations

import csv
import json

import pytest

from osler.kernels.text import datasets, icd10


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("icd")
    return out, icd10.build_icd10_datasets(out, limit=300, seed=1)


def _chapter_rows(out):
    with (out / icd10.CHAPTERS_FILE).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_records_agree_with_the_package(built):
    import simple_icd_10_cm as icd

    out, manifest = built
    rows = _chapter_rows(out)
    assert len(rows) == manifest["codes"] == 300
    assert len({r["code"] for r in rows}) == 300
    for row in rows:
        assert icd.is_leaf(row["code"])
        # whitespace runs (a few descriptions hold tabs) become single spaces
        assert row["text"] == " ".join(icd.get_description(row["code"]).split())
        chapter = icd.get_ancestors(row["code"])[-1]
        assert icd.is_chapter(chapter)
        assert row["label"] == chapter
        assert row["chapter_title"] == icd.get_description(chapter)


def test_split_is_80_10_10_by_code_and_files_agree(built):
    out, manifest = built
    rows = _chapter_rows(out)
    split_of = {r["code"]: r["split"] for r in rows}
    assert manifest["splits"] == {"train": 240, "val": 30, "test": 30}
    pairs = [json.loads(line) for line in
             (out / icd10.CODES_FILE).read_text(encoding="utf-8").splitlines()]
    assert [(p["code"], p["target"], p["split"]) for p in pairs] == [
        (r["code"], r["code"], r["split"]) for r in rows]
    corpus = (out / icd10.CORPUS_FILE).read_text(encoding="utf-8").splitlines()
    assert corpus == [r["text"] for r in rows if split_of[r["code"]] == "train"]


def test_same_seed_same_dataset_other_seed_differs(built, tmp_path):
    out, _ = built
    icd10.build_icd10_datasets(tmp_path / "a", limit=300, seed=1)
    icd10.build_icd10_datasets(tmp_path / "b", limit=300, seed=2)
    same = (tmp_path / "a" / icd10.CHAPTERS_FILE).read_bytes()
    assert same == (out / icd10.CHAPTERS_FILE).read_bytes()
    assert same != (tmp_path / "b" / icd10.CHAPTERS_FILE).read_bytes()


def test_files_load_with_the_text_dataset_readers(built):
    out, _ = built
    texts = datasets.read_labelled_texts(out / icd10.CHAPTERS_FILE)
    assert texts.splits is not None and len(texts.texts) == 300
    pairs = datasets.read_pairs(out / icd10.CODES_FILE, target_length=len, max_target_length=8)
    assert pairs.targets == [r["code"] for r in _chapter_rows(out)]
    assert datasets.read_documents(out / icd10.CORPUS_FILE)


def test_every_billable_code_once():
    import simple_icd_10_cm as icd

    codes = [r.code for r in icd10.billable_codes()]
    assert len(codes) == len(set(codes))
    assert set(codes) == {c for c in icd.get_all_codes(with_dots=True) if icd.is_leaf(c)}
