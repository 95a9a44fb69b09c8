"""MedMNIST's ``.npz`` layout: ``{train,val,test}_{images,labels}`` plus optional ``class_names``.

Arrays are read with ``allow_pickle=False`` after the archive's entry count and declared sizes are
checked, so neither pickled objects nor a zip bomb get in.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from osler.kernels.errors import InputError
from osler.kernels.imaging.imageset import (
    SPLITS,
    VAL_FRACTION,
    ImageDataset,
    Split,
    check_classes_present,
    check_side,
    shape_text,
    stratified_split,
    take_split,
)
from osler.kernels.imaging.safezip import MAX_TOTAL_BYTES, DatasetZip


def load_npz(path: Path, seed: int) -> ImageDataset:
    name = path.name
    # validates member count and declared sizes before numpy allocates anything
    DatasetZip(path, max_member_bytes=MAX_TOTAL_BYTES).close()
    try:
        npz = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise InputError(f"{name}: unreadable .npz ({type(exc).__name__})") from None
    with npz:
        keys = set(npz.files)
        missing = [k for k in ("train_images", "train_labels", "test_images", "test_labels")
                   if k not in keys]
        if missing:
            raise InputError(f"{name}: missing arrays {', '.join(missing)} (MedMNIST layout)")
        arrays: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for split in SPLITS:
            if f"{split}_images" not in keys and f"{split}_labels" not in keys:
                continue
            images = _read_npz_array(npz, f"{split}_images", name)
            labels = _read_npz_array(npz, f"{split}_labels", name)
            arrays[split] = (
                _check_image_array(images, f"{name}: {split}_images"),
                _check_label_array(labels, f"{name}: {split}_labels"),
            )
            if len(arrays[split][0]) != len(arrays[split][1]):
                raise InputError(
                    f"{name}: {split}_images has {len(arrays[split][0])} images but "
                    f"{split}_labels has {len(arrays[split][1])} labels"
                )
        class_names = None
        if "class_names" in keys:
            raw = _read_npz_array(npz, "class_names", name)
            if raw.ndim != 1 or raw.dtype.kind not in "USi":
                raise InputError(f"{name}: class_names must be a 1-D array of strings")
            class_names = tuple(str(c) for c in raw.tolist())

    if len(arrays["train"][1]) == 0:
        raise InputError(f"{name}: train_images is empty")
    shape = arrays["train"][0].shape[1:]
    for split, (images, _) in arrays.items():
        if images.shape[1:] != shape:
            raise InputError(
                f"{name}: {split}_images are {shape_text(images.shape[1:])} but train_images are "
                f"{shape_text(shape)} (mixed sizes)"
            )
    top = max(int(labels.max()) for _, labels in arrays.values() if len(labels))
    if class_names is None:
        class_names = tuple(str(i) for i in range(top + 1))
    elif len(set(class_names)) != len(class_names):
        raise InputError(f"{name}: class_names contains duplicates")
    for split, (_, labels) in arrays.items():
        if len(labels) and int(labels.max()) >= len(class_names):
            raise InputError(
                f"{name}: {split}_labels has label {int(labels.max())} but there are "
                f"{len(class_names)} classes"
            )
    check_classes_present(arrays["train"][1], class_names, f"{name}: train_labels")

    splits = {s: Split(x, y, _npz_ids(s, len(y))) for s, (x, y) in arrays.items()}
    if "val" not in splits:
        train = splits["train"]
        tr, va, _ = stratified_split(train.labels, seed=seed, val_fraction=VAL_FRACTION,
                                     test_fraction=0.0, class_names=class_names, where=name)
        splits["train"], splits["val"] = take_split(train, tr), take_split(train, va)
    if len(splits["test"]) == 0 or len(splits["val"]) == 0:
        raise InputError(f"{name}: the val and test splits must not be empty")
    return ImageDataset(splits["train"], splits["val"], splits["test"], class_names, "npz")


def npz_for_prediction(path: Path) -> tuple[list[str], list[np.ndarray], list[str | None]]:
    name = path.name
    DatasetZip(path, max_member_bytes=MAX_TOTAL_BYTES).close()
    try:
        npz = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise InputError(f"{name}: unreadable .npz ({type(exc).__name__})") from None
    ids: list[str] = []
    images: list[np.ndarray] = []
    truth: list[str | None] = []
    with npz:
        if "images" in npz.files:
            array = _check_image_array(_read_npz_array(npz, "images", name), f"{name}: images")
            return [f"images[{i}]" for i in range(len(array))], list(array), [None] * len(array)
        names = None
        if "class_names" in npz.files:
            names = [str(c) for c in _read_npz_array(npz, "class_names", name).tolist()]
        for split in SPLITS:
            if f"{split}_images" not in npz.files:
                continue
            array = _check_image_array(_read_npz_array(npz, f"{split}_images", name),
                                       f"{name}: {split}_images")
            ids += _npz_ids(split, len(array))
            images += list(array)
            if f"{split}_labels" in npz.files:
                labels = _check_label_array(_read_npz_array(npz, f"{split}_labels", name),
                                            f"{name}: {split}_labels")
                if len(labels) != len(array):
                    raise InputError(f"{name}: {split}_images has {len(array)} images but "
                                     f"{split}_labels has {len(labels)} labels")
                truth += [names[k] if names and k < len(names) else str(k) for k in labels]
            else:
                truth += [None] * len(array)
    if not images:
        raise InputError(f"{name}: no 'images' array and no MedMNIST *_images arrays")
    return ids, images, truth


def _read_npz_array(npz, key: str, name: str) -> np.ndarray:
    if key not in npz.files:
        raise InputError(f"{name}: array {key} is missing")
    try:
        return npz[key]
    except Exception as exc:  # object arrays need pickle, which is refused
        raise InputError(f"{name}: array {key} is unreadable ({type(exc).__name__})") from None


def _npz_ids(split: str, n: int) -> tuple[str, ...]:
    return tuple(f"{split}_images[{i}]" for i in range(n))


def _check_image_array(images: np.ndarray, where: str) -> np.ndarray:
    if images.ndim == 3:
        images = images[..., np.newaxis]
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise InputError(f"{where}: expected N x H x W or N x H x W x C (C = 1 or 3), "
                         f"got shape {images.shape}")
    check_side(images.shape[1], images.shape[2], where)
    if images.dtype == np.uint8:
        return images
    if images.dtype.kind not in "iuf":
        raise InputError(f"{where}: pixel dtype {images.dtype} is not numeric")
    if len(images):
        if images.dtype.kind == "f" and not np.isfinite(images).all():
            raise InputError(f"{where}: pixel values contain NaN or infinity")
        low, high = float(images.min()), float(images.max())
        if low < 0 or high > 255:
            raise InputError(f"{where}: pixel values must lie in 0-255, found {low:g}..{high:g}")
        if images.dtype.kind == "f" and high <= 1.0:
            raise InputError(f"{where}: pixel values look scaled to [0, 1]; osler expects 0-255")
    return np.round(images).astype(np.uint8)


def _check_label_array(labels: np.ndarray, where: str) -> np.ndarray:
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1:
        raise InputError(f"{where}: expected one label per image (N or N x 1), got shape "
                         f"{labels.shape}; multi-label datasets are not supported")
    if labels.dtype.kind not in "iuf":
        raise InputError(f"{where}: labels must be integers, got dtype {labels.dtype}")
    if labels.dtype.kind == "f":
        bad = ~np.isfinite(labels) | (labels != np.round(labels))
        if bad.any():
            raise InputError(f"{where}: label at index {int(np.argmax(bad))} is not an integer")
    if len(labels) and labels.min() < 0:
        raise InputError(f"{where}: label at index {int(np.argmin(labels))} is negative")
    return labels.astype(np.int64)
