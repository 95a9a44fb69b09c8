"""Model kinds: what each kind of registered model answers, with a JSON schema for each body;
and the batch ``predict`` job kind that runs a registered classifier over a whole dataset.

The gateway validates an inference body against its operation's schema before anything goes to
Redis; the ``predict`` worker (``workers/tasks/models.py``) has one handler per operation.
"""

from __future__ import annotations

from typing import Any

from osler.workers.kinds import (
    PREDICT,
    JobKind,
    ModelKind,
    ModelOperation,
    register,
    register_model,
)

MAX_INFERENCE_ITEMS = 64
"""Most images, arrays, texts, sources or words in one synchronous request."""


def _body(properties: dict[str, Any], *, required: list[str] | None = None,
          one_of: list[str] | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object", "additionalProperties": False, "properties": properties,
    }
    if required:
        schema["required"] = required
    if one_of:
        schema["oneOf"] = [{"required": [name]} for name in one_of]
    return schema


def _items(items: dict[str, Any], description: str) -> dict[str, Any]:
    return {"type": "array", "minItems": 1, "maxItems": MAX_INFERENCE_ITEMS, "items": items,
            "description": description}


_STRING = {"type": "string"}
_NUMBERS = {"type": "array", "items": {"anyOf": [{"type": "number"}, {"type": "array"}]}}

IMAGE_CLASSIFIER = register_model(
    ModelKind(
        name="image-classifier",
        summary="A Keras CNN trained by train-image-classifier.",
        operations=(
            ModelOperation(
                name="predict",
                summary="Class probabilities of each image, with an optional Grad-CAM overlay.",
                body_schema=_body(
                    {
                        "images": _items(
                            {"type": "string", "contentEncoding": "base64"},
                            "PNG, JPEG or DICOM files, base64-encoded",
                        ),
                        "arrays": _items(_NUMBERS, "images as H x W (x C) nested lists, 0-255"),
                        "explain": {"type": "boolean", "default": False,
                                    "description": "add a Grad-CAM saliency PNG per image"},
                    },
                    one_of=["images", "arrays"],
                ),
            ),
        ),
    )
)

SEQUENCE_CLASSIFIER = register_model(
    ModelKind(
        name="sequence-classifier",
        summary="An LSTM over tokens or numeric signals, trained by train-sequence-classifier.",
        operations=(
            ModelOperation(
                name="predict",
                summary="The label and class probabilities of each text or signal.",
                body_schema=_body(
                    {
                        "texts": _items(_STRING, "texts, tokenised as in training"),
                        "sequences": _items(_NUMBERS, "signals: steps x features nested lists"),
                    },
                    one_of=["texts", "sequences"],
                ),
            ),
        ),
    )
)

SEQ2SEQ = register_model(
    ModelKind(
        name="seq2seq",
        summary="An encoder-decoder LSTM trained by train-seq2seq.",
        operations=(
            ModelOperation(
                name="predict",
                summary="The decoded target of each source (greedy, or beam search).",
                body_schema=_body(
                    {
                        "sources": _items(_STRING, "source texts"),
                        "beam_width": {"type": "integer", "minimum": 1, "maximum": 16,
                                       "default": 1},
                    },
                    required=["sources"],
                ),
            ),
        ),
    )
)

WORD2VEC = register_model(
    ModelKind(
        name="word2vec",
        summary="gensim word2vec embeddings trained by train-word2vec.",
        operations=(
            ModelOperation(
                name="similar",
                summary="The nearest words of a word (an unknown word is a 404 naming it).",
                body_schema=_body(
                    {
                        "word": {"type": "string", "minLength": 1},
                        "topn": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 10},
                    },
                    required=["word"],
                ),
            ),
            ModelOperation(
                name="vectors",
                summary="The embedding vector of each word.",
                body_schema=_body({"words": _items(_STRING, "words")}, required=["words"]),
            ),
        ),
    )
)

CLASSIFIERS = (IMAGE_CLASSIFIER.name, SEQUENCE_CLASSIFIER.name)
"""Model kinds a batch ``predict`` job runs."""

BATCH_PREDICT = register(
    JobKind(
        name="predict",
        summary="Run a registered classifier over a whole dataset; writes predictions.csv.",
        queue=PREDICT,
        task_name="osler.batch_predict",
        model_params={"model": CLASSIFIERS},
        params_schema={
            "type": "object",
            "additionalProperties": False,
            "required": ["model", "dataset"],
            "properties": {
                "model": {"type": "string", "description": "id of a registered classifier"},
                "dataset": {"type": "string", "description": "id of the dataset to classify"},
                "text_column": {"type": "string", "minLength": 1, "default": "text"},
            },
        },
        time_limit=3600,
    )
)
