"""ICD-10-CM datasets built offline from the ``simple-icd-10-cm`` package (MIT).

Every billable code (a leaf of the hierarchy: 74,731 in package release 1.5.0) with its
description and chapter is assigned to train/val/test by a seeded 80/10/10 permutation of the
codes. Three files follow:

``icd10cm_corpus.txt``
    Descriptions of the training codes, one per line: the word2vec corpus (training codes only,
    so a classifier initialised from these vectors has seen no test description).
``icd10cm_chapters.csv``
    ``code, text, label, chapter_title, split``: description → chapter number (1–22), for the
    sequence classifier.
``icd10cm_codes.jsonl``
    ``{"code", "source", "target", "split"}``: description → code with its dot (``S72.001A``),
    for seq2seq with ``target_level="char"``.

``icd10cm_manifest.json`` records the package version, seed and counts.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from osler.kernels.errors import InputError

CORPUS_FILE = "icd10cm_corpus.txt"
"""Training descriptions, one per line."""
CHAPTERS_FILE = "icd10cm_chapters.csv"
"""Description → chapter."""
CODES_FILE = "icd10cm_codes.jsonl"
"""Description → code."""
MANIFEST_FILE = "icd10cm_manifest.json"
"""Version, seed and counts."""
FRACTIONS = {"train": 0.8, "val": 0.1, "test": 0.1}
"""Split shares, applied to codes."""


@dataclass(frozen=True)
class BillableCode:
    """One billable ICD-10-CM code."""

    code: str
    description: str
    chapter: str
    chapter_title: str


def billable_codes() -> list[BillableCode]:
    """All billable (leaf) codes of the installed ICD-10-CM release, in code order."""
    import simple_icd_10_cm as icd

    out = []
    seen: set[str] = set()
    chapter = ""
    # get_all_codes lists the tree depth-first, each chapter before its codes; tracking the
    # current chapter is much faster than get_ancestors for every code.
    for code in icd.get_all_codes(with_dots=True):
        if icd.is_chapter(code):
            chapter = code
        elif icd.is_leaf(code) and code not in seen:
            # A few codes (B20, F99, P84, R99, Z66) are both a block and a category and are
            # listed twice.
            seen.add(code)
            # Whitespace runs become one space (a few descriptions hold tabs): one line per record.
            description = " ".join(icd.get_description(code).split())
            out.append(BillableCode(code, description, chapter, icd.get_description(chapter)))
    return out


def split_codes(codes: list[str], seed: int) -> dict[str, str]:
    """Code → split by a seeded permutation: the first 80% train, then 10% val, 10% test."""
    order = np.random.default_rng(seed).permutation(len(codes))
    n_train = int(round(len(codes) * FRACTIONS["train"]))
    n_val = int(round(len(codes) * FRACTIONS["val"]))
    out = {}
    for rank, i in enumerate(order):
        out[codes[i]] = ("train" if rank < n_train else
                         "val" if rank < n_train + n_val else "test")
    return out


def build_icd10_datasets(out_dir: Path, limit: int | None = None, seed: int = 0) -> dict:
    """Write the ICD-10-CM corpus, chapter CSV and code JSONL into ``out_dir``.

    Parameters
    ----------
    out_dir : Path
        Folder to write into (created if missing).
    limit : int, optional
        Keep a seeded random sample of this many billable codes (tests and demos).
    seed : int
        Seed for the sample and the split.

    Returns
    -------
    dict
        The manifest: file names, package version, seed, and counts per split and chapter.
    """
    from importlib.metadata import version

    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise InputError(f"limit must be a positive integer, got {limit!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    records = billable_codes()
    if limit is not None and limit < len(records):
        keep = np.sort(np.random.default_rng(seed).choice(len(records), limit, replace=False))
        records = [records[i] for i in keep]
    splits = split_codes([r.code for r in records], seed)

    with (out_dir / CORPUS_FILE).open("w", encoding="utf-8") as corpus:
        for r in records:
            if splits[r.code] == "train":
                corpus.write(r.description + "\n")
    with (out_dir / CHAPTERS_FILE).open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["code", "text", "label", "chapter_title", "split"])
        for r in records:
            writer.writerow([r.code, r.description, r.chapter, r.chapter_title, splits[r.code]])
    with (out_dir / CODES_FILE).open("w", encoding="utf-8") as handle:
        for r in records:
            handle.write(json.dumps({"code": r.code, "source": r.description, "target": r.code,
                                     "split": splits[r.code]}, ensure_ascii=False) + "\n")

    per_split = {name: sum(1 for s in splits.values() if s == name) for name in FRACTIONS}
    chapters: dict[str, int] = {}
    for r in records:
        chapters[r.chapter] = chapters.get(r.chapter, 0) + 1
    manifest = {
        "source": "simple-icd-10-cm (MIT), billable codes",
        "package_version": version("simple-icd-10-cm"),
        "seed": seed,
        "limit": limit,
        "codes": len(records),
        "splits": per_split,
        "chapters": dict(sorted(chapters.items(), key=lambda kv: int(kv[0]))),
        "files": {"corpus": CORPUS_FILE, "chapters": CHAPTERS_FILE, "codes": CODES_FILE},
        "max_code_length": max(len(r.code) for r in records),
    }
    (out_dir / MANIFEST_FILE).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return manifest
