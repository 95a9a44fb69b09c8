"""The gateway's connections and stores, made once per app and reached through ``services()``."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app

from workers.celery_app import make_celery
from workers.datasets import DatasetStore
from workers.idempotency import IdempotencyStore
from workers.jobs import JobStore
from workers.layout import DataLayout
from workers.models import ModelStore
from workers.redis_connection import connect
from workers.settings import Settings
from workers.tenants import TenantStore


@dataclass
class Services:
    settings: Settings

    def __post_init__(self) -> None:
        self.redis = connect(self.settings)
        self.layout = DataLayout(self.settings.data_dir)
        self.jobs = JobStore(self.redis, self.settings.ttl_seconds)
        self.datasets = DatasetStore(self.redis, self.layout)
        self.models = ModelStore(self.redis, self.layout)
        self.tenants = TenantStore(self.redis)
        self.idempotency = IdempotencyStore(self.redis, self.settings.ttl_seconds)
        self.celery = make_celery(self.settings)

    def init_app(self, app: Flask) -> None:
        app.extensions["osler"] = self


def services() -> Services:
    return current_app.extensions["osler"]
