"""A gateway worker process's start: what its first requests would otherwise pay for.

A gunicorn worker imported the modules of a dataset inspection (the genome and molecule readers),
fsspec and Celery's Redis transport, and built Celery's result backend (a scan of every installed
package's entry points) and task sender, on its first job submission: 0.05 s of the first POST
after start-up, against 0.007 s for the next (``bench/README.md``). :func:`warm_gateway` does all
that when the worker starts, then sets the start-up objects aside from the garbage collector
(:mod:`osler.kernels.startup_objects`).
"""

from __future__ import annotations

import importlib
import logging

from flask import Flask

from osler.kernels.startup_objects import freeze_startup_objects

log = logging.getLogger(__name__)

FIRST_REQUEST_IMPORTS = (
    "fsspec",  # osler.kernels.locations.filesystem: uploads and stored files
    "osler.kernels.genome.genotypes",  # genome-distance's submit-time inspection
    "osler.kernels.molecules.readers",  # drug-similarity's submit-time record count
    "celery.backends.redis",  # the first job's enqueue
    "kombu.transport.redis",
)
"""Modules a gateway worker imports lazily while serving its first requests."""


def warm_gateway(app: Flask) -> None:
    """Import :data:`FIRST_REQUEST_IMPORTS`, build the Celery app's result backend and task
    sender (no connection is made), then freeze the start-up objects. A failure only means a
    slower first request: it is logged, and the gateway starts."""
    try:
        for name in FIRST_REQUEST_IMPORTS:
            importlib.import_module(name)
        celery = app.extensions["osler"].celery
        _ = celery.backend, celery.amqp.send_task_message
    except Exception:  # noqa: BLE001 - the first request does this work itself, or reports why
        log.exception("warming the gateway failed")
    freeze_startup_objects()
