"""Image kinds: train a Keras CNN classifier (it registers an image-classifier model)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from osler.workers.kinds import TRAIN, JobKind, register
from osler.workers.kinds.models import IMAGE_CLASSIFIER
from osler.workers.settings import Settings

IMAGE_DATASET_SUFFIXES = (".npz", ".zip")


def _check_image_dataset(
    params: dict[str, Any], inputs: dict[str, Path], settings: Settings
) -> None:
    from osler.kernels.errors import InputError

    path = inputs["dataset"]
    if path.suffix.lower() not in IMAGE_DATASET_SUFFIXES:
        raise InputError(
            f"{path.name}: an image dataset is a MedMNIST-style .npz or a .zip "
            "(one folder per class, or DICOM/PNG/JPEG files with labels.csv)"
        )


TRAIN_IMAGE_CLASSIFIER = register(
    JobKind(
        name="train-image-classifier",
        summary="Train a Keras CNN that classifies medical images; registers the model.",
        queue=TRAIN,
        task_name="osler.train_image_classifier",
        model_kind=IMAGE_CLASSIFIER.name,
        params_schema={
            "type": "object",
            "additionalProperties": False,
            "required": ["dataset"],
            "properties": {
                "dataset": {"type": "string", "description": "id of a .npz or .zip image dataset"},
                "architecture": {"enum": ["simple", "deeper"], "default": "simple"},
                "epochs": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 5},
                "batch_size": {"type": "integer", "minimum": 1, "maximum": 4096, "default": 32},
                "learning_rate": {
                    "type": "number", "exclusiveMinimum": 0, "maximum": 1, "default": 0.001,
                },
                "augment": {"type": "boolean", "default": False},
                "early_stopping": {"type": "boolean", "default": True},
                "class_weights": {
                    "oneOf": [
                        {"const": "balanced"},
                        {"type": "object", "additionalProperties": {"type": "number",
                                                                    "exclusiveMinimum": 0}},
                        {"type": "null"},
                    ],
                    "default": None,
                },
                "seed": {"type": "integer", "minimum": 0, "default": 0},
            },
        },
        time_limit=6 * 3600,
        check_inputs=_check_image_dataset,
    )
)
