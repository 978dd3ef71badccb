"""The compatibility routes under ``/pty/anonymization/v3``, served over the same job runtime.

Anonymizations are jobs: ``POST /anonymize`` (what the SDK's ``anonymize()`` and ``submit_job()``
both send), ``/anonymize/auto`` and ``/anonymize/{job_id}/apply`` answer 202 with a ``JobResponse``;
the SDK then polls ``GET /jobs/{job_id}`` and reads the result from the status document. A client
that sends ``Prefer: wait=N`` (RFC 7240) gets the result itself (200) when the job completes within
N seconds (at most 120). Detection, risk, validation and metrics are quick and answer directly.
Routes of the SDK that anon-ops does not serve (differential privacy, detection patterns, MLOps
model registry, audit log) answer 501 naming the route.

The routes are ``def`` routes: parsing tables, inference and waiting run in FastAPI's thread pool.
Logs name routes, job ids and counts, never a data value.
"""

from __future__ import annotations

import contextlib
import logging
import re
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import Response

from anon_ops import __version__
from anon_ops.config import JobConfig
from anon_ops.jobs.errors import JobStateError
from anon_ops.jobs.runtime import Submission
from anon_ops.jobs.status import JobStatus
from anon_ops.service.compat.detection import auto_config, detect
from anon_ops.service.compat.jobs import (
    SDK_STATUS,
    history,
    job_response,
    read_meta,
    result_document,
    status_document,
    status_filter,
    write_meta,
)
from anon_ops.service.compat.measures import metrics_document, risk_document, validation_document
from anon_ops.service.compat.translate import job_config, load_frame
from anon_ops.service.compat.wire import (
    AnonymizeRequest,
    ApplyRequest,
    AutoAnonymizeRequest,
    AutoConfigRequest,
    DetectQIRequest,
    MetricsRequest,
    RiskRequest,
    ValidationRequest,
)
from anon_ops.service.routes import ServiceJSONResponse, ServiceState

log = logging.getLogger(__name__)

COMPAT_PREFIX = "/pty/anonymization/v3"
MAX_WAIT_SECONDS = 120
IMPLEMENTED = (
    "GET /health", "POST /detection/qi", "POST /detection/auto-config", "POST /risk", "POST /validation",
    "POST /metrics", "POST /anonymize", "POST /anonymize/auto", "POST /anonymize/{job_id}/apply", "GET /jobs",
    "GET /jobs/{job_id}", "DELETE /jobs/{job_id}", "GET /jobs/{job_id}/history",
)

router = APIRouter(prefix=COMPAT_PREFIX, tags=["compatibility (protegrity-anonymization-sdk)"])
Prefer = Annotated[str | None, Header(description="`wait=N`: answer with the result if done within N s.")]


def _state(request: Request) -> ServiceState:
    return request.app.state.service  # type: ignore[no-any-return]


def _json(document: Any, status_code: int = 200) -> Response:
    return ServiceJSONResponse(document, status_code=status_code)


# --------------------------------------------------------------------------- health & detection
@router.get("/health", summary="Liveness of the compatibility API")
def health() -> Response:
    return _json({"status": "healthy", "service": "anon-ops", "version": __version__,
                  "api": "protegrity-anonymization-sdk compatibility", "routes": list(IMPLEMENTED)})


@router.post("/detection/qi", summary="Classify the columns (quasi-identifiers, identifiers, sensitive)")
def detect_qi(body: DetectQIRequest, request: Request) -> Response:
    frame, _ = load_frame(body.input_data, "input_data", _state(request).roots)
    detection = detect(frame, known_identifiers=body.known_identifiers, known_sensitive=body.known_sensitive,
                       ignore_columns=body.ignore_columns, uniqueness_threshold=body.uniqueness_threshold,
                       max_quasi_identifiers=body.max_quasi_identifiers)
    return _json(detection.document)


@router.post("/detection/auto-config", summary="Detection plus a ready-to-submit anonymization request")
def detection_auto_config(body: AutoConfigRequest, request: Request) -> Response:
    frame, _ = load_frame(body.input_data, "input_data", _state(request).roots)
    detection, _, anonymize_request = auto_config(frame, body.privacy_model)
    return _json({"detection": detection.document, "anonymize_request": anonymize_request})


# --------------------------------------------------------------------------- measures
@router.post("/risk", summary="Re-identification risk of a table")
def risk(body: RiskRequest, request: Request) -> Response:
    frame, _ = load_frame(body.input_data, "input_data", _state(request).roots)
    return _json(risk_document(frame, body))


@router.post("/validation", summary="Does a table satisfy a privacy model?")
def validation(body: ValidationRequest, request: Request) -> Response:
    frame, _ = load_frame(body.input_data, "input_data", _state(request).roots)
    return _json(validation_document(frame, body))


@router.post("/metrics", summary="Utility of an anonymized table compared with its original")
def metrics(body: MetricsRequest, request: Request) -> Response:
    roots = _state(request).roots
    original, _ = load_frame(body.original_input, "original_input", roots)
    anonymized, _ = load_frame(body.anonymized_input, "anonymized_input", roots)
    return _json(metrics_document(original, anonymized, body))


