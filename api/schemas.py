"""JSON schemas of what the gateway answers: Job, Dataset, Model, their list pages, Problem, the
kinds' descriptions and the Open Inference Protocol's documents. ``/openapi.json`` names them
under ``components.schemas``; the tests validate live answers against them."""

from __future__ import annotations

from typing import Any

from osler.workers.job_states import STATES

STAMP = {"type": "string", "format": "date-time", "examples": ["2026-11-28T21:30:00.123456Z"]}
ID = {"type": "string", "examples": ["0b4f3a52-8c1d-4d8e-9f57-3d2a1c6b7e90"]}
OBJECT = {"type": "object"}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def _record(properties: dict[str, Any], *, optional: tuple[str, ...] = ()) -> dict[str, Any]:
    """An object with exactly these properties (all required except ``optional``)."""
    return {
        "type": "object",
        "additionalProperties": False,
        "required": [name for name in properties if name not in optional],
        "properties": properties,
    }


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


ARTIFACT = _record({
    "name": {"type": "string"},
    "size": {"type": "integer", "minimum": 0},
    "media_type": {"type": "string"},
})

JOB = _record({
    "id": ID,
    "kind": {"type": "string"},
    "state": {"enum": list(STATES)},
    "params": OBJECT,
    "progress": _record({"fraction": {"type": "number", "minimum": 0, "maximum": 1},
                         "message": {"type": "string"}}),
    "created_at": STAMP,
    "started_at": _nullable(STAMP),
    "finished_at": _nullable(STAMP),
    "attempts": {"type": "integer", "minimum": 0},
    "error": _nullable({
        "type": "object",
        "required": ["type", "message"],
        "properties": {"type": {"type": "string"}, "message": {"type": "string"}},
    }),
    "result": _nullable(OBJECT),
    "artifacts": {"type": "array", "items": _ref("Artifact")},
    "queue": _record({"name": {"type": "string"},
                      "position": {"type": "integer", "minimum": 1},
                      "ahead": {"type": "integer", "minimum": 0}}),
}, optional=("queue",))

JOB_EVENT = {
    "type": "object",
    "required": ["time", "event"],
    "properties": {"time": STAMP, "event": {"enum": ["state", "progress"]},
                   "state": {"enum": list(STATES)}, "attempt": {"type": "integer"},
                   "fraction": {"type": "number"}, "message": {"type": "string"},
                   "stage": {"type": "string"}, "error": OBJECT},
}

DATASET = _record({
    "id": ID,
    "name": {"type": "string", "description": "the uploaded file's name"},
    "size": {"type": "integer", "minimum": 1},
    "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
    "created_at": STAMP,
})

MODEL = _record({
    "id": ID,
    "kind": {"type": "string", "description": "a model kind: image-classifier, word2vec, ..."},
    "version": {"type": "integer", "minimum": 1},
    "framework": {"type": "string"},
    "file": {"type": "string"},
    "input_shape": _nullable({"type": "array", "items": {"type": "integer"}}),
    "class_names": _nullable({"type": "array", "items": {"type": "string"}}),
    "params": OBJECT,
    "training_job_id": ID,
    "dataset_sha256": _nullable({"type": "string"}),
    "metrics": OBJECT,
    "created_at": STAMP,
    "details": OBJECT,
})

PROBLEM = {
    "type": "object",
    "description": "RFC 9457 problem details; some problems add members (e.g. ``words``).",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
    },
}

KIND = _record({
    "name": {"type": "string"},
    "summary": {"type": "string"},
    "queue": {"type": "string"},
    "dataset_params": {"type": "array", "items": {"type": "string"},
                       "description": "params that name one of your datasets"},
    "model_params": {"type": "object", "additionalProperties": {
        "type": "array", "items": {"type": "string"}},
        "description": "params that name one of your models, with the model kinds accepted"},
    "params_schema": OBJECT,
})

VALIDATION = _record({
    "kind": {"type": "string"},
    "params": {"type": "object", "description": "the params with the schema's defaults filled"},
    "pending": {"type": "array", "items": {"type": "string"},
                "description": "dataset params left for the caller to fill after uploading"},
})

V2_ERROR = _record({"error": {"type": "string"}})

V2_TENSOR = {
    "type": "object",
    "required": ["name", "shape", "datatype", "data"],
    "properties": {
        "name": {"type": "string"},
        "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
        "datatype": {"enum": ["BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16",
                              "INT32", "INT64", "FP16", "FP32", "FP64", "BYTES"]},
        "parameters": OBJECT,
        "data": {"type": "array", "description": "row-major, flat or nested"},
    },
}

V2_TENSOR_METADATA = _record({
    "name": {"type": "string"},
    "datatype": {"type": "string"},
    "shape": {"type": "array", "items": {"type": "integer"}},
})

V2_MODEL_METADATA = _record({
    "name": {"type": "string"},
    "versions": {"type": "array", "items": {"type": "string"}},
    "platform": {"type": "string"},
    "inputs": {"type": "array", "items": _ref("V2TensorMetadata")},
    "outputs": {"type": "array", "items": _ref("V2TensorMetadata")},
    "parameters": OBJECT,
}, optional=("parameters",))

V2_INFER_REQUEST = {
    "type": "object",
    "required": ["inputs"],
    "properties": {
        "id": {"type": "string"},
        "parameters": OBJECT,
        "inputs": {"type": "array", "minItems": 1, "items": _ref("V2Tensor")},
        "outputs": {"type": "array", "items": {
            "type": "object", "required": ["name"],
            "properties": {"name": {"type": "string"}, "parameters": OBJECT}}},
    },
}

V2_INFER_RESPONSE = _record({
    "model_name": {"type": "string"},
    "model_version": {"type": "string"},
    "id": {"type": "string"},
    "outputs": {"type": "array", "items": _ref("V2Tensor")},
}, optional=("id",))


def response_schemas() -> dict[str, Any]:
    """Every schema above by its component name."""
    return {
        "Job": JOB,
        "Artifact": ARTIFACT,
        "JobPage": _record({"jobs": {"type": "array", "items": _ref("Job")},
                            "next_cursor": _nullable({"type": "string"})}),
        "Dataset": DATASET,
        "DatasetList": _record({"datasets": {"type": "array", "items": _ref("Dataset")}}),
        "Model": MODEL,
        "ModelList": _record({"models": {"type": "array", "items": _ref("Model")}}),
        "Kind": KIND,
        "KindList": _record({"kinds": {"type": "array", "items": _ref("Kind")}}),
        "Validation": VALIDATION,
        "Problem": PROBLEM,
        "Health": _record({"status": {"const": "ok"}}),
        "Ready": _record({"status": {"const": "ready"},
                          "workers": {"type": "array", "items": {"type": "string"}},
                          "parts": OBJECT}),
        "JobLog": _record({"job_id": ID, "events": {"type": "array", "items": JOB_EVENT}}),
        "V2Error": V2_ERROR,
        "V2Tensor": V2_TENSOR,
        "V2TensorMetadata": V2_TENSOR_METADATA,
        "V2ModelMetadata": V2_MODEL_METADATA,
        "V2InferRequest": V2_INFER_REQUEST,
        "V2InferResponse": V2_INFER_RESPONSE,
        "V2Live": _record({"live": {"type": "boolean"}}),
        "V2Ready": _record({"ready": {"type": "boolean"}}),
    }
