"""The audit trail: one append-only record per request that touches a tenant's data.

Records live in one Redis stream per tenant (``osler:audit:<tenant>``; requests whose token
named no tenant go to ``osler:audit:-``). A stream entry is never changed or deleted by any route:
the only removal is trimming entries older than the retention when a new one is added. Redis runs
with AOF, so the trail survives a restart; :class:`AuditExporter` also writes each finished day
to ``<data_dir>/audit/<tenant>/<YYYY-MM-DD>.jsonl``.

A record holds the time, tenant, token id (never the token), action, resource id (an osler id,
never a value from a file), HTTP status and client address, and nothing else.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import redis

from osler.workers.errors import BadRequest
from osler.workers.settings import Settings

log = logging.getLogger("osler.audit")

ACTIONS = (
    "dataset.upload", "dataset.read", "dataset.delete",
    "job.submit", "job.read", "job.cancel", "job.delete",
    "artifact.download",
    "model.predict", "model.read", "model.delete",
    "token.create", "token.revoke",
    "auth.failed",
)

NO_TENANT = "-"
"""Where failed authentications that named no tenant are kept (no tenant name starts with -)."""

FIELDS = ("time", "tenant", "token_id", "action", "resource", "status", "client")

MAX_PAGE = 1000


def _stream_key(tenant: str) -> str:
    return f"osler:audit:{tenant}"


def _stream_id_ms(moment: str, name: str) -> int:
    """Milliseconds since the epoch of an ISO 8601 time (``2026-12-01`` or with a time)."""
    try:
        parsed = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"{name} must be an ISO 8601 time such as 2026-12-01T10:00:00Z") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    # Records start in 1970 (stream ids are unsigned milliseconds): earlier means "from the start".
    return max(0, int(parsed.timestamp() * 1000))


def _after(stream_id: str) -> str:
    """The smallest stream id greater than ``stream_id``."""
    ms, _, seq = stream_id.partition("-")
    return f"{ms}-{int(seq or 0) + 1}"


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class AuditStore:
    """Appends audit records and reads them back, a tenant at a time."""

    def __init__(self, client: redis.Redis, retention_days: int) -> None:
        self.redis = client
        self.retention_ms = retention_days * 86400 * 1000

    def append(
        self,
        *,
        tenant: str | None,
        token_id: str | None,
        action: str,
        resource: str | None,
        status: int,
        client: str | None,
    ) -> str:
        """Add one record; returns its id (which orders the records)."""
        if action not in ACTIONS:
            raise ValueError(f"unknown audit action {action!r}")
        oldest = int(time.time() * 1000) - self.retention_ms
        fields = {
            "tenant": tenant or NO_TENANT,
            "token_id": token_id or "",
            "action": action,
            "resource": resource or "",
            "status": str(status),
            "client": client or "",
        }
        return self.redis.xadd(
            _stream_key(tenant or NO_TENANT), fields, minid=oldest, approximate=False
        )

    def query(
        self,
        tenant: str,
        *,
        since: str | None = None,
        until: str | None = None,
        action: str | None = None,
        cursor: str | None = None,
        limit: int = 100,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """A page of ``tenant``'s records, oldest first, and the cursor of the next page."""
        if action is not None and action not in ACTIONS:
            raise BadRequest(f"action must be one of {', '.join(ACTIONS)}")
        if not 1 <= limit <= MAX_PAGE:
            raise BadRequest(f"limit must be between 1 and {MAX_PAGE}")
        start = str(_stream_id_ms(since, "since")) if since else "-"
        if cursor:
            if not _is_stream_id(cursor):
                raise BadRequest("cursor is not one this service issued")
            start = _after(cursor)
        end = str(_stream_id_ms(until, "until")) if until else "+"
        page: list[dict[str, Any]] = []
        while len(page) < limit:
            rows = self.redis.xrange(_stream_key(tenant), start, end, count=limit)
            if not rows:
                return page, None
            for stream_id, fields in rows:
                start = _after(stream_id)
                if action is None or fields.get("action") == action:
                    page.append(_record(stream_id, fields))
                    if len(page) == limit:
                        more = self.redis.xrange(_stream_key(tenant), start, end, count=1)
                        return page, (stream_id if more else None)
        return page, None

    def day(self, tenant: str, day: date) -> list[dict[str, Any]]:
        """Every record ``tenant`` has from one UTC day."""
        begin = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)
        rows = self.redis.xrange(_stream_key(tenant), str(begin), str(begin + 86400 * 1000 - 1))
        return [_record(stream_id, fields) for stream_id, fields in rows]

    def tenants(self) -> list[str]:
        """Tenants that have audit records (the no-tenant stream included)."""
        prefix = _stream_key("")
        return sorted(key.removeprefix(prefix) for key in self.redis.scan_iter(prefix + "*"))


