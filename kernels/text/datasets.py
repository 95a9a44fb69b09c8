"""Readers for the text and sequence dataset formats, with errors that name file and line.

Formats
-------
plain text (``.txt``)
    One document per line, UTF-8. Empty lines are skipped.
CSV / TSV (``.csv``, ``.tsv``, ``.tab``)
    A header row, then one record per row; the text and label columns are named by parameters
    (defaults ``text`` and ``label``). An optional ``split`` column with values ``train``, ``val``
    or ``test`` fixes the split; otherwise the kernels split at random with a seed.
JSONL (``.jsonl``, ``.json``)
    One JSON object per line with ``source`` and ``target`` strings (names are parameters), and an
    optional ``split`` as above. Empty lines are skipped.
numeric signals (``.npz``)
    ``x``: float array samples × steps × features; ``y``: one label per sample.

Line numbers in messages are 1-based and count the header. Messages never quote the text itself.
"""

from __future__ import annotations

import csv
import json
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from osler.kernels.errors import InputError

SPLITS = ("train", "val", "test")
"""Allowed values of a ``split`` column or field."""

DELIMITERS = {".csv": ",", ".tsv": "\t", ".tab": "\t"}
"""Column delimiter by file extension."""


@dataclass(frozen=True)
class LabelledTexts:
    """Texts with one label each; ``lines`` are the 1-based file lines; ``splits`` may be None."""

    texts: list[str]
    labels: list[str]
    lines: list[int]
    splits: list[str] | None


@dataclass(frozen=True)
class TextPairs:
    """Source → target pairs; ``lines`` are the 1-based file lines; ``splits`` may be None."""

    sources: list[str]
    targets: list[str]
    lines: list[int]
    splits: list[str] | None


@dataclass(frozen=True)
class Signals:
    """Numeric sequences ``x`` (samples × steps × features, float32) with string labels."""

    x: np.ndarray
    labels: list[str]


def _open_text(path: Path):
    if not path.is_file():
        raise InputError(f"{path.name}: file not found")
    return path.open("r", encoding="utf-8", newline="")


def _read_lines(path: Path) -> list[tuple[int, str]]:
    """(1-based line number, line without its newline), reporting the line of bad UTF-8."""
    out: list[tuple[int, str]] = []
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InputError(f"{path.name} line {number}: not valid UTF-8") from exc
            out.append((number, line.rstrip("\r\n")))
    return out


def read_documents(path: Path) -> list[str]:
    """Read a plain-text file of one document per line, skipping empty lines.

    Raises
    ------
    InputError
        If the file is missing, is not UTF-8, or has only empty lines.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path.name}: file not found")
    docs = [line for _, line in _read_lines(path) if line.strip()]
    if not docs:
        raise InputError(f"{path.name}: the file has only empty lines")
    return docs


def _check_split(path: Path, line: int, value: str) -> str:
    value = value.strip().lower()
    if value not in SPLITS:
        raise InputError(f"{path.name} line {line}: split must be one of {SPLITS}")
    return value


def read_labelled_texts(path: Path, *, text_column: str = "text", label_column: str = "label",
                        split_column: str | None = "split") -> LabelledTexts:
    """Read a CSV or TSV file of labelled texts.

    Rows whose cells are all empty are skipped. ``split_column`` is used when the header has it.

    Raises
    ------
    InputError
        Missing file or column, a row with an empty text or label, a bad split value, or no rows.
    """
    path = Path(path)
    delimiter = DELIMITERS.get(path.suffix.lower())
    if delimiter is None:
        raise InputError(f"{path.name}: expected a .csv or .tsv file")
    texts: list[str] = []
    labels: list[str] = []
    lines: list[int] = []
    splits: list[str] = []
    with _open_text(path) as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        try:
            header = next(reader, None)
            if header is None:
                raise InputError(f"{path.name}: the file is empty (no header row)")
            header = [h.strip().lstrip("\ufeff") for h in header]
            missing = [c for c in (text_column, label_column) if c not in header]
            if missing:
                raise InputError(f"{path.name}: missing column(s) {', '.join(map(repr, missing))}"
                                 f"; the header has {', '.join(map(repr, header))}")
            t_col, l_col = header.index(text_column), header.index(label_column)
            s_col = header.index(split_column) if split_column in header else None
            for row in reader:
                line = reader.line_num
                if not any(cell.strip() for cell in row):
                    continue
                if len(row) != len(header):
                    raise InputError(f"{path.name} line {line}: {len(row)} fields, "
                                     f"the header has {len(header)}")
                text, label = row[t_col].strip(), row[l_col].strip()
                if not text:
                    raise InputError(f"{path.name} line {line}: empty {text_column!r}")
                if not label:
                    raise InputError(f"{path.name} line {line}: empty {label_column!r}")
                texts.append(text)
                labels.append(label)
                lines.append(line)
                if s_col is not None:
                    splits.append(_check_split(path, line, row[s_col]))
        except UnicodeDecodeError as exc:
            raise InputError(f"{path.name} line {reader.line_num + 1}: not valid UTF-8") from exc
        except csv.Error as exc:
            raise InputError(f"{path.name} line {reader.line_num}: malformed CSV ({exc})") from exc
    if not texts:
        raise InputError(f"{path.name}: no data rows (only a header or empty lines)")
    return LabelledTexts(texts, labels, lines, splits if s_col is not None else None)


def read_pairs(path: Path, *, source_field: str = "source", target_field: str = "target",
               split_field: str | None = "split",
               target_length: Callable[[str], int] | None = None,
               max_target_length: int | None = None) -> TextPairs:
    """Read a JSONL file of ``{"source": ..., "target": ...}`` objects.

    ``target_length`` (for example the number of target tokens) and ``max_target_length``
    together reject targets that are too long, naming the line.

    Raises
    ------
    InputError
        Missing file, a line that is not a JSON object, a missing or non-string field, an empty
        source or target, a target longer than the limit, a bad split value, or no records.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path.name}: file not found")
    sources: list[str] = []
    targets: list[str] = []
    lines: list[int] = []
    splits: list[str] = []
    any_split = False
    for number, line in _read_lines(path):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path.name} line {number}: not valid JSON ({exc.msg})") from exc
        if not isinstance(record, dict):
            raise InputError(f"{path.name} line {number}: expected a JSON object")
        values = []
        for name in (source_field, target_field):
            if name not in record:
                raise InputError(f"{path.name} line {number}: missing field {name!r}")
            value = record[name]
            if not isinstance(value, str):
                raise InputError(f"{path.name} line {number}: field {name!r} must be a string")
            if not value.strip():
                raise InputError(f"{path.name} line {number}: field {name!r} is empty")
            values.append(value.strip())
        if max_target_length is not None and target_length is not None:
            n = target_length(values[1])
            if n > max_target_length:
                raise InputError(f"{path.name} line {number}: target has {n} tokens, longer than "
                                 f"the limit max_target_length={max_target_length}")
        split = record.get(split_field) if split_field else None
        if split is not None:
            any_split = True
            splits.append(_check_split(path, number, str(split)))
        elif any_split:
            raise InputError(f"{path.name} line {number}: missing field {split_field!r} "
                             "(earlier records have it)")
        sources.append(values[0])
        targets.append(values[1])
        lines.append(number)
    if not sources:
        raise InputError(f"{path.name}: the file has only empty lines")
    if any_split and len(splits) != len(sources):
        raise InputError(f"{path.name}: some records have a {split_field!r} field and some do not")
    return TextPairs(sources, targets, lines, splits if any_split else None)


