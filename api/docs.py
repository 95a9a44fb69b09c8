"""``/openapi.json`` and ``/docs``: the API described, for machines and for people. No token.

``/docs`` is Swagger UI, served from the ``swagger-ui-py`` package's files (the service runs
offline: no CDN), reading ``/openapi.json``.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, send_from_directory

from osler.api.openapi import build_openapi
from osler.workers.errors import NotFound

bp = Blueprint("docs", __name__)

ASSETS = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png")
"""The only files of the package the page needs (and the only ones served)."""

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>osler API reference</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="/docs/assets/favicon-32x32.png">
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
<style>body{margin:0}.swagger-ui .info{margin:24px 0}</style></head>
<body><div id="ui"></div>
<noscript>The reference needs JavaScript; the document itself is at
<a href="/openapi.json">/openapi.json</a>.</noscript>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script>
window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#ui", deepLinking: true,
  docExpansion: "list", defaultModelsExpandDepth: 0, tryItOutEnabled: false,
  persistAuthorization: true});
</script></body></html>
"""


def _assets_dir() -> Path:
    import swagger_ui

    return Path(swagger_ui.__file__).parent / "static"


@bp.get("/openapi.json")
def openapi_json() -> dict:
    return build_openapi()


@bp.get("/docs")
def docs_page() -> Response:
    """Swagger UI over ``/openapi.json``: every route, schema and example, browsable."""
    return Response(PAGE, mimetype="text/html")


@bp.get("/docs/assets/<name>")
def docs_asset(name: str) -> Response:
    if name not in ASSETS:
        raise NotFound(f"no documentation asset {name!r}")
    return send_from_directory(_assets_dir(), name, max_age=3600)
