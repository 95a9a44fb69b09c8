"""Reading molecule files: SMILES lists, CSV/TSV tables, SDF, precomputed fingerprint arrays.

Every record keeps its 1-based position in the file — the line number for ``.smi`` / CSV / TSV
(the header is line 1) and the record number for SDF and ``.npy`` — so that a bad molecule can be
reported where the user will find it. Records that cannot be used (an empty SMILES cell, say) are
collected as :class:`InvalidRecord` and never stop the read; parsing the chemistry is left to
:mod:`osler.kernels.molecules.fingerprints`.

Formats are chosen by suffix (``.smi .smiles .ism .can .txt``, ``.csv``, ``.tsv .tab``,
``.sdf .sd .mol``, ``.npy``, each optionally ``.gz``), or by sniffing the content when the suffix
says nothing (uploaded datasets are often stored without their original name).
"""

from __future__ import annotations

import csv
import gzip
import io
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from osler.kernels.capped import DEFAULT_MAX_INSPECT_BYTES, ByteBudget, open_capped, text_lines
from osler.kernels.errors import InputError

FORMATS: tuple[str, ...] = ("smi", "csv", "tsv", "sdf", "npy")
"""File formats understood by :func:`read_molecules`."""

DEFAULT_ID_COLUMN = "id"
"""When this (default) id column is absent from a table, ids fall back to line numbers."""

_SUFFIXES = {
    ".smi": "smi", ".smiles": "smi", ".ism": "smi", ".can": "smi", ".txt": "smi",
    ".csv": "csv", ".tsv": "tsv", ".tab": "tsv",
    ".sdf": "sdf", ".sd": "sdf", ".mol": "sdf",
    ".npy": "npy",
}
_SDF_END = "$$$$"

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


@dataclass(frozen=True)
class InvalidRecord:
    """A record that produced no molecule: where it is, its id, and why (no structure data)."""

    number: int
    id: str
    reason: str


@dataclass
class MoleculeRecords:
    """The records of one molecule file, in file order.

    Attributes
    ----------
    path : Path
    file_format : str
        One of :data:`FORMATS`.
    unit : str
        ``"line"`` or ``"record"``: what :attr:`numbers` count.
    ids, texts : list of str
        Id and structure text (a SMILES, or an SDF record's MOL block) of each usable record.
    numbers : ndarray of int64
        1-based line or record number of each usable record.
    invalid : list of InvalidRecord
        Records rejected while reading.
    """

    path: Path
    file_format: str
    unit: str
    ids: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    numbers: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    invalid: list[InvalidRecord] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.texts)


def detect_format(path: Path) -> str:
    """Return the format of ``path`` from its suffix, else from its first bytes.

    Raises
    ------
    InputError
        If the file cannot be opened or its format cannot be recognised.
    """
    path = Path(path)
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    if suffixes and suffixes[-1] in _SUFFIXES:
        return _SUFFIXES[suffixes[-1]]
    try:
        with _open_binary(path) as fh:
            head = fh.read(65536)
    except (OSError, EOFError, zlib.error):
        raise InputError(f"cannot read molecule file {path.name}: damaged or not a file") from None
    if head.startswith(b"\x93NUMPY"):
        return "npy"
    text = head.decode("utf-8", errors="replace")
    lines = text.splitlines()
    if any(line.strip() == _SDF_END or line.strip() == "M  END" for line in lines):
        return "sdf"
    first = lines[0] if lines else ""
    if "," in first:
        return "csv"
    if "\t" in first and len(first.split("\t")) > 2:
        return "tsv"
    return "smi"


