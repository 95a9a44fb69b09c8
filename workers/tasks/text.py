"""Text and sequence model training tasks (thin glue around ``osler.kernels.text``)."""

from __future__ import annotations

from typing import Any

from osler.workers.kinds.text import TRAIN_SEQ2SEQ, TRAIN_SEQUENCE_CLASSIFIER, TRAIN_WORD2VEC
from osler.workers.runner import JobContext
from osler.workers.tasks.job_task import job_task


def _without(params: dict[str, Any], *names: str) -> dict[str, Any]:
    return {k: v for k, v in params.items() if k not in names}


@job_task(TRAIN_WORD2VEC)
def train_word2vec(ctx: JobContext) -> dict[str, Any]:
    from osler.kernels.text.word2vec import train_word2vec as train

    return train(
        ctx.input_path("dataset"), ctx.out_dir, **_without(ctx.params, "dataset"),
        progress=ctx.progress,
    )


@job_task(TRAIN_SEQUENCE_CLASSIFIER)
def train_sequence_classifier(ctx: JobContext) -> dict[str, Any]:
    from osler.kernels.text.sequence_classifier import train_sequence_classifier as train

    word2vec_path = None
    if "word2vec_model" in ctx.params:
        store = ctx.models
        model = store.get(ctx.params["word2vec_model"], ctx.job.owner)
        word2vec_path = store.path(model) / model.file
    return train(
        ctx.input_path("dataset"), ctx.out_dir,
        **_without(ctx.params, "dataset", "word2vec_model"),
        word2vec_path=word2vec_path, progress=ctx.progress,
    )


@job_task(TRAIN_SEQ2SEQ)
def train_seq2seq(ctx: JobContext) -> dict[str, Any]:
    from osler.kernels.text.seq2seq import train_seq2seq as train

    return train(
        ctx.input_path("dataset"), ctx.out_dir, **_without(ctx.params, "dataset"),
        progress=ctx.progress,
    )
