"""Validating a job request against its kind: body shape, params schema, named inputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, ValidationError

from osler.api.services import services
from osler.kernels.incremental import INPUTS_ARTIFACT
from osler.workers.errors import BadRequest, InvalidParams, NotFound
from osler.workers.job_states import SUCCEEDED
from osler.workers.kinds import JobKind, all_kinds

JOB_REQUEST_FIELDS = {"kind", "params", "notify"}


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
    return validate_against(kind.params_schema, params, "params")


def validate_against(schema: dict[str, Any], value: dict[str, Any], where: str) -> dict[str, Any]:
    """``value`` checked against an object ``schema`` (422 naming the first problem), with the
    schema's top-level defaults filled in. Messages name the place, never echo a whole body."""
    validator = Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        place = ".".join(str(p) for p in (where, *first.absolute_path))
        raise InvalidParams(f"{place}: {_message(first)}", errors=len(errors))
    filled = dict(value)
    for name, spec in schema.get("properties", {}).items():
        if name not in filled and "default" in spec:
            filled[name] = spec["default"]
    return filled


_MESSAGES = {
    "type": "must be of type {}",
    "enum": "must be one of {}",
    "const": "must be {}",
    "minimum": "must be at least {}",
    "maximum": "must be at most {}",
    "exclusiveMinimum": "must be greater than {}",
    "exclusiveMaximum": "must be less than {}",
    "minItems": "needs at least {} items",
    "maxItems": "takes at most {} items",
    "minLength": "needs at least {} characters",
    "maxLength": "takes at most {} characters",
}
"""Messages that name the rule broken without quoting the value (a body may hold patient data)."""


def _message(error: ValidationError) -> str:
    rule, expected = error.validator, error.validator_value
    if rule in _MESSAGES:
        if rule == "enum":
            expected = ", ".join(repr(v) for v in expected)
        return _MESSAGES[rule].format(expected)
    if rule == "oneOf" and all(set(branch) == {"required"} for branch in expected):
        return "send exactly one of " + ", ".join(repr(b["required"][0]) for b in expected)
    if rule in ("oneOf", "anyOf"):
        return "matches none of the accepted forms"
    return error.message if len(error.message) <= 300 else error.message[:300] + "..."


def resolve_inputs(kind: JobKind, params: dict[str, Any], tenant: str) -> dict[str, Path]:
    """The caller's dataset files named by the params (422 when a named dataset is not theirs).

    Models named by the params are checked too (the caller's, of a kind the job accepts), and
    the job named by ``extends`` (see :func:`check_extends`).
    """
    if kind.check_extends is not None and "extends" in params:
        check_extends(kind, params, tenant)
    for name, model_kinds in kind.model_params.items():
        if name in params:
            services().models.resolve(name, params[name], tenant, model_kinds)
    store = services().datasets
    paths = {}
    for name in kind.dataset_params:
        if name not in params:
            continue
        try:
            paths[name] = store.local_path(store.get(params[name], tenant))
        except NotFound:
            raise InvalidParams(f"params.{name}: no dataset with id {params[name]!r}") from None
    return paths


def check_extends(kind: JobKind, params: dict[str, Any], tenant: str) -> None:
    """The job ``extends`` names: the caller's, of the same kind, succeeded, with the record an
    extension reads, and params that shape its values as this job's (422 naming the problem;
    another tenant's job is as unknown as a missing one, as for datasets)."""
    job_id = params["extends"]
    try:
        earlier = services().jobs.get(job_id, tenant)
    except NotFound:
        raise InvalidParams(f"params.extends: no job with id {job_id!r}") from None
    if earlier.kind != kind.name:
        raise InvalidParams(f"params.extends: job {job_id} is a {earlier.kind} job, not "
                            f"{kind.name}")
    if earlier.state != SUCCEEDED:
        raise InvalidParams(f"params.extends: job {job_id} is {earlier.state}; only a "
                            "succeeded job can be extended")
    kind.check_extends(params, earlier.params)
    if not any(a["name"] == INPUTS_ARTIFACT for a in earlier.artifacts):
        raise InvalidParams(f"params.extends: job {job_id} has no {INPUTS_ARTIFACT} to extend "
                            "(it ran before extends existed); run it again to extend it")
