"""Reading a JSON request body: its media type, size and nesting depth, and only finite numbers.

Flask's ``get_json`` accepts ``NaN`` and ``Infinity`` (which jsonschema's bounds let through,
and which make every later JSON answer invalid), lets a deeply nested body end in a
``RecursionError``, and reads a body of any size the upload limit allows. Every JSON route reads
its body here instead.
"""

from __future__ import annotations

import json
import math
from typing import Any

from flask import request

from osler.workers.errors import BadRequest, InvalidParams, PayloadTooLarge, UnsupportedMediaType

MAX_JSON_BODY_BYTES = 1024**2
"""Largest JSON body of a job submission (params are small; datasets are uploaded)."""

MAX_JSON_DEPTH = 32
"""Deepest nesting of arrays and objects a JSON body may have."""


class _NotFinite(Exception):
    """A JSON number Python would read as NaN or an infinity."""


def _refuse_constant(name: str) -> float:
    raise _NotFinite(name)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 parses as inf
        raise _NotFinite(text[:20])
    return value


def _deeper_than(value: Any, limit: int) -> bool:
    """True when ``value`` nests arrays/objects more than ``limit`` deep (no recursion)."""
    pending = [(value, 1)] if isinstance(value, (dict, list)) else []
    while pending:
        item, depth = pending.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        pending.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
    return False


def json_body(max_bytes: int = MAX_JSON_BODY_BYTES) -> Any:
    """The request's JSON body, or the problem with it.

    Raises
    ------
    UnsupportedMediaType
        415 when the ``Content-Type`` header is not ``application/json``.
    PayloadTooLarge
        413 for a body over ``max_bytes``.
    BadRequest
        400 for bytes that are not JSON, or nesting deeper than :data:`MAX_JSON_DEPTH`.
    InvalidParams
        422 for ``NaN``, ``Infinity`` or a number beyond the float range.
    """
    if not request.is_json:
        raise UnsupportedMediaType(
            "send the body as JSON with the header Content-Type: application/json"
        )
    if (request.content_length or 0) > max_bytes:
        raise PayloadTooLarge(f"a JSON body is limited to {max_bytes} bytes")
    raw = request.stream.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise PayloadTooLarge(f"a JSON body is limited to {max_bytes} bytes")
    too_deep = BadRequest(f"the JSON body nests arrays or objects more than {MAX_JSON_DEPTH} deep")
    try:
        value = json.loads(raw, parse_constant=_refuse_constant, parse_float=_finite_float)
    except _NotFinite:
        raise InvalidParams("JSON numbers must be finite: NaN, Infinity and numbers beyond "
                            "the float range are refused") from None
    except RecursionError:
        raise too_deep from None
    except json.JSONDecodeError as exc:  # its position only: never the body's text
        raise BadRequest(f"the request body is not valid JSON ({exc.msg} at line {exc.lineno}, "
                         f"column {exc.colno})") from None
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("the request body is not valid JSON (UTF-8 text)") from None
    if _deeper_than(value, MAX_JSON_DEPTH):
        raise too_deep
    return value
