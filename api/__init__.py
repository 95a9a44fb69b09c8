"""The osler gateway: a Flask app that validates requests and queues jobs. It never runs them."""

from __future__ import annotations

import logging

from flask import Flask

from osler.workers.settings import Settings


def create_app(settings: Settings | None = None) -> Flask:
    """Build the gateway for ``settings`` (default: read from the environment once)."""
    from osler.api import (
        audit,
        dashboard,
        datasets,
        docs,
        health,
        inference_v2,
        job_lifecycle,
        job_validation,
        jobs,
        kinds,
        metrics,
        models,
        problems,
        tokens,
        usage,
        webhooks,
    )
    from osler.api.services import Services
    from osler.api.uploads import UploadRequest

    settings = settings or Settings.from_env()
    # osler is a namespace package (the design's folders map into it), which Flask cannot
    # search for an instance folder; osler keeps none, so name one under the data directory.
    app = Flask(__name__, instance_path=str(settings.data_dir / "instance"),
                static_folder=None)
    app.request_class = UploadRequest
    app.config["MAX_CONTENT_LENGTH"] = settings.max_upload_bytes
    app.json.sort_keys = False
    Services(settings).init_app(app)
    problems.init_app(app)
    for blueprint in (health.bp, docs.bp, kinds.bp, job_validation.bp, jobs.bp,
                      job_lifecycle.bp, datasets.bp, models.bp, inference_v2.bp, dashboard.bp,
                      tokens.bp, audit.bp, webhooks.bp, usage.bp):
        app.register_blueprint(blueprint)
    metrics.init_app(app, settings)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    return app
