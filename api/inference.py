"""Synchronous inference through the ``predict`` queue, shared by ``/v1/models/<id>/<op>`` and
the Open Inference Protocol's ``/v2/models/<id>/infer``.

A body is validated against its model kind's operation schema here, before anything goes to
Redis; the ``predict`` worker (``osler.model_inference``) answers from its loaded-model cache,
and its errors come back as the same classes of the error tree. The gateway never imports
TensorFlow.
"""

from __future__ import annotations

from typing import Any

from celery.exceptions import TimeoutError as CeleryTimeout

from osler.api.services import services
from osler.api.validation import validate_against
from osler.workers.errors import InvalidParams, ServiceUnavailable, error_class
from osler.workers.kinds import PREDICT, ModelOperation, all_model_kinds
from osler.workers.models import INFERENCE_TASK, Model

INFERENCE_TIMEOUT_SECONDS = 60
MAX_INFERENCE_BODY_BYTES = 32 * 1024 * 1024


def operation_of(model: Model, operation: str) -> ModelOperation:
    """The declaration of ``operation`` for ``model``'s kind (422 when the kind lacks it)."""
    declared = all_model_kinds().get(model.kind)
    spec = declared.operation(operation) if declared else None
    if spec is None:
        answered = ", ".join(op.name for op in declared.operations) if declared else "nothing"
        raise InvalidParams(f"a {model.kind} model answers {answered}, not {operation!r}")
    return spec


def run_inference(tenant: str, model: Model, operation: str, payload: dict[str, Any],
                  where: str = "body") -> dict[str, Any]:
    """Validate ``payload`` for the model's ``operation`` and answer it on the predict queue."""
    payload = validate_against(operation_of(model, operation).body_schema, payload, where)
    pending = services().celery.send_task(
        INFERENCE_TASK, args=[tenant, model.id, operation, payload], queue=PREDICT,
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
