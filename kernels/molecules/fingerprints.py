"""RDKit fingerprints packed into ``uint64`` words, computed once per dataset and cached on disk.

A cache entry is a folder ``<cache_dir>/<sha256>-<params hash>/`` holding

- ``fingerprints.npy`` — packed fingerprints of the valid molecules, in file order;
- ``molecules.csv`` — ``number,id,smiles`` of each row of ``fingerprints.npy``, with
  ``molecules.index.npy`` (the byte offset of each row) and ``molecules.numbers.npy``, so a job
  reads only the rows it reports (a memory map, never the whole table);
- ``invalid.csv`` — ``number,id,reason`` of the records that gave no molecule;
- ``meta.json`` — the parameters, counts and ``n_bits``.

Searches also use the rows sorted by popcount (:mod:`.popcount_order`), added on first use.

The folder is built under a temporary name and renamed into place, so a reader never sees half an
entry and two workers computing the same entry at once both end with a complete one.
Large files are fingerprinted in shards over Dask: the driver writes each shard's structures to a
small text file and the task reads it by location (no large data inside the task graph; a file
of this process's disk, or its copy in an object store through an
:class:`~osler.kernels.locations.Exchange`). Where the workers share the disk each task saves its
packed rows beside the shard; where they share only the store it returns them instead.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import mmap
import os
import shutil
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from osler.kernels.bits import pack_bits
from osler.kernels.cache_entry import COMPLETE_MARK
from osler.kernels.errors import InputError
from osler.kernels.locations import LOCAL, Exchange, readable
from osler.kernels.molecules.options import FINGERPRINTS
from osler.kernels.molecules.readers import (
    DEFAULT_ID_COLUMN,
    InvalidRecord,
    detect_format,
    read_fingerprint_array,
    read_molecules,
)

MACCS_BITS = 167
"""Width of RDKit's MACCS keys fingerprint."""

SHARD_SIZE = 5_000
"""Molecules per Dask fingerprinting task (about a second of RDKit Morgan work)."""

DASK_MIN_MOLECULES = 2 * SHARD_SIZE
"""Files smaller than this are fingerprinted in-process even when a Dask client is given."""

_CACHE_VERSION = 1


@dataclass(frozen=True)
class FingerprintSpec:
    """What fingerprint to compute.

    Parameters
    ----------
    kind : str
        One of :data:`FINGERPRINTS`.
    radius : int
        Morgan radius (ignored by ``maccs`` and ``rdkit``).
    fp_size : int
        Number of bits (ignored by ``maccs``, which always has 167).
    """

    kind: str = "morgan"
    radius: int = 2
    fp_size: int = 2048

    def __post_init__(self) -> None:
        if self.kind not in FINGERPRINTS:
            raise InputError(f"unknown fingerprint {self.kind!r}; expected one of "
                             f"{', '.join(FINGERPRINTS)}")
        if not 0 <= self.radius <= 10:
            raise InputError(f"radius must be between 0 and 10, got {self.radius}")
        if not 8 <= self.fp_size <= 65536:
            raise InputError(f"fp_size must be between 8 and 65536, got {self.fp_size}")

    @property
    def n_bits(self) -> int:
        """Fingerprint length in bits."""
        return MACCS_BITS if self.kind == "maccs" else self.fp_size

    @property
    def words(self) -> int:
        """``uint64`` words per packed fingerprint."""
        return (self.n_bits + 63) // 64

    def as_dict(self) -> dict:
        """The parameters that change the bits (radius only for Morgan kinds)."""
        out: dict = {"fingerprint": self.kind, "n_bits": self.n_bits}
        if self.kind in ("morgan", "feature-morgan"):
            out["radius"] = self.radius
        return out


