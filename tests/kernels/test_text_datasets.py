"""Dataset readers: good files parse, malformed files raise InputError naming the problem."""

from __future__ import annotations

import json

import numpy as np
import pytest

from osler.kernels.errors import InputError
from osler.kernels.text import datasets


def test_documents_skip_empty_lines(tmp_path):
    path = tmp_path / "c.txt"
    path.write_text("first doc\n\n  \nsecond doc\r\n", encoding="utf-8")
    assert datasets.read_documents(path) == ["first doc", "second doc"]


@pytest.mark.parametrize("name", ["c.txt", "c.jsonl"])
def test_only_empty_lines_is_an_error(tmp_path, name):
    path = tmp_path / name
    path.write_text("\n   \n\n", encoding="utf-8")
    reader = datasets.read_documents if name.endswith(".txt") else datasets.read_pairs
    with pytest.raises(InputError, match=f"{name}: the file has only empty lines"):
        reader(path)


def test_csv_with_only_header_and_blank_rows_is_an_error(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("text,label\n\n,\n", encoding="utf-8")
    with pytest.raises(InputError, match="no data rows"):
        datasets.read_labelled_texts(path)


def test_tsv_with_custom_columns_and_split(tmp_path):
    path = tmp_path / "d.tsv"
    path.write_text("note\tdx\tsplit\nchest pain, acute\tcardio\ttrain\n\n"
                    "hip fracture\tortho\tTEST\n", encoding="utf-8")
    data = datasets.read_labelled_texts(path, text_column="note", label_column="dx")
    assert data.texts == ["chest pain, acute", "hip fracture"]
    assert data.labels == ["cardio", "ortho"]
    assert data.lines == [2, 4]
    assert data.splits == ["train", "test"]


def test_missing_column_is_named(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("note,label\nchest pain,cardio\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"d.csv: missing column\(s\) 'text'; the header has"):
        datasets.read_labelled_texts(path)


def test_empty_label_names_the_line(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("text,label\nchest pain,cardio\nhip fracture,\n", encoding="utf-8")
    with pytest.raises(InputError, match="d.csv line 3: empty 'label'"):
        datasets.read_labelled_texts(path)


def test_bad_split_value_names_the_line(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("text,label,split\nchest pain,cardio,holdout\n", encoding="utf-8")
    with pytest.raises(InputError, match="line 2: split must be one of"):
        datasets.read_labelled_texts(path)


def _write_jsonl(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_pairs_parse_with_line_numbers(tmp_path):
    path = tmp_path / "p.jsonl"
    _write_jsonl(path, [json.dumps({"source": "acute MI", "target": "I21.9"}), "",
                        json.dumps({"source": "hip fracture", "target": "S72.009A"})])
    pairs = datasets.read_pairs(path)
    assert pairs.sources == ["acute MI", "hip fracture"]
    assert pairs.targets == ["I21.9", "S72.009A"]
    assert pairs.lines == [1, 3]
    assert pairs.splits is None


def test_bad_json_line_is_named_one_based(tmp_path):
    path = tmp_path / "p.jsonl"
    _write_jsonl(path, [json.dumps({"source": "a", "target": "b"}), "", '{"source": "a", '])
    with pytest.raises(InputError, match="p.jsonl line 3: not valid JSON"):
        datasets.read_pairs(path)


@pytest.mark.parametrize(("record", "message"), [
    ({"source": "a"}, "line 1: missing field 'target'"),
    ({"source": "a", "target": 5}, "line 1: field 'target' must be a string"),
    ({"source": " ", "target": "b"}, "line 1: field 'source' is empty"),
    (["a", "b"], "line 1: expected a JSON object"),
])
def test_bad_records_are_named(tmp_path, record, message):
    path = tmp_path / "p.jsonl"
    _write_jsonl(path, [json.dumps(record)])
    with pytest.raises(InputError, match=message):
        datasets.read_pairs(path)


def test_target_longer_than_limit_names_the_line(tmp_path):
    path = tmp_path / "p.jsonl"
    _write_jsonl(path, [json.dumps({"source": "a", "target": "abc"}),
                        json.dumps({"source": "b", "target": "abcdef"})])
    with pytest.raises(InputError, match="p.jsonl line 2: target has 6 tokens, longer than the "
                                         "limit max_target_length=5"):
        datasets.read_pairs(path, target_length=len, max_target_length=5)


def test_signals_read_and_validate(tmp_path):
    x = np.arange(24, dtype=np.float64).reshape(3, 4, 2)
    np.savez(tmp_path / "s.npz", x=x, y=np.array([0, 1, 0]))
    signals = datasets.read_signals(tmp_path / "s.npz")
    np.testing.assert_array_equal(signals.x, x.astype(np.float32))
    assert signals.labels == ["0", "1", "0"]

    np.savez(tmp_path / "noy.npz", x=x)
    with pytest.raises(InputError, match="noy.npz: missing array\\(s\\) 'y'"):
        datasets.read_signals(tmp_path / "noy.npz")
    np.savez(tmp_path / "flat.npz", x=x.reshape(3, 8), y=np.array([0, 1, 0]))
    with pytest.raises(InputError, match="samples × steps × features"):
        datasets.read_signals(tmp_path / "flat.npz")
    np.savez(tmp_path / "short.npz", x=x, y=np.array([0, 1]))
    with pytest.raises(InputError, match="one label per sample"):
        datasets.read_signals(tmp_path / "short.npz")


def test_random_split_is_seeded_and_partitions_rows():
    a = datasets.assign_splits(50, None, val_fraction=0.1, test_fraction=0.2, seed=3)
    b = datasets.assign_splits(50, None, val_fraction=0.1, test_fraction=0.2, seed=3)
    assert all(np.array_equal(a[k], b[k]) for k in datasets.SPLITS)
    assert (len(a["train"]), len(a["val"]), len(a["test"])) == (35, 5, 10)
    assert sorted(np.concatenate(list(a.values())).tolist()) == list(range(50))


def test_labels_sort_numerically_when_integers():
    assert datasets.sorted_labels(["10", "2", "1", "2"]) == ["1", "2", "10"]
    assert datasets.sorted_labels(["b", "a", "10"]) == ["10", "a", "b"]
