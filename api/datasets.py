"""``/v1/datasets``: upload (streamed into the store, hashed while streaming), list, read,
delete."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, request

from osler.api.auth import current_tenant, require_tenant
from osler.api.deidentify import deidentify_requested
from osler.api.query_args import refuse_unknown_args
from osler.api.services import services
from osler.api.uploads import StoreUpload
from osler.workers.errors import BadRequest

bp = Blueprint("datasets", __name__, url_prefix="/v1/datasets")
bp.before_request(require_tenant)

SHA256 = re.compile("[0-9a-fA-F]{64}")


@bp.post("")
def upload_dataset() -> tuple[dict[str, Any], int]:
    """Store the multipart part named ``file``; its file name becomes the dataset's name."""
    if not (request.mimetype or "").startswith("multipart/form-data"):
        raise BadRequest("upload a dataset as multipart/form-data with one part named 'file'")
    parts = request.files
    streams = [part.stream for name in parts for part in parts.getlist(name)]
    stored: list[StoreUpload] = []
    try:
        names = list(parts.keys())
        if names != ["file"] or len(parts.getlist("file")) != 1:
            raise BadRequest(
                f"expected exactly one part named 'file', got {names or 'none'}"
            )
        upload = parts["file"]
        staged = upload.stream
        if not isinstance(staged, StoreUpload):
            raise BadRequest("the 'file' part must be a file upload")
        if staged.size == 0:
            raise BadRequest("the uploaded file is empty")
        staged.finish()
        svc = services()
        dataset = svc.datasets.add(
            current_tenant(), staged.dataset_id, upload.filename or "", staged.key, staged.size,
            staged.sha256, deidentify=deidentify_requested(), tmp_dir=svc.settings.data_dir,
        )
        stored.append(staged)
        return dataset.public(), 201
    finally:
        for stream in streams:
            if isinstance(stream, StoreUpload) and stream not in stored:
                stream.discard()


@bp.get("")
def list_datasets() -> dict[str, Any]:
    """Newest first; ``?sha256=`` keeps those with that content (a client skips re-uploads)."""
    refuse_unknown_args({"sha256"})
    datasets = services().datasets.list(current_tenant())
    sha256 = request.args.get("sha256")
    if sha256 is not None:
        if not SHA256.fullmatch(sha256):
            raise BadRequest("sha256 must be 64 hexadecimal digits")
        datasets = [d for d in datasets if d.sha256 == sha256.lower()]
    return {"datasets": [d.public() for d in datasets]}


@bp.get("/<dataset_id>")
def get_dataset(dataset_id: str) -> dict[str, Any]:
    return services().datasets.get(dataset_id, current_tenant()).public()


@bp.delete("/<dataset_id>")
def delete_dataset(dataset_id: str) -> tuple[str, int]:
    """Delete a dataset; 409 while a queued or running job uses it."""
    svc = services()
    tenant = current_tenant()
    svc.datasets.get(dataset_id, tenant)
    in_use = [
        job.id
        for job in svc.jobs.active_jobs(tenant)
        if dataset_id in {str(v) for v in job.params.values()}
    ]
    svc.datasets.delete(dataset_id, tenant, in_use)
    return "", 204
