"""The OpenAPI 3.1 description of the gateway: every route, and every job kind's params schema."""

from __future__ import annotations

from typing import Any

from osler.api.governance_openapi import NOTIFY_SCHEMA, governance_paths
from osler.workers.job_states import MAX_WAIT_SECONDS
from osler.workers.kinds import all_kinds, all_model_kinds, model_operations

PROBLEM = {"$ref": "#/components/responses/Problem"}


def _op(summary: str, ok: str, *, body: dict[str, Any] | None = None, auth: bool = True,
        errors: tuple[int, ...] = (401, 404)) -> dict[str, Any]:
    operation: dict[str, Any] = {"summary": summary, "responses": {ok: {"description": "OK"}}}
    for status in errors:
        operation["responses"][str(status)] = PROBLEM
    if body is not None:
        operation["requestBody"] = {"required": True, "content": body}
    if not auth:
        operation["security"] = []
    return operation


def _path_params(*names: str) -> list[dict[str, Any]]:
    return [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in names]


def _model_paths() -> dict[str, Any]:
    """The registry routes, and one inference route per operation with its kinds' bodies."""
    model_kinds = all_model_kinds()
    paths: dict[str, Any] = {
        "/v1/models": {"get": _op("List your models", "200", errors=(401,))},
        "/v1/models/{model_id}": {
            "parameters": _path_params("model_id"),
            "get": _op("Read a model", "200"),
            "delete": _op("Delete a model", "204"),
        },
    }
    for operation in model_operations():
        refs = [{"$ref": f"#/components/schemas/body-{kind.name}-{operation}"}
                for kind in model_kinds.values() if kind.operation(operation)]
        answered_by = ", ".join(k.name for k in model_kinds.values() if k.operation(operation))
        paths[f"/v1/models/{{model_id}}/{operation}"] = {
            "parameters": _path_params("model_id"),
            "post": _op(f"{operation} (models of kind {answered_by})", "200",
                        body={"application/json": {"schema": {"oneOf": refs}}},
                        errors=(400, 401, 404, 413, 422, 503)),
        }
    return paths


def _model_schemas() -> dict[str, Any]:
    return {
        f"body-{kind.name}-{op.name}": {**op.body_schema, "description": op.summary}
        for kind in all_model_kinds().values() for op in kind.operations
    }


def build_openapi() -> dict[str, Any]:
    kinds = all_kinds()
    job_request = {
        "oneOf": [
            {
                "type": "object",
                "additionalProperties": False,
                "required": ["kind"],
                "properties": {
                    "kind": {"const": name},
                    "params": {"$ref": f"#/components/schemas/params-{name}"},
                    "notify": NOTIFY_SCHEMA,
                },
            }
            for name in sorted(kinds)
        ]
    }
    json_body = {"application/json": {"schema": {"$ref": "#/components/schemas/JobRequest"}}}
    upload = {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {"file": {"type": "string", "format": "binary"}},
            }
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "osler", "version": "0.1.0",
                 "description": "Submit medical-AI and genomics jobs; poll for results."},
        "security": [{"bearer": []}],
        "paths": {
            "/healthz": {"get": _op("Process alive", "200", auth=False, errors=())},
            "/readyz": {"get": _op("Redis reachable and a worker seen", "200", auth=False,
                                   errors=(503,))},
            "/openapi.json": {"get": _op("This document", "200", auth=False, errors=())},
            "/docs": {"get": _op("Browsable API documentation", "200", auth=False, errors=())},
            "/v1/jobs": {
                "post": _op("Submit a job (Idempotency-Key header supported)", "202",
                            body=json_body, errors=(400, 401, 413, 422, 429, 503)),
                "get": _op("List your jobs, newest first (state, kind, limit, cursor)", "200",
                           errors=(400, 401)),
            },
            "/v1/jobs/{job_id}": {"parameters": _path_params("job_id"), "get": {
                **_op(f"Read a job; ?wait=S (0-{MAX_WAIT_SECONDS:g} s) answers as soon as it "
                      "finishes", "200", errors=(400, 401, 404)),
                "parameters": [{"name": "wait", "in": "query", "required": False,
                                "schema": {"type": "number", "minimum": 0,
                                           "maximum": MAX_WAIT_SECONDS}}],
            }},
            "/v1/jobs/{job_id}/cancel": {"parameters": _path_params("job_id"),
                                         "post": _op("Cancel a job", "202",
                                                     errors=(401, 404, 409))},
            "/v1/jobs/{job_id}/artifacts/{name}": {
                "parameters": _path_params("job_id", "name"),
                "get": _op("Download an artifact", "200"),
            },
            "/v1/datasets": {
                "post": _op("Upload a dataset", "201", body=upload, errors=(400, 401, 413)),
                "get": _op("List your datasets", "200", errors=(401,)),
            },
            "/v1/datasets/{dataset_id}": {
                "parameters": _path_params("dataset_id"),
                "get": _op("Read a dataset's metadata", "200"),
                "delete": _op("Delete a dataset", "204", errors=(401, 404, 409)),
            },
            **_model_paths(),
            **governance_paths(),
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "responses": {
                "Problem": {
                    "description": "RFC 9457 problem",
                    "content": {"application/problem+json": {"schema": {"type": "object"}}},
                }
            },
            "schemas": {
                "JobRequest": job_request,
                **{
                    f"params-{name}": {**kind.params_schema, "description": kind.summary}
                    for name, kind in kinds.items()
                },
                **_model_schemas(),
            },
        },
        "x-job-kinds": {
            name: {"queue": kind.queue, "summary": kind.summary} for name, kind in kinds.items()
        },
    }
