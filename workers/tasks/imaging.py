"""Image-classifier training task (thin glue around ``osler.kernels.imaging``)."""

from __future__ import annotations

from typing import Any

from osler.workers.kinds.imaging import TRAIN_IMAGE_CLASSIFIER
from osler.workers.runner import JobContext
from osler.workers.tasks.job_task import job_task


@job_task(TRAIN_IMAGE_CLASSIFIER)
def train_image_classifier(ctx: JobContext) -> dict[str, Any]:
    from osler.kernels.imaging.train import train_image_classifier as train

    params = ctx.params
    return train(
        ctx.input_path("dataset"),
        ctx.out_dir,
        architecture=params["architecture"],
        epochs=params["epochs"],
        batch_size=params["batch_size"],
        learning_rate=params["learning_rate"],
        augment=params["augment"],
        early_stopping=params["early_stopping"],
        class_weights=params.get("class_weights"),
        seed=params["seed"],
        progress=ctx.progress,
    )
