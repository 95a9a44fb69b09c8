"""Celery tasks, one module per job family. Importing this package registers them all."""

from . import (
    genome,  # noqa: F401
    imaging,  # noqa: F401
    inference,  # noqa: F401
    molecules,  # noqa: F401
    text,  # noqa: F401
)
