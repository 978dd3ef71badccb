"""anon-ops: data anonymization for data pipelines.

``import anon_ops as asdk`` is the SDK (``asdk.Connection``, ``asdk.AnonElement``, ``asdk.anonymize``…).
Its names are loaded on first use, so that the CLI, the worker processes and the engine modules do
not pay for the SDK's imports (requests, the job runtime) when they do not use it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from anon_ops.sdk import (
        AnonElement,
        AnonJob,
        AnonOpsError,
        AnonResult,
        AsyncRemoteClient,
        AuthenticationError,
        Auto,
        Backend,
        ConfigError,
        Connection,
        DataError,
        DateLevels,
        EmbeddedBackend,
        HierarchyFile,
        IdempotencyConflictError,
        Interval,
        JobFailedError,
        JobNotFoundError,
        JobStateError,
        JobStatus,
        Masking,
        QueueFullError,
        RateLimitedError,
        RemoteBackend,
        RetryPolicy,
        ServiceError,
        Tree,
        anonymize,
        apply_anonymize,
        is_retryable,
        job_ids,
    )

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
    "__version__",
    "anonymize",
    "apply_anonymize",
    "is_retryable",
    "job_ids",
]

_SDK_NAMES = frozenset(__all__) - {"__version__"}


def __getattr__(name: str) -> Any:
    if name in _SDK_NAMES:
        value = getattr(importlib.import_module("anon_ops.sdk"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'anon_ops' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