class MoleculeTable:
    """The rows of an entry's ``molecules.csv``, each read on demand through a memory map.

    ``molecules.index.npy`` holds the byte offset of every row (and the end of the file), so
    looking up the few rows a search reports costs microseconds whatever the library's size.
    """

    def __init__(self, csv_path: Path, index_path: Path) -> None:
        self._csv_path = csv_path
        self._offsets = np.load(index_path, mmap_mode="r")
        self._map: mmap.mmap | None = None

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def row(self, i: int) -> tuple[str, str]:
        """(id, smiles) of row ``i``."""
        if not -len(self) <= i < len(self):
            raise IndexError(f"row {i} out of range for {len(self)} molecules")
        i = i % len(self)
        return _id_and_smiles(
            self._mapped()[int(self._offsets[i]):int(self._offsets[i + 1])].decode("utf-8"))

    def rows(self, indices: np.ndarray) -> list[tuple[str, str]]:
        """(id, smiles) of each row in ``indices`` (ints in ``0..len - 1``): their offsets are
        read in one pass, so a job's many hits cost a slice and a split each."""
        indices = np.asarray(indices, np.int64)
        if indices.size and not (0 <= indices.min() and indices.max() < len(self)):
            raise IndexError(f"rows out of range for {len(self)} molecules")
        data = self._mapped()
        starts = self._offsets[indices].tolist()
        stops = self._offsets[indices + 1].tolist()
        return [_id_and_smiles(data[a:b].decode("utf-8")) for a, b in zip(starts, stops,
                                                                           strict=True)]

    def _mapped(self) -> mmap.mmap:
        if self._map is None:
            with open(self._csv_path, "rb") as fh:
                self._map = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        return self._map

    def __getstate__(self) -> dict:  # a memory map is not picklable: reopen after
        return {**self.__dict__, "_map": None}


def _id_and_smiles(raw: str) -> tuple[str, str]:
    """The id and SMILES of one ``molecules.csv`` row (its number, id, SMILES)."""
    if '"' in raw:  # a quoted field (an id with a comma, say): the csv module reads it
        fields = next(csv.reader(io.StringIO(raw, newline="")))
    else:  # unquoted, as csv.writer wrote it: three comma-separated fields, 5x faster
        fields = raw.rstrip("\r\n").split(",")
    return fields[1], fields[2]


class MoleculeColumn(Sequence):
    """One column (ids or SMILES) of a :class:`MoleculeTable`, as a read-only sequence."""

    def __init__(self, table: MoleculeTable, field: int) -> None:
        self.table = table
        self._field = field

    def __len__(self) -> int:
        return len(self.table)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        return self.table.row(int(i))[self._field]

    def __iter__(self) -> Iterator[str]:
        return (self[j] for j in range(len(self)))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)


@dataclass
class FingerprintSet:
    """Packed fingerprints of the valid molecules of one file, plus where each came from.

    Attributes
    ----------
    fps_path : Path
        ``.npy`` of uint64, shape (n, words); open it with ``np.load(mmap_mode="r")``.
    n_bits : int
    ids, smiles : sequence of str
        Per row of the array, read on demand (``smiles`` empty strings for precomputed
        fingerprints).
    numbers : ndarray of int64
        1-based line or record number of each row in the source file (a memory map).
    unit : str
        ``"line"`` or ``"record"``.
    invalid : list of InvalidRecord
    from_cache : bool
        True when the entry existed before this call.
    params : dict or None
        The fingerprint parameters (None for precomputed fingerprints).
    """

    fps_path: Path
    n_bits: int
    ids: Sequence[str]
    smiles: Sequence[str]
    numbers: np.ndarray
    unit: str
    invalid: list[InvalidRecord]
    from_cache: bool = False
    params: dict | None = None

    def __len__(self) -> int:
        return len(self.numbers)

    def _table(self) -> MoleculeTable | None:
        """The cache entry's table when both columns read it (one read per molecule)."""
        table = getattr(self.ids, "table", None)
        return table if table is not None and table is getattr(self.smiles, "table", None) \
            else None

    def molecule(self, i: int) -> tuple[str, str]:
        """(id, SMILES) of row ``i``: one read of the entry's table, not one per column."""
        table = self._table()
        return table.row(i) if table is not None else (self.ids[i], self.smiles[i])

    def molecules(self, rows: np.ndarray) -> list[tuple[str, str]]:
        """(id, SMILES) of each row in ``rows`` (ints in ``0..len - 1``): one read of the
        entry's table per row, not one per column, with the rows' offsets read together."""
        table = self._table()
        if table is not None:
            return table.rows(rows)
        return [(self.ids[i], self.smiles[i]) for i in np.asarray(rows, np.int64).tolist()]

    def load(self, mmap: bool = True) -> np.ndarray:
        """The packed fingerprints (memory-mapped by default)."""
        return np.load(self.fps_path, mmap_mode="r" if mmap else None)


