"""Validating a job request against its kind: body shape, params schema, named inputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from workers.errors import BadRequest, InvalidParams, NotFound
from workers.kinds import JobKind, all_kinds

from .services import services

JOB_REQUEST_FIELDS = {"kind", "params"}


def parse_job_request(body: Any) -> tuple[JobKind, dict[str, Any]]:
    """The kind and params of a ``POST /v1/jobs`` body, or a 400/422 naming the problem."""
    if not isinstance(body, dict):
        raise BadRequest('the request body must be a JSON object {"kind": ..., "params": {...}}')
    unknown = sorted(set(body) - JOB_REQUEST_FIELDS)
    if unknown:
        raise InvalidParams(f"unknown field(s) in the request body: {', '.join(unknown)}")
    kinds = all_kinds()
    name = body.get("kind")
    if not isinstance(name, str) or name not in kinds:
        raise InvalidParams(
            f"unknown job kind {name!r}; known kinds: {', '.join(sorted(kinds))}"
        )
    params = body.get("params", {})
    if not isinstance(params, dict):
        raise InvalidParams("params must be a JSON object")
    kind = kinds[name]
    return kind, validate_params(kind, params)


def validate_params(kind: JobKind, params: dict[str, Any]) -> dict[str, Any]:
    """Params checked against the kind's schema, with the schema's defaults filled in."""
    validator = Draft202012Validator(kind.params_schema)
    errors = sorted(validator.iter_errors(params), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        where = ".".join(str(p) for p in ("params", *first.absolute_path))
        raise InvalidParams(f"{where}: {first.message}", errors=len(errors))
    filled = dict(params)
    for name, spec in kind.params_schema.get("properties", {}).items():
        if name not in filled and "default" in spec:
            filled[name] = spec["default"]
    return filled


def resolve_inputs(kind: JobKind, params: dict[str, Any], tenant: str) -> dict[str, Path]:
    """The caller's dataset files named by the params (422 when a named dataset is not theirs).

    Models named by the params are checked too (the caller's, of a kind the job accepts).
    """
    for name, model_kinds in kind.model_params.items():
        if name in params:
            services().models.resolve(name, params[name], tenant, model_kinds)
    store = services().datasets
    paths = {}
    for name in kind.dataset_params:
        if name not in params:
            continue
        try:
            paths[name] = store.path(store.get(params[name], tenant))
        except NotFound:
            raise InvalidParams(f"params.{name}: no dataset with id {params[name]!r}") from None
    return paths
