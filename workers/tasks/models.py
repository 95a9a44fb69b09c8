"""Model tasks on the ``predict`` queue: synchronous inference, and batch ``predict`` jobs.

The gateway validates an inference body against its operation's schema
(:mod:`osler.workers.kinds.models`), sends ``(owner, model_id, operation, payload)`` and waits
for the JSON answer; it never imports TensorFlow. This worker keeps recently used models loaded
(:class:`ModelCache`). An answer is ``{"ok": ...}`` or ``{"error": {"type", "detail",
"extra"}}``, where ``type`` names a class of the error tree, so the gateway raises the same one.
Inputs and answers are never logged: they are patients' images and words.
"""

from __future__ import annotations

import base64
import binascii
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from celery import shared_task

from osler.kernels.errors import InputError, UnknownWordError
from osler.workers.celery_app import app_settings
from osler.workers.errors import InvalidParams, OslerError, UnknownWord
from osler.workers.kinds.models import (
    BATCH_PREDICT,
    IMAGE_CLASSIFIER,
    SEQ2SEQ,
    SEQUENCE_CLASSIFIER,
    WORD2VEC,
)
from osler.workers.models import INFERENCE_TASK, Model, ModelStore
from osler.workers.redis_connection import connect
from osler.workers.runner import JobContext
from osler.workers.storage import open_store
from osler.workers.tasks.job_task import job_task

MODELS_KEPT_LOADED = 8


