"""Jobs of the runtime as the SDK sees them: its status words, status documents, history and results.

State mapping (anon-ops → SDK): queued → ``queued``, running → ``processing``, completed →
``completed``, failed → ``failed``, aborted → ``cancelled``. The SDK's ``anonymize()`` polls
``GET /jobs/{id}`` until a terminal state and reads the result from ``context.result``, so a
completed job's status document carries it (its ``AnonymizeResult``, ``ApplyResult`` or, for
``/anonymize/auto``, ``AutoAnonymizeResult`` — merged into one document when the job has a detection,
since one job may serve both calls). The history is derived from the job record's
timestamps: the store keeps states, not a log of transitions.

What the compatibility layer must remember about a job beyond its configuration (the detection of
an auto job, whether its result went to an output) lives in ``compat.json`` in the job's folder, so
deleting the job removes it too.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from anon_ops.errors import ConfigError
from anon_ops.jobs.files import write_json
from anon_ops.jobs.runtime import JobRuntime, Submission
from anon_ops.jobs.status import JobStatus
from anon_ops.jobs.store import JobRecord
from anon_ops.service.compat.translate import model_names

SDK_STATUS = {
    JobStatus.QUEUED: "queued",
    JobStatus.RUNNING: "processing",
    JobStatus.COMPLETED: "completed",
    JobStatus.FAILED: "failed",
    JobStatus.ABORTED: "cancelled",
}
_FILTER = {
    "pending": JobStatus.QUEUED, "queued": JobStatus.QUEUED, "claimed": JobStatus.RUNNING,
    "processing": JobStatus.RUNNING, "completed": JobStatus.COMPLETED, "failed": JobStatus.FAILED,
    "cancelled": JobStatus.ABORTED,
}
_META = "compat.json"


def status_filter(value: str) -> JobStatus:
    """The anon-ops state an SDK status word selects (422 naming ``status`` when unknown)."""
    if value not in _FILTER:
        raise ConfigError(f"status: unknown job status {value!r} (use {', '.join(_FILTER)})")
    return _FILTER[value]


def _iso(timestamp: float | None) -> str | None:
    return datetime.fromtimestamp(timestamp, tz=UTC).isoformat() if timestamp is not None else None


# --------------------------------------------------------------------------- compat metadata
def write_meta(runtime: JobRuntime, job_id: str, meta: dict[str, Any]) -> None:
    write_json(runtime.files(job_id).folder / _META, meta)


def read_meta(runtime: JobRuntime, job_id: str) -> dict[str, Any]:
    path = runtime.files(job_id).folder / _META
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return {}


# --------------------------------------------------------------------------- documents
def job_response(submission: Submission) -> dict[str, Any]:
    """The SDK's ``JobResponse`` for a submission (the SDK polls when it sees ``job_id``)."""
    job = submission.job
    message = "job queued" if submission.created else f"an identical job exists ({job.status.value}); returned as is"
    return {"job_id": job.id, "status": SDK_STATUS[job.status], "message": message,
            "created_at": _iso(job.created_at)}


def status_document(job: JobRecord, context: dict[str, Any] | None = None) -> dict[str, Any]:
    """The SDK's ``JobStatusResponse``; ``context`` carries the result of a completed job."""
    summary = job.summary or {}
    message = job.error if job.status in (JobStatus.FAILED, JobStatus.ABORTED) and job.error else job.status.value
    updated = max(t for t in (job.created_at, job.started_at, job.heartbeat, job.finished_at) if t is not None)
    return {
        "job_id": job.id,
        "status": SDK_STATUS[job.status],
        "progress": round(100.0 * job.progress, 1),
        "message": message,
        "created_at": _iso(job.created_at),
        "updated_at": _iso(updated),
        "completed_at": _iso(job.finished_at) if job.status.is_terminal else None,
        "result_path": summary.get("target"),
        "error": job.error if job.status == JobStatus.FAILED else None,
        "step": job.kind,
        "context": {"kind": job.kind, "parent_id": job.parent_id, "rows": job.info.get("rows"),
                    "attempts": job.attempts, **(context or {})},
    }


def history(job: JobRecord) -> list[dict[str, Any]]:
    """The state transitions of a job, as far as its record's timestamps tell them."""
    steps: list[tuple[float, str, float, str, str | None]] = [(job.created_at, "queued", 0.0, "submitted", None)]
    if job.started_at is not None:
        steps.append((job.started_at, "processing", 0.0, f"worker started (attempt {job.attempts})", None))
    if job.status.is_terminal:
        error = job.error if job.status != JobStatus.COMPLETED else None
        steps.append((job.finished_at or job.started_at or job.created_at, SDK_STATUS[job.status],
                      round(100.0 * job.progress, 1), job.status.value, error))
    elif job.status == JobStatus.RUNNING:
        steps.append((job.heartbeat or job.started_at or job.created_at, "processing",
                      round(100.0 * job.progress, 1), "running", None))
    return [{"job_id": job.id, "sequence": i, "status": status, "progress": progress, "step": job.kind,
             "message": message, "error": error, "metadata": {"attempts": job.attempts},
             "changed_at": _iso(at)} for i, (at, status, progress, message, error) in enumerate(steps, start=1)]


def _records(frame: pd.DataFrame | None) -> list[dict[str, Any]]:
    if frame is None or frame.empty:
        return []
    return list(json.loads(frame.to_json(orient="records", date_format="iso")))


def result_document(runtime: JobRuntime, job: JobRecord) -> dict[str, Any]:
    """The result the SDK expects of a completed job (its kind decides which document)."""
    stats = runtime.statistics(job.id)
    meta = read_meta(runtime, job.id)
    frame = None
    if job.pty_storage and not meta.get("output"):
        frame = runtime.result(job.id)
    rows = stats.get("rows", {})
    document: dict[str, Any] = {
        "data": _records(frame),
        "row_count": int(rows.get("output", 0)),
        "suppressed_count": int(rows.get("suppressed", 0)),
        "metrics": {
            "information_loss": stats.get("information_loss", {}).get("value", 0.0),
            "metrics": {
                "metric": stats.get("information_loss", {}).get("metric"),
                "transformation": stats.get("transformation", {}),
                "equivalence_classes": stats.get("equivalence_classes"),
                "rows": rows,
                "utility": stats.get("utility", {}),
                "risk": stats.get("risk", {}),
                "search": stats.get("search", {}),
            },
        },
        "generalization_levels": stats.get("transformation", {}),
        "result_path": (job.summary or {}).get("target"),
        "job_id": job.id,
    }
    if job.kind == "apply":
        document.update(source_job_id=job.parent_id or "", privacy_model=model_names(job.config))
    if "detection" in meta:
        # Shaped for both parsers: an identical job may serve anonymize() and auto_anonymize() alike
        # (the runtime returns an existing job for the same data and configuration).
        return {**document, "detection": meta["detection"], "anonymization": document}
    return document
