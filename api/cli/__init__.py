"""Operator and user tools: the ``osler`` command, the embedded stack, the demos.

They talk to the gateway over HTTP (:mod:`osler.api.client`) or start its processes; none of them
is part of the Flask app.
"""

from osler.api.cli.main import main

__all__ = ["main"]
