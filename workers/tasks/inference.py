"""Synchronous model inference on the ``predict`` queue.

The gateway sends ``(owner, model_id, operation, payload)`` and waits for the JSON answer; it never
imports TensorFlow. This worker keeps recently used models loaded (:class:`ModelCache`).
An answer is ``{"ok": ...}`` or ``{"error": {"status": int, "detail": str}}``.
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

from kernels.errors import InputError, UnknownWordError

from ..celery_app import celery_app, settings
from ..errors import OslerError, UnknownWord
from ..layout import DataLayout
from ..models import INFERENCE_TASK, MAX_INFERENCE_ITEMS, Model, ModelStore
from ..redis_connection import connect

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


def _items(payload: dict[str, Any], name: str) -> list[Any]:
    items = payload.get(name)
    if not isinstance(items, list) or not items:
        raise InputError(f"{name} must be a non-empty list")
    if len(items) > MAX_INFERENCE_ITEMS:
        raise InputError(f"at most {MAX_INFERENCE_ITEMS} {name} per request, got {len(items)}")
    return items


def _check_fields(payload: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(payload) - allowed)
    if unknown:
        raise InputError(f"unknown field(s): {', '.join(unknown)}")


# --- one handler per model kind ----------------------------------------------------------------


def _image_classifier(model: Model, folder: Path, operation: str, payload: dict) -> Any:
    from kernels.imaging.decoding import decode_image
    from kernels.imaging.inference import load_image_model, predict_images, warm_up

    if operation != "predict":
        raise InputError(f"an image classifier answers 'predict', not {operation!r}")
    _check_fields(payload, {"images", "arrays", "explain"})
    if ("images" in payload) == ("arrays" in payload):
        raise InputError("send exactly one of 'images' (base64 files) or 'arrays' (nested lists)")
    if "images" in payload:
        images = []
        for index, item in enumerate(_items(payload, "images")):
            try:
                data = base64.b64decode(str(item), validate=True)
            except (binascii.Error, ValueError):
                raise InputError(f"images[{index}] is not valid base64") from None
            images.append(decode_image(data, name=f"images[{index}]"))
    else:
        images = []
        for index, item in enumerate(_items(payload, "arrays")):
            try:
                images.append(np.asarray(item, dtype=np.float32))
            except (ValueError, TypeError):
                raise InputError(f"arrays[{index}] is not a rectangular array of numbers") from None
    def load(folder: Path) -> Any:
        loaded = load_image_model(folder / model.file)
        warm_up(loaded)
        return loaded

    keras_model = _cache.get(model, load, folder)
    explain = bool(payload.get("explain", False))
    return {"predictions": predict_images(keras_model, images, model.class_names or [], explain)}


def _word2vec(model: Model, folder: Path, operation: str, payload: dict) -> Any:
    from kernels.text.word2vec import (
        load_word2vec,
        load_word2vec_tokenizer,
        similar_words,
        word_vectors,
    )

    kv, tokenizer = _cache.get(
        model, lambda f: (load_word2vec(f / model.file), load_word2vec_tokenizer(f)), folder
    )
    if operation == "similar":
        _check_fields(payload, {"word", "topn"})
        word = payload.get("word")
        topn = payload.get("topn", 10)
        if not isinstance(word, str) or not word:
            raise InputError("word must be a non-empty string")
        if not isinstance(topn, int) or not 1 <= topn <= 1000:
            raise InputError("topn must be an integer in 1-1000")
        return {"word": word, "similar": similar_words(kv, word, topn, tokenizer=tokenizer)}
    if operation == "vectors":
        _check_fields(payload, {"words"})
        words = _items(payload, "words")
        if not all(isinstance(w, str) for w in words):
            raise InputError("words must be strings")
        vectors = word_vectors(kv, words, tokenizer=tokenizer)
        return {"vectors": {w: v.tolist() for w, v in zip(words, vectors, strict=True)}}
    raise InputError(f"a word2vec model answers 'similar' and 'vectors', not {operation!r}")


def _sequence_classifier(model: Model, folder: Path, operation: str, payload: dict) -> Any:
    from kernels.text.sequence_classifier import (
        load_sequence_classifier,
        predict_signals,
        predict_texts,
    )

    if operation != "predict":
        raise InputError(f"a sequence classifier answers 'predict', not {operation!r}")
    _check_fields(payload, {"texts", "sequences"})
    bundle = _cache.get(model, load_sequence_classifier, folder)
    if "texts" in payload:
        texts = _items(payload, "texts")
        if not all(isinstance(t, str) for t in texts):
            raise InputError("texts must be strings")
        return {"predictions": predict_texts(bundle, texts)}
    sequences = _items(payload, "sequences")
    try:
        x = np.asarray(sequences, dtype=np.float32)
    except (ValueError, TypeError):
        raise InputError("sequences must be a rectangular array of numbers") from None
    return {"predictions": predict_signals(bundle, x)}


def _seq2seq(model: Model, folder: Path, operation: str, payload: dict) -> Any:
    from kernels.text.seq2seq import decode, load_seq2seq

    if operation != "predict":
        raise InputError(f"a seq2seq model answers 'predict', not {operation!r}")
    _check_fields(payload, {"sources", "beam_width"})
    sources = _items(payload, "sources")
    if not all(isinstance(s, str) for s in sources):
        raise InputError("sources must be strings")
    beam_width = payload.get("beam_width", 1)
    if not isinstance(beam_width, int) or not 1 <= beam_width <= 16:
        raise InputError("beam_width must be an integer in 1-16")
    bundle = _cache.get(model, load_seq2seq, folder)
    return {"predictions": decode(bundle, sources, beam_width=beam_width)}


HANDLERS: dict[str, Callable[[Model, Path, str, dict], Any]] = {
    "image-classifier": _image_classifier,
    "word2vec": _word2vec,
    "sequence-classifier": _sequence_classifier,
    "seq2seq": _seq2seq,
}


@celery_app.task(name=INFERENCE_TASK, time_limit=120, soft_time_limit=100)
def model_inference(owner: str, model_id: str, operation: str, payload: dict) -> dict:
    """Answer one synchronous inference request (JSON in, JSON out)."""
    try:
        store = ModelStore(connect(settings), DataLayout(settings.data_dir))
        model = store.get(model_id, owner)
        handler = HANDLERS.get(model.kind)
        if handler is None:
            raise InputError(f"models of kind {model.kind} answer no requests")
        return {"ok": handler(model, store.path(model), operation, payload)}
    except InputError as exc:
        status = UnknownWord.status if isinstance(exc, UnknownWordError) else 422
        return {"error": {"status": status, "detail": str(exc)}}
    except OslerError as exc:
        return {"error": {"status": exc.status, "detail": exc.detail}}