def _is_stream_id(value: str) -> bool:
    ms, sep, seq = value.partition("-")
    return bool(sep) and ms.isdigit() and seq.isdigit()


def _record(stream_id: str, fields: dict[str, str]) -> dict[str, Any]:
    record: dict[str, Any] = {"id": stream_id, "time": _iso(int(stream_id.partition("-")[0]))}
    for name in FIELDS[1:]:
        record[name] = fields.get(name) or None
    record["status"] = int(fields["status"])
    return record


class AuditExporter:
    """Writes each finished UTC day of every tenant's trail to JSON lines under the data
    directory (``audit/<tenant>/<day>.jsonl``), once, and removes files past the retention."""

    INTERVAL_SECONDS = 600

    def __init__(self, store: AuditStore, folder: Path, retention_days: int) -> None:
        self.store = store
        self.folder = folder
        self.retention_days = retention_days

    def export_day(self, day: date) -> list[Path]:
        """Write ``day``'s records of every tenant; returns the files written."""
        written = []
        for tenant in self.store.tenants():
            records = self.store.day(tenant, day)
            if not records:
                continue
            path = self.folder / tenant / f"{day.isoformat()}.jsonl"
            path.parent.mkdir(parents=True, exist_ok=True)
            staging = path.with_suffix(".jsonl.tmp")
            lines = (json.dumps(r, separators=(",", ":")) + "\n" for r in records)
            staging.write_text("".join(lines))
            os.replace(staging, path)
            written.append(path)
        return written

    def sweep(self, today: date) -> int:
        """Delete exported days older than the retention; returns how many."""
        cutoff = (today - timedelta(days=self.retention_days)).isoformat()
        removed = 0
        for path in self.folder.glob("*/*.jsonl"):
            if path.stem < cutoff:
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    def run_once(self, today: date | None = None) -> None:
        """Export yesterday unless some process already did (a Redis marker says so)."""
        today = today or datetime.now(UTC).date()
        yesterday = today - timedelta(days=1)
        marker = f"osler:audit-exported:{yesterday.isoformat()}"
        if self.store.redis.set(marker, "1", nx=True, ex=7 * 86400):
            files = self.export_day(yesterday)
            log.info(json.dumps({"event": "audit_export", "day": yesterday.isoformat(),
                                 "files": len(files)}))
        self.sweep(today)

    def run_forever(self, stop_event: threading.Event) -> None:
        while not stop_event.is_set():
            try:
                self.run_once()
            except (redis.RedisError, OSError) as exc:
                log.warning(json.dumps({"event": "audit_export_failed",
                                        "error": type(exc).__name__}))
            stop_event.wait(self.INTERVAL_SECONDS)


def start_exporter(client: redis.Redis, settings: Settings,
                   stop_event: threading.Event) -> threading.Thread:
    """Run an :class:`AuditExporter` for ``settings`` in a daemon thread until ``stop_event``."""
    store = AuditStore(client, settings.audit_retention_days)
    exporter = AuditExporter(store, settings.data_dir / "audit", settings.audit_retention_days)
    thread = threading.Thread(target=exporter.run_forever, args=(stop_event,), daemon=True,
                              name="osler-audit-export")
    thread.start()
    return thread
