"""Clinical language and sequence kinds: word2vec, LSTM sequence classifier, seq2seq."""

from __future__ import annotations

from typing import Any

from osler.workers.kinds import TRAIN, JobKind, register
from osler.workers.kinds.models import SEQ2SEQ, SEQUENCE_CLASSIFIER, WORD2VEC

TOKENIZATION_PARAMS: dict[str, Any] = {
    "lowercase": {"type": "boolean", "default": True},
    "punctuation": {"enum": ["drop", "split"], "default": "drop"},
    "numbers": {"enum": ["keep", "mask"], "default": "keep"},
}
"""How text becomes tokens; saved with the model and applied identically at inference."""

KERAS_TRAINING_PARAMS: dict[str, Any] = {
    "epochs": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 5},
    "batch_size": {"type": "integer", "minimum": 1, "maximum": 4096, "default": 64},
    "learning_rate": {"type": "number", "exclusiveMinimum": 0, "maximum": 1, "default": 0.001},
    "val_fraction": {"type": "number", "minimum": 0, "maximum": 0.5, "default": 0.1},
    "test_fraction": {"type": "number", "minimum": 0, "maximum": 0.5, "default": 0.1},
    "seed": {"type": "integer", "minimum": 0, "default": 0},
}


def _schema(required: list[str], properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": required,
        "properties": properties,
    }


TRAIN_WORD2VEC = register(
    JobKind(
        name="train-word2vec",
        summary="gensim word2vec embeddings of a text corpus (one document per line, or CSV).",
        queue=TRAIN,
        task_name="osler.train_word2vec",
        model_kind=WORD2VEC.name,
        params_schema=_schema(
            ["dataset"],
            {
                "dataset": {"type": "string", "description": "id of a text corpus"},
                "architecture": {"enum": ["skipgram", "cbow"], "default": "skipgram"},
                "vector_size": {"type": "integer", "minimum": 2, "maximum": 1000, "default": 100},
                "window": {"type": "integer", "minimum": 1, "maximum": 50, "default": 5},
                "min_count": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 5},
                "epochs": {"type": "integer", "minimum": 1, "maximum": 100, "default": 5},
                "workers": {"type": "integer", "minimum": 1, "maximum": 64, "default": 2},
                "seed": {"type": "integer", "minimum": 0, "default": 0},
                **TOKENIZATION_PARAMS,
            },
        ),
        time_limit=6 * 3600,
    )
)

TRAIN_SEQUENCE_CLASSIFIER = register(
    JobKind(
        name="train-sequence-classifier",
        summary="LSTM classifier over token sequences (CSV/TSV text + label) or numeric signals "
        "(.npz with x and y).",
        queue=TRAIN,
        task_name="osler.train_sequence_classifier",
        model_kind=SEQUENCE_CLASSIFIER.name,
        model_params={"word2vec_model": (WORD2VEC.name,)},
        params_schema=_schema(
            ["dataset"],
            {
                "dataset": {"type": "string"},
                "text_column": {"type": "string", "minLength": 1, "default": "text"},
                "label_column": {"type": "string", "minLength": 1, "default": "label"},
                "max_length": {"type": "integer", "minimum": 1, "maximum": 2048, "default": 64},
                "embedding_dim": {"type": "integer", "minimum": 2, "maximum": 1024, "default": 64},
                "units": {"type": "integer", "minimum": 1, "maximum": 1024, "default": 64},
                "bidirectional": {"type": "boolean", "default": False},
                "dropout": {"type": "number", "minimum": 0, "maximum": 0.9, "default": 0.2},
                "word2vec_model": {
                    "type": "string",
                    "description": "id of a registered word2vec model to initialise embeddings",
                },
                "freeze_embeddings": {"type": "boolean", "default": False},
                "class_weight": {"enum": ["none", "balanced"], "default": "none"},
                **KERAS_TRAINING_PARAMS,
                **TOKENIZATION_PARAMS,
            },
        ),
        time_limit=6 * 3600,
    )
)

TRAIN_SEQ2SEQ = register(
    JobKind(
        name="train-seq2seq",
        summary="Encoder-decoder LSTM (optional attention) on JSONL source/target pairs; "
        "greedy and beam-search decoding.",
        queue=TRAIN,
        task_name="osler.train_seq2seq",
        model_kind=SEQ2SEQ.name,
        params_schema=_schema(
            ["dataset"],
            {
                "dataset": {"type": "string"},
                "max_source_length": {"type": "integer", "minimum": 1, "maximum": 1024,
                                      "default": 64},
                "max_target_length": {"type": "integer", "minimum": 1, "maximum": 256,
                                      "default": 32},
                "target_level": {"enum": ["word", "char"], "default": "word"},
                "embedding_dim": {"type": "integer", "minimum": 2, "maximum": 1024, "default": 64},
                "units": {"type": "integer", "minimum": 1, "maximum": 1024, "default": 128},
                "attention": {"enum": ["none", "dot", "additive"], "default": "none"},
                "eval_beam_width": {"type": "integer", "minimum": 1, "maximum": 16, "default": 1},
                **KERAS_TRAINING_PARAMS,
                "epochs": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 10},
                **TOKENIZATION_PARAMS,
            },
        ),
        time_limit=6 * 3600,
    )
)
