"""Errors of the job runtime; the service maps each to an HTTP status."""

from __future__ import annotations

from anon_ops.errors import AnonOpsError


class JobNotFoundError(AnonOpsError, KeyError):
    """No job with this id (→ 404)."""

    def __str__(self) -> str:
        return f"job {self.args[0]!r} not found"


class JobStateError(AnonOpsError):
    """The job is not in a state that allows this (e.g. result of a running job → 409)."""


class QueueFullError(AnonOpsError):
    """The queue holds its maximum number of jobs (→ 503)."""


class RateLimitedError(AnonOpsError):
    """Too many submissions in the last minute (→ 429 with Retry-After)."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class IdempotencyConflictError(AnonOpsError):
    """The Idempotency-Key was used before with a different request (→ 422)."""
