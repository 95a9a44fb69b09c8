"""Inference: safe loading, predict_on_batch results, shape errors, Grad-CAM PNGs, batch CSVs."""

from __future__ import annotations

import base64
import csv
import io
import json
import shutil
import zipfile

import numpy as np
import pytest

from osler.kernels.errors import InputError
from osler.kernels.imaging.datasets import load_image_dataset
from osler.kernels.imaging.decoding import decode_image
from osler.kernels.imaging.inference import (
    gradcam,
    load_image_model,
    predict_dataset,
    predict_images,
    warm_up,
)
from tests.kernels.imaging_data import (
    TINY_CLASSES,
    png_bytes,
    write_zip,
)


@pytest.fixture(scope="module")
def test_images(tiny_npz):
    return load_image_dataset(tiny_npz).test.images


def test_probabilities_sum_to_one_and_equal_the_models_own_output(
        loaded_model, test_images):
    images = [test_images[i] for i in range(5)]
    results = predict_images(loaded_model, images, TINY_CLASSES)
    expected = np.asarray(loaded_model(np.stack(images).astype(np.float32), training=False))
    got = np.array([[r["probabilities"][c] for c in TINY_CLASSES] for r in results])
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-5)
    assert [r["label"] for r in results] == [TINY_CLASSES[k] for k in expected.argmax(axis=1)]
    assert all("saliency_png" not in r for r in results)
    json.dumps(results)


def test_grey_hxw_arrays_nested_lists_and_decoded_png_give_the_same_answer(
        loaded_model, test_images):
    image = test_images[0]
    warm_up(loaded_model)
    as_array = predict_images(loaded_model, [image], TINY_CLASSES)[0]
    as_grey = predict_images(loaded_model, [image[..., 0]], TINY_CLASSES)[0]
    as_lists = predict_images(loaded_model, [image[..., 0].tolist()], TINY_CLASSES)[0]
    as_png = predict_images(loaded_model, [decode_image(png_bytes(image[..., 0]))],
                            TINY_CLASSES)[0]
    assert as_array == as_grey == as_lists == as_png


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (np.zeros((32, 32)), r"images\[1\]: shape 32x32 does not match the model input "
                             r"28x28x1 or 28x28"),
        (np.zeros((28, 28, 3)), r"images\[1\]: shape 28x28x3 does not match"),
        ([[1, 2], [3]], r"images\[1\]: not a numeric array"),
        (np.full((28, 28), np.nan), r"images\[1\]: contains NaN"),
    ],
)
def test_wrong_shape_or_values_raise_input_error_naming_the_item(
        loaded_model, test_images, bad, message):
    with pytest.raises(InputError, match=message):
        predict_images(loaded_model, [test_images[0], bad], TINY_CLASSES)


def test_explain_returns_one_png_per_image_at_the_input_size(
        loaded_model, test_images):
    from PIL import Image

    images = [test_images[i] for i in range(3)]
    results = predict_images(loaded_model, images, TINY_CLASSES, explain=True)
    assert len(results) == 3
    for result in results:
        png = base64.b64decode(result["saliency_png"])
        picture = Image.open(io.BytesIO(png))
        assert picture.format == "PNG" and picture.size == (28, 28) and picture.mode == "RGB"
    maps = gradcam(loaded_model, np.stack(images).astype(np.float32), [0, 1, 2])
    assert maps.shape == (3, 28, 28)
    assert maps.min() >= 0 and all(m.max() in (0.0, 1.0) for m in maps)


def test_refuses_h5_files(tmp_path, loaded_model):
    h5 = tmp_path / "model.h5"
    loaded_model.save(h5)
    with pytest.raises(InputError, match=r"model\.h5: only native \.keras"):
        load_image_model(h5)
    pickled = tmp_path / "model.keras"
    pickled.write_bytes(b"\x80\x04\x95 not a zip")
    with pytest.raises(InputError, match=r"model\.keras: not a native Keras archive"):
        load_image_model(pickled)


def test_safe_mode_refuses_a_lambda_layer(tmp_path):
    import keras

    inputs = keras.Input((28, 28, 1))
    outputs = keras.layers.Lambda(lambda x: x * 2.0)(inputs)
    path = tmp_path / "lambda.keras"
    keras.Model(inputs, outputs).save(path)
    with pytest.raises(InputError, match=r"lambda\.keras: model refused.*[Ll]ambda"):
        load_image_model(path)


def test_a_config_naming_a_foreign_module_is_refused_before_keras_reads_it(
        tmp_path, trained):
    source = trained["out_dir"] / "model.keras"
    path = tmp_path / "evil.keras"
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(path, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            if name == "config.json":
                data = data.replace(b'"module": "keras.layers"', b'"module": "os"', 1)
            dst.writestr(name, data)
    with pytest.raises(InputError, match=r"evil\.keras: refers to module 'os'"):
        load_image_model(path)
    shutil.copy(source, tmp_path / "ok.keras")
    assert load_image_model(tmp_path / "ok.keras").output_shape == (None, 3)


def test_predict_dataset_writes_one_row_per_image(tmp_path, loaded_model, tiny_npz):
    raw = np.load(tiny_npz)
    calls = []
    summary = predict_dataset(loaded_model, tiny_npz, TINY_CLASSES, tmp_path / "predictions.csv",
                              progress=lambda f, m: calls.append(f))
    with (tmp_path / "predictions.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == summary["n_images"] == 60 and calls[-1] == 1.0
    test_rows = [r for r in rows if r["id"].startswith("test_images[")]
    expected = np.asarray(loaded_model(raw["test_images"][..., None].astype(np.float32)))
    assert [r["label"] for r in test_rows] == [TINY_CLASSES[k] for k in expected.argmax(axis=1)]
    np.testing.assert_allclose([float(test_rows[0][f"p_{c}"]) for c in TINY_CLASSES],
                               expected[0], rtol=1e-5)
    truth = [r["true_label"] for r in rows]
    assert summary["accuracy"] == pytest.approx(
        np.mean([r["label"] == t for r, t in zip(rows, truth, strict=True)]))

    members = {f"new/{i}.png": png_bytes(raw["test_images"][i]) for i in range(4)}
    members["new/bad.png"] = png_bytes(np.zeros((30, 30), np.uint8))
    with pytest.raises(InputError, match=r"new/bad\.png: shape 30x30 does not match"):
        predict_dataset(loaded_model, write_zip(tmp_path / "p.zip", members), TINY_CLASSES,
                        tmp_path / "p.csv")
    del members["new/bad.png"]
    summary = predict_dataset(loaded_model, write_zip(tmp_path / "q.zip", members), TINY_CLASSES,
                              tmp_path / "q.csv")
    with (tmp_path / "q.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [r["id"] for r in rows] == [f"new/{i}.png" for i in range(4)]
    assert [r["label"] for r in rows] == [TINY_CLASSES[k] for k in expected[:4].argmax(axis=1)]
    assert "accuracy" not in summary
