"""The anon-ops SDK: anonymization jobs on the embedded runtime or an anon-ops service.

``import anon_ops as asdk`` exposes the same names (see ``anon_ops/__init__.py``)::

    conn = asdk.Connection()                       # embedded; or Connection("http://host:8090", token=...)
    e = asdk.AnonElement(conn, df).quasi_identifier("age", hierarchy=asdk.Interval([5, 10])).k_anonymity(5)
    job = asdk.anonymize(e)
    df_anon = job.result().df

Before a job: ``e.measure(k=[2, 5, 10], max_suppression=[0, 0.05])`` compares candidates (a DataFrame),
``e.infer(targetVariable="income")`` returns an element whose inferred configuration can be edited.
"""

from typing import TYPE_CHECKING, Any

from anon_ops.errors import AnonOpsError, ConfigError, DataError
from anon_ops.jobs.errors import (
    IdempotencyConflictError,
    JobNotFoundError,
    JobStateError,
    QueueFullError,
    RateLimitedError,
)
from anon_ops.jobs.status import JobStatus
from anon_ops.sdk.backend import Backend
from anon_ops.sdk.connection import Connection
from anon_ops.sdk.element import AnonElement
from anon_ops.sdk.embedded import EmbeddedBackend
from anon_ops.sdk.errors import AuthenticationError, JobConfigError, JobDataError, JobFailedError, ServiceError
from anon_ops.sdk.hierarchies import Auto, DateLevels, HierarchyFile, Interval, Masking, Tree
from anon_ops.sdk.job import AnonJob, AnonResult, anonymize, apply_anonymize, job_ids
from anon_ops.sdk.remote import RemoteBackend
from anon_ops.sdk.retry import RetryPolicy, is_retryable

if TYPE_CHECKING:
    from anon_ops.sdk.aio import AsyncRemoteClient


def __getattr__(name: str) -> Any:
    """The async client needs httpx (the ``service`` extra), so it is imported on first use."""
    if name == "AsyncRemoteClient":
        from anon_ops.sdk.aio import AsyncRemoteClient

        return AsyncRemoteClient
    raise AttributeError(f"module 'anon_ops.sdk' has no attribute {name!r}")


__all__ = [
    "AnonElement",
    "AnonJob",
    "AnonOpsError",
    "AnonResult",
    "AsyncRemoteClient",
    "AuthenticationError",
    "Auto",
    "Backend",
    "ConfigError",
    "Connection",
    "DataError",
    "DateLevels",
    "EmbeddedBackend",
    "HierarchyFile",
    "IdempotencyConflictError",
    "Interval",
    "JobConfigError",
    "JobDataError",
    "JobFailedError",
    "JobNotFoundError",
    "JobStateError",
    "JobStatus",
    "Masking",
    "QueueFullError",
    "RateLimitedError",
    "RemoteBackend",
    "RetryPolicy",
    "ServiceError",
    "Tree",
    "anonymize",
    "apply_anonymize",
    "is_retryable",
    "job_ids",
]
