"""The gateway's connections and stores, made once per app and reached through ``services()``."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app

from osler.workers.audit import AuditStore
from osler.workers.celery_app import make_celery
from osler.workers.datasets import DatasetStore
from osler.workers.idempotency import IdempotencyStore
from osler.workers.jobs import JobStore
from osler.workers.models import ModelStore
from osler.workers.quotas import QuotaStore
from osler.workers.redis_connection import connect
from osler.workers.settings import Settings
from osler.workers.storage import open_store
from osler.workers.tenants import TenantStore
from osler.workers.webhooks import WebhookStore


@dataclass
class Services:
    settings: Settings

    def __post_init__(self) -> None:
        self.redis = connect(self.settings)
        self.objects = open_store(self.settings)
        self.jobs = JobStore(self.redis, self.settings.ttl_seconds)
        self.datasets = DatasetStore(self.redis, self.objects)
        self.models = ModelStore(self.redis, self.objects)
        self.tenants = TenantStore(self.redis)
        self.audit = AuditStore(self.redis, self.settings.audit_retention_days)
        self.webhooks = WebhookStore(self.redis, self.settings.ttl_seconds)
        self.quotas = QuotaStore(self.redis, self.settings)
        self.idempotency = IdempotencyStore(self.redis, self.settings.ttl_seconds)
        self.celery = make_celery(self.settings)

    def init_app(self, app: Flask) -> None:
        app.extensions["osler"] = self


def services() -> Services:
    return current_app.extensions["osler"]
