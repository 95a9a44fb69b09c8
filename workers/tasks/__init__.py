"""Celery tasks, one module per family, named like ``workers/kinds``. Importing this package
registers them all."""

from osler.workers.tasks import (
    genome,  # noqa: F401
    imaging,  # noqa: F401
    models,  # noqa: F401
    molecules,  # noqa: F401
    text,  # noqa: F401
)
