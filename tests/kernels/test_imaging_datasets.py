"""Image dataset loading (MedMNIST .npz, class-folder zips, DICOM + labels.csv) and decoding.

No TensorFlow here: these run in about a second.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import pytest

from osler.kernels.errors import InputError
from osler.kernels.imaging import safezip
from osler.kernels.imaging.datasets import load_image_dataset, load_images_for_prediction
from osler.kernels.imaging.decoding import decode_image
from osler.kernels.imaging.sample_data import CLASSES, build_sample_dataset
from tests.kernels.imaging_data import (
    png_bytes,
    png_header_only,
    random_images,
    write_zip,
)

# ----------------------------------------------------------------------------- decoding


def test_decode_png_grey_rgb_rgba_and_16_bit():
    rng = np.random.default_rng(1)
    grey = rng.integers(0, 256, (30, 40), dtype=np.uint8)
    rgb = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
    rgba = np.dstack([rgb, np.full((30, 40), 7, np.uint8)])
    np.testing.assert_array_equal(decode_image(png_bytes(grey)), grey)
    np.testing.assert_array_equal(decode_image(png_bytes(rgb)), rgb)
    np.testing.assert_array_equal(decode_image(png_bytes(rgba)), rgb)  # alpha dropped

    from PIL import Image

    deep = rng.integers(1000, 4000, (30, 40)).astype(np.uint16)
    buffer = io.BytesIO()
    Image.fromarray(deep).save(buffer, format="PNG")
    expected = np.round((deep - float(deep.min())) * (255.0 / (deep.max() - deep.min())))
    np.testing.assert_array_equal(decode_image(buffer.getvalue()), expected.astype(np.uint8))


def test_decode_jpeg_is_close_to_the_original():
    from PIL import Image

    smooth = np.tile(np.linspace(0, 255, 64, dtype=np.uint8), (64, 1))
    buffer = io.BytesIO()
    Image.fromarray(smooth).save(buffer, format="JPEG", quality=95)
    decoded = decode_image(buffer.getvalue())
    assert decoded.shape == (64, 64)
    assert np.abs(decoded.astype(int) - smooth).max() <= 4


def test_decode_dicom_matches_pydicom_pixels_min_max_scaled():
    import pydicom
    from pydicom.data import get_testdata_file

    path = get_testdata_file("CT_small.dcm", download=False)
    ds = pydicom.dcmread(path)
    hu = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    expected = np.round((hu - hu.min()) * (255.0 / (hu.max() - hu.min()))).astype(np.uint8)
    with open(path, "rb") as handle:
        np.testing.assert_array_equal(decode_image(handle.read()), expected)


def test_decode_refuses_garbage_and_bombs_before_decoding():
    with pytest.raises(InputError, match="scan.png: not a PNG"):
        decode_image(b"hello", name="scan.png")
    with pytest.raises(InputError, match=r"bomb\.png: .*decompression bomb"):
        decode_image(png_header_only(100_000, 100_000), name="bomb.png")
    truncated = png_bytes(np.random.default_rng(0).integers(0, 256, (40, 40), np.uint8))[:200]
    with pytest.raises(InputError, match="cut.png: unreadable image"):
        decode_image(truncated, name="cut.png")


# ----------------------------------------------------------------------------- npz


def test_sample_npz_loads_with_its_arrays_and_class_names(tiny_npz):
    dataset = load_image_dataset(tiny_npz)
    raw = np.load(tiny_npz)
    for split in ("train", "val", "test"):
        part = getattr(dataset, split)
        np.testing.assert_array_equal(part.images[..., 0], raw[f"{split}_images"])
        np.testing.assert_array_equal(part.labels, raw[f"{split}_labels"][:, 0])
    assert dataset.class_names == tuple(raw["class_names"])
    assert dataset.input_shape == (28, 28, 1)
    assert (len(dataset.train), len(dataset.val), len(dataset.test)) == (42, 6, 12)


def test_sample_dataset_is_seeded_and_rgb_option_has_three_channels(tmp_path):
    a, b, c = tmp_path / "a.npz", tmp_path / "b.npz", tmp_path / "c.npz"
    build_sample_dataset(a, per_class=5, seed=3, classes=CLASSES[:2])
    build_sample_dataset(b, per_class=5, seed=3, classes=CLASSES[:2])
    build_sample_dataset(c, per_class=5, seed=4, classes=CLASSES[:2])
    np.testing.assert_array_equal(np.load(a)["train_images"], np.load(b)["train_images"])
    assert not np.array_equal(np.load(a)["train_images"], np.load(c)["train_images"])
    rgb = tmp_path / "rgb.npz"
    build_sample_dataset(rgb, size=32, per_class=4, rgb=True, classes=("fundus", "CT"))
    assert load_image_dataset(rgb).input_shape == (32, 32, 3)


def _npz(path: Path, **arrays) -> Path:
    np.savez(path, **arrays)
    return path


def _layout(n=(6, 3, 3), shape=(28, 28), classes=2, seed=0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {}
    for split, count in zip(("train", "val", "test"), n, strict=True):
        out[f"{split}_images"] = rng.integers(0, 256, (count, *shape), dtype=np.uint8)
        out[f"{split}_labels"] = (np.arange(count) % classes).reshape(-1, 1).astype(np.uint8)
    return out


def test_npz_without_val_gets_a_stratified_val_split_from_train(tmp_path):
    arrays = _layout(n=(20, 0, 4))
    del arrays["val_images"], arrays["val_labels"]
    dataset = load_image_dataset(_npz(tmp_path / "d.npz", **arrays), seed=1)
    ids = sorted(dataset.train.ids + dataset.val.ids)
    assert ids == sorted(f"train_images[{i}]" for i in range(20))
    assert sorted(dataset.val.labels.tolist()) == [0, 1]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda a: a.update(train_labels=a["train_labels"][:-1]),
         r"d\.npz: train_images has 6 images but train_labels has 5"),
        (lambda a: a.update(test_labels=np.array([[0], [-1], [1]])),
         r"d\.npz: test_labels: label at index 1 is negative"),
        (lambda a: a.update(val_labels=np.array([[0.0], [0.5], [1.0]])),
         r"d\.npz: val_labels: label at index 1 is not an integer"),
        (lambda a: a.update(train_labels=np.zeros((6, 3), np.uint8)),
         r"d\.npz: train_labels: .*multi-label"),
        (lambda a: a.update(test_images=np.zeros((3, 32, 32), np.uint8)),
         r"d\.npz: test_images are 32x32x1 but train_images are 28x28x1"),
        (lambda a: a.update(train_images=a["train_images"] / 255.0),
         r"d\.npz: train_images: pixel values look scaled to \[0, 1\]"),
        (lambda a: a.update(train_images=np.zeros((6, 16, 16), np.uint8)),
         r"d\.npz: train_images: images are 16x16"),
        (lambda a: a.update(class_names=np.array(["a"])),
         r"d\.npz: train_labels has label 1 but there are 1 classes"),
        (lambda a: a.update(train_labels=np.zeros((6, 1), np.uint8)),
         r"d\.npz: train_labels: classes without training images: 1"),
        (lambda a: a.pop("test_labels"), r"d\.npz: missing arrays test_labels"),
    ],
)
def test_bad_npz_raises_input_error_naming_the_file(tmp_path, change, message):
    arrays = _layout()
    change(arrays)
    with pytest.raises(InputError, match=message):
        load_image_dataset(_npz(tmp_path / "d.npz", **arrays))


def test_npz_with_object_arrays_is_refused_without_unpickling(tmp_path):
    arrays = _layout()
    arrays["class_names"] = np.array(["a", None], dtype=object)
    with pytest.raises(InputError, match=r"d\.npz: array class_names is unreadable"):
        load_image_dataset(_npz(tmp_path / "d.npz", **arrays))


# ----------------------------------------------------------------------------- class-folder zips


def test_class_folder_zip_loads_with_seeded_stratified_split(tmp_path):
    rng = np.random.default_rng(0)
    images = {f"{cls}/{i}.png": img for cls in ("benign", "malignant", "normal")
              for i, img in enumerate(random_images(rng, 10))}
    path = write_zip(tmp_path / "folders.zip", {k: png_bytes(v) for k, v in images.items()})
    dataset = load_image_dataset(path, seed=5)
    assert dataset.class_names == ("benign", "malignant", "normal")
    assert (len(dataset.train), len(dataset.val), len(dataset.test)) == (21, 3, 6)
    for split in (dataset.train, dataset.val, dataset.test):
        assert np.bincount(split.labels).tolist() == [len(split) // 3] * 3  # stratified
        for image, label, member in zip(split.images, split.labels, split.ids, strict=True):
            np.testing.assert_array_equal(image[..., 0], images[member])
            assert member.startswith(dataset.class_names[label] + "/")
    again = load_image_dataset(path, seed=5)
    other = load_image_dataset(path, seed=6)
    assert again.test.ids == dataset.test.ids
    assert other.test.ids != dataset.test.ids


def test_split_folders_inside_a_wrapper_folder_and_rgb_jpeg(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    members = {}
    for split, n in (("train", 4), ("val", 1), ("test", 2)):
        for cls in ("a", "b"):
            for i in range(n):
                buffer = io.BytesIO()
                Image.fromarray(rng.integers(0, 256, (30, 30, 3), dtype=np.uint8)).save(
                    buffer, format="JPEG")
                members[f"set/{split}/{cls}/{i}.jpg"] = buffer.getvalue()
    members["set/README.txt"] = b"ignored"
    dataset = load_image_dataset(write_zip(tmp_path / "split.zip", members))
    assert dataset.input_shape == (30, 30, 3)
    assert (len(dataset.train), len(dataset.val), len(dataset.test)) == (8, 2, 4)
    assert all(i.startswith("set/test/") for i in dataset.test.ids)


def _dicom_bytes(source: str, crop: slice, k: int) -> tuple[bytes, np.ndarray]:
    import pydicom
    from pydicom.data import get_testdata_file

    ds = pydicom.dcmread(get_testdata_file(source, download=False))
    pixels = np.ascontiguousarray(np.rot90(ds.pixel_array[crop, crop], k)).astype(np.int16)
    ds.Rows, ds.Columns = pixels.shape
    ds.PixelData = pixels.tobytes()
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds.save_as(buffer)
    expected = np.round((pixels - float(pixels.min())) * (255.0 / (pixels.max() - pixels.min())))
    return buffer.getvalue(), expected.astype(np.uint8)


@pytest.mark.parametrize("header", ["file,label,split\n", "", "filename,label\n"])
def test_dicom_zip_with_labels_csv(tmp_path, header):
    members, expected, lines = {}, {}, []
    for source, label, crop in (("CT_small.dcm", "CT", slice(32, 96)),
                                ("MR_small.dcm", "MR", slice(0, 64))):
        for k in range(4):
            name = f"{label.lower()}_{k}.dcm"
            members[f"scans/{name}"], expected[f"scans/{name}"] = _dicom_bytes(source, crop, k)
            split = ("train", "train", "val", "test")[k] if header.count(",") == 2 else None
            lines.append(f"{name},{label}" + (f",{split}" if split else ""))
    members["labels.csv"] = (header + "\n".join(lines) + "\n").encode()
    dataset = load_image_dataset(write_zip(tmp_path / "dicom.zip", members))
    assert dataset.class_names == ("CT", "MR")
    assert dataset.input_shape == (64, 64, 1)
    for split in (dataset.train, dataset.val, dataset.test):
        for image, label, member in zip(split.images, split.labels, split.ids, strict=True):
            np.testing.assert_array_equal(image[..., 0], expected[member])
            assert dataset.class_names[label].lower() in member
    if header.startswith("file,"):
        assert dataset.test.ids == ("scans/ct_3.dcm", "scans/mr_3.dcm")


def _folders(tmp_path: Path, extra: dict[str, bytes], n: int = 3) -> Path:
    rng = np.random.default_rng(0)
    members = {f"{cls}/{i}.png": png_bytes(img) for cls in ("a", "b")
               for i, img in enumerate(random_images(rng, n))}
    members.update(extra)
    return write_zip(tmp_path / "bad.zip", members)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"a/broken.png": b"\x89PNG\r\n\x1a\n garbage"}, r"a/broken\.png: unreadable image"),
        ({"b/big.png": png_bytes(np.zeros((40, 28), np.uint8))},
         r"b/big\.png: image is 40x28 but a/0\.png is 28x28 \(mixed sizes\)"),
        ({"a/bomb.png": png_header_only(60_000, 60_000)},
         r"a/bomb\.png: .*decompression bomb"),
        ({"../evil.png": png_bytes(np.zeros((28, 28), np.uint8))},
         r"bad\.zip: \.\./evil\.png: unsafe path"),
        ({"/abs/evil.png": b"x"}, r"bad\.zip: /abs/evil\.png: unsafe path"),
        ({"a/notes.txt": b"hello"}, r"a/notes\.txt: not a PNG, JPEG or DICOM"),
        ({"stray.png": png_bytes(np.zeros((28, 28), np.uint8))}, r"stray\.png is not at"),
    ],
)
def test_bad_class_folder_zip_raises_input_error_naming_the_file(tmp_path, extra, message):
    with pytest.raises(InputError, match=message):
        load_image_dataset(_folders(tmp_path, extra))


def test_too_few_images_to_split_and_a_single_class_are_refused(tmp_path):
    with pytest.raises(InputError, match=r"few\.zip: class b has 2 image\(s\)"):
        load_image_dataset(_few(tmp_path))
    rng = np.random.default_rng(0)
    single = write_zip(tmp_path / "one.zip", {f"only/{i}.png": png_bytes(img)
                                              for i, img in enumerate(random_images(rng, 5))})
    with pytest.raises(InputError, match="at least two classes"):
        load_image_dataset(single)


def _few(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    members = {f"a/{i}.png": png_bytes(img) for i, img in enumerate(random_images(rng, 4))}
    members.update({f"b/{i}.png": png_bytes(img) for i, img in enumerate(random_images(rng, 2))})
    return write_zip(tmp_path / "few.zip", members)


def test_zip_bomb_limits_on_member_size_and_count(tmp_path, monkeypatch):
    path = _folders(tmp_path, {"a/zeros.png": b"\x00" * 5000})
    monkeypatch.setattr(safezip, "MAX_MEMBER_BYTES", 4096)
    with pytest.raises(InputError, match=r"bad\.zip: a/zeros\.png is 5000 bytes uncompressed"):
        load_image_dataset(path)
    monkeypatch.setattr(safezip, "MAX_MEMBER_BYTES", 1 << 20)
    monkeypatch.setattr(safezip, "MAX_ZIP_MEMBERS", 5)
    with pytest.raises(InputError, match=r"bad\.zip: 7 entries exceeds the limit of 5"):
        load_image_dataset(path)
    monkeypatch.setattr(safezip, "MAX_ZIP_MEMBERS", 100)
    monkeypatch.setattr(safezip, "MAX_TOTAL_BYTES", 6000)
    with pytest.raises(InputError, match=r"bad\.zip: uncompressed size exceeds"):
        load_image_dataset(path)


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("file,label\nx0.png,a\nx1.png,\n", r"labels\.csv line 3: expected file,label"),
        ("file,label\nx0.png,a\nmissing.png,b\n", r"labels\.csv line 3: file missing\.png is not"),
        ("file,label\nx0.png,a\nx0.png,b\n", r"labels\.csv line 3: x0\.png is also listed on "
                                             r"line 2"),
        ("file,label\nx0.png,a\n", r"x1\.png has no row in labels\.csv"),
        ("file,label,split\nx0.png,a,train\nx1.png,b,holdout\n",
         r"labels\.csv line 3: split must be"),
    ],
)
def test_bad_labels_csv_raises_input_error_naming_the_line(tmp_path, rows, message):
    rng = np.random.default_rng(0)
    members = {f"x{i}.png": png_bytes(img) for i, img in enumerate(random_images(rng, 2))}
    members["labels.csv"] = rows.encode()
    with pytest.raises(InputError, match=message):
        load_image_dataset(write_zip(tmp_path / "csv.zip", members))


# ----------------------------------------------------------------------------- prediction input


def test_images_for_prediction_from_npz_and_zip(tmp_path, tiny_npz):
    ids, images, truth = load_images_for_prediction(tiny_npz)
    raw = np.load(tiny_npz)
    assert len(ids) == len(images) == len(truth) == 60
    assert ids[-1] == "test_images[11]"
    assert truth[-1] == str(raw["class_names"][raw["test_labels"][-1, 0]])

    rng = np.random.default_rng(0)
    members = {f"in/{i}.png": png_bytes(img) for i, img in enumerate(random_images(rng, 3))}
    ids, images, truth = load_images_for_prediction(write_zip(tmp_path / "p.zip", members))
    assert ids == ["in/0.png", "in/1.png", "in/2.png"] and truth == [None] * 3
    np.testing.assert_array_equal(images[1], decode_image(members["in/1.png"]))
