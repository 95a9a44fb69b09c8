"""A small HTTP client for the gateway, used by the CLI commands and the demo."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import requests

from osler.api.stack_registry import registry_dir, running_stacks
from osler.workers.job_states import FINISHED_STATES, MAX_WAIT_SECONDS
from osler.workers.settings import Settings

REQUEST_TIMEOUT_SECONDS = 60


class ClientError(Exception):
    """A request failed; the message is one line a person can act on."""


def client_config_path(settings: Settings) -> Path:
    return settings.data_dir / "client.json"


def write_client_config(settings: Settings, url: str, token: str) -> Path:
    """Remember the embedded gateway's URL and token for the client commands (mode 600)."""
    path = client_config_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump({"url": url, "token": token}, handle)
    return path


class OslerClient:
    def __init__(self, url: str, token: str) -> None:
        self.url = url.rstrip("/")
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    @classmethod
    def from_environment(cls, settings: Settings) -> OslerClient:
        """``OSLER_URL`` / ``OSLER_TOKEN``, else what ``osler up`` wrote to ``client.json`` in
        ``OSLER_DATA_DIR``; with no ``OSLER_DATA_DIR`` set, the stack running on this machine
        (``~/.osler``'s when several run), else ``~/.osler``. The error says where it looked."""
        path = client_config_path(settings)
        looked = [str(path)]
        if not os.environ.get("OSLER_DATA_DIR"):
            looked.append(f"running stacks in {registry_dir()}")
            stacks = [s.data_dir for s in running_stacks()]
            if settings.data_dir.resolve() not in stacks and len(stacks) > 1:
                raise ClientError("several osler stacks are running (" + ", ".join(
                    str(d) for d in stacks) + "): set OSLER_DATA_DIR to one")
            if settings.data_dir.resolve() not in stacks and stacks:
                path = client_config_path(replace(settings, data_dir=stacks[0]))
        saved: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
        url = os.environ.get("OSLER_URL") or saved.get("url")
        token = os.environ.get("OSLER_TOKEN") or saved.get("token")
        if not url or not token:
            raise ClientError(
                f"no gateway configured (looked at OSLER_URL/OSLER_TOKEN, {', '.join(looked)}): "
                "run 'osler up' first, or set OSLER_URL and OSLER_TOKEN"
            )
        return cls(url, token)

    def _request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        try:
            response = self.session.request(
                method, self.url + path, timeout=REQUEST_TIMEOUT_SECONDS, **kwargs
            )
        except requests.ConnectionError:
            raise ClientError(f"cannot reach the osler gateway at {self.url}") from None
        if response.status_code >= 400:
            try:
                problem = response.json()
                detail = problem.get("detail") or problem.get("title")
            except ValueError:
                detail = response.text[:200]
            raise ClientError(f"{response.status_code}: {detail}")
        return response

    def get(self, path: str, **query: Any) -> dict[str, Any]:
        """A JSON answer of a GET route (``/v1/kinds``, ``/v1/models/<id>``, ...)."""
        return self._request("GET", path, params=query or None).json()

    def validate(self, kind: str, params: dict[str, Any], pending: list[str]) -> dict[str, Any]:
        """Check a job request without queueing it; ``pending`` dataset params come later."""
        return self._request("POST", "/v1/jobs/validate",
                             json={"kind": kind, "params": params, "pending": pending}).json()

    def upload(self, path: Path) -> dict[str, Any]:
        if not path.is_file():
            raise ClientError(f"no such file: {path}")
        with path.open("rb") as handle:
            return self._request("POST", "/v1/datasets", files={"file": (path.name, handle)}).json()

    def submit(self, kind: str, params: dict[str, Any], idempotency_key: str | None = None) -> dict:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return self._request(
            "POST", "/v1/jobs", json={"kind": kind, "params": params}, headers=headers
        ).json()

    def job(self, job_id: str, wait: float = 0.0) -> dict[str, Any]:
        """The job; with ``wait`` the server answers as soon as it finishes (at most that long)."""
        params = {"wait": f"{wait:.3f}"} if wait > 0 else None
        return self._request("GET", f"/v1/jobs/{job_id}", params=params).json()

    def jobs(self, **query: Any) -> dict[str, Any]:
        return self._request("GET", "/v1/jobs", params=query).json()

    def cancel(self, job_id: str) -> dict[str, Any]:
        return self._request("POST", f"/v1/jobs/{job_id}/cancel").json()

    def logs(self, job_id: str) -> list[dict[str, Any]]:
        """The job's event log, oldest first."""
        return self._request("GET", f"/v1/jobs/{job_id}/logs").json()["events"]

    def delete_job(self, job_id: str) -> None:
        self._request("DELETE", f"/v1/jobs/{job_id}")

    def rerun(self, job_id: str) -> dict[str, Any]:
        return self._request("POST", f"/v1/jobs/{job_id}/rerun").json()

    def infer(self, model_id: str, operation: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Synchronous inference: ``predict``, ``similar`` or ``vectors``."""
        return self._request("POST", f"/v1/models/{model_id}/{operation}", json=payload).json()

    def download(self, job_id: str, name: str, target: Path) -> Path:
        response = self._request("GET", f"/v1/jobs/{job_id}/artifacts/{name}", stream=True)
        with target.open("wb") as handle:
            for chunk in response.iter_content(1 << 20):
                handle.write(chunk)
        return target

    def wait(
        self,
        job_id: str,
        on_progress: Callable[[dict[str, Any]], None] | None = None,
        poll_seconds: float = 0.5,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Until the job finishes, by long polls that the server answers when it does.

        With ``on_progress`` each poll lasts at most ``poll_seconds`` and the callback sees
        every state read (a progress bar); without it each poll lasts up to the server's 30 s.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            hold = MAX_WAIT_SECONDS if on_progress is None else poll_seconds
            if deadline is not None:
                hold = max(0.0, min(hold, deadline - time.monotonic()))
            asked = time.monotonic()
            job = self.job(job_id, wait=hold)
            if on_progress is not None:
                on_progress(job)
            if job["state"] in FINISHED_STATES:
                return job
            if deadline is not None and time.monotonic() >= deadline:
                raise ClientError(f"job {job_id} did not finish within {timeout} s")
            if time.monotonic() - asked < min(hold, poll_seconds) / 2:
                time.sleep(poll_seconds)  # a busy gateway answered at once: poll gently
