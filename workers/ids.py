"""Ids of jobs, datasets and models: random UUID4s, which cannot be guessed."""

from __future__ import annotations

import uuid


def new_id() -> str:
    return str(uuid.uuid4())


def is_uuid4(value: object) -> bool:
    """True for a canonical UUID4 string (anything else cannot name a stored object)."""
    try:
        return str(uuid.UUID(str(value), version=4)) == value
    except (ValueError, AttributeError, TypeError):
        return False
