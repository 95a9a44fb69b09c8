"""Load labelled image datasets into train/val/test arrays.

Three layouts are accepted:

(a) MedMNIST ``.npz``: ``train_images``, ``train_labels``, ``val_images``, ``val_labels``,
    ``test_images``, ``test_labels`` (``val_*`` optional), images ``N x H x W`` or ``N x H x W x C``
    with C = 1 or 3, labels ``N`` or ``N x 1`` integers; an optional ``class_names`` string array.
(b) a zip of one folder per class holding PNG/JPEG (or DICOM) files, either ``<class>/<file>`` or
    ``<split>/<class>/<file>`` with split ``train``/``val``/``test``, optionally inside one wrapper
    folder.
(c) a zip of image files (DICOM, PNG or JPEG) with a ``labels.csv`` of ``file,label[,split]``.

Zips without splits get a seeded stratified split (70/10/20). Zips are read in memory, never
extracted; member count, per-member and total uncompressed size are capped and every image header is
checked before its pixels are decoded.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path, PurePosixPath

import numpy as np

from osler.kernels.errors import InputError
from osler.kernels.imaging.decoding import decode_image
from osler.kernels.imaging.imageset import (
    SPLIT_ALIASES,
    SPLITS,
    TEST_FRACTION,
    VAL_FRACTION,
    ImageDataset,
    Split,
    check_classes_present,
    stack_images,
    stratified_split,
)
from osler.kernels.imaging.medmnist import load_npz, npz_for_prediction
from osler.kernels.imaging.safezip import DatasetZip

__all__ = ["ImageDataset", "Split", "decode_image", "load_image_dataset",
           "load_images_for_prediction", "stratified_split"]

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".dcm", ".dicom", ""}
"""Zip members read as images (DICOM files often have no suffix)."""
LABELS_CSV = "labels.csv"


def load_image_dataset(path: Path, *, seed: int = 0) -> ImageDataset:
    """Load a MedMNIST ``.npz`` or a dataset zip into train/val/test arrays.

    Parameters
    ----------
    path : pathlib.Path
        A ``.npz`` file in MedMNIST's layout, or a ``.zip`` of class folders or of images with a
        ``labels.csv`` (see the module docstring). The format is recognised from the contents.
    seed : int
        Seed of the stratified split made when a zip has no ``train``/``val``/``test`` folders or
        ``split`` column.

    Returns
    -------
    ImageDataset
        Images as ``N x H x W x C`` uint8 (C = 1 or 3), labels as int64 indices into
        ``class_names``.

    Raises
    ------
    InputError
        Mismatched image/label counts, bad labels, mixed image sizes, unreadable images, images
        outside 28-224 px, oversized or path-traversing zips; the message names the file.

    Examples
    --------
    >>> ds = load_image_dataset(Path("pathmnist.npz"))  # doctest: +SKIP
    >>> ds.input_shape, ds.class_names[:2]  # doctest: +SKIP
    ((28, 28, 3), ('0', '1'))
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path.name}: dataset file not found")
    with path.open("rb") as handle:
        head = handle.read(4)
    if not head.startswith(b"PK"):
        raise InputError(f"{path.name}: not a .npz or .zip dataset")
    if path.suffix.lower() == ".npz":
        return load_npz(path, seed)
    with DatasetZip(path) as archive:
        if find_labels_csv(archive) is not None:
            return _load_labelled_zip(archive, seed)
        return _load_class_folders(archive, seed)


