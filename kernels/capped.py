"""Bounded reading of untrusted files: the one reader every submit-time inspection goes through.

The gateway checks an upload before queueing a job (a PLINK fileset's ``.bim``/``.fam``, a VCF
header, Zarr metadata, the listing of a ``.zip`` or ``.tar.gz``, a molecule file's record count).
A few hundred kilobytes can inflate to gigabytes, so none of those checks may read a member whole
or decompress an archive to its end. Each inspection holds one :class:`ByteBudget`: every byte it
decompresses (or reads) is charged to it, lines are read with a length cap, archive listings are
capped in entries, and the first limit crossed raises :class:`~osler.kernels.errors.InputError`
naming the limit. Memory stays bounded by the line cap; time by the budget.
"""

from __future__ import annotations

import gzip
import io
import re
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from osler.kernels.errors import InputError

DEFAULT_MAX_INSPECT_BYTES = 256 * 1024**2
"""Most bytes one submit-time inspection reads or decompresses, all members together."""

MAX_LINE_BYTES = 1024**2
"""Longest line a line-by-line inspection reads (a ``.bim``, ``.fam``, SMILES or SDF line)."""

MAX_HEADER_LINE_BYTES = 32 * 1024**2
"""Longest VCF header line (the ``#CHROM`` line holds every sample name: ~1M samples)."""

MAX_HEADER_LINES = 1_000_000
"""Most VCF header lines read at submit time (GRCh38 with its alt contigs has a few thousand)."""

MAX_ARCHIVE_MEMBERS = 50_000
"""Most entries a ``.zip`` or ``.tar.gz`` may list (a Zarr store holds one per chunk)."""

MAX_METADATA_BYTES = 1024**2
"""Largest Zarr metadata member (``.zarray``, ``zarr.json``, ...) read at submit time."""

READ_SIZE = 1 << 16
"""Bytes asked for per read from a decompressing stream."""

COUNT_CHUNK = 1 << 20
"""Bytes scanned at once by :func:`count_lines` (regular expressions, no line objects)."""

_LINE_STARTING_BLANK = re.compile(rb"\n\s")


@dataclass
class ByteBudget:
    """Bytes one inspection may still read; :meth:`spend` raises once ``limit`` is passed.

    Attributes
    ----------
    label : str
        The file's name, for messages.
    limit : int
        Bytes allowed in all.
    used : int
        Bytes read so far.
    """

    label: str
    limit: int = DEFAULT_MAX_INSPECT_BYTES
    used: int = 0

    @classmethod
    def for_file(cls, path: Path, max_bytes: int = DEFAULT_MAX_INSPECT_BYTES) -> ByteBudget:
        """The budget of one inspection of ``path``: ``max_bytes``, or the file's own size when
        that is larger (reading a plain file once is bounded by the upload limit already; what
        the budget stops is decompression)."""
        return cls(path.name, max(max_bytes, path.stat().st_size))

    def spend(self, n: int) -> None:
        self.used += n
        if self.used > self.limit:
            raise InputError(
                f"{self.label}: inspecting it would read more than {self.limit} bytes once "
                "decompressed (the submit-time inspection limit); the file is refused"
            )


class _CappedRaw(io.RawIOBase):
    """A readable stream charging every byte it passes on to a budget."""

    def __init__(self, source: IO[bytes], budget: ByteBudget) -> None:
        self._source = source
        self._budget = budget

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self._source.read(min(len(buffer), READ_SIZE))
        self._budget.spend(len(data))
        buffer[:len(data)] = data
        return len(data)

    def close(self) -> None:
        try:
            self._source.close()
        finally:
            super().close()


def capped(source: IO[bytes], budget: ByteBudget) -> io.BufferedReader:
    """``source`` behind a buffer, each byte read from it charged to ``budget``."""
    return io.BufferedReader(_CappedRaw(source, budget), READ_SIZE)


def open_capped(path: Path, budget: ByteBudget) -> io.BufferedReader:
    """A file (gzip undone when its first bytes say so) read under ``budget``."""
    with open(path, "rb") as probe:
        gzipped = probe.read(2) == b"\x1f\x8b"
    return capped(gzip.open(path, "rb") if gzipped else open(path, "rb"), budget)


