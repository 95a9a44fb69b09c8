"""``/v1/models``: the registry (list, read, delete) and synchronous inference, one route per
operation some model kind declares (:mod:`osler.api.inference` answers them)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from osler.api.auth import current_tenant, require_tenant
from osler.api.inference import MAX_INFERENCE_BODY_BYTES, run_inference
from osler.api.json_body import json_body
from osler.api.services import services
from osler.workers.errors import BadRequest
from osler.workers.kinds import model_operations

bp = Blueprint("models", __name__, url_prefix="/v1/models")
bp.before_request(require_tenant)


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


def infer(model_id: str, operation: str) -> dict[str, Any]:
    """``predict`` (classifiers, seq2seq), ``similar`` and ``vectors`` (word2vec)."""
    tenant = current_tenant()
    model = services().models.get(model_id, tenant)
    payload = json_body(MAX_INFERENCE_BODY_BYTES)
    if not isinstance(payload, dict):
        raise BadRequest("the request body must be a JSON object")
    return run_inference(tenant, model, operation, payload)


for _operation in model_operations():
    bp.add_url_rule(f"/<model_id>/{_operation}", f"infer_{_operation}", infer, methods=["POST"],
                    defaults={"operation": _operation})