def read_signals(path: Path) -> Signals:
    """Read numeric sequences from an ``.npz`` with ``x`` (samples × steps × features) and ``y``.

    Raises
    ------
    InputError
        Missing file or array, wrong shapes, non-finite values, or fewer than two samples.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path.name}: file not found")
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in ("x", "y") if k not in data.files]
            if missing:
                raise InputError(f"{path.name}: missing array(s) {', '.join(map(repr, missing))}"
                                 f"; the file has {', '.join(map(repr, data.files))}")
            x, y = data["x"], data["y"]
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise InputError(f"{path.name}: not a readable .npz file ({exc})") from exc
    if x.ndim != 3:
        raise InputError(f"{path.name}: x must be samples × steps × features, got shape {x.shape}")
    if y.ndim != 1 or len(y) != len(x):
        raise InputError(f"{path.name}: y must hold one label per sample ({len(x)}), "
                         f"got shape {y.shape}")
    if len(x) < 2 or x.shape[1] < 1 or x.shape[2] < 1:
        raise InputError(f"{path.name}: x has shape {x.shape}; need at least 2 samples, 1 step "
                         "and 1 feature")
    if not np.issubdtype(x.dtype, np.number):
        raise InputError(f"{path.name}: x must be numeric, got dtype {x.dtype}")
    x = x.astype(np.float32)
    bad = np.argwhere(~np.isfinite(x))
    if len(bad):
        raise InputError(f"{path.name}: x has a non-finite value at sample {int(bad[0][0])}")
    return Signals(x, [str(v) for v in y.tolist()])


def sorted_labels(labels: Sequence[str]) -> list[str]:
    """Distinct labels, numerically when they are all integers, else alphabetically."""
    distinct = set(labels)
    try:
        return sorted(distinct, key=int)
    except ValueError:
        return sorted(distinct)


def assign_splits(n: int, splits: Sequence[str] | None, *, val_fraction: float,
                  test_fraction: float, seed: int) -> dict[str, np.ndarray]:
    """Row indices per split: from ``splits`` when given, else a seeded random split.

    Raises
    ------
    InputError
        Fractions out of range, or an empty training split.
    """
    if splits is not None:
        arr = np.asarray(splits)
        out = {name: np.flatnonzero(arr == name) for name in SPLITS}
    else:
        if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1
                and val_fraction + test_fraction < 1):
            raise InputError("val_fraction and test_fraction must be in [0, 1) and sum below 1")
        order = np.random.default_rng(seed).permutation(n)
        n_test = int(round(n * test_fraction))
        n_val = int(round(n * val_fraction))
        out = {"test": np.sort(order[:n_test]), "val": np.sort(order[n_test:n_test + n_val]),
               "train": np.sort(order[n_test + n_val:])}
    if len(out["train"]) == 0:
        raise InputError("the training split is empty")
    return out