@cache
def _generator(kind: str, radius: int, fp_size: int):
    from rdkit.Chem import rdFingerprintGenerator as gen

    if kind == "morgan":
        return gen.GetMorganGenerator(radius=radius, fpSize=fp_size)
    if kind == "feature-morgan":
        return gen.GetMorganGenerator(radius=radius, fpSize=fp_size,
                                      atomInvariantsGenerator=gen.GetMorganFeatureAtomInvGen())
    if kind == "rdkit":
        return gen.GetRDKitFPGenerator(fpSize=fp_size)
    return None


def rdkit_fingerprint(mol, spec: FingerprintSpec):
    """The RDKit ``ExplicitBitVect`` of ``mol`` for ``spec`` (the reference the packing follows)."""
    if spec.kind == "maccs":
        from rdkit.Chem import MACCSkeys

        return MACCSkeys.GenMACCSKeys(mol)
    return _generator(spec.kind, spec.radius, spec.fp_size).GetFingerprint(mol)


def _bits_of(mol, spec: FingerprintSpec) -> np.ndarray:
    if spec.kind == "maccs":
        from rdkit import DataStructs

        arr = np.zeros(MACCS_BITS, np.uint8)
        DataStructs.ConvertToNumpyArray(rdkit_fingerprint(mol, spec), arr)
        return arr
    return _generator(spec.kind, spec.radius, spec.fp_size).GetFingerprintAsNumPy(mol)


def parse_molecule(text: str, *, molblock: bool = False):
    """Parse a SMILES (or MOL block) with RDKit's defaults: ``(mol, None)`` or ``(None, why)``.

    The reason names RDKit's complaint (syntax, valence, kekulisation), never the structure.
    """
    from rdkit import Chem

    mol = Chem.MolFromMolBlock(text) if molblock else Chem.MolFromSmiles(text)
    if mol is not None:
        if mol.GetNumAtoms() == 0:
            return None, "molecule has no atoms"
        return mol, None
    raw = (Chem.MolFromMolBlock(text, sanitize=False) if molblock
           else Chem.MolFromSmiles(text, sanitize=False))
    if raw is None:
        return None, "MOL block could not be parsed" if molblock else "SMILES syntax error"
    try:
        Chem.SanitizeMol(raw)
    except Exception as exc:  # RDKit raises several sanitisation exception types
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return None, f"sanitization failed: {message}"[:200]
    return None, "RDKit could not build the molecule"


def fingerprint_texts(texts: Sequence[str], spec: FingerprintSpec, *, molblock: bool = False
                      ) -> tuple[np.ndarray, np.ndarray, dict[int, str], list[str] | None]:
    """Fingerprint SMILES strings (or MOL blocks).

    Returns
    -------
    packed : ndarray of uint64, shape (n_valid, words)
    valid : ndarray of bool, shape (len(texts),)
    reasons : dict
        Position in ``texts`` -> why it gave no molecule.
    smiles : list of str or None
        Canonical SMILES of the valid molecules when reading MOL blocks, else None.
    """
    from rdkit import Chem, rdBase

    blocker = rdBase.BlockLogs()  # keep RDKit's per-molecule complaints out of worker logs
    try:
        valid = np.zeros(len(texts), bool)
        reasons: dict[int, str] = {}
        smiles: list[str] | None = [] if molblock else None
        parts = []
        step = 4096  # bounds the unpacked buffer at step * n_bits bytes
        for start in range(0, len(texts), step):
            chunk = texts[start:start + step]
            bits = np.zeros((len(chunk), spec.n_bits), np.uint8)
            for i, text in enumerate(chunk, start=start):
                mol, reason = parse_molecule(text, molblock=molblock)
                if mol is None:
                    reasons[i] = reason or "unparsable"
                    continue
                bits[i - start] = _bits_of(mol, spec)
                valid[i] = True
                if smiles is not None:
                    smiles.append(Chem.MolToSmiles(mol))
            parts.append(pack_bits(bits[valid[start:start + len(chunk)]]))
        packed = (np.concatenate(parts) if parts else np.zeros((0, spec.words), np.uint64))
        return packed, valid, reasons, smiles
    finally:
        del blocker


