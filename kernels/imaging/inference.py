"""Load a trained image model safely, predict images or whole datasets, explain with Grad-CAM."""

from __future__ import annotations

import base64
import csv
import io
import json
import weakref
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from osler.kernels.errors import InputError
from osler.kernels.imaging.model import FEATURES_LAYER, LOGITS_LAYER, import_keras
from osler.kernels.progress import ProgressCallback, report

MODEL_SUFFIX = ".keras"
KERAS_ARCHIVE_MEMBERS = {"config.json", "metadata.json", "model.weights.h5"}
"""What a native ``.keras`` file holds; anything else (assets, custom code) is refused."""
PREDICT_BATCH = 256
"""Images per ``predict_on_batch`` call in dataset predictions."""
SALIENCY_ALPHA = 0.45
"""Weight of the Grad-CAM heat map in the overlay PNG."""

_gradcam_models: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def load_image_model(path: Path):
    """Load a ``.keras`` model written by :func:`train_image_classifier`, with Keras safe mode.

    Parameters
    ----------
    path : pathlib.Path
        A native Keras ``.keras`` archive. HDF5 (``.h5``), SavedModel folders, pickles and any
        archive whose configuration names a non-Keras module or a custom object are refused before
        Keras sees them; ``safe_mode=True`` then refuses Lambda layers (serialised bytecode).

    Returns
    -------
    keras.Model
        Uncompiled; use :func:`predict_images` or ``model.predict_on_batch``.

    Raises
    ------
    InputError
        The file is refused or unreadable; the message names it.
    """
    path = Path(path)
    if path.suffix != MODEL_SUFFIX or not path.is_file():
        raise InputError(f"{path.name}: only native {MODEL_SUFFIX} model files are loaded")
    _check_keras_archive(path)
    keras = import_keras()

    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:
        detail = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise InputError(f"{path.name}: model refused or unreadable: {detail}") from None


def _check_keras_archive(path: Path) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if not names <= KERAS_ARCHIVE_MEMBERS or "config.json" not in names:
                extra = ", ".join(sorted(names - KERAS_ARCHIVE_MEMBERS)) or "no config.json"
                raise InputError(f"{path.name}: not a plain Keras archive ({extra})")
            config = json.loads(archive.read("config.json"))
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise InputError(
            f"{path.name}: not a native Keras archive ({type(exc).__name__})"
        ) from None
    for node in _walk(config):
        module = node.get("module")
        if isinstance(module, str) and not (module == "keras" or module.startswith("keras.")):
            raise InputError(f"{path.name}: refers to module {module!r}; only Keras built-ins "
                             "are loaded")
        registered = node.get("registered_name")
        if isinstance(registered, str) and ">" in registered:
            raise InputError(f"{path.name}: uses custom object {registered!r}; refused")


def _walk(node):
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def warm_up(model) -> None:
    """Trace ``predict_on_batch`` for two batch sizes so later calls of any size do not retrace.

    The first call compiles a TensorFlow function (~100 ms) and the first call with a second
    batch size retraces it with a variable batch dimension; a serving worker pays both once,
    right after loading, instead of inside a user's request.
    """
    shape = model_input_shape(model)
    for n in (1, 2):
        model.predict_on_batch(np.zeros((n, *shape), dtype=np.float32))


def model_input_shape(model) -> tuple[int, int, int]:
    """``(height, width, channels)`` the model expects."""
    shape = tuple(model.input_shape[1:])
    if len(shape) != 3 or any(n is None for n in shape):
        raise InputError(f"model input shape {shape} is not a fixed H x W x C image")
    return shape  # type: ignore[return-value]