def read_molecules(
    path: Path,
    *,
    smiles_column: str = "smiles",
    id_column: str = DEFAULT_ID_COLUMN,
    file_format: str | None = None,
) -> MoleculeRecords:
    """Read the structure records of a ``.smi``, CSV, TSV or SDF file.

    Parameters
    ----------
    path : Path
        The file; ``.gz`` compression is undone transparently.
    smiles_column, id_column : str
        Column names for CSV/TSV (matched exactly, else case-insensitively). Without an id
        column (when ``id_column`` is the default) ids are the line numbers.
    file_format : str, optional
        Force one of ``smi``, ``csv``, ``tsv``, ``sdf`` instead of detecting it.

    Returns
    -------
    MoleculeRecords

    Raises
    ------
    InputError
        Unreadable or non-UTF-8 file, missing column, or a ``.npy`` file (read those with
        :func:`read_fingerprint_array`).
    """
    path = Path(path)
    fmt = file_format or detect_format(path)
    if fmt not in FORMATS:
        raise InputError(f"unknown molecule file format {fmt!r}; expected one of {FORMATS}")
    if fmt == "npy":
        raise InputError(f"{path.name} holds precomputed fingerprints, not structures")
    records = MoleculeRecords(path, fmt, "record" if fmt == "sdf" else "line")
    numbers: list[int] = []
    try:
        with _open_text(path) as fh:
            if fmt == "smi":
                rows = _smi_rows(fh, smiles_column)
            elif fmt == "sdf":
                rows = _sdf_rows(fh)
            else:
                rows = _table_rows(fh, path, "," if fmt == "csv" else "\t", smiles_column,
                                   id_column)
            for number, ident, text in rows:
                if not text.strip():
                    records.invalid.append(InvalidRecord(number, ident, _empty_reason(fmt)))
                    continue
                numbers.append(number)
                records.ids.append(ident)
                records.texts.append(text)
    except UnicodeDecodeError as exc:
        raise InputError(f"{path.name} is not UTF-8 text ({exc.reason})") from exc
    except (OSError, EOFError, zlib.error):
        raise InputError(f"cannot read molecule file {path.name}: damaged or not a file") from None
    except csv.Error as exc:
        raise InputError(f"{path.name}: malformed {fmt.upper()} ({exc})") from exc
    records.numbers = np.asarray(numbers, dtype=np.int64)
    return records


def count_records(
    path: Path,
    *,
    smiles_column: str = "smiles",
    id_column: str = DEFAULT_ID_COLUMN,
    file_format: str | None = None,
    max_bytes: int = DEFAULT_MAX_INSPECT_BYTES,
) -> int:
    """Count the records of a molecule file cheaply, checking that it is readable.

    Counts non-blank lines (``.smi``, without a header), table rows (CSV/TSV), ``$$$$``-separated
    records (SDF) or array rows (``.npy``); invalid molecules are counted too. The file is
    streamed through :mod:`osler.kernels.capped`: lines of at most
    :data:`~osler.kernels.capped.MAX_LINE_BYTES`, and at most ``max_bytes`` (or the file's own
    size, if larger) decompressed.

    Raises
    ------
    InputError
        As :func:`read_molecules` and :func:`read_fingerprint_array`, or a limit passed.
    """
    path = Path(path)
    fmt = file_format or detect_format(path)
    if fmt == "npy":
        return int(_load_npy(path).shape[0])
    try:
        with open_capped(path, ByteBudget.for_file(path, max_bytes)) as raw:
            fh = text_lines(raw, path.name, fmt.upper())
            if fmt == "sdf":
                count, pending = 0, False
                for line in fh:
                    if line.rstrip("\r\n").strip() == _SDF_END:
                        count, pending = count + 1, False
                    elif line.strip():
                        pending = True
                return count + int(pending)
            if fmt == "smi":
                return sum(1 for _ in _smi_rows(fh, smiles_column))
            delimiter = "," if fmt == "csv" else "\t"
            return sum(1 for _ in _table_rows(fh, path, delimiter, smiles_column, id_column,
                                              values=False))
    except (OSError, EOFError, zlib.error):
        raise InputError(f"cannot read molecule file {path.name}: damaged or not a file") from None
    except csv.Error as exc:
        raise InputError(f"{path.name}: malformed {fmt.upper()} ({exc})") from exc


