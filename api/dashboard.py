"""``/dashboard``: pages for people, served by the gateway itself (same origin as the API).

The pages are server-rendered shells; a little JavaScript (``api/static/dashboard``, no build
step) fills them by calling the ``/v1`` API with the token in an ``Authorization`` header. The
token lives in the browser's ``sessionStorage`` only, so the server never sees it outside that
header, and no cookie exists that a cross-site request could ride on (CSRF has nothing to use).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, redirect, render_template, url_for

from osler.workers.job_states import STATES
from osler.workers.kinds import all_kinds

bp = Blueprint(
    "dashboard",
    __name__,
    template_folder="templates",
    static_folder="static/dashboard",
    static_url_path="/dashboard/static",
)

CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' blob: data:",
    "connect-src 'self'",
    "form-action 'self'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
))
"""Only the dashboard's own files run or style a page: no inline script or style, no CDN.
Images come from the page itself, from blob: URLs of downloaded artifacts, or data: URLs of
Grad-CAM overlays the API returns base64-encoded."""


@bp.after_request
def _security_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"
    return response


def _page(name: str, title: str, **data: str) -> str:
    return render_template(f"dashboard/{name}.html", page=name, title=title, data=data)


@bp.get("/")
def root() -> Response:
    return redirect(url_for("dashboard.jobs"))


@bp.get("/dashboard/")
def jobs() -> str:
    return _page("jobs", "Jobs", states=",".join(STATES))


@bp.get("/dashboard/sign-in")
def sign_in() -> str:
    return _page("sign-in", "Sign in")


@bp.get("/dashboard/jobs/<job_id>")
def job(job_id: str) -> str:
    return _page("job", "Job", job_id=job_id)


@bp.get("/dashboard/submit")
def submit() -> str:
    return _page("submit", "Submit a job")


@bp.get("/dashboard/datasets")
def datasets() -> str:
    return _page("datasets", "Datasets")


@bp.get("/dashboard/models")
def models() -> str:
    return _page("models", "Models")


@bp.get("/dashboard/models/<model_id>")
def model(model_id: str) -> str:
    return _page("model", "Model", model_id=model_id)


@bp.get("/dashboard/kinds.json")
def kinds() -> dict[str, Any]:
    """What the submit form is generated from: each kind's params schema, and which params
    name a dataset or a model (the schemas alone say only "a string")."""
    return {
        "kinds": [
            {
                "name": kind.name,
                "summary": kind.summary,
                "queue": kind.queue,
                "params_schema": kind.params_schema,
                "dataset_params": list(kind.dataset_params),
                "model_params": {name: list(accepted)
                                 for name, accepted in kind.model_params.items()},
            }
            for kind in sorted(all_kinds().values(), key=lambda k: k.name)
        ]
    }
