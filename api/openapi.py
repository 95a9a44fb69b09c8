"""The OpenAPI 3.1 description of the gateway, built from the declarations it validates with: the
job kinds' params schemas, the model kinds' operation bodies, the response schemas of
:mod:`osler.api.schemas` and the paging and long-poll bounds."""

from __future__ import annotations

from typing import Any

from osler.api.governance_openapi import NOTIFY_SCHEMA, governance_paths
from osler.api.schemas import response_schemas
from osler.workers.job_states import MAX_PAGE_SIZE, MAX_WAIT_SECONDS, STATES
from osler.workers.kinds import JobKind, all_kinds, all_model_kinds, model_operations

JSON = "application/json"
PROBLEM = {"$ref": "#/components/responses/Problem"}
V2_ERROR = {"$ref": "#/components/responses/V2Error"}
EXAMPLE_ID = "0b4f3a52-8c1d-4d8e-9f57-3d2a1c6b7e90"

STATUS_TEXT = {
    "200": "OK", "201": "Created", "202": "Accepted (queued, or already finished for cancel)",
    "204": "Deleted",
}


def _schema_ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _op(
    summary: str,
    ok: str,
    schema: str | None = None,
    *,
    media: str = JSON,
    body: dict[str, Any] | None = None,
    auth: bool = True,
    errors: tuple[int, ...] = (404,),
    query: list[dict[str, Any]] | None = None,
    error_response: dict[str, str] = PROBLEM,
) -> dict[str, Any]:
    """One operation: its success answer (``schema`` in ``media``) and each error status."""
    answer: dict[str, Any] = {"description": STATUS_TEXT.get(ok, "OK")}
    if schema is not None:
        answer["content"] = {media: {"schema": _schema_ref(schema)}}
    elif media != JSON:
        answer["content"] = {media: {"schema": {"type": "string"}}}
    operation: dict[str, Any] = {"summary": summary, "responses": {ok: answer}}
    statuses = set(errors) | ({401} if auth else set())
    if body is not None:
        operation["requestBody"] = {"required": True, "content": body}
        statuses |= {400, 413, 415} if JSON in body else {400, 413}
    for status in sorted(statuses):
        operation["responses"][str(status)] = error_response
    if query:
        operation["parameters"] = query
    if not auth:
        operation["security"] = []
    return operation


def _dashboard_paths() -> dict[str, Any]:
    """The dashboard's pages and files (HTML for people, no token: their scripts send it)."""
    from flask import current_app, has_app_context

    if not has_app_context():
        return {}
    paths: dict[str, Any] = {}
    for rule in current_app.url_map.iter_rules():
        if not rule.endpoint.startswith("dashboard."):
            continue
        path = rule.rule
        names = []
        for argument in sorted(rule.arguments):
            path = path.replace(f"<path:{argument}>", f"{{{argument}}}").replace(
                f"<{argument}>", f"{{{argument}}}")
            names.append(argument)
        entry = paths.setdefault(path, {})
        if names:
            entry["parameters"] = _path_params(*names)
        media = "application/json" if path.endswith(".json") else "text/html"
        if rule.endpoint == "dashboard.root":
            entry["get"] = {"summary": "Redirect to the dashboard", "security": [],
                            "responses": {"302": {"description": "To /dashboard/"}}}
            continue
        entry["get"] = _op(f"Dashboard: {rule.endpoint.removeprefix('dashboard.')}", "200",
                           media=media, auth=False, errors=(404,) if names else ())
    return paths


def _path_params(*names: str) -> list[dict[str, Any]]:
    return [{"name": name, "in": "path", "required": True,
             "schema": {"type": "string", "examples": [EXAMPLE_ID]}} for name in names]


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": description}


def example_params(kind: JobKind) -> dict[str, Any]:
    """A params object for ``kind``: its required params, with ids for datasets and models."""
    schema = kind.params_schema
    params: dict[str, Any] = {}
    for name in schema.get("required", []):
        spec = schema["properties"][name]
        if name in kind.dataset_params or name in kind.model_params:
            params[name] = EXAMPLE_ID
        elif "default" in spec:
            params[name] = spec["default"]
        elif "enum" in spec:
            params[name] = spec["enum"][0]
        else:
            params[name] = {"integer": 1, "number": 1.0, "boolean": False}.get(
                spec.get("type"), "text")
    return params


