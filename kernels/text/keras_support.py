"""Small Keras pieces shared by the text model kernels (imports Keras only when called)."""

from __future__ import annotations

import json
import math
from pathlib import Path

from osler.kernels.progress import ProgressCallback, report

BATCH_REPORT_EVERY = 20
"""Report progress every this many training batches, so cancellation is noticed within an epoch."""


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and the Keras backend."""
    import keras

    keras.utils.set_random_seed(seed)


def progress_callback(progress: ProgressCallback | None, *, epochs: int, steps_per_epoch: int,
                      start: float = 0.05, span: float = 0.8):
    """A Keras callback mapping training onto ``[start, start + span]`` of the job's progress.

    Exceptions raised by ``progress`` (job cancelled) propagate out of ``model.fit``.
    """
    import keras

    class FitProgress(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.epoch = 0

        def on_epoch_begin(self, epoch, logs=None) -> None:
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None) -> None:
            if (batch + 1) % BATCH_REPORT_EVERY == 0:
                done = (self.epoch + (batch + 1) / max(steps_per_epoch, 1)) / epochs
                report(progress, start + span * done,
                       f"epoch {self.epoch + 1}/{epochs} batch {batch + 1}/{steps_per_epoch}")

        def on_epoch_end(self, epoch, logs=None) -> None:
            logs = logs or {}
            parts = [f"{k}={v:.4f}" for k, v in logs.items()
                     if isinstance(v, int | float) and math.isfinite(v)]
            report(progress, start + span * (epoch + 1) / epochs,
                   f"epoch {epoch + 1}/{epochs} " + " ".join(parts))

    return FitProgress()


def write_history(history: dict, path: Path) -> dict[str, list[float]]:
    """Write Keras ``History.history`` as JSON lists of floats and return them."""
    clean = {k: [float(v) for v in values] for k, values in history.items()}
    Path(path).write_text(json.dumps(clean, indent=1), encoding="utf-8")
    return clean


def load_keras_model(path: Path):
    """Load a ``.keras`` file with ``safe_mode=True`` (no Lambda layers, no pickles)."""
    import keras

    from osler.kernels.errors import InputError

    path = Path(path)
    if path.suffix != ".keras":
        raise InputError(f"{path.name}: only .keras model files are loaded")
    if not path.is_file():
        raise InputError(f"{path.name}: file not found")
    return keras.models.load_model(path, safe_mode=True, compile=False)


def read_model_config(model_dir: Path, name: str, what: str, format_version: int) -> dict:
    """A saved model's JSON configuration; InputError when unreadable or of another format."""
    from osler.kernels.errors import InputError

    try:
        config = json.loads((Path(model_dir) / name).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{name}: cannot read {what} configuration ({exc})") from exc
    if config.get("format_version") != format_version:
        raise InputError(f"{name}: unsupported format_version")
    return config
