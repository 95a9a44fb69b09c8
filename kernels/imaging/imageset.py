"""The in-memory labelled image set: splits, shape and class checks, stratified splitting."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from osler.kernels.errors import InputError

SPLITS = ("train", "val", "test")
SPLIT_ALIASES = {
    "train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test",
}
MIN_SIDE = 28
"""Smallest accepted image height or width (MedMNIST's size)."""
MAX_SIDE = 224
"""Largest accepted image height or width (MedMNIST+'s largest size)."""
VAL_FRACTION = 0.1
TEST_FRACTION = 0.2


@dataclass(frozen=True)
class Split:
    """Images of one split: ``images`` is ``N x H x W x C`` uint8, ``labels`` is ``N`` int64."""

    images: np.ndarray
    labels: np.ndarray
    ids: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class ImageDataset:
    """A labelled image dataset split into train, validation and test."""

    train: Split
    val: Split
    test: Split
    class_names: tuple[str, ...]
    source_format: str

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """``(height, width, channels)`` shared by every image."""
        return tuple(int(n) for n in self.train.images.shape[1:])  # type: ignore[return-value]

    def summary(self) -> dict:
        """A small JSON-serialisable description (format, shape, classes, split sizes)."""
        return {
            "format": self.source_format,
            "input_shape": list(self.input_shape),
            "class_names": list(self.class_names),
            "n_train": len(self.train),
            "n_val": len(self.val),
            "n_test": len(self.test),
        }


def stack_images(images: list[np.ndarray], ids: list[str]) -> np.ndarray:
    """Stack decoded images into ``N x H x W x C`` uint8, promoting grey to RGB if any is colour.

    Raises InputError naming the first image whose height/width differs from the first image's
    or lies outside 28-224 px.
    """
    if not images:
        raise InputError("no images")
    height, width = images[0].shape[:2]
    check_side(height, width, ids[0])
    for image, name in zip(images, ids, strict=True):
        if image.shape[:2] != (height, width):
            raise InputError(f"{name}: image is {shape_text(image.shape[:2])} but {ids[0]} is "
                             f"{height}x{width} (mixed sizes)")
    channels = 3 if any(image.ndim == 3 for image in images) else 1
    out = np.empty((len(images), height, width, channels), dtype=np.uint8)
    for i, image in enumerate(images):
        out[i] = image[..., np.newaxis] if image.ndim == 2 else image
    return out


def stratified_split(labels: np.ndarray, *, seed: int, val_fraction: float, test_fraction: float,
                     class_names: tuple[str, ...] | None = None, where: str = "dataset"
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seeded per-class split into (train, val, test) index arrays.

    Each class with at least 3 images gets at least one image in every split whose fraction is
    positive; a class too small for that raises InputError.
    """
    rng = np.random.default_rng(seed)
    parts: tuple[list, list, list] = ([], [], [])
    needed = 1 + (val_fraction > 0) + (test_fraction > 0)
    for cls in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == cls))
        n = len(idx)
        if n < needed:
            label = class_names[cls] if class_names else str(cls)
            raise InputError(f"{where}: class {label} has {n} image(s); at least {needed} are "
                             "needed to split it into train/val/test")
        n_test = max(int(test_fraction > 0), int(round(n * test_fraction)))
        n_val = max(int(val_fraction > 0), int(round(n * val_fraction)))
        n_train = n - n_test - n_val
        if n_train < 1:
            n_train, n_val = 1, n - n_test - 1
        parts[0].append(idx[:n_train])
        parts[1].append(idx[n_train:n_train + n_val])
        parts[2].append(idx[n_train + n_val:])
    return tuple(np.sort(np.concatenate(p)).astype(np.int64) if p else np.empty(0, np.int64)
                 for p in parts)  # type: ignore[return-value]


def take_split(split: Split, idx: np.ndarray) -> Split:
    return Split(split.images[idx], split.labels[idx], tuple(split.ids[i] for i in idx))


def check_classes_present(labels: np.ndarray, class_names: tuple[str, ...], where: str) -> None:
    if len(class_names) < 2:
        raise InputError(f"{where}: at least two classes are needed, found {len(class_names)}")
    counts = np.bincount(labels, minlength=len(class_names))
    empty = [class_names[i] for i in np.flatnonzero(counts == 0)]
    if empty:
        raise InputError(f"{where}: classes without training images: {', '.join(empty[:10])}")


def check_side(height: int, width: int, where: str) -> None:
    if not (MIN_SIDE <= height <= MAX_SIDE and MIN_SIDE <= width <= MAX_SIDE):
        raise InputError(f"{where}: images are {height}x{width}; height and width must be "
                         f"{MIN_SIDE}-{MAX_SIDE} px")


def shape_text(shape: Iterable[int]) -> str:
    return "x".join(str(int(n)) for n in shape)
