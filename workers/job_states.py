"""A job's states and the API's paging and long-poll bounds: plain constants, so the HTTP client
and the gateway's documents use them without importing Redis."""

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = (
    "queued",
    "running",
    "succeeded",
    "failed",
    "cancelled",
)
STATES = (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED)
"""``queued -> running -> succeeded | failed | cancelled``."""

FINISHED_STATES = frozenset({SUCCEEDED, FAILED, CANCELLED})

MAX_PAGE_SIZE = 100
"""Most jobs returned by one list call."""

MAX_WAIT_SECONDS = 30.0
"""Longest hold of a long poll (``GET /v1/jobs/<id>?wait=``); each holds one gateway thread."""
