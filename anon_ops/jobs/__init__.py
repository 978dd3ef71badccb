"""The job runtime: a persistent store, a bounded queue and worker processes around the engine."""

from anon_ops.jobs.runtime import JobRuntime
from anon_ops.jobs.status import JobStatus
from anon_ops.jobs.store import JobRecord, JobStore

__all__ = ["JobRecord", "JobRuntime", "JobStatus", "JobStore"]