def prepare_batch(images: Sequence, input_shape: tuple[int, int, int],
                  names: Sequence[str] | None = None) -> np.ndarray:
    """Validate raw 0-255 images and stack them into a float32 ``N x H x W x C`` batch.

    Grey ``H x W`` arrays are accepted for 1-channel models. Errors name the item
    (``images[3]`` or the given name) and the expected shape.
    """
    height, width, channels = input_shape
    batch = np.empty((len(images), height, width, channels), dtype=np.float32)
    expected = f"{height}x{width}x{channels}" + (f" or {height}x{width}" if channels == 1 else "")
    for i, image in enumerate(images):
        name = names[i] if names is not None else f"images[{i}]"
        try:
            array = np.asarray(image, dtype=np.float32)
        except (TypeError, ValueError):
            raise InputError(f"{name}: not a numeric array (expected {expected})") from None
        given = "x".join(map(str, array.shape)) or "scalar"
        if array.ndim == 2 and channels == 1:
            array = array[..., np.newaxis]
        if array.shape != (height, width, channels):
            raise InputError(f"{name}: shape {given} does not match the model input {expected}")
        if not np.isfinite(array).all():
            raise InputError(f"{name}: contains NaN or infinite values")
        batch[i] = array
    return batch


def predict_images(model, images: list[np.ndarray], class_names: Sequence[str],
                   explain: bool = False) -> list[dict]:
    """Classify a few images in one ``predict_on_batch`` call.

    Parameters
    ----------
    model : keras.Model
        From :func:`load_image_model`.
    images : list of numpy.ndarray
        Raw 0-255 pixel arrays, ``H x W x C`` (or ``H x W`` for 1-channel models), e.g. from
        :func:`osler.kernels.imaging.decoding.decode_image` or nested lists from JSON.
    class_names : sequence of str
        The model's class names, in output order.
    explain : bool
        Add a Grad-CAM overlay for the predicted class to each result.

    Returns
    -------
    list of dict
        One per image: ``{"label": str, "probabilities": {class: float}}`` plus
        ``"saliency_png"`` (base64 PNG, the input's H x W) when ``explain``.

    Raises
    ------
    InputError
        Wrong shape or channel count, non-numeric or non-finite values; the message names the item
        index and the expected shape.

    Examples
    --------
    >>> predict_images(model, [np.zeros((28, 28))], ["CT", "MR"])  # doctest: +SKIP
    [{'label': 'CT', 'probabilities': {'CT': 0.71, 'MR': 0.29}}]
    """
    if not images:
        return []
    input_shape = model_input_shape(model)
    batch = prepare_batch(images, input_shape)
    probabilities = np.asarray(model.predict_on_batch(batch))
    _check_class_count(probabilities, class_names)
    predicted = np.argmax(probabilities, axis=1)
    results = [
        {
            "label": str(class_names[k]),
            "probabilities": {str(c): float(p) for c, p in zip(class_names, row, strict=True)},
        }
        for k, row in zip(predicted, probabilities, strict=True)
    ]
    if explain:
        heat = gradcam(model, batch, predicted)
        for result, image, cam in zip(results, batch, heat, strict=True):
            result["saliency_png"] = base64.b64encode(overlay_png(image, cam)).decode("ascii")
    return results


def _check_class_count(probabilities: np.ndarray, class_names: Sequence[str]) -> None:
    if probabilities.shape[1] != len(class_names):
        raise InputError(f"the model has {probabilities.shape[1]} outputs but "
                         f"{len(class_names)} class names were given")


def predict_probabilities(model, images: np.ndarray, batch_size: int = PREDICT_BATCH) -> np.ndarray:
    """Class probabilities for an ``N x H x W x C`` array, in ``predict_on_batch`` chunks."""
    chunks = [np.asarray(model.predict_on_batch(images[i:i + batch_size].astype(np.float32)))
              for i in range(0, len(images), batch_size)]
    return np.concatenate(chunks) if chunks else np.empty((0, model.output_shape[-1]))


def gradcam(model, batch: np.ndarray, class_indices: Sequence[int]) -> np.ndarray:
    """Grad-CAM maps, ``N x H x W`` in [0, 1], for the given class of each image.

    The class score is the pre-softmax logit (softmax saturates, which flattens gradients); the
    map is the ReLU of the feature maps weighted by their spatially averaged gradients, resized
    bilinearly to the input's height and width and scaled so each map's maximum is 1.
    """
    import_keras()
    import tensorflow as tf

    grad_model = _gradcam_model(model)
    inputs = tf.convert_to_tensor(batch, dtype=tf.float32)
    indices = tf.convert_to_tensor(np.asarray(class_indices, dtype=np.int32))
    with tf.GradientTape() as tape:
        features, logits = grad_model(inputs, training=False)
        score = tf.gather(logits, indices, axis=1, batch_dims=1)
    gradients = tape.gradient(score, features)
    weights = tf.reduce_mean(gradients, axis=(1, 2), keepdims=True)
    cam = tf.nn.relu(tf.reduce_sum(weights * features, axis=-1, keepdims=True))
    cam = tf.image.resize(cam, batch.shape[1:3], method="bilinear")[..., 0].numpy()
    peak = cam.reshape(len(cam), -1).max(axis=1)
    return cam / np.where(peak > 0, peak, 1.0)[:, np.newaxis, np.newaxis]


