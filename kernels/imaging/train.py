"""The ``train-image-classifier`` job kernel: fit a CNN, evaluate it on the test split, save it."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from osler.kernels.errors import InputError
from osler.kernels.imaging.datasets import load_image_dataset
from osler.kernels.imaging.evaluation import (
    classification_metrics,
    json_safe,
    plot_confusion_matrix,
    plot_training_curves,
)
from osler.kernels.imaging.model import ARCHITECTURES, build_model, import_keras
from osler.kernels.progress import ProgressCallback, report

MODEL_FILE = "model.keras"
EARLY_STOPPING_PATIENCE = 5
"""Epochs without a lower validation loss before training stops (best weights are restored)."""
BATCH_PROGRESS_INTERVAL_S = 5.0
"""Within a long epoch, progress (and so cancellation) is checked at most this often."""
LOAD_FRACTION, FIT_FRACTION = 0.05, 0.85
"""Shares of the progress bar: dataset loading, then the epochs; evaluation takes the rest."""


def train_image_classifier(dataset_path: Path, out_dir: Path, *, architecture: str = "simple",
                           epochs: int = 5, batch_size: int = 32, learning_rate: float = 1e-3,
                           augment: bool = False, early_stopping: bool = True,
                           class_weights: str | Mapping[str, float] | None = None, seed: int = 0,
                           progress: ProgressCallback | None = None) -> dict:
    """Train an image classifier and write its artifacts.

    Parameters
    ----------
    dataset_path : pathlib.Path
        A MedMNIST ``.npz`` or a dataset zip (see :func:`osler.kernels.imaging.datasets
        .load_image_dataset`).
    out_dir : pathlib.Path
        Empty folder receiving ``model.keras``, ``history.json``, ``curves.png``,
        ``confusion_matrix.png`` and ``metrics.json``.
    architecture : {"simple", "deeper"}
        CNN preset (:data:`osler.kernels.imaging.model.ARCHITECTURES`).
    epochs : int
        Most epochs to run (1-1000).
    batch_size : int
        Images per gradient step (1-4096).
    learning_rate : float
        Adam learning rate, in (0, 1].
    augment : bool
        Random flips, rotations and zooms while training.
    early_stopping : bool
        Stop after ``EARLY_STOPPING_PATIENCE`` epochs without a lower validation loss and keep the
        best epoch's weights.
    class_weights : "balanced", mapping or None
        Loss weight per class: ``"balanced"`` weights by ``n / (k * count)`` (scikit-learn's
        ``compute_class_weight``); a mapping from class name (or index) to weight, unlisted
        classes weighing 1.
    seed : int
        Seeds Python, NumPy, TensorFlow, the split of unsplit zips and the augmentation.
    progress : callable, optional
        ``progress(fraction, message)`` once per epoch (``"epoch 2/5 loss=0.41 accuracy=0.88
        val_loss=... val_accuracy=..."``) and within long epochs; its exceptions stop training
        and propagate (cancellation).

    Returns
    -------
    dict
        ``{"model": {"framework": "keras", "file": "model.keras", "input_shape": [h, w, c],
        "class_names": [...], "architecture": ..., "metrics": {"accuracy", "macro_f1",
        "roc_auc_ovr"}}, "epochs_run", "stopped_early", "best_epoch", "test_accuracy",
        "dataset": {...}, "params": {...}, "train_seconds"}``.

    Raises
    ------
    InputError
        Bad dataset (see ``load_image_dataset``) or parameters.

    Examples
    --------
    >>> summary = train_image_classifier(Path("s.npz"), Path("out"), epochs=2)  # doctest: +SKIP
    >>> summary["model"]["file"]  # doctest: +SKIP
    'model.keras'
    """
    _check_params(architecture, epochs, batch_size, learning_rate, seed)
    out_dir = Path(out_dir)
    report(progress, 0.0, "loading dataset")
    dataset = load_image_dataset(Path(dataset_path), seed=seed)
    weights = resolve_class_weights(class_weights, dataset.train.labels, dataset.class_names)
    report(progress, LOAD_FRACTION, f"loaded {len(dataset.train)} training images, "
           f"{len(dataset.class_names)} classes")

    keras = import_keras()
    keras.utils.set_random_seed(seed)
    model = build_model(dataset.input_shape, len(dataset.class_names), architecture=architecture,
                        augment=augment, seed=seed)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    callbacks: list = [_progress_callback(keras, progress, epochs)]
    if early_stopping:
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=EARLY_STOPPING_PATIENCE, restore_best_weights=True))
    started = time.perf_counter()
    fitted = model.fit(
        dataset.train.images, dataset.train.labels,
        validation_data=(dataset.val.images, dataset.val.labels),
        epochs=epochs, batch_size=batch_size, class_weight=weights, callbacks=callbacks,
        shuffle=True, verbose=0,
    )
    train_seconds = time.perf_counter() - started
    history = {k: [float(v) for v in values] for k, values in fitted.history.items()}
    epochs_run = len(history.get("loss", []))
    best_epoch = epochs_run  # without early stopping the last epoch's weights are kept
    if early_stopping and history.get("val_loss"):
        best_epoch = int(np.argmin(history["val_loss"])) + 1  # EarlyStopping restored these

    report(progress, LOAD_FRACTION + FIT_FRACTION, "evaluating on the test split")
    from osler.kernels.imaging.inference import predict_probabilities

    probabilities = predict_probabilities(model, dataset.test.images)
    metrics = classification_metrics(dataset.test.labels, probabilities, dataset.class_names)

    model.save(out_dir / MODEL_FILE)
    _write_json(out_dir / "history.json", {
        "epochs_run": epochs_run, "best_epoch": best_epoch,
        "stopped_early": epochs_run < epochs, "history": history,
    })
    _write_json(out_dir / "metrics.json", metrics)
    plot_training_curves(history, out_dir / "curves.png")
    plot_confusion_matrix(metrics["confusion_matrix"], dataset.class_names,
                          out_dir / "confusion_matrix.png")
    report(progress, 1.0, f"done: test accuracy {metrics['accuracy']:.3f}")
    return json_safe({
        "model": {
            "framework": "keras",
            "file": MODEL_FILE,
            "input_shape": list(dataset.input_shape),
            "class_names": list(dataset.class_names),
            "architecture": architecture,
            "metrics": {k: metrics[k] for k in ("accuracy", "macro_f1", "roc_auc_ovr")},
        },
        "epochs_run": epochs_run,
        "stopped_early": epochs_run < epochs,
        "best_epoch": best_epoch,
        "test_accuracy": metrics["accuracy"],
        "dataset": dataset.summary(),
        "params": {
            "architecture": architecture, "epochs": epochs, "batch_size": batch_size,
            "learning_rate": learning_rate, "augment": augment, "early_stopping": early_stopping,
            "class_weights": None if weights is None else
            {dataset.class_names[k]: w for k, w in weights.items()},
            "seed": seed,
        },
        "train_seconds": round(train_seconds, 3),
    })


def _check_params(architecture: str, epochs: int, batch_size: int, learning_rate: float,
                  seed: int) -> None:
    if architecture not in ARCHITECTURES:
        raise InputError(f"architecture must be one of {', '.join(ARCHITECTURES)}")
    if not isinstance(epochs, int) or not 1 <= epochs <= 1000:
        raise InputError("epochs must be an integer in 1-1000")
    if not isinstance(batch_size, int) or not 1 <= batch_size <= 4096:
        raise InputError("batch_size must be an integer in 1-4096")
    if not isinstance(learning_rate, int | float) or not 0 < learning_rate <= 1:
        raise InputError("learning_rate must be in (0, 1]")
    if not isinstance(seed, int) or seed < 0:
        raise InputError("seed must be a non-negative integer")


def resolve_class_weights(spec: str | Mapping | None, labels: np.ndarray,
                          class_names: Sequence[str]) -> dict[int, float] | None:
    """Turn ``"balanced"``, ``{class name or index: weight}`` or None into Keras' class_weight."""
    if spec is None:
        return None
    k = len(class_names)
    if spec == "balanced":
        from sklearn.utils.class_weight import compute_class_weight

        present = np.unique(labels)
        balanced = compute_class_weight("balanced", classes=present, y=labels)
        weights = dict.fromkeys(range(k), 1.0)
        weights.update({int(c): float(w) for c, w in zip(present, balanced, strict=True)})
        return weights
    if not isinstance(spec, Mapping):
        raise InputError('class_weights must be "balanced", a mapping of class to weight, or null')
    index = {name: i for i, name in enumerate(class_names)}
    weights = dict.fromkeys(range(k), 1.0)
    for key, value in spec.items():
        if str(key) in index:
            target = index[str(key)]
        elif isinstance(key, int) or (isinstance(key, str) and key.isdigit()):
            target = int(key)
            if target >= k:
                raise InputError(f"class_weights: class index {target} out of range (0-{k - 1})")
        else:
            raise InputError(f"class_weights: unknown class {key!r}")
        if not isinstance(value, int | float) or isinstance(value, bool) or not value > 0 \
                or not np.isfinite(value):
            raise InputError(f"class_weights: weight of {key!r} must be a positive number")
        weights[target] = float(value)
    return weights


def _progress_callback(keras, progress: ProgressCallback | None, epochs: int):
    """A Keras callback reporting each epoch; exceptions from ``progress`` propagate through fit."""

    class EpochProgress(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self._epoch = 0
            self._last = time.monotonic()

        def on_epoch_begin(self, epoch, logs=None):
            self._epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            now = time.monotonic()
            steps = (self.params or {}).get("steps") or 0
            if progress is None or now - self._last < BATCH_PROGRESS_INTERVAL_S or not steps:
                return
            self._last = now
            done = (self._epoch + (batch + 1) / steps) / epochs
            report(progress, LOAD_FRACTION + FIT_FRACTION * done,
                   f"epoch {self._epoch + 1}/{epochs} batch {batch + 1}/{steps}")

        def on_epoch_end(self, epoch, logs=None):
            self._last = time.monotonic()
            logs = logs or {}
            parts = [f"{key}={logs[key]:.4f}" for key in
                     ("loss", "accuracy", "val_loss", "val_accuracy") if key in logs]
            report(progress, LOAD_FRACTION + FIT_FRACTION * (epoch + 1) / epochs,
                   f"epoch {epoch + 1}/{epochs} " + " ".join(parts))

    return EpochProgress()


def _write_json(path: Path, payload: dict) -> None:
    path.write_text(json.dumps(json_safe(payload), indent=2) + "\n")
