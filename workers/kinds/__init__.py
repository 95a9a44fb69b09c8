"""The registry of job kinds: the one place a kind's name, params, queue and task are declared.

The gateway validates requests against :attr:`JobKind.params_schema` and sends the job to
:attr:`JobKind.queue` by task *name*, so it never imports a kernel. Adding a kind means adding a
declaration module here (listed in ``_FAMILIES``) and its task module in ``workers/tasks``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..settings import Settings

COMPUTE, TRAIN, PREDICT = "compute", "train", "predict"
QUEUES = (COMPUTE, TRAIN, PREDICT)
"""Matrix work, model training and short inference never wait behind each other."""

InputCheck = Callable[[dict[str, Any], dict[str, Path], Settings], None]
"""A cheap submit-time look at the inputs: (params, {param name: dataset path}, settings) -> None.

It raises ``kernels.errors.InputError`` (answered with 422) for inputs the job cannot use.
"""


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


_REGISTRY: dict[str, JobKind] = {}
_FAMILIES = (
    "workers.kinds.genome",
    "workers.kinds.molecules",
    "workers.kinds.imaging",
    "workers.kinds.text",
)


def register(kind: JobKind) -> JobKind:
    """Add a kind to the registry (called by the family modules at import)."""
    if kind.queue not in QUEUES:
        raise ValueError(f"kind {kind.name}: unknown queue {kind.queue!r}")
    _REGISTRY[kind.name] = kind
    return kind


def all_kinds() -> dict[str, JobKind]:
    """Every registered kind by name."""
    for module in _FAMILIES:
        importlib.import_module(module)
    return dict(_REGISTRY)


def get_kind(name: str) -> JobKind | None:
    return all_kinds().get(name)
