"""The kinds' registries: each fact stated once, and every declared operation answered."""

from __future__ import annotations

import importlib
import inspect

import pytest

from osler.workers.kinds import all_kinds, all_model_kinds

KERNELS = {
    "genome-distance": "osler.kernels.genome.distance:run_genome_distance",
    "drug-similarity": "osler.kernels.molecules.similarity_job:run_drug_similarity",
    "train-image-classifier": "osler.kernels.imaging.train:train_image_classifier",
    "train-word2vec": "osler.kernels.text.word2vec:train_word2vec",
    "train-sequence-classifier": "osler.kernels.text.sequence_classifier:"
                                 "train_sequence_classifier",
    "train-seq2seq": "osler.kernels.text.seq2seq:train_seq2seq",
}
"""The kernel each job kind's task calls."""


def _kernel(name: str):
    module, function = KERNELS[name].split(":")
    return getattr(importlib.import_module(module), function)


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_kernel_defaults_are_the_schemas(name: str) -> None:
    # The schema fills every default before a task runs; a kernel's own defaults serve direct
    # callers (tests, notebooks) and must say the same.
    kind = all_kinds()[name]
    signature = inspect.signature(_kernel(name))
    for param, spec in kind.params_schema["properties"].items():
        if "default" not in spec or param not in signature.parameters:
            continue
        default = signature.parameters[param].default
        if default is not inspect.Parameter.empty:
            assert default == spec["default"], f"{name}.{param}"


def test_every_job_kind_has_a_task_and_every_kernel_is_declared() -> None:
    from celery import current_app

    import osler.workers.tasks  # noqa: F401  (registers the tasks)

    registered = set(current_app.tasks)
    for kind in all_kinds().values():
        assert kind.task_name in registered
    assert set(KERNELS) <= set(all_kinds())


def test_every_model_operation_has_one_handler() -> None:
    from osler.workers.tasks.models import HANDLERS

    declared = {(kind.name, op.name) for kind in all_model_kinds().values()
                for op in kind.operations}
    assert set(HANDLERS) == declared


def test_job_kinds_name_only_declared_model_kinds() -> None:
    model_kinds = set(all_model_kinds())
    for kind in all_kinds().values():
        if kind.model_kind is not None:
            assert kind.model_kind in model_kinds
        for accepted in kind.model_params.values():
            assert set(accepted) <= model_kinds
