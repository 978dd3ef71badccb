"""Errors the SDK adds to those of the runtime (which both backends raise unchanged)."""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import Any

from anon_ops.errors import AnonOpsError, ConfigError, DataError
from anon_ops.jobs.errors import JobStateError

#: Modules whose error classes a service or a worker may name (``type`` / ``error_type``) although
#: a client process has not imported them (the engine is imported only where jobs run).
_ERROR_MODULES = ("anon_ops.engine.anonymizer",)


class AuthenticationError(AnonOpsError):
    """The service refused the token (401/403): retrying cannot help, the credentials must change."""


class ServiceError(AnonOpsError):
    """The service could not be reached, or kept failing (5xx) after the retries."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class JobFailedError(JobStateError):
    """A job ended failed or aborted, so it has no result or statistics; ``reason`` says why and
    ``error_type`` names the class of the error it failed with (None when unknown).

    Build it with :meth:`of`: a job that failed on its configuration or its data raises a subclass
    that is also a ConfigError / DataError, so callers (and the CLI's exit code 2) treat the same
    problem alike whether it was found before submitting, in-process, or in a remote worker.
    """

    def __init__(self, job_id: str, state: str, reason: str | None, error_type: str | None = None) -> None:
        super().__init__(f"job {job_id} {state}: {reason or 'no reason recorded'}")
        self.job_id, self.state, self.reason, self.error_type = job_id, state, reason, error_type

    @classmethod
    def of(cls, document: Mapping[str, Any]) -> JobFailedError:
        """The error for a job's final status document (``id``, ``status``, ``error``, ``error_type``)."""
        error_type = document.get("error_type")
        kind = error_kind(error_type)
        error_class = JobDataError if kind is DataError else JobConfigError if kind is ConfigError else JobFailedError
        return error_class(str(document.get("id")), str(document.get("status")), document.get("error"), error_type)


class JobDataError(JobFailedError, DataError):
    """A job failed because its data do not fit its configuration (e.g. a value no hierarchy covers)."""


class JobConfigError(JobFailedError, ConfigError):
    """A job failed on its configuration (found only when the job ran, e.g. a hierarchy file it reads)."""


def _subclasses(base: type[AnonOpsError]) -> Iterator[type[AnonOpsError]]:
    for sub in base.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def _named(name: str) -> type[AnonOpsError] | None:
    if name == AnonOpsError.__name__:
        return AnonOpsError
    return next((c for c in _subclasses(AnonOpsError) if c.__name__ == name), None)


def error_kind(name: str | None) -> type[ConfigError] | type[DataError] | None:
    """ConfigError or DataError when the error class ``name`` is one of them (or a subclass such
    as the engine's NoSolutionError); None for any other or unknown name."""
    if not name:
        return None
    found = _named(name)
    if found is None:
        for module in _ERROR_MODULES:
            importlib.import_module(module)
        found = _named(name)
    if found is None:
        return None
    if issubclass(found, DataError):
        return DataError
    if issubclass(found, ConfigError):
        return ConfigError
    return None
