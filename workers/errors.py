"""The service's error tree. Every error knows its HTTP status and problem title.

::

    OslerError (500)
    ├── BadRequest (400)
    ├── Unauthorized (401)
    ├── Forbidden (403)
    ├── NotFound (404)
    │   └── UnknownWord (404)
    ├── Conflict (409)
    ├── PayloadTooLarge (413)
    ├── UnsupportedMediaType (415)
    ├── InvalidParams (422)
    ├── TooManyRequests (429)
    ├── QuotaExceeded (429)
    │   └── StorageQuotaExceeded (413)
    ├── ServiceUnavailable (503)
    └── JobError (job failures; never an HTTP response)
        ├── JobFailed (the task's end when its job failed: the record's error type and message)
        ├── JobCancelled
        ├── LeaseLost
        ├── ComputeClusterLost
        └── TooManyAttempts
"""

from __future__ import annotations


class OslerError(Exception):
    """Root of every error osler raises on purpose."""

    status = 500
    title = "Internal error"

    def __init__(self, detail: str, **extra: object) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra

    def to_problem(self) -> dict[str, object]:
        """The RFC 9457 problem document for this error."""
        slug = self.title.lower().replace(" ", "-")
        return {
            "type": f"https://osler.dev/problems/{slug}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            **self.extra,
        }


class BadRequest(OslerError):
    status = 400
    title = "Bad request"


class Unauthorized(OslerError):
    status = 401
    title = "Unauthorized"


class Forbidden(OslerError):
    status = 403
    title = "Forbidden"


class NotFound(OslerError):
    status = 404
    title = "Not found"


class UnknownWord(NotFound):
    title = "Unknown word"


class Conflict(OslerError):
    status = 409
    title = "Conflict"


class PayloadTooLarge(OslerError):
    status = 413
    title = "Payload too large"


class UnsupportedMediaType(OslerError):
    status = 415
    title = "Unsupported media type"


class InvalidParams(OslerError):
    status = 422
    title = "Invalid parameters"


class TooManyRequests(OslerError):
    status = 429
    title = "Too many requests"


class QuotaExceeded(OslerError):
    """A tenant's quota would be passed; ``quota`` names which one."""

    status = 429
    title = "Quota exceeded"


class StorageQuotaExceeded(QuotaExceeded):
    status = 413


class ServiceUnavailable(OslerError):
    status = 503
    title = "Service unavailable"


class JobError(OslerError):
    """A job could not finish; recorded in the job's ``error``, never sent as a response."""


class JobFailed(JobError):
    title = "Job failed"


class JobCancelled(JobError):
    title = "Job cancelled"


class LeaseLost(JobError):
    """This attempt's lease lapsed and another attempt took the job over: stop, publish nothing."""

    title = "Lease lost"


class ComputeClusterLost(JobError):
    """The Dask scheduler was lost during the job, on its last allowed attempt."""

    title = "Compute cluster lost"


class TooManyAttempts(JobError):
    title = "Too many attempts"


def error_class(name: str) -> type[OslerError]:
    """The class of the error tree called ``name`` (the root for a name it does not hold).

    Errors cross the Redis boundary between the predict worker and the gateway by name, so a
    worker's ``UnknownWord`` is the gateway's ``UnknownWord``.
    """
    pending: list[type[OslerError]] = [OslerError]
    while pending:
        cls = pending.pop()
        if cls.__name__ == name:
            return cls
        pending.extend(cls.__subclasses__())
    return OslerError
