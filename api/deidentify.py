"""The ``deidentify`` switch of a dataset upload (a form field or a query parameter)."""

from __future__ import annotations

from flask import request

from osler.workers.errors import BadRequest

TRUE, FALSE = ("true", "1", "yes"), ("false", "0", "no", "")


def deidentify_requested() -> bool:
    """True when the upload asks for DICOM de-identification (400 for another value)."""
    raw = request.form.get("deidentify", request.args.get("deidentify", ""))
    value = raw.strip().lower()
    if value not in TRUE + FALSE:
        raise BadRequest("deidentify must be true or false")
    return value in TRUE