def fingerprint_shard(shard_path: str, out_path: str | None, spec: FingerprintSpec,
                      molblock: bool
                      ) -> tuple[np.ndarray, dict[int, str], list[str] | None, np.ndarray | None]:
    """Dask task: fingerprint the structures at location ``shard_path``.

    Returns the validity mask, the reasons, the SDF SMILES and the packed rows, or None for
    them when they were saved to ``out_path`` (a path the caller reads: a shared disk).
    """
    text = Path(readable(shard_path)).read_text(encoding="utf-8")
    texts = text.split("\n$$$$\n")[:-1] if molblock else text.split("\n")[:-1]
    packed, valid, reasons, smiles = fingerprint_texts(texts, spec, molblock=molblock)
    if out_path is None:
        return valid, reasons, smiles, packed
    np.save(out_path, packed)
    return valid, reasons, smiles, None


def cache_key(sha256: str, spec: FingerprintSpec | None, file_format: str, smiles_column: str,
              id_column: str) -> str:
    """Folder name of a cache entry: the dataset hash plus a hash of everything that changes it."""
    params = {"v": _CACHE_VERSION, "format": file_format,
              "fp": spec.as_dict() if spec is not None and file_format != "npy" else None}
    if file_format in ("csv", "tsv"):
        params.update(smiles_column=smiles_column, id_column=id_column)
    digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]
    return f"{sha256}-{digest}"


def dataset_fingerprints(
    path: Path,
    *,
    sha256: str,
    cache_dir: Path,
    spec: FingerprintSpec,
    smiles_column: str = "smiles",
    id_column: str = DEFAULT_ID_COLUMN,
    file_format: str | None = None,
    client=None,
    progress: Callable[[float, str], None] | None = None,
    exchange: Exchange = LOCAL,
) -> FingerprintSet:
    """Fingerprints of a molecule file, from the cache or computed (and cached) now.

    Parameters
    ----------
    path : Path
        ``.smi``, CSV, TSV, SDF, or ``.npy`` of precomputed fingerprints (then ``spec`` is unused
        and ids are the 1-based record numbers).
    sha256 : str
        Hash of the file's bytes: with the parameters it names the cache entry.
    cache_dir : Path
        Folder of cache entries (created if missing).
    spec : FingerprintSpec
    smiles_column, id_column, file_format : see :func:`.readers.read_molecules`
    client : distributed.Client, optional
        Fingerprint shards of large files on Dask workers.
    progress : callable, optional
        ``progress(fraction, message)``; may raise, which cancels outstanding shards.
    exchange : Exchange
        How the Dask workers reach the shards: this process's disk (the default; they save
        their packed rows beside them), or an object store (they return them).

    Returns
    -------
    FingerprintSet

    Raises
    ------
    InputError
        Unreadable file, missing column, or no valid molecule at all.
    """
    path, cache_dir = Path(path), Path(cache_dir)
    fmt = file_format or detect_format(path)
    entry = cache_dir / cache_key(sha256, spec, fmt, smiles_column, id_column)
    if (entry / COMPLETE_MARK).exists():
        return _load_entry(entry)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = cache_dir / f".tmp-{entry.name}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        if fmt == "npy":
            packed, n_bits = read_fingerprint_array(path)
            np.save(tmp / "fingerprints.npy", packed)
            n = packed.shape[0]
            unit, ids, smiles = "record", [str(i + 1) for i in range(n)], [""] * n
            numbers, invalid = np.arange(1, n + 1, dtype=np.int64), []
            n_records = n
        else:
            records = read_molecules(path, smiles_column=smiles_column, id_column=id_column,
                                     file_format=fmt)
            valid, reasons, sdf_smiles = _fingerprint_records(
                records.texts, spec, fmt == "sdf", tmp, client, progress, exchange)
            unit, n_bits = records.unit, spec.n_bits
            keep = np.flatnonzero(valid)
            ids = [records.ids[i] for i in keep]
            smiles = sdf_smiles if sdf_smiles is not None else [records.texts[i] for i in keep]
            numbers = records.numbers[keep]
            invalid = sorted(
                records.invalid + [InvalidRecord(int(records.numbers[i]), records.ids[i], why)
                                   for i, why in reasons.items()],
                key=lambda r: r.number)
            n_records = len(records) + len(records.invalid)
        if len(ids) == 0:
            raise InputError(f"{path.name} has no valid molecule ({n_records} records read"
                             + (f"; first problem: {unit} {invalid[0].number}: {invalid[0].reason}"
                                if invalid else "") + ")")
        _write_entry(tmp, ids, smiles, numbers, invalid,
                     {"format": fmt, "unit": unit, "n_bits": n_bits, "n_valid": len(ids),
                      "n_invalid": len(invalid), "n_records": n_records,
                      "params": spec.as_dict() if fmt != "npy" else None})
        try:
            os.replace(tmp, entry)
        except OSError:  # another process finished the same entry first: use theirs
            if not (entry / COMPLETE_MARK).exists():
                raise
        else:
            return _load_entry(entry, from_cache=False)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return _load_entry(entry)