def _gradcam_model(model):
    cached = _gradcam_models.get(model)
    if cached is None:
        keras = import_keras()
        try:
            features = model.get_layer(FEATURES_LAYER).output
            logits = model.get_layer(LOGITS_LAYER).output
        except ValueError:
            raise InputError("the model has no 'features'/'logits' layers; it was not "
                             "built by osler, so no saliency map can be made") from None
        cached = keras.Model(model.inputs, [features, logits])
        _gradcam_models[model] = cached
    return cached


def overlay_png(image: np.ndarray, cam: np.ndarray) -> bytes:
    """PNG bytes of the image (0-255, ``H x W x C``) with the heat map blended over it."""
    from matplotlib import colormaps
    from PIL import Image

    base = np.clip(image, 0, 255).astype(np.float32)
    if base.shape[-1] == 1:
        base = np.repeat(base, 3, axis=-1)
    heat = colormaps["jet"](cam)[..., :3] * 255.0
    blended = (1 - SALIENCY_ALPHA) * base + SALIENCY_ALPHA * heat
    buffer = io.BytesIO()
    Image.fromarray(np.round(blended).astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def predict_dataset(model, dataset_path: Path, class_names: Sequence[str], out_csv: Path, *,
                    progress: ProgressCallback | None = None) -> dict:
    """Predict every image of a dataset file and write ``predictions.csv``.

    Parameters
    ----------
    model : keras.Model
        From :func:`load_image_model`.
    dataset_path : pathlib.Path
        A ``.npz`` (an ``images`` array, or MedMNIST's layout: every split is predicted) or a zip
        of PNG/JPEG/DICOM files (any folders; a ``labels.csv`` adds true labels).
    class_names : sequence of str
        The model's class names, in output order.
    out_csv : pathlib.Path
        The CSV to write: ``id, label[, true_label], p_<class>...``, one row per image, in the
        dataset's order.
    progress : callable, optional
        ``progress(fraction, message)`` after each batch; its exceptions propagate.

    Returns
    -------
    dict
        ``{"n_images", "file", "label_counts"}`` plus ``"accuracy"`` when true labels are known.
    """
    from osler.kernels.imaging.datasets import load_images_for_prediction

    input_shape = model_input_shape(model)
    report(progress, 0.0, "reading images")
    ids, images, true_labels = load_images_for_prediction(Path(dataset_path))
    has_truth = any(t is not None for t in true_labels)
    counts = dict.fromkeys(map(str, class_names), 0)
    correct = 0
    out_csv = Path(out_csv)
    with out_csv.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "label", *(["true_label"] if has_truth else []),
                         *(f"p_{c}" for c in class_names)])
        for start in range(0, len(images), PREDICT_BATCH):
            stop = min(start + PREDICT_BATCH, len(images))
            batch = prepare_batch(images[start:stop], input_shape, ids[start:stop])
            probabilities = np.asarray(model.predict_on_batch(batch))
            _check_class_count(probabilities, class_names)
            for offset, row in enumerate(probabilities):
                label = str(class_names[int(np.argmax(row))])
                counts[label] += 1
                truth = true_labels[start + offset]
                correct += truth == label
                writer.writerow([ids[start + offset], label,
                                 *([truth or ""] if has_truth else []),
                                 *(f"{p:.6g}" for p in row)])
            report(progress, stop / len(images), f"predicted {stop}/{len(images)} images")
    summary = {"n_images": len(images), "file": out_csv.name, "label_counts": counts}
    if has_truth:
        known = sum(t is not None for t in true_labels)
        summary["accuracy"] = correct / known
    return summary
