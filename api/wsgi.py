"""WSGI entry point for gunicorn: ``gunicorn osler.api.wsgi:app``."""

from osler.api import create_app
from osler.api.warm_up import warm_gateway

app = create_app()
warm_gateway(app)