def _jobs_paths() -> dict[str, Any]:
    kinds = all_kinds()
    examples = {
        name: {"summary": kind.summary, "value": {"kind": name, "params": example_params(kind)}}
        for name, kind in sorted(kinds.items())
    }
    job_body = {JSON: {"schema": _schema_ref("JobRequest"), "examples": examples}}
    wait = _query("wait", {"type": "number", "minimum": 0, "maximum": MAX_WAIT_SECONDS},
                  f"hold the answer until the job finishes, at most this many seconds "
                  f"(0-{MAX_WAIT_SECONDS:g})")
    return {
        "/v1/jobs": {
            "post": {
                **_op("Submit a job; an Idempotency-Key header makes a retry return the same "
                      "job (200)", "202", "Job", body=job_body, errors=(409, 422, 429, 503)),
                "parameters": [{"name": "Idempotency-Key", "in": "header", "required": False,
                                "schema": {"type": "string", "maxLength": 200}}],
            },
            "get": _op("List your jobs, newest first", "200", "JobPage", errors=(400,), query=[
                _query("state", {"enum": list(STATES)}, "only jobs in this state"),
                _query("kind", {"type": "string"}, "only jobs of this kind"),
                _query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE,
                                 "default": 20}, "page size"),
                _query("cursor", {"type": "string"}, "next_cursor of the previous page"),
            ]),
        },
        "/v1/jobs/validate": {
            "post": _op("Check a job request without queueing it; dataset params named in "
                        "pending may be left out (upload them after)", "200", "Validation",
                        body={JSON: {"schema": _schema_ref("ValidationRequest")}},
                        errors=(422,)),
        },
        "/v1/jobs/{job_id}": {
            "parameters": _path_params("job_id"),
            "get": _op("Read a job; ?wait=S answers as soon as it finishes; a queued job "
                       "says where it stands (queue)", "200", "Job",
                       errors=(400, 404), query=[wait]),
            "delete": _op("Delete a finished job: record, log and artifacts (a model it "
                          "registered stays)", "204", errors=(404, 409)),
        },
        "/v1/jobs/{job_id}/logs": {
            "parameters": _path_params("job_id"),
            "get": _op("The job's event log, oldest first: states, attempts, progress, the "
                       "error and its stage", "200", "JobLog"),
        },
        "/v1/jobs/{job_id}/rerun": {
            "parameters": _path_params("job_id"),
            "post": _op("Submit the same kind and params as a new job", "202", "Job",
                        errors=(404, 422, 429, 503)),
        },
        "/v1/jobs/{job_id}/cancel": {
            "parameters": _path_params("job_id"),
            "post": _op("Cancel a queued or running job", "202", "Job", errors=(404, 409)),
        },
        "/v1/jobs/{job_id}/artifacts/{name}": {
            "parameters": _path_params("job_id", "name"),
            "get": {
                **_op("Download an artifact", "200"),
                "responses": {
                    "200": {"description": "The file",
                            "content": {"*/*": {"schema": {"type": "string",
                                                           "format": "binary"}}}},
                    "401": PROBLEM, "404": PROBLEM,
                },
            },
        },
    }


def _dataset_paths() -> dict[str, Any]:
    upload = {"multipart/form-data": {"schema": {
        "type": "object", "required": ["file"],
        "properties": {"file": {"type": "string", "format": "binary"}}}}}
    sha = _query("sha256", {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"},
                 "only datasets whose content has this SHA-256 (skip re-uploading a file)")
    return {
        "/v1/datasets": {
            "post": _op("Upload a dataset (one multipart part named file)", "201", "Dataset",
                        body=upload),
            "get": _op("List your datasets, newest first", "200", "DatasetList",
                       errors=(400,), query=[sha]),
        },
        "/v1/datasets/{dataset_id}": {
            "parameters": _path_params("dataset_id"),
            "get": _op("Read a dataset's metadata", "200", "Dataset"),
            "delete": _op("Delete a dataset (409 while an active job uses it)", "204",
                          errors=(404, 409)),
        },
    }


def _kind_paths() -> dict[str, Any]:
    return {
        "/v1/kinds": {"get": _op("The job kinds and their params", "200", "KindList",
                                 errors=())},
        "/v1/kinds/{name}": {
            "parameters": _path_params("name"),
            "get": _op("One job kind and its params", "200", "Kind"),
        },
    }


def _model_paths() -> dict[str, Any]:
    """The registry routes, and one inference route per operation with its kinds' bodies."""
    model_kinds = all_model_kinds()
    paths: dict[str, Any] = {
        "/v1/models": {"get": _op("List your models, newest first", "200", "ModelList",
                                  errors=())},
        "/v1/models/{model_id}": {
            "parameters": _path_params("model_id"),
            "get": _op("Read a model", "200", "Model"),
            "delete": _op("Delete a model", "204"),
        },
    }
    for operation in model_operations():
        answering = [kind for kind in model_kinds.values() if kind.operation(operation)]
        refs = [_schema_ref(f"body-{kind.name}-{operation}") for kind in answering]
        paths[f"/v1/models/{{model_id}}/{operation}"] = {
            "parameters": _path_params("model_id"),
            "post": _op(f"{operation} (models of kind "
                        f"{', '.join(k.name for k in answering)})", "200", "InferenceAnswer",
                        body={JSON: {"schema": {"oneOf": refs}}},
                        errors=(404, 422, 503)),
        }
    return paths


def _v2_paths() -> dict[str, Any]:
    """The Open Inference Protocol (KServe v2 REST) for registered models."""
    v2 = {"error_response": V2_ERROR}
    infer_body = {JSON: {"schema": _schema_ref("V2InferRequest"), "example": {
        "inputs": [{"name": "texts", "shape": [1], "datatype": "BYTES",
                    "data": ["Malignant neoplasm of spleen"]}]}}}
    return {
        "/v2": {"get": _op("Server metadata", "200", "V2ServerMetadata", auth=False,
                           errors=(), **v2)},
        "/v2/health/live": {"get": _op("The server is live", "200", "V2Live", auth=False,
                                       errors=(), **v2)},
        "/v2/health/ready": {"get": _op("Redis answers and a worker was seen", "200",
                                        "V2Ready", auth=False, errors=(503,), **v2)},
        "/v2/models/{model_id}": {
            "parameters": _path_params("model_id"),
            "get": _op("A model's inputs and outputs as typed tensors", "200",
                       "V2ModelMetadata", errors=(404,), **v2),
        },
        "/v2/models/{model_id}/ready": {
            "parameters": _path_params("model_id"),
            "get": _op("The model exists and a predict worker can load it", "200",
                       "V2Ready", errors=(404, 503), **v2),
        },
        "/v2/models/{model_id}/infer": {
            "parameters": _path_params("model_id"),
            "post": _op("Run the model on typed tensors (same predict queue as /v1)", "200",
                        "V2InferResponse", body=infer_body, errors=(404, 422, 503), **v2),
        },
    }


def _job_request_schema() -> dict[str, Any]:
    return {"oneOf": [
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["kind"],
            "properties": {
                "kind": {"const": name},
                "params": _schema_ref(f"params-{name}"),
                "notify": NOTIFY_SCHEMA,
            },
        }
        for name in sorted(all_kinds())
    ]}


