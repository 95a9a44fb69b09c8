"""Query-string checks every list route shares: no unknown parameters, a bounded ``limit``."""

from __future__ import annotations

from flask import request

from osler.workers.errors import BadRequest


def refuse_unknown_args(allowed: set[str]) -> None:
    """400 naming any query parameter the route does not take."""
    unknown = sorted(set(request.args) - allowed)
    if unknown:
        raise BadRequest(f"unknown query parameter(s): {', '.join(unknown)}")


def limit_arg(default: int, maximum: int) -> int:
    """``?limit=``: an integer from 1 to ``maximum`` (400 otherwise), ``default`` when absent."""
    try:
        limit = int(request.args.get("limit", default))
    except ValueError:
        raise BadRequest("limit must be an integer") from None
    if not 1 <= limit <= maximum:
        raise BadRequest(f"limit must be between 1 and {maximum}")
    return limit