def load_images_for_prediction(path: Path) -> tuple[list[str], list[np.ndarray],
                                                      list[str | None]]:
    """Every image of a dataset file, for batch prediction.

    Parameters
    ----------
    path : pathlib.Path
        A ``.npz`` holding an ``images`` array (``N x H x W[ x C]``) or MedMNIST's layout (every
        split present is read, test last), or a zip of PNG/JPEG/DICOM files in any folders,
        optionally with a ``labels.csv``.

    Returns
    -------
    ids : list of str
        ``images[i]``, ``test_images[i]`` or the zip member name, per image.
    images : list of numpy.ndarray
        ``H x W x C`` (npz) or ``H x W[ x 3]`` (zip) uint8 arrays; shapes are not checked here.
    true_labels : list of str or None
        The known label per image (MedMNIST labels or labels.csv), else None.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path.name}: dataset file not found")
    if path.suffix.lower() == ".npz":
        return npz_for_prediction(path)
    with DatasetZip(path) as archive:
        csv_member = find_labels_csv(archive)
        truth = {}
        if csv_member is not None:
            truth = {m: label for m, label, _ in _labelled_members(archive, csv_member)}
        members = sorted(m for m in archive.members if m != csv_member
                         and PurePosixPath(m).suffix.lower() in IMAGE_SUFFIXES)
        if not members:
            raise InputError(f"{archive.name}: no PNG, JPEG or DICOM files")
        images = [archive.read_image(m) for m in members]
    return members, images, [truth.get(m) for m in members]


def find_labels_csv(archive: DatasetZip) -> str | None:
    """The shallowest ``labels.csv`` in the zip, or None."""
    found = [m for m in archive.members if PurePosixPath(m).name.lower() == LABELS_CSV]
    return min(found, key=lambda m: m.count("/")) if found else None


def _load_class_folders(archive: DatasetZip, seed: int) -> ImageDataset:
    layout = _folder_layout(list(archive.members), archive.name)
    if not layout:
        raise InputError(f"{archive.name}: no images found (expected <class>/<image> folders)")
    class_names = tuple(_sorted_labels({cls for _, cls, _ in layout}))
    index = {c: i for i, c in enumerate(class_names)}
    members = [m for _, _, m in layout]
    images = [archive.read_image(m) for m in members]
    labels = np.array([index[c] for _, c, _ in layout], dtype=np.int64)
    splits = [s for s, _, _ in layout]
    return _assemble(archive.name, images, labels, members, splits, class_names, seed, "folders")


def _folder_layout(members: list[str], name: str) -> list[tuple[str | None, str, str]]:
    """``(split or None, class, member)`` for each file under the class-folder layout.

    Files without an image suffix outside the class folders (README.txt, ...) are ignored; any
    file inside a class folder must decode as an image.
    """
    parts = {m: PurePosixPath(m).parts for m in members}
    images = [p for m, p in parts.items() if PurePosixPath(m).suffix.lower() in IMAGE_SUFFIXES]
    strip = 0
    while images:
        firsts = {p[strip] for p in images if len(p) > strip}
        deep = all(len(p) >= strip + 3 for p in images)
        if deep and len(firsts) == 1 and next(iter(firsts)).lower() not in SPLIT_ALIASES:
            strip += 1  # one wrapper folder around everything
        else:
            break
    prefix = images[0][:strip] if images else ()
    rel = {m: p[strip:] for m, p in parts.items() if p[:strip] == prefix}
    depth = 3 if any(len(p) == 3 and PurePosixPath(m).suffix.lower() in IMAGE_SUFFIXES
                     for m, p in rel.items()) else 2
    layout = []
    for member, p in sorted(rel.items()):
        if len(p) < depth and PurePosixPath(member).suffix.lower() not in IMAGE_SUFFIXES:
            continue  # a note next to the class folders
        if depth == 3:
            if len(p) != 3 or p[0].lower() not in SPLIT_ALIASES:
                raise InputError(f"{name}: {member} is not at <split>/<class>/<image> "
                                 "(split = train, val or test)")
            layout.append((SPLIT_ALIASES[p[0].lower()], p[1], member))
        else:
            if len(p) != 2:
                raise InputError(f"{name}: {member} is not at <class>/<image>")
            layout.append((None, p[0], member))
    return layout


def _load_labelled_zip(archive: DatasetZip, seed: int) -> ImageDataset:
    csv_member = find_labels_csv(archive)
    assert csv_member is not None
    records = _labelled_members(archive, csv_member)
    listed = {member for member, _, _ in records}
    for member in archive.members:
        suffix = PurePosixPath(member).suffix.lower()
        if member != csv_member and member not in listed and suffix in IMAGE_SUFFIXES:
            raise InputError(f"{archive.name}: {member} has no row in {csv_member}")
    class_names = tuple(_sorted_labels({label for _, label, _ in records}))
    index = {c: i for i, c in enumerate(class_names)}
    members = [m for m, _, _ in records]
    images = [archive.read_image(m) for m in members]
    labels = np.array([index[label] for _, label, _ in records], dtype=np.int64)
    splits = [s for _, _, s in records]
    return _assemble(archive.name, images, labels, members, splits, class_names, seed,
                     "labels-csv")


def _labelled_members(archive: DatasetZip, csv_member: str
                      ) -> list[tuple[str, str, str | None]]:
    """``(member, label, split or None)`` for each row of labels.csv, resolved to zip members.

    File names are relative to the folder holding labels.csv; a bare file name also matches a
    member in a sub-folder when that name is unique in the zip.
    """
    base = PurePosixPath(csv_member).parent
    rows = _read_labels_csv(archive.read(csv_member), csv_member)
    by_path = {}
    by_base: dict[str, list[str]] = {}
    for member in archive.members:
        if member == csv_member:
            continue
        by_path[_relative(member, base)] = member
        by_base.setdefault(PurePosixPath(member).name, []).append(member)
    listed: dict[str, int] = {}
    records = []
    for line, file_name, label, split in rows:
        member = by_path.get(file_name)
        if member is None:
            candidates = by_base.get(PurePosixPath(file_name).name, [])
            member = candidates[0] if len(candidates) == 1 else None
        if member is None:
            raise InputError(f"{csv_member} line {line}: file {file_name} is not in the zip")
        if member in listed:
            raise InputError(f"{csv_member} line {line}: {file_name} is also listed on line "
                             f"{listed[member]}")
        listed[member] = line
        records.append((member, label, split))
    if not records:
        raise InputError(f"{csv_member}: no labelled files")
    return records


def _relative(member: str, base: PurePosixPath) -> str:
    """``member``'s path relative to the folder of labels.csv (unchanged when outside it)."""
    path = PurePosixPath(member)
    if str(base) != "." and path.is_relative_to(base):
        return str(path.relative_to(base))
    return member