def _fingerprint_records(texts: list[str], spec: FingerprintSpec, molblock: bool, tmp: Path,
                         client, progress, exchange: Exchange = LOCAL
                         ) -> tuple[np.ndarray, dict[int, str], list[str] | None]:
    """Fingerprint ``texts`` into ``tmp/fingerprints.npy``; in-process or in Dask shards."""
    from osler.kernels.dask_window import run_windowed
    from osler.kernels.progress import report

    n = len(texts)
    if client is None or n < DASK_MIN_MOLECULES:
        parts = []
        for start in range(0, max(n, 1), SHARD_SIZE):
            report(progress, start / max(n, 1), f"fingerprinting molecules {start + 1}-"
                   f"{min(n, start + SHARD_SIZE)} of {n}")
            parts.append(fingerprint_texts(texts[start:start + SHARD_SIZE], spec,
                                           molblock=molblock))
        np.save(tmp / "fingerprints.npy", np.concatenate([p[0] for p in parts]))
        reasons = {s * SHARD_SIZE + i: why for s, p in enumerate(parts)
                   for i, why in p[2].items()}
        smiles = [smi for p in parts for smi in p[3]] if molblock else None
        return np.concatenate([p[1] for p in parts]), reasons, smiles

    shard_dir = tmp / "shards"
    shard_dir.mkdir()
    starts = list(range(0, n, SHARD_SIZE))
    send_back = exchange.remote  # the workers may not see shard_dir: packed rows come back
    npys, calls = [], []
    for s, start in enumerate(starts):
        chunk = texts[start:start + SHARD_SIZE]
        sep = "\n$$$$\n" if molblock else "\n"
        shard = shard_dir / f"shard-{s:05d}.txt"
        shard.write_text(sep.join(chunk) + sep, encoding="utf-8")
        npys.append(shard_dir / f"shard-{s:05d}.npy")
        calls.append((exchange.share(shard), None if send_back else str(npys[-1]), spec,
                      molblock))
    # Sharing the disk, every shard is in flight at once; sending back, a few per worker
    # thread, so the packed rows waiting for this process stay bounded.
    window = (2 * max(1, sum(client.nthreads().values())) if send_back else len(calls))
    results: list = [None] * len(calls)
    with contextlib.closing(run_windowed(client, fingerprint_shard, calls,
                                         window=window)) as finished:
        for done, (index, (valid, reasons, smiles, packed)) in enumerate(finished, start=1):
            if packed is not None:
                np.save(npys[index], packed)
                del packed
            results[index] = (valid, reasons, smiles)
            report(progress, done / len(calls), f"fingerprinted {done}/{len(calls)} shards")
    valid = np.concatenate([r[0] for r in results])
    reasons = {starts[s] + i: why for s, r in enumerate(results) for i, why in r[1].items()}
    smiles = [smi for r in results for smi in r[2]] if molblock else None
    out = np.lib.format.open_memmap(tmp / "fingerprints.npy", mode="w+", dtype=np.uint64,
                                    shape=(int(valid.sum()), spec.words))
    row = 0
    for npy in npys:
        part = np.load(npy)
        out[row:row + part.shape[0]] = part
        row += part.shape[0]
    out.flush()
    del out
    shutil.rmtree(shard_dir)
    return valid, reasons, smiles


