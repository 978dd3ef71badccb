"""Errors the SDK adds to those of the runtime (which both backends raise unchanged)."""

from __future__ import annotations

from anon_ops.errors import AnonOpsError
from anon_ops.jobs.errors import JobStateError


class AuthenticationError(AnonOpsError):
    """The service refused the token (401/403): retrying cannot help, the credentials must change."""


class ServiceError(AnonOpsError):
    """The service could not be reached, or kept failing (5xx) after the retries."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class JobFailedError(JobStateError):
    """A job ended failed or aborted, so it has no result or statistics; ``reason`` says why."""

    def __init__(self, job_id: str, state: str, reason: str | None) -> None:
        super().__init__(f"job {job_id} {state}: {reason or 'no reason recorded'}")
        self.job_id, self.state, self.reason = job_id, state, reason
