"""WSGI entry point for gunicorn: ``gunicorn osler.api.wsgi:app``."""

from osler.api import create_app

app = create_app()
