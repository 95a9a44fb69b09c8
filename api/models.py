"""``/v1/models``: the registry (list, read, delete) and synchronous inference.

An inference body is validated against its model kind's operation schema here, before anything
goes to Redis; the ``predict`` queue's worker answers, and its errors come back as the same
classes of the error tree. The gateway never imports TensorFlow.
"""

from __future__ import annotations

from typing import Any

from celery.exceptions import TimeoutError as CeleryTimeout
from flask import Blueprint

from osler.api.auth import current_tenant, require_tenant
from osler.api.json_body import json_body
from osler.api.services import services
from osler.api.validation import validate_against
from osler.workers.errors import (
    BadRequest,
    InvalidParams,
    NotFound,
    ServiceUnavailable,
    error_class,
)
from osler.workers.kinds import PREDICT, all_model_kinds, model_operations
from osler.workers.models import INFERENCE_TASK

bp = Blueprint("models", __name__, url_prefix="/v1/models")
bp.before_request(require_tenant)

INFERENCE_TIMEOUT_SECONDS = 60
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
    if operation not in model_operations():
        raise NotFound(f"no route /v1/models/<id>/{operation}")
    svc = services()
    tenant = current_tenant()
    model = svc.models.get(model_id, tenant)
    declared = all_model_kinds().get(model.kind)
    spec = declared.operation(operation) if declared else None
    if spec is None:
        answered = ", ".join(op.name for op in declared.operations) if declared else "nothing"
        raise InvalidParams(f"a {model.kind} model answers {answered}, not {operation!r}")
    payload = json_body(MAX_INFERENCE_BODY_BYTES)
    if not isinstance(payload, dict):
        raise BadRequest("the request body must be a JSON object")
    payload = validate_against(spec.body_schema, payload, "body")
    pending = svc.celery.send_task(
        INFERENCE_TASK, args=[tenant, model_id, operation, payload], queue=PREDICT,
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
        raise error_class(error["type"])(error["detail"], **error.get("extra", {}))
    return answer["ok"]
