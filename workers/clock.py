"""Timestamps in the one format the service uses: ISO 8601, UTC, with a Z."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> str:
    """The current time as ``2026-11-28T21:30:00.123456Z``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_utc(stamp: str) -> datetime:
    """Read a timestamp written by :func:`utc_now`."""
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
