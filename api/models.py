"""``/v1/models``: the registry (list, read, delete) and synchronous inference.

Inference goes through Redis to the ``predict`` queue, whose worker keeps models loaded; the
gateway waits for the JSON answer and never imports TensorFlow.
"""

from __future__ import annotations

from typing import Any

from celery.exceptions import TimeoutError as CeleryTimeout
from flask import Blueprint, request

from workers.errors import (
    BadRequest,
    NotFound,
    OslerError,
    PayloadTooLarge,
    ServiceUnavailable,
)
from workers.models import INFERENCE_TASK

from .auth import current_tenant, require_tenant
from .services import services

bp = Blueprint("models", __name__, url_prefix="/v1/models")
bp.before_request(require_tenant)

INFERENCE_TIMEOUT_SECONDS = 60
OPERATIONS = ("predict", "similar", "vectors")
MAX_INFERENCE_BODY_BYTES = 32 * 1024 * 1024


@bp.get("")
def list_models() -> dict[str, Any]:
    return {"models": [m.public() for m in services().models.list(current_tenant())]}


@bp.get("/<model_id>")
def get_model(model_id: str) -> dict[str, Any]:
    return services().models.get(model_id, current_tenant()).public()


@bp.delete("/<model_id>")
def delete_model(model_id: str) -> tuple[str, int]:
    services().models.delete(model_id, current_tenant())
    return "", 204


@bp.post("/<model_id>/<operation>")
def infer(model_id: str, operation: str) -> dict[str, Any]:
    """``predict`` (classifiers, seq2seq), ``similar`` and ``vectors`` (word2vec)."""
    if operation not in OPERATIONS:
        raise NotFound(f"no route /v1/models/<id>/{operation}")
    if (request.content_length or 0) > MAX_INFERENCE_BODY_BYTES:
        raise PayloadTooLarge(f"inference requests are limited to {MAX_INFERENCE_BODY_BYTES} bytes")
    svc = services()
    tenant = current_tenant()
    svc.models.get(model_id, tenant)
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict):
        raise BadRequest("the request body must be a JSON object")
    pending = svc.celery.send_task(
        INFERENCE_TASK, args=[tenant, model_id, operation, payload], queue="predict",
        expires=INFERENCE_TIMEOUT_SECONDS,
    )
    try:
        answer = pending.get(timeout=INFERENCE_TIMEOUT_SECONDS, disable_sync_subtasks=False)
    except CeleryTimeout:
        raise ServiceUnavailable("no predict worker answered in time") from None
    finally:
        pending.forget()
    if "error" in answer:
        error = answer["error"]
        raise _error_for(error["status"], error["detail"])
    return answer["ok"]


def _error_for(status: int, detail: str) -> OslerError:
    from workers import errors

    for cls in (errors.NotFound, errors.InvalidParams, errors.BadRequest, errors.Conflict):
        if cls.status == status:
            return cls(detail)
    return OslerError(detail)
