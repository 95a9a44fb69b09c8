"""The registries of job kinds and model kinds: the one place each is declared.

A job kind names its params schema, queue and task; a model kind names the operations its
models answer (``predict``, ``similar``, ``vectors``), each with a body schema. The gateway
validates requests against those schemas and sends work by task *name*, so it never imports a
kernel. Adding a kind means adding its declaration to a family module here (listed in
``_FAMILIES``) and its task in the module of the same name in ``workers/tasks``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from osler.workers.settings import Settings

COMPUTE, TRAIN, PREDICT = "compute", "train", "predict"
QUEUES = (COMPUTE, TRAIN, PREDICT)
"""Matrix work, model training and short inference never wait behind each other."""

InputCheck = Callable[[dict[str, Any], dict[str, Path], Settings], None]
"""A cheap submit-time look at the inputs: (params, {param name: dataset path}, settings) -> None.

It raises ``osler.kernels.errors.InputError`` (answered with 422) for inputs the job cannot use.
"""

ExtendsCheck = Callable[[dict[str, Any], dict[str, Any]], None]
"""A submit-time check of ``extends``: (params, the params of the job it names) -> None, both
with their defaults filled in; raises ``InvalidParams`` (422) naming the param that differs."""


@dataclass(frozen=True)
class JobKind:
    name: str
    summary: str
    queue: str
    task_name: str
    params_schema: dict[str, Any]
    dataset_params: tuple[str, ...] = ("dataset",)
    """Params that name the caller's datasets (resolved and checked at the gateway)."""
    model_params: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Params that name the caller's registered models, each with the model kinds it accepts."""
    time_limit: int = 3600
    """Seconds before the job is stopped and failed."""
    model_kind: str | None = None
    """Set for training kinds: the registry kind of the model a successful job registers."""
    check_inputs: InputCheck | None = field(default=None, compare=False)
    check_extends: ExtendsCheck | None = field(default=None, compare=False)
    """Set for kinds that take ``extends`` (the id of a succeeded job of the same kind whose
    matrix the new job grows): the gateway resolves the id and this compares the params."""


@dataclass(frozen=True)
class ModelOperation:
    name: str
    """The route's last part: ``POST /v1/models/<id>/<name>``."""
    summary: str
    body_schema: dict[str, Any]
    """JSON schema of the request body (defaults are filled in before the worker sees it)."""


@dataclass(frozen=True)
class ModelKind:
    name: str
    summary: str
    operations: tuple[ModelOperation, ...]

    def operation(self, name: str) -> ModelOperation | None:
        return next((op for op in self.operations if op.name == name), None)


_REGISTRY: dict[str, JobKind] = {}
_MODEL_REGISTRY: dict[str, ModelKind] = {}
_FAMILIES = (
    "osler.workers.kinds.genome",
    "osler.workers.kinds.molecules",
    "osler.workers.kinds.imaging",
    "osler.workers.kinds.text",
    "osler.workers.kinds.models",
)


def register(kind: JobKind) -> JobKind:
    """Add a kind to the registry (called by the family modules at import)."""
    if kind.queue not in QUEUES:
        raise ValueError(f"kind {kind.name}: unknown queue {kind.queue!r}")
    _REGISTRY[kind.name] = kind
    return kind


def register_model(kind: ModelKind) -> ModelKind:
    """Add a model kind to the registry (called by the family modules at import)."""
    _MODEL_REGISTRY[kind.name] = kind
    return kind


def _load_families() -> None:
    for module in _FAMILIES:
        importlib.import_module(module)


def all_kinds() -> dict[str, JobKind]:
    """Every registered job kind by name."""
    _load_families()
    return dict(_REGISTRY)


def all_model_kinds() -> dict[str, ModelKind]:
    """Every registered model kind by name."""
    _load_families()
    return dict(_MODEL_REGISTRY)


def model_operations() -> tuple[str, ...]:
    """Every operation some model kind answers, sorted."""
    names = {op.name for kind in all_model_kinds().values() for op in kind.operations}
    return tuple(sorted(names))


def get_kind(name: str) -> JobKind | None:
    return all_kinds().get(name)
