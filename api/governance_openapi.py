"""OpenAPI paths of the governance routes: tokens and the audit trail."""

from __future__ import annotations

from typing import Any

from osler.workers.audit import ACTIONS


def _op(summary: str, ok: str, errors: tuple[int, ...]) -> dict[str, Any]:
    responses: dict[str, Any] = {ok: {"description": "OK"}}
    for status in errors:
        responses[str(status)] = {"$ref": "#/components/responses/Problem"}
    return {"summary": summary, "responses": responses}


def _query(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema}


TOKEN_BODY = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "maxLength": 64},
        "expires_in": {"type": "string", "pattern": "^[0-9]+[smhd]$", "examples": ["30d"]},
        "scope": {"enum": ["full", "read"], "default": "full"},
    },
}


NOTIFY_SCHEMA = {
    "type": "object", "additionalProperties": False, "required": ["url"],
    "properties": {"url": {"type": "string", "format": "uri", "maxLength": 2048}},
    "description": "POST the finished job here, signed (Osler-Signature header)",
}


def governance_paths() -> dict[str, Any]:
    create = _op("Create a token for your tenant (its secret is shown only in this answer)",
                 "201", (400, 401, 403))
    create["requestBody"] = {"required": False,
                             "content": {"application/json": {"schema": TOKEN_BODY}}}
    audit = _op("Your tenant's audit records, oldest first (since, until, action, cursor)",
                "200", (400, 401))
    audit["parameters"] = [
        _query("since", {"type": "string", "format": "date-time"}),
        _query("until", {"type": "string", "format": "date-time"}),
        _query("action", {"enum": list(ACTIONS)}),
        _query("cursor", {"type": "string"}),
        _query("limit", {"type": "integer", "minimum": 1, "maximum": 1000}),
    ]
    return {
        "/v1/tokens": {"get": _op("List your tenant's tokens", "200", (401,)), "post": create},
        "/v1/tokens/{token_id}": {
            "parameters": [{"name": "token_id", "in": "path", "required": True,
                            "schema": {"type": "string"}}],
            "delete": _op("Revoke a token (401 from its next request on)", "204",
                          (401, 403, 404)),
        },
        "/v1/audit": {"get": audit},
        "/v1/usage": {"get": _op("Your tenant's stored bytes and active jobs against its quotas",
                                 "200", (401,))},
        "/v1/webhook-secret": {
            "get": _op("Your tenant's webhook signing secret", "200", (401,)),
            "post": _op("Rotate the webhook signing secret", "200", (401, 403)),
        },
        "/v1/jobs/{job_id}/deliveries": {
            "parameters": [{"name": "job_id", "in": "path", "required": True,
                            "schema": {"type": "string"}}],
            "get": _op("The delivery attempts of a job's webhook", "200", (401, 404)),
        },
    }