def _request_schemas() -> dict[str, Any]:
    kinds = all_kinds()
    return {
        "JobRequest": _job_request_schema(),
        "ValidationRequest": {
            "type": "object", "required": ["kind"], "additionalProperties": False,
            "properties": {
                "kind": {"enum": sorted(kinds)},
                "params": {"type": "object"},
                "pending": {"type": "array", "items": {"type": "string"},
                            "description": "dataset params you will upload after"},
            },
        },
        "InferenceAnswer": {"type": "object", "description": "predictions, similar or vectors"},
        "V2ServerMetadata": {"type": "object", "required": ["name", "version", "extensions"],
                             "properties": {"name": {"type": "string"},
                                            "version": {"type": "string"},
                                            "extensions": {"type": "array",
                                                           "items": {"type": "string"}}}},
        **{f"params-{name}": {**kind.params_schema, "description": kind.summary}
           for name, kind in kinds.items()},
        **{f"body-{kind.name}-{op.name}": {**op.body_schema, "description": op.summary}
           for kind in all_model_kinds().values() for op in kind.operations},
    }


def build_openapi() -> dict[str, Any]:
    """The document, with the rate quota's 429 on every operation a token reaches."""
    document = _document()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if method != "parameters" and operation.get("security") != []:
                shape = V2_ERROR if path.startswith("/v2/") else PROBLEM
                operation["responses"].setdefault("429", shape)
    return document


def _document() -> dict[str, Any]:
    kinds = all_kinds()
    no_auth = {"auth": False, "errors": ()}
    return {
        "openapi": "3.1.0",
        "info": {"title": "osler", "version": "0.1.0",
                 "description": "Submit medical-AI and genomics jobs, poll for results, serve "
                                "the models they train (/v1 and the Open Inference Protocol, "
                                "/v2). Errors on /v1 are RFC 9457 problem+json; on /v2 "
                                '{"error": "..."}.'},
        "security": [{"bearer": []}],
        "paths": {
            "/healthz": {"get": _op("Process alive", "200", "Health", **no_auth)},
            "/readyz": {"get": _op("Redis reachable and a worker seen", "200", "Ready",
                                   auth=False, errors=(503,))},
            "/openapi.json": {"get": {**_op("This document", "200", **no_auth), "responses": {
                "200": {"description": "OK", "content": {JSON: {"schema": {"type": "object"}}}}
            }}},
            "/docs": {"get": _op("Browsable API reference", "200", media="text/html",
                                 **no_auth)},
            "/metrics": {"get": _op("Prometheus metrics (text format; OSLER_METRICS=off removes "
                                    "the route)", "200", media="text/plain", **no_auth)},
            **_dashboard_paths(),
            "/docs/assets/{name}": {
                "parameters": _path_params("name"),
                "get": {**_op("The reference page's scripts and styles", "200", auth=False),
                        "responses": {"200": {"description": "OK", "content": {"*/*": {
                            "schema": {"type": "string"}}}}, "404": PROBLEM}},
            },
            **_kind_paths(),
            **_jobs_paths(),
            **_dataset_paths(),
            **_model_paths(),
            **_v2_paths(),
            **governance_paths(),
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "responses": {
                "Problem": {
                    "description": "RFC 9457 problem",
                    "content": {"application/problem+json": {"schema": _schema_ref("Problem")}},
                },
                "V2Error": {
                    "description": "Open Inference Protocol error",
                    "content": {JSON: {"schema": _schema_ref("V2Error")}},
                },
            },
            "schemas": {**response_schemas(), **_request_schemas()},
        },
        "x-job-kinds": {
            name: {"queue": kind.queue, "summary": kind.summary} for name, kind in kinds.items()
        },
    }
