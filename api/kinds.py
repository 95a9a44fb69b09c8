"""``/v1/kinds``: the job kinds the registry declares, with their params schemas (for clients
such as ``osler kinds`` and ``osler submit``, which must know a kind's dataset params)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from osler.api.auth import require_tenant
from osler.workers.errors import NotFound
from osler.workers.kinds import JobKind, all_kinds

bp = Blueprint("kinds", __name__, url_prefix="/v1/kinds")
bp.before_request(require_tenant)


def describe(kind: JobKind) -> dict[str, Any]:
    return {
        "name": kind.name,
        "summary": kind.summary,
        "queue": kind.queue,
        "dataset_params": list(kind.dataset_params),
        "model_params": {name: list(kinds) for name, kinds in kind.model_params.items()},
        "params_schema": kind.params_schema,
    }


@bp.get("")
def list_kinds() -> dict[str, Any]:
    return {"kinds": [describe(kind) for _, kind in sorted(all_kinds().items())]}


@bp.get("/<name>")
def get_kind(name: str) -> dict[str, Any]:
    kind = all_kinds().get(name)
    if kind is None:
        raise NotFound(f"no job kind {name!r}; known kinds: {', '.join(sorted(all_kinds()))}")
    return describe(kind)