def _write_entry(folder: Path, ids, smiles, numbers, invalid, meta: dict) -> None:
    _write_molecules(folder, numbers, ids, smiles)
    with open(folder / "invalid.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["number", "id", "reason"])
        w.writerows((r.number, r.id, r.reason) for r in invalid)
    (folder / COMPLETE_MARK).write_text(json.dumps(meta, indent=1))


def _write_molecules(folder: Path, numbers: np.ndarray, ids, smiles, suffix: str = "") -> None:
    """``molecules.csv`` with its row index and numbers (``suffix`` names temporary files)."""
    buf = io.StringIO(newline="")
    writer = csv.writer(buf)
    writer.writerow(["number", "id", "smiles"])
    offsets = np.empty(len(numbers) + 1, np.int64)
    with open(folder / f"molecules.csv{suffix}", "wb") as fh:
        pos = fh.write(buf.getvalue().encode("utf-8"))
        for i, row in enumerate(zip(numbers.tolist(), ids, smiles, strict=True)):
            buf.seek(0)
            buf.truncate()
            writer.writerow(row)
            offsets[i] = pos
            pos += fh.write(buf.getvalue().encode("utf-8"))
        offsets[-1] = pos
    np.save(folder / f"molecules.numbers{suffix}.npy", np.asarray(numbers, np.int64))
    np.save(folder / f"molecules.index{suffix}.npy", offsets)


def _index_molecules(entry: Path) -> None:
    """Add the row index to an entry written before it existed (rewriting its table once)."""
    with open(entry / "molecules.csv", newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        next(reader)
        rows = list(reader)
    numbers = np.fromiter((int(r[0]) for r in rows), np.int64, count=len(rows))
    tag = f".tmp-{uuid.uuid4().hex[:8]}"
    _write_molecules(entry, numbers, [r[1] for r in rows], [r[2] for r in rows], suffix=tag)
    os.replace(entry / f"molecules.csv{tag}", entry / "molecules.csv")
    os.replace(entry / f"molecules.numbers{tag}.npy", entry / "molecules.numbers.npy")
    os.replace(entry / f"molecules.index{tag}.npy", entry / "molecules.index.npy")


def _load_entry(entry: Path, from_cache: bool = True) -> FingerprintSet:
    meta = json.loads((entry / COMPLETE_MARK).read_text())
    if not (entry / "molecules.index.npy").exists():
        _index_molecules(entry)
    with open(entry / "invalid.csv", newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        next(reader)
        invalid = [InvalidRecord(int(n), i, why) for n, i, why in reader]
    table = MoleculeTable(entry / "molecules.csv", entry / "molecules.index.npy")
    return FingerprintSet(
        fps_path=entry / "fingerprints.npy", n_bits=int(meta["n_bits"]),
        ids=MoleculeColumn(table, 0), smiles=MoleculeColumn(table, 1),
        numbers=np.load(entry / "molecules.numbers.npy", mmap_mode="r"),
        unit=meta["unit"], invalid=invalid, from_cache=from_cache, params=meta["params"])
