"""Image-classifier training and batch prediction tasks (thin glue around ``kernels.imaging``)."""

from __future__ import annotations

from typing import Any

from ..kinds.imaging import BATCH_PREDICT, TRAIN_IMAGE_CLASSIFIER
from ..runner import JobContext
from .job_task import job_task


@job_task(TRAIN_IMAGE_CLASSIFIER)
def train_image_classifier(ctx: JobContext) -> dict[str, Any]:
    from kernels.imaging.train import train_image_classifier as train

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


@job_task(BATCH_PREDICT)
def batch_predict(ctx: JobContext) -> dict[str, Any]:
    store = ctx.models
    model = store.get(ctx.params["model"], ctx.job.owner)
    folder = store.path(model)
    dataset = ctx.input_path("dataset")
    if model.kind == "image-classifier":
        from kernels.imaging.inference import load_image_model, predict_dataset

        summary = predict_dataset(
            load_image_model(folder / model.file),
            dataset,
            model.class_names or [],
            ctx.out_dir / "predictions.csv",
            progress=ctx.progress,
        )
    else:
        from kernels.text.sequence_classifier import batch_predict as predict_texts_file
        from kernels.text.sequence_classifier import load_sequence_classifier

        summary = predict_texts_file(
            load_sequence_classifier(folder),
            dataset,
            ctx.out_dir,
            text_column=ctx.params["text_column"],
            progress=ctx.progress,
        )
    return {"model_id": model.id, **summary}