def _read_labels_csv(data: bytes, name: str) -> list[tuple[int, str, str, str | None]]:
    """``(line, file, label, split or None)`` per row of a ``file,label[,split]`` CSV."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"{name}: not UTF-8 text") from None
    rows = [(i, [c.strip() for c in row]) for i, row in enumerate(csv.reader(io.StringIO(text)), 1)
            if any(c.strip() for c in row)]
    if not rows:
        raise InputError(f"{name}: empty")
    file_col, label_col, split_col = 0, 1, 2 if len(rows[0][1]) >= 3 else None
    header = [c.lower() for c in rows[0][1]]
    if header and header[0] in ("file", "filename", "file_name", "image", "path", "name"):
        if "label" not in header:
            raise InputError(f"{name} line 1: header needs a 'label' column")
        label_col = header.index("label")
        split_col = header.index("split") if "split" in header else None
        rows = rows[1:]
    out = []
    for line, cells in rows:
        if len(cells) <= max(label_col, split_col or 0) or not cells[file_col] \
                or not cells[label_col]:
            raise InputError(f"{name} line {line}: expected file,label[,split] with a "
                             "non-empty file and label")
        split = None
        if split_col is not None and cells[split_col]:
            split = SPLIT_ALIASES.get(cells[split_col].lower())
            if split is None:
                raise InputError(f"{name} line {line}: split must be train, val or test")
        out.append((line, cells[file_col], cells[label_col], split))
    return out


def _sorted_labels(labels: set[str]) -> list[str]:
    """Sort class labels, numerically when they are all integers (so "10" follows "9")."""
    if all(label.lstrip("-").isdigit() for label in labels):
        return sorted(labels, key=int)
    return sorted(labels)


def _assemble(name: str, images: list[np.ndarray], labels: np.ndarray, ids: list[str],
              splits: list[str | None], class_names: tuple[str, ...], seed: int,
              source_format: str) -> ImageDataset:
    stacked = stack_images(images, ids)
    id_array = np.array(ids, dtype=object)
    given = np.array([s or "" for s in splits])
    if (given == "").all():
        parts = stratified_split(labels, seed=seed, val_fraction=VAL_FRACTION,
                                 test_fraction=TEST_FRACTION, class_names=class_names,
                                 where=name)
        assigned = dict(zip(SPLITS, parts, strict=True))
    elif (given == "").any():
        first = ids[int(np.argmax(given == ""))]
        raise InputError(f"{name}: {first} has no split while other images do")
    else:
        assigned = {s: np.flatnonzero(given == s) for s in SPLITS}
        if len(assigned["val"]) == 0 or len(assigned["test"]) == 0:
            # carve the missing split(s) out of train, keeping class proportions
            train = assigned["train"]
            tr, va, te = stratified_split(
                labels[train], seed=seed,
                val_fraction=VAL_FRACTION if len(assigned["val"]) == 0 else 0.0,
                test_fraction=TEST_FRACTION if len(assigned["test"]) == 0 else 0.0,
                class_names=class_names, where=name)
            assigned["train"] = train[tr]
            if len(assigned["val"]) == 0:
                assigned["val"] = train[va]
            if len(assigned["test"]) == 0:
                assigned["test"] = train[te]
    check_classes_present(labels[assigned["train"]], class_names, f"{name}: train split")
    out = {s: Split(stacked[idx], labels[idx], tuple(id_array[idx].tolist()))
           for s, idx in assigned.items()}
    return ImageDataset(out["train"], out["val"], out["test"], class_names, source_format)
