"""``count_bim``: a plain .bim is read by numpy a chunk at a time, any other by the line loop;
both give the variant count and the variants' digest of the definition (each line's chromosome,
id, position, A1 and A2, tab-separated), and a malformed file is rejected naming its line."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from osler.kernels.errors import InputError
from osler.kernels.genome import genotypes
from osler.kernels.genome.genotypes import _count_plain_bim, count_bim


def digest_by_definition(text: str) -> tuple[int, str]:
    """The count and digest, written from the documented definition (independent of osler)."""
    digest = hashlib.sha256()
    count = 0
    for line in text.splitlines():
        fields = line.split()
        if not fields:
            continue
        chrom, vid, _cm, pos, a1, a2 = fields
        digest.update(f"{chrom}\t{vid}\t{pos}\t{a1}\t{a2}\n".encode())
        count += 1
    return count, digest.hexdigest()


PLAIN = {
    "tabs": "1\trs1\t0\t100\tA\tG\n1\trs2\t0.5\t200\tC\tT\n22\trs3\t1.25\t300\tAT\tA\n",
    "spaces": "1 rs1 0 100 A G\n1 rs2 0.5 200 C T\n",
    "mixed separators": "1\trs1 0\t100 A\tG\nX rs2\t0 200\tC T\n",
    "no final newline": "1\trs1\t0\t100\tA\tG\n1\trs2\t0\t200\tC\tT",
    "one variant": "MT\tmt1\t0\t5\tA\tC\n",
}
OTHER = {  # the line loop reads these
    "CRLF": "1\trs1\t0\t100\tA\tG\r\n1\trs2\t0\t200\tC\tT\r\n",
    "empty lines": "\n1\trs1\t0\t100\tA\tG\n\n1\trs2\t0\t200\tC\tT\n\n",
    "two tabs": "1\t\trs1\t0\t100\tA\tG\n",
    "leading space": " 1\trs1\t0\t100\tA\tG\n",
    "trailing space": "1\trs1\t0\t100\tA\tG \n",
    "non-ASCII id": "1\trs1é\t0\t100\tA\tG\n",
}


@pytest.mark.parametrize("name", sorted(PLAIN))
def test_plain_bim_is_read_by_numpy_as_defined(tmp_path: Path, name: str) -> None:
    text = PLAIN[name]
    path = tmp_path / "c.bim"
    path.write_text(text, encoding="utf-8")
    assert _count_plain_bim(path) is not None  # the numpy reader took it
    assert count_bim(path, "c.zip") == digest_by_definition(text)


@pytest.mark.parametrize("name", sorted(OTHER))
def test_other_bim_is_read_by_the_line_loop_as_defined(tmp_path: Path, name: str) -> None:
    text = OTHER[name]
    path = tmp_path / "c.bim"
    path.write_text(text, encoding="utf-8")
    assert _count_plain_bim(path) is None
    assert count_bim(path, "c.zip") == digest_by_definition(text)


@pytest.mark.parametrize("text, line", [
    ("1\trs1\t0\t100\tA\tG\n1\trs2\t0\t200\tC\n", 2),
    ("1\trs1\t0\t100\tA\tG\textra\n", 1),
    ("1 rs1 0 100 A G\n1 rs2 0 200 C T\n2 rs3 0 1\n", 3),
])
def test_a_line_of_other_than_six_fields_is_rejected_by_number(tmp_path: Path, text: str,
                                                              line: int) -> None:
    path = tmp_path / "c.bim"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=rf"\.bim line {line} has \d fields"):
        count_bim(path, "c.zip")


def test_empty_bim_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "c.bim"
    path.write_text("\n\n", encoding="utf-8")
    with pytest.raises(InputError, match="lists no variants"):
        count_bim(path, "c.zip")


@pytest.mark.parametrize("chunk", [7, 16, 40, 1 << 20])
def test_chunks_split_anywhere_read_as_one(tmp_path: Path, monkeypatch, chunk: int) -> None:
    # chunks smaller than a line, ending inside a line, or holding the whole file
    text = "".join(f"{1 + v % 22}\trs{v}\t0.{v}\t{100 * v}\tA\tG\n" for v in range(300))
    path = tmp_path / "c.bim"
    path.write_text(text, encoding="utf-8")
    monkeypatch.setattr(genotypes, "BIM_CHUNK_BYTES", chunk)
    assert _count_plain_bim(path) == digest_by_definition(text)


def test_a_chunk_that_is_not_plain_sends_the_whole_file_to_the_line_loop(tmp_path: Path,
                                                                         monkeypatch) -> None:
    # plain lines, then one with a carriage return: the digest is not half of each reader's
    lines = [f"1\trs{v}\t0\t{v}\tA\tG\n" for v in range(50)] + ["1\trsX\t0\t9\tA\tG\r\n"]
    text = "".join(lines)
    path = tmp_path / "c.bim"
    path.write_text(text, encoding="utf-8")
    monkeypatch.setattr(genotypes, "BIM_CHUNK_BYTES", 64)
    assert _count_plain_bim(path) is None
    assert count_bim(path, "c.zip") == digest_by_definition(text)
