"""``/v2``: the Open Inference Protocol (KServe v2 REST, as Triton, KServe and Seldon speak it)
for registered models.

Health routes need no token (like ``/healthz``); model routes take the same Bearer token as
``/v1`` and see only the caller's models. Inference goes through :func:`run_inference`: the same
validation, ``predict`` queue and loaded-model cache as ``/v1/models/<id>/<op>``. Errors are the
protocol's ``{"error": "..."}`` with the status osler's error tree gives them.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, json, request

from osler.api.auth import current_tenant, require_tenant
from osler.api.inference import MAX_INFERENCE_BODY_BYTES, run_inference
from osler.api.services import services
from osler.api.v2_tensors import (
    BINARY_HEADER,
    decode_input,
    encode_outputs,
    read_request,
    signature,
)
from osler.kernels.errors import InputError
from osler.workers.errors import InvalidParams, OslerError, PayloadTooLarge
from osler.workers.redis_connection import REDIS_DOWN_ERRORS, unavailable

bp = Blueprint("inference_v2", __name__, url_prefix="/v2")

SERVER_NAME = "osler"


def _error(detail: str, status: int) -> Response:
    return Response(json.dumps({"error": detail}), status=status, mimetype="application/json")


@bp.errorhandler(OslerError)
def _osler_error(exc: OslerError) -> Response:
    return _error(exc.detail, exc.status)


@bp.errorhandler(InputError)
def _input_error(exc: InputError) -> Response:
    return _error(str(exc), InvalidParams.status)


def _redis_down(exc: Exception) -> Response:
    return _osler_error(unavailable(exc))


for _error_type in REDIS_DOWN_ERRORS:
    bp.register_error_handler(_error_type, _redis_down)


@bp.before_request
def _authenticate() -> None:
    if request.endpoint not in {f"{bp.name}.{name}" for name in ("server", "live", "ready")}:
        require_tenant()


@bp.get("")
def server() -> dict[str, Any]:
    return {"name": SERVER_NAME, "version": "0.1.0", "extensions": ["binary_tensor_data"]}


@bp.get("/health/live")
def live() -> dict[str, bool]:
    return {"live": True}


@bp.get("/health/ready")
def ready() -> Response | dict[str, bool]:
    """Ready when Redis answers and a worker was seen in the last 30 seconds."""
    client = services().redis
    client.ping()
    if not any(True for _ in client.scan_iter("osler:worker:*")):
        return _error("no worker has been seen in the last 30 seconds", 503)
    return {"ready": True}


@bp.get("/models/<model_id>")
def model_metadata(model_id: str) -> dict[str, Any]:
    model = services().models.get(model_id, current_tenant())
    sig = signature(model)
    metadata: dict[str, Any] = {
        "name": model.id,
        "versions": [str(model.version)],
        "platform": f"osler-{model.kind}",
        "inputs": [spec.metadata() for spec in sig.inputs],
        "outputs": [spec.metadata() for spec in sig.outputs],
    }
    if model.class_names:
        metadata["parameters"] = {"class_names": model.class_names}
    return metadata


@bp.get("/models/<model_id>/ready")
def model_ready(model_id: str) -> Response | dict[str, bool]:
    """The caller has the model and a worker was seen (the predict queue loads it on demand)."""
    services().models.get(model_id, current_tenant())
    return ready()


@bp.post("/models/<model_id>/infer")
def infer(model_id: str) -> dict[str, Any]:
    if (request.content_length or 0) > MAX_INFERENCE_BODY_BYTES:
        raise PayloadTooLarge(f"inference requests are limited to {MAX_INFERENCE_BODY_BYTES} bytes")
    tenant = current_tenant()
    model = services().models.get(model_id, tenant)
    sig = signature(model)
    document, binary = read_request(request.get_data(), request.headers.get(BINARY_HEADER))
    inputs = document["inputs"]
    accepted = {spec.name: spec for spec in sig.inputs}
    if len(inputs) != 1 or not isinstance(inputs[0], dict) or inputs[0].get("name") not in accepted:
        raise InvalidParams(f"inputs: send one tensor named {' or '.join(accepted)}")
    parameters = document.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise InvalidParams("parameters must be an object")
    spec = accepted[inputs[0]["name"]]
    values, _ = decode_input(inputs[0], spec, binary, 0)
    body = sig.to_body(spec, values, parameters)
    answer = run_inference(tenant, model, sig.operation, body, where="inputs")
    requested = document.get("outputs")
    if requested is not None and not isinstance(requested, list):
        raise InvalidParams("outputs must be a list")
    response: dict[str, Any] = {
        "model_name": model.id,
        "model_version": str(model.version),
        "outputs": encode_outputs(sig, answer, requested),
    }
    if isinstance(document.get("id"), str):
        response["id"] = document["id"]
    return response

