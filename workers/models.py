"""The model registry: every successful training job registers a model version with its lineage.

A model's files are copied out of the training job's published attempt into the tenant's
``models`` folder in the store, so a model outlives its job's TTL. Models are only ever files
osler wrote itself; there is no route to upload one.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import redis

from osler.workers.clock import utc_now
from osler.workers.errors import InvalidParams, NotFound
from osler.workers.ids import is_uuid4, new_id
from osler.workers.layout import LAYOUT
from osler.workers.storage import ObjectStore

INFERENCE_TASK = "osler.model_inference"
"""The task name the gateway sends synchronous inference requests to (queue ``predict``)."""


def _model_key(model_id: str) -> str:
    return f"osler:model:{model_id}"


def _tenant_models_key(owner: str) -> str:
    return f"osler:models:{owner}"


@dataclass
class Model:
    id: str
    kind: str
    """What the model does: ``image-classifier``, ``word2vec``, ``sequence-classifier``, ..."""
    version: int
    framework: str
    file: str
    input_shape: list[int] | None
    class_names: list[str] | None
    params: dict[str, Any]
    training_job_id: str
    dataset_sha256: str | None
    metrics: dict[str, Any]
    created_at: str
    owner: str
    details: dict[str, Any] = field(default_factory=dict)

    def public(self) -> dict[str, Any]:
        data = asdict(self)
        del data["owner"]
        return data


class ModelStore:
    def __init__(self, client: redis.Redis, objects: ObjectStore) -> None:
        self.redis = client
        self.objects = objects

    def register(
        self,
        owner: str,
        kind: str,
        description: dict[str, Any],
        source_key: str,
        *,
        training_job_id: str,
        params: dict[str, Any],
        dataset_sha256: str | None,
    ) -> Model:
        """Copy a training job's outputs (at ``source_key`` in the store) into the registry and
        record a new version."""
        model_id = new_id()
        self.objects.copy_tree(source_key, LAYOUT.model(owner, model_id))
        version = int(self.redis.hincrby(f"osler:model-versions:{owner}", kind, 1))
        known = {"framework", "file", "input_shape", "class_names", "metrics"}
        model = Model(
            id=model_id,
            kind=kind,
            version=version,
            framework=str(description.get("framework", "")),
            file=str(description.get("file", "")),
            input_shape=description.get("input_shape"),
            class_names=description.get("class_names"),
            params=params,
            training_job_id=training_job_id,
            dataset_sha256=dataset_sha256,
            metrics=description.get("metrics") or {},
            created_at=utc_now(),
            owner=owner,
            details={k: v for k, v in description.items() if k not in known},
        )
        pipe = self.redis.pipeline(transaction=True)
        pipe.set(_model_key(model_id), json.dumps(asdict(model)))
        pipe.zadd(_tenant_models_key(owner), {model_id: time.time()})
        pipe.execute()
        return model

    def get(self, model_id: str, owner: str) -> Model:
        """The caller's model; another tenant's model is as unknown as a missing one."""
        raw = self.redis.get(_model_key(model_id)) if is_uuid4(model_id) else None
        model = Model(**json.loads(raw)) if raw else None
        if model is None or model.owner != owner:
            raise NotFound(f"no model with id {model_id!r}")
        return model

    def resolve(self, param: str, model_id: Any, owner: str, kinds: tuple[str, ...]) -> Model:
        """A model named in job params: 422 when it is not the caller's or not of ``kinds``."""
        try:
            model = self.get(str(model_id), owner)
        except NotFound:
            raise InvalidParams(f"params.{param}: no model with id {model_id!r}") from None
        if model.kind not in kinds:
            raise InvalidParams(
                f"params.{param}: model {model_id} is a {model.kind}; "
                f"this job needs one of {', '.join(kinds)}"
            )
        return model

    def list(self, owner: str) -> list[Model]:
        ids = self.redis.zrevrange(_tenant_models_key(owner), 0, -1)
        return [self.get(model_id, owner) for model_id in ids]

    def delete(self, model_id: str, owner: str) -> None:
        self.get(model_id, owner)
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(_model_key(model_id))
        pipe.zrem(_tenant_models_key(owner), model_id)
        pipe.execute()
        self.objects.delete(LAYOUT.model(owner, model_id))

    def path(self, model: Model) -> Path:
        """A local folder holding the model's files (its main file is ``model.file`` inside
        it): the store's own folder, or this host's cached copy of a bucket's."""
        return self.objects.local_tree(LAYOUT.model(model.owner, model.id),
                                       content_key=f"model:{model.id}")