def lines(stream: IO[bytes], label: str, what: str,
          max_line: int = MAX_LINE_BYTES) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, line) of a binary stream, refusing a line over ``max_line`` bytes.

    Raises
    ------
    InputError
        Naming the line number and the limit (never the line's content).
    """
    number = 0
    while line := stream.readline(max_line + 1):
        number += 1
        if len(line) > max_line:
            raise InputError(f"{label}: {what} line {number} is longer than {max_line} bytes")
        yield number, line


def _non_blank(block: bytes) -> int:
    """Non-blank lines of ``block`` (whole lines, each ending in a line feed)."""
    # A line is blank only if it is empty or starts with whitespace; when no line does, every
    # line feed ends a non-blank line and a C-speed count answers (a .bim never has one).
    if block[:1].isspace() or _LINE_STARTING_BLANK.search(block):
        return sum(1 for line in block.split(b"\n")[:-1] if line.strip())
    return block.count(b"\n")


def count_lines(stream: IO[bytes], label: str, what: str, max_line: int = MAX_LINE_BYTES,
                check_fields: bool = False) -> tuple[int, int | None]:
    """Non-blank lines of a binary stream; with ``check_fields`` also the number of the first
    line holding a single whitespace-separated field.

    Reads chunks of :data:`COUNT_CHUNK` bytes and counts line feeds, making no object per line
    unless a chunk has blank lines (or fields are checked), so a ``.bim`` of millions of lines
    is counted at about the speed of reading it.

    Returns
    -------
    (count, first_single_field)
        ``first_single_field`` is a 1-based line number, or None.

    Raises
    ------
    InputError
        For a line over ``max_line`` bytes (naming its number).
    """
    count, seen, single = 0, 0, None
    carry = b""
    while True:
        chunk = stream.read(COUNT_CHUNK)
        data = carry + chunk if chunk else (carry + b"\n" if carry else b"")
        cut = data.rfind(b"\n") + 1
        block = data[:cut]
        if check_fields and single is None:
            for number, line in enumerate(block.split(b"\n")[:-1], seen + 1):
                if len(line.split(None, 1)) == 1:
                    single = number
                    break
        count += _non_blank(block)
        seen += block.count(b"\n")
        carry = data[cut:]
        if len(carry) > max_line:
            raise InputError(f"{label}: {what} line {seen + 1} is longer than {max_line} bytes")
        if not chunk:
            return count, single


def text_lines(stream: IO[bytes], label: str, what: str,
               max_line: int = MAX_LINE_BYTES) -> Iterator[str]:
    """The lines of :func:`lines` decoded as UTF-8 (a leading BOM dropped), ends kept.

    Raises
    ------
    InputError
        For an over-long line or bytes that are not UTF-8 (naming the line number).
    """
    for number, raw in lines(stream, label, what, max_line):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(f"{label} is not UTF-8 text ({exc.reason} on line {number})") from None
        yield text.removeprefix("\ufeff") if number == 1 else text


# --------------------------------------------------------------------------- archives


def _zip_entries_declared(path: Path) -> int:
    """Entries the end-of-central-directory record declares, read before the directory itself.

    ``zipfile`` parses the whole central directory into objects when it opens a file, so the
    count is checked first from the 22-byte record (zip64 aware) at the end of the file.
    """
    with open(path, "rb") as fh:
        end = zipfile._EndRecData(fh)  # the stdlib's own reader of that record
    if end is None:
        raise zipfile.BadZipFile("no end of central directory record")
    return int(end[zipfile._ECD_ENTRIES_TOTAL])


def open_zip(path: Path, what: str = "zip archive") -> zipfile.ZipFile:
    """A ``.zip`` opened once its declared entry count is within :data:`MAX_ARCHIVE_MEMBERS`;
    ``what`` names the kind of file in the message for an unreadable one.

    Raises
    ------
    InputError
        An unreadable zip, or too many entries.
    """
    try:
        entries = _zip_entries_declared(path)
        if entries > MAX_ARCHIVE_MEMBERS:
            raise InputError(f"{path.name}: the archive lists {entries} entries, more than "
                             f"the limit of {MAX_ARCHIVE_MEMBERS}")
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError):
        raise InputError(f"{path.name}: not a readable {what}") from None
    if len(archive.infolist()) > MAX_ARCHIVE_MEMBERS:  # a directory longer than declared
        archive.close()
        raise InputError(f"{path.name}: the archive lists more than {MAX_ARCHIVE_MEMBERS} entries")
    return archive


def zip_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo,
               budget: ByteBudget) -> io.BufferedReader:
    """One ``.zip`` member's bytes, each decompressed byte charged to ``budget``."""
    return capped(archive.open(member), budget)


def tar_members(path: Path, budget: ByteBudget) -> Iterator[tuple[tarfile.TarInfo,
                                                                  IO[bytes] | None]]:
    """Walk a ``.tar.gz`` once, front to back, under ``budget``: (member, its bytes or None).

    The archive is read as a stream: each regular file's bytes can be read (capped) while it is
    the current member and are skipped — still charged to the budget — when the walk moves on.
    A listing therefore stops at the budget however much padding the archive carries, and no
    member is kept in memory after its turn.

    Raises
    ------
    InputError
        An unreadable archive, more than :data:`MAX_ARCHIVE_MEMBERS` entries, or the budget
        passed.
    """
    try:
        stream = capped(gzip.open(path, "rb"), budget)
        with stream, tarfile.open(fileobj=stream, mode="r|") as tar:
            for count, member in enumerate(tar, 1):
                if count > MAX_ARCHIVE_MEMBERS:
                    raise InputError(f"{path.name}: the archive lists more than "
                                     f"{MAX_ARCHIVE_MEMBERS} entries")
                yield member, (tar.extractfile(member) if member.isfile() else None)
                tar.members.clear()  # a stream walk never looks back: keep no member objects
    except (tarfile.TarError, OSError, EOFError, zipfile.BadZipFile):
        raise InputError(f"{path.name}: not a readable .tar.gz archive") from None