class ModelCache:
    """The last few models this process loaded, by id (least recently used dropped first)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._models: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, model: Model, load: Callable[[Path], Any], folder: Path) -> Any:
        with self._lock:
            if model.id in self._models:
                self._models.move_to_end(model.id)
                return self._models[model.id]
        loaded = load(folder)
        with self._lock:
            self._models[model.id] = loaded
            while len(self._models) > self.size:
                self._models.popitem(last=False)
        return loaded


_cache = ModelCache(MODELS_KEPT_LOADED)

Handler = Callable[[Model, Path, dict[str, Any]], Any]
HANDLERS: dict[tuple[str, str], Handler] = {}
"""One handler per (model kind, operation) that :mod:`osler.workers.kinds.models` declares."""


def handles(kind: str, operation: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        HANDLERS[(kind, operation)] = handler
        return handler

    return register


# --- one handler per model kind and operation (bodies arrive validated, defaults filled) ------


def _decoded_images(payload: dict[str, Any]) -> list[np.ndarray]:
    from osler.kernels.imaging.decoding import decode_image

    if "images" in payload:
        images = []
        for index, item in enumerate(payload["images"]):
            try:
                data = base64.b64decode(item, validate=True)
            except (binascii.Error, ValueError):
                raise InputError(f"images[{index}] is not valid base64") from None
            images.append(decode_image(data, name=f"images[{index}]"))
        return images
    return [_array(item, f"arrays[{index}]") for index, item in enumerate(payload["arrays"])]


def _array(item: Any, where: str) -> np.ndarray:
    try:
        return np.asarray(item, dtype=np.float32)
    except (ValueError, TypeError):
        raise InputError(f"{where} is not a rectangular array of numbers") from None


@handles(IMAGE_CLASSIFIER.name, "predict")
def _image_predict(model: Model, folder: Path, payload: dict[str, Any]) -> Any:
    from osler.kernels.imaging.inference import load_image_model, predict_images, warm_up

    def load(folder: Path) -> Any:
        loaded = load_image_model(folder / model.file)
        warm_up(loaded)
        return loaded

    images = _decoded_images(payload)
    keras_model = _cache.get(model, load, folder)
    predictions = predict_images(keras_model, images, model.class_names or [], payload["explain"])
    return {"predictions": predictions}


@handles(SEQUENCE_CLASSIFIER.name, "predict")
def _sequence_predict(model: Model, folder: Path, payload: dict[str, Any]) -> Any:
    from osler.kernels.text.sequence_classifier import (
        load_sequence_classifier,
        predict_signals,
        predict_texts,
    )

    bundle = _cache.get(model, load_sequence_classifier, folder)
    if "texts" in payload:
        return {"predictions": predict_texts(bundle, payload["texts"])}
    return {"predictions": predict_signals(bundle, _array(payload["sequences"], "sequences"))}


@handles(SEQ2SEQ.name, "predict")
def _seq2seq_predict(model: Model, folder: Path, payload: dict[str, Any]) -> Any:
    from osler.kernels.text.seq2seq import decode, load_seq2seq

    bundle = _cache.get(model, load_seq2seq, folder)
    return {"predictions": decode(bundle, payload["sources"], beam_width=payload["beam_width"])}


def _word2vec(model: Model, folder: Path) -> tuple[Any, Any]:
    from osler.kernels.text.word2vec import load_word2vec, load_word2vec_tokenizer

    return _cache.get(
        model, lambda f: (load_word2vec(f / model.file), load_word2vec_tokenizer(f)), folder
    )


@handles(WORD2VEC.name, "similar")
def _word2vec_similar(model: Model, folder: Path, payload: dict[str, Any]) -> Any:
    from osler.kernels.text.word2vec import similar_words

    kv, tokenizer = _word2vec(model, folder)
    word = payload["word"]
    return {"word": word, "similar": similar_words(kv, word, payload["topn"], tokenizer=tokenizer)}


@handles(WORD2VEC.name, "vectors")
def _word2vec_vectors(model: Model, folder: Path, payload: dict[str, Any]) -> Any:
    from osler.kernels.text.word2vec import word_vectors

    kv, tokenizer = _word2vec(model, folder)
    words = payload["words"]
    vectors = word_vectors(kv, words, tokenizer=tokenizer)
    return {"vectors": {w: v.tolist() for w, v in zip(words, vectors, strict=True)}}


def _as_service_error(exc: Exception) -> OslerError:
    if isinstance(exc, UnknownWordError):
        return UnknownWord(str(exc), words=exc.words[:10])
    if isinstance(exc, InputError):
        return InvalidParams(str(exc))
    assert isinstance(exc, OslerError)
    return exc


@shared_task(name=INFERENCE_TASK, bind=True, time_limit=120, soft_time_limit=100)
def model_inference(self: Any, owner: str, model_id: str, operation: str, payload: dict) -> dict:
    """Answer one synchronous inference request (JSON in, JSON out)."""
    settings = app_settings(self.app)
    try:
        store = ModelStore(connect(settings), open_store(settings))
        model = store.get(model_id, owner)
        handler = HANDLERS.get((model.kind, operation))
        if handler is None:
            raise InvalidParams(f"models of kind {model.kind} do not answer {operation!r}")
        return {"ok": handler(model, store.path(model), payload)}
    except (InputError, OslerError) as exc:
        error = _as_service_error(exc)
        return {"error": {"type": type(error).__name__, "detail": error.detail,
                          "extra": error.extra}}


# --- batch prediction: a job over a whole dataset --------------------------------------------


@job_task(BATCH_PREDICT)
def batch_predict(ctx: JobContext) -> dict[str, Any]:
    store = ctx.models
    model = store.get(ctx.params["model"], ctx.job.owner)
    folder = store.path(model)
    dataset = ctx.input_path("dataset")
    if model.kind == IMAGE_CLASSIFIER.name:
        from osler.kernels.imaging.inference import load_image_model, predict_dataset

        summary = predict_dataset(
            load_image_model(folder / model.file),
            dataset,
            model.class_names or [],
            ctx.out_dir / "predictions.csv",
            progress=ctx.progress,
        )
    else:
        from osler.kernels.text.sequence_classifier import batch_predict as predict_texts_file
        from osler.kernels.text.sequence_classifier import load_sequence_classifier

        summary = predict_texts_file(
            load_sequence_classifier(folder),
            dataset,
            ctx.out_dir,
            text_column=ctx.params["text_column"],
            progress=ctx.progress,
        )
    return {"model_id": model.id, **summary}
