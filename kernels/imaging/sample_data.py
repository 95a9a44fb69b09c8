"""A small labelled medical image set cut from real images that ship inside installed packages.

No labelled MedMNIST-like set is available offline, so patches are cut from pydicom's bundled test
DICOM files (CT, MR, ultrasound) and scikit-image's microscopy/fundus images, labelled by
modality or stain, and written in MedMNIST's ``.npz`` layout. Nothing is downloaded.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from osler.kernels.errors import InputError
from osler.kernels.imaging.imageset import TEST_FRACTION, VAL_FRACTION, stratified_split

DICOM_SOURCES: dict[str, tuple[str, ...]] = {
    "CT": ("CT_small.dcm", "693_J2KI.dcm", "J2K_pixelrep_mismatch.dcm"),
    "MR": ("MR_small.dcm", "examples_overlay.dcm"),
    "ultrasound": ("examples_rgb_color.dcm", "examples_palette.dcm", "examples_jpeg2k.dcm"),
}
"""pydicom test files per class (``pydicom.data.get_testdata_file`` names), all bundled locally."""

SKIMAGE_SOURCES: dict[str, str] = {
    "histology_ihc": "immunohistochemistry",
    "fundus": "retina",
    "phase_contrast_cell": "cell",
}
"""``skimage.data`` loaders per class (these ship with scikit-image; most others download)."""

CLASSES: tuple[str, ...] = (*DICOM_SOURCES, *SKIMAGE_SOURCES)
"""Class names in label order."""

MIN_PATCH_STD = 0.06
"""Patches flatter than this (on a 0-1 scale) are background and are drawn again."""


def build_sample_dataset(out_path: Path, size: int = 28, per_class: int = 100, seed: int = 0, *,
                         rgb: bool = False, classes: Sequence[str] | None = None) -> dict:
    """Write a labelled patch dataset in MedMNIST's ``.npz`` layout.

    Parameters
    ----------
    out_path : pathlib.Path
        The ``.npz`` file to write. It holds ``{train,val,test}_{images,labels}`` (labels ``N x 1``
        uint8, as MedMNIST) and ``class_names``.
    size : int
        Side of the square patches, 28-224.
    per_class : int
        Patches per class (at least 3), split 70/10/20 per class.
    seed : int
        Seed of patch positions, sizes, flips and the split; same seed, same file.
    rgb : bool
        Write ``size x size x 3`` colour patches instead of grey ``size x size``.
    classes : sequence of str, optional
        A subset of :data:`CLASSES` (default all six).

    Returns
    -------
    dict
        ``{"path", "class_names", "n_train", "n_val", "n_test", "input_shape"}``.

    Examples
    --------
    >>> build_sample_dataset(Path("sample.npz"), per_class=20)["class_names"]  # doctest: +SKIP
    ['CT', 'MR', 'ultrasound', 'histology_ihc', 'fundus', 'phase_contrast_cell']
    """
    names = tuple(classes) if classes is not None else CLASSES
    unknown = [c for c in names if c not in CLASSES]
    if unknown or len(names) < 2:
        raise InputError(f"classes must be two or more of {', '.join(CLASSES)}")
    if not 28 <= size <= 224:
        raise InputError("size must be 28-224")
    if per_class < 3:
        raise InputError("per_class must be at least 3")
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for label, name in enumerate(names):
        sources = [_normalise(s) for s in _load_sources(name)]
        for _ in range(per_class):
            images.append(_draw_patch(sources[rng.integers(len(sources))], size, rgb, rng))
            labels.append(label)
    x = np.stack(images)
    y = np.array(labels, dtype=np.uint8)
    train, val, test = stratified_split(y, seed=seed, val_fraction=VAL_FRACTION,
                                        test_fraction=TEST_FRACTION)
    arrays = {}
    for split, idx in (("train", train), ("val", val), ("test", test)):
        order = rng.permutation(idx)
        arrays[f"{split}_images"] = x[order]
        arrays[f"{split}_labels"] = y[order, np.newaxis]
    out_path = Path(out_path)
    with out_path.open("wb") as handle:
        np.savez_compressed(handle, class_names=np.array(names), **arrays)
    return {
        "path": str(out_path),
        "class_names": list(names),
        "n_train": len(train),
        "n_val": len(val),
        "n_test": len(test),
        "input_shape": list(x.shape[1:]) if rgb else [size, size, 1],
    }


def _load_sources(name: str) -> list[np.ndarray]:
    if name in SKIMAGE_SOURCES:
        import skimage.data

        loader: Callable[[], np.ndarray] = getattr(skimage.data, SKIMAGE_SOURCES[name])
        return [np.asarray(loader())]
    import pydicom
    from pydicom.data import get_testdata_file

    from osler.kernels.imaging.decoding import decode_image

    out = []
    for file_name in DICOM_SOURCES[name]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            path = get_testdata_file(file_name, download=False)
        if path is None:
            continue
        try:
            with open(path, "rb") as handle:
                out.append(decode_image(handle.read(), name=file_name))
        except (InputError, pydicom.errors.InvalidDicomError):
            continue  # a decoder plugin missing on this machine; the other files still serve
    if not out:
        raise InputError(f"no bundled DICOM file for class {name} could be read")
    return out


def _normalise(image: np.ndarray) -> np.ndarray:
    """Float image in [0, 1], ``H x W x 3``, contrast stretched to the 1st-99th percentile."""
    image = image.astype(np.float64)
    if image.ndim == 2:
        image = np.repeat(image[..., np.newaxis], 3, axis=2)
    image = image[..., :3]
    low, high = np.percentile(image, [1, 99])
    return np.clip((image - low) / max(high - low, 1e-9), 0.0, 1.0)


def _draw_patch(source: np.ndarray, size: int, rgb: bool, rng: np.random.Generator) -> np.ndarray:
    from PIL import Image

    height, width = source.shape[:2]
    for _ in range(50):
        side = int(rng.uniform(0.25, 0.6) * min(height, width))
        side = max(side, min(8, height, width))
        top = int(rng.integers(0, height - side + 1))
        left = int(rng.integers(0, width - side + 1))
        patch = source[top:top + side, left:left + side]
        if patch.std() >= MIN_PATCH_STD:
            break
    patch = np.rot90(patch, k=int(rng.integers(4)))
    if rng.random() < 0.5:
        patch = patch[:, ::-1]
    picture = Image.fromarray(np.ascontiguousarray(np.round(patch * 255).astype(np.uint8)))
    picture = picture.resize((size, size), Image.Resampling.LANCZOS)
    if not rgb:
        picture = picture.convert("L")
    return np.asarray(picture, dtype=np.uint8)
