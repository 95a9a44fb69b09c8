"""``/openapi.json`` and ``/docs``: the API described, for machines and for people. No token."""

from __future__ import annotations

import json
from html import escape

from flask import Blueprint

from osler.api.openapi import build_openapi

bp = Blueprint("docs", __name__)


@bp.get("/openapi.json")
def openapi_json() -> dict:
    return build_openapi()


@bp.get("/docs")
def docs_page() -> str:
    """A self-contained page (no CDN: the service runs offline) listing routes and job kinds."""
    spec = build_openapi()
    rows = "".join(
        f"<tr><td><code>{escape(method.upper())}</code></td><td><code>{escape(path)}</code></td>"
        f"<td>{escape(op['summary'])}</td></tr>"
        for path, ops in spec["paths"].items()
        for method, op in ops.items()
        if method != "parameters"
    )
    kinds = "".join(
        f"<h3><code>{escape(name)}</code> <small>(queue: {escape(info['queue'])})</small></h3>"
        f"<p>{escape(info['summary'])}</p>"
        f"<pre>{escape(json.dumps(spec['components']['schemas'][f'params-{name}'], indent=1))}"
        "</pre>"
        for name, info in sorted(spec["x-job-kinds"].items())
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>osler API</title>"
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}"
        "td{padding:2px 8px}pre{background:#f4f4f4;padding:8px}</style></head><body>"
        "<h1>osler API</h1><p>Send <code>Authorization: Bearer &lt;token&gt;</code> on /v1 routes. "
        "Errors are <code>application/problem+json</code>. Machine-readable: "
        "<a href='/openapi.json'>/openapi.json</a>.</p>"
        f"<h2>Routes</h2><table>{rows}</table><h2>Job kinds</h2>{kinds}</body></html>"
    )
