"""One error handler: the error tree (and Werkzeug's HTTP errors) as RFC 9457 problem+json."""

from __future__ import annotations

import logging

from flask import Flask, Response, json, request
from kombu.exceptions import OperationalError
from werkzeug.exceptions import HTTPException

from osler.kernels.errors import InputError
from osler.workers.errors import InvalidParams, OslerError
from osler.workers.redis_connection import REDIS_DOWN_ERRORS, unavailable

log = logging.getLogger("osler.api")

PROBLEM_JSON = "application/problem+json"


def problem_response(error: OslerError) -> Response:
    return Response(
        json.dumps(error.to_problem()), status=error.status, mimetype=PROBLEM_JSON
    )


def _http_problem(exc: HTTPException) -> Response:
    body = {
        "type": "about:blank",
        "title": exc.name,
        "status": exc.code,
        "detail": f"no route {request.method} {request.path}" if exc.code == 404
        else exc.description,
    }
    response = Response(json.dumps(body), status=exc.code, mimetype=PROBLEM_JSON)
    if exc.code == 405 and exc.valid_methods:
        response.headers["Allow"] = ", ".join(exc.valid_methods)
    return response


def init_app(app: Flask) -> None:
    app.register_error_handler(OslerError, problem_response)
    app.register_error_handler(InputError, lambda exc: problem_response(InvalidParams(str(exc))))
    app.register_error_handler(HTTPException, _http_problem)

    def redis_down(exc: Exception) -> Response:
        return problem_response(unavailable(exc))

    for error_type in (*REDIS_DOWN_ERRORS, OperationalError):
        app.register_error_handler(error_type, redis_down)

    def internal(exc: Exception) -> Response:
        log.exception("unhandled error")
        return problem_response(OslerError("internal error; the gateway log has details"))

    app.register_error_handler(Exception, internal)