# --------------------------------------------------------------------------- anonymization jobs
@router.post("/anonymize", summary="Anonymize a table (a job: 202 + job id)", status_code=202)
def anonymize(body: AnonymizeRequest, request: Request, prefer: Prefer = None) -> Response:
    state = _state(request)
    frame, description = load_frame(body.input_data, "input_data", state.roots)
    config = job_config(body.attributes, body.privacy_model, frame, state.roots.base_dir, body.output,
                        body.output_format)
    state.roots.check_config(config)
    submission = state.runtime.submit(config, frame, base_dir=state.roots.base_dir, source_description=description)
    return _submitted(state, submission, {"output": body.output is not None}, prefer, "anonymize")


@router.post("/anonymize/auto", summary="Detect, configure and anonymize in one call (a job)", status_code=202)
def anonymize_auto(body: AutoAnonymizeRequest, request: Request, prefer: Prefer = None) -> Response:
    state = _state(request)
    frame, description = load_frame(body.input_data, "input_data", state.roots)
    detection, config, _ = auto_config(frame, body.privacy_model)
    config.with_base_dir(state.roots.base_dir)
    submission = state.runtime.submit(config, frame, base_dir=state.roots.base_dir, source_description=description)
    return _submitted(state, submission, {"detection": detection.document}, prefer, "auto")


@router.post("/anonymize/{job_id}/apply", summary="Apply a completed job's transformation to new rows (a job)",
             status_code=202)
def apply(job_id: str, body: ApplyRequest, request: Request, prefer: Prefer = None) -> Response:
    state = _state(request)
    parent = state.runtime.get(job_id)
    if parent.status != JobStatus.COMPLETED or parent.kind != "anonymize":
        raise JobStateError(f"job {job_id}: only a completed anonymization can be applied "
                            f"(is {SDK_STATUS[parent.status]} {parent.kind})")
    effective = {k: v for k, v in parent.config.items() if k not in ("target", "source")}
    state.roots.check_config(JobConfig.parse(effective, parent.info.get("base_dir")))
    frame, _ = load_frame(body.input_data, "input_data", state.roots)
    submission = state.runtime.apply(job_id, frame)
    return _submitted(state, submission, {}, prefer, "apply")


def _submitted(state: ServiceState, submission: Submission, meta: dict[str, Any], prefer: str | None,
               route: str) -> Response:
    """Record what the job's result document needs, then answer 202 (or 200 with the result)."""
    job = submission.job
    if meta:
        write_meta(state.runtime, job.id, {**read_meta(state.runtime, job.id), **meta})
    log.info("compat %s: job %s (%s)", route, job.id, "queued" if submission.created else "existing")
    wait = _wait_seconds(prefer)
    if wait:
        with contextlib.suppress(TimeoutError):  # not done in time: the job document, as without Prefer
            job = state.runtime.wait(job.id, timeout=wait)
        if job.status == JobStatus.COMPLETED:  # the result, plus the JobResponse fields for submit_job()
            return _json({**result_document(state.runtime, job), **job_response(Submission(job, False)),
                          "message": "completed"})
    return _json(job_response(submission), status_code=202 if submission.created else 200)


def _wait_seconds(prefer: str | None) -> float:
    match = re.search(r"\bwait\s*=\s*(\d+)", prefer or "")
    return float(min(int(match.group(1)), MAX_WAIT_SECONDS)) if match else 0.0


# --------------------------------------------------------------------------- job monitoring
@router.get("/jobs", summary="The newest jobs first (optionally of one status)")
def list_jobs(
    request: Request,
    status: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    runtime = _state(request).runtime
    if status is not None:
        jobs = runtime.store.find(status=status_filter(status))
        total, page = len(jobs), jobs[offset:offset + limit]
    else:
        total = sum(runtime.store.count(s) for s in JobStatus)
        page = runtime.list(offset + limit)[offset:]
    return _json({"jobs": [status_document(job) for job in page], "total": total, "limit": limit,
                  "offset": offset})


@router.get("/jobs/{job_id}", summary="Status of a job; a completed job carries its result in context.result")
def job_status(job_id: str, request: Request) -> Response:
    runtime = _state(request).runtime
    job = runtime.get(job_id)
    context = {"result": result_document(runtime, job)} if job.status == JobStatus.COMPLETED else None
    return _json(status_document(job, context))


@router.delete("/jobs/{job_id}", summary="Cancel a queued or running job")
def cancel_job(job_id: str, request: Request) -> Response:
    runtime = _state(request).runtime
    job = runtime.get(job_id)
    if job.status.is_terminal:
        raise JobStateError(f"job {job_id} is {SDK_STATUS[job.status]}: only queued or running jobs can be cancelled")
    job = runtime.abort(job_id)
    log.info("compat cancel: job %s is %s", job_id, job.status.value)
    return _json(status_document(job))


@router.get("/jobs/{job_id}/history", summary="The state transitions of a job")
def job_history(job_id: str, request: Request) -> Response:
    return _json(history(_state(request).runtime.get(job_id)))


# --------------------------------------------------------------------------- everything else: 501
@router.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
def not_implemented(path: str, request: Request) -> Response:
    """Differential privacy, detection patterns, the MLOps registry, the audit log and any other route."""
    return _json({"detail": f"{request.method} {COMPAT_PREFIX}/{path}: not implemented by anon-ops; its "
                            f"compatibility API serves {', '.join(IMPLEMENTED)}"}, status_code=501)