def read_fingerprint_array(path: Path) -> tuple[np.ndarray, int]:
    """Read precomputed fingerprints from ``.npy``: 0/1 bits or packed ``uint64`` words.

    Returns
    -------
    packed : ndarray of uint64, shape (n, words)
        Bit ``b`` is bit ``b % 64`` of word ``b // 64``; a 0/1 matrix is packed that way.
    n_bits : int
        Columns of a 0/1 matrix, or ``64 * words`` for packed input.

    Raises
    ------
    InputError
        Not a 2-D array, or values other than 0 and 1 in a bit matrix.
    """
    from osler.kernels.bits import pack_bits  # numba, loaded only where fingerprints are packed

    arr = _load_npy(path)
    if arr.dtype == np.uint64:
        return np.ascontiguousarray(arr), int(arr.shape[1]) * 64
    n_bits = int(arr.shape[1])
    packed = np.empty((arr.shape[0], (n_bits + 63) // 64), np.uint64)
    step = 65536
    for start in range(0, arr.shape[0], step):
        block = np.asarray(arr[start:start + step])
        bad = (block != 0) & (block != 1)
        if bad.any():
            row = start + int(np.argmax(bad.any(axis=1)))
            raise InputError(f"{Path(path).name}: record {row + 1} has a value other than 0 or 1; "
                             "expected a 0/1 bit matrix or packed uint64 fingerprints")
        packed[start:start + step] = pack_bits(block)
    return packed, n_bits


def _load_npy(path: Path) -> np.ndarray:
    path = Path(path)
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError):  # numpy's messages quote the header: not repeated
        raise InputError(f"cannot read fingerprint array {path.name}: not a readable .npy "
                         "array (a damaged header, or an object array, never loaded)") from None
    if arr.ndim != 2 or arr.shape[1] == 0:
        raise InputError(f"{path.name}: expected a 2-D fingerprint array, got shape {arr.shape}")
    if arr.dtype.kind not in "biuf":
        raise InputError(f"{path.name}: unsupported fingerprint dtype {arr.dtype}")
    return arr


def _open_binary(path: Path):
    if path.suffix.lower() == ".gz":
        return gzip.open(path, "rb")
    with open(path, "rb") as probe:
        magic = probe.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")


def _open_text(path: Path) -> io.TextIOBase:
    return io.TextIOWrapper(_open_binary(path), encoding="utf-8-sig", newline="")


def _empty_reason(fmt: str) -> str:
    return "empty record" if fmt == "sdf" else "empty SMILES"


def _smi_rows(fh, smiles_column: str) -> Iterator[tuple[int, str, str]]:
    """``SMILES [id]`` per line; blank and ``#`` lines skipped; a ``smiles`` header line skipped."""
    for number, line in enumerate(fh, start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        parts = stripped.split(None, 1)
        if number == 1 and parts[0].lower() == smiles_column.lower():
            continue
        ident = parts[1].strip() if len(parts) > 1 else str(number)
        yield number, ident, parts[0]


def _sdf_rows(fh) -> Iterator[tuple[int, str, str]]:
    """One MOL block per ``$$$$``-terminated record; the id is the title (first) line."""
    number, lines = 0, []
    for line in fh:
        if line.rstrip("\r\n").strip() == _SDF_END:
            number += 1
            yield _sdf_record(number, lines)
            lines = []
        else:
            lines.append(line)
    if any(line.strip() for line in lines):
        yield _sdf_record(number + 1, lines)


def _sdf_record(number: int, lines: list[str]) -> tuple[int, str, str]:
    title = lines[0].strip() if lines else ""
    block = "".join(lines) if any(line.startswith("M  END") for line in lines) else ""
    if not block and any(line.strip() for line in lines):
        block = "".join(lines)  # let RDKit report what is wrong with it
    return number, title or str(number), block


def _find_column(header: list[str], name: str) -> int | None:
    if name in header:
        return header.index(name)
    folded = [h.strip().lower() for h in header]
    if folded.count(name.strip().lower()) == 1:
        return folded.index(name.strip().lower())
    return None


def _table_rows(fh, path: Path, delimiter: str, smiles_column: str, id_column: str,
                values: bool = True) -> Iterator[tuple[int, str, str]]:
    reader = csv.reader(fh, delimiter=delimiter)
    header = next(reader, None)
    if header is None:
        raise InputError(f"{path.name} is empty: expected a header row naming the "
                         f"{smiles_column!r} column")
    # The header's cells are not quoted back: in a table without a header they are a record.
    s_col = _find_column(header, smiles_column)
    if s_col is None:
        raise InputError(f"{path.name} has no column {smiles_column!r} (its header, line 1, "
                         f"has {len(header)} columns)")
    i_col = _find_column(header, id_column)
    if i_col is None and id_column != DEFAULT_ID_COLUMN:
        raise InputError(f"{path.name} has no column {id_column!r} (its header, line 1, "
                         f"has {len(header)} columns)")
    last_line = reader.line_num
    for row in reader:
        number, last_line = last_line + 1, reader.line_num
        if not row or not any(cell.strip() for cell in row):
            continue
        if not values:
            yield number, "", ""
            continue
        smiles = row[s_col].strip() if s_col < len(row) else ""
        ident = row[i_col].strip() if i_col is not None and i_col < len(row) else ""
        yield number, ident or str(number), smiles
