"""The REST routes: ``/health``, the job routes and measure / infer under ``/api/v1``.

The runtime is synchronous (SQLAlchemy, file I/O, pandas): simple routes are ``def`` routes, which
FastAPI runs in its thread pool; submit and apply receive the form on the event loop and do the
rest (hashing, parsing, storing the snapshot) in a worker thread. Measure and infer are not jobs —
a person waits for their answer — but they are CPU work, so they too run in a worker thread.
Nothing blocks the event loop.
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from sqlalchemy.exc import IntegrityError
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from anon_ops import __version__
from anon_ops.config import JobConfig
from anon_ops.errors import ConfigError
from anon_ops.jobs.errors import JobStateError
from anon_ops.jobs.runtime import JobRuntime, Submission
from anon_ops.jobs.status import JobStatus
from anon_ops.service.errors import IdempotencyInProgressError, error_response
from anon_ops.service.paths import DataRoots
from anon_ops.service.uploads import (
    Payload,
    hash_file,
    read_payload,
    read_upload,
    request_hash,
    upload_format,
)
from anon_ops.settings import Settings

API_PREFIX = "/api/v1"
MEDIA_TYPES = {"parquet": "application/vnd.apache.parquet", "csv": "text/csv; charset=utf-8"}
STATISTICS_PARTS = ("risk", "utility", "exploratory")


@dataclass(frozen=True)
class ServiceState:
    """What the routes share; built in the app's lifespan and kept on ``app.state.service``."""

    settings: Settings
    runtime: JobRuntime
    roots: DataRoots

    @property
    def downloads(self) -> Path:
        """Where result files are serialized for download (removed once sent)."""
        return self.settings.home / ".downloads"


def _state(request: Request) -> ServiceState:
    return request.app.state.service  # type: ignore[no-any-return]


class ServiceJSONResponse(JSONResponse):
    """JSON without NaN/Infinity (not JSON; strict clients reject them): they become null."""

    def render(self, content: Any) -> bytes:
        return super().render(_finite(content))


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


# --------------------------------------------------------------------------- OpenAPI descriptions
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or wrong bearer token (when the service has one)."},
    404: {"description": "No job with this id."},
    409: {"description": "The job is not in a state that allows this."},
    422: {"description": "Invalid request; `detail` names the field."},
}
_STATUS_EXAMPLE = {
    "id": "0f3c…", "kind": "anonymize", "status": "running", "running": 42.0, "completed": None,
    "info": {"source": "uploaded csv table", "rows": 30162}, "error": None, "created": True,
}
_SUBMIT_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {"description": "A new job was queued (`created: true`, `Location` header).",
          "content": {"application/json": {"example": _STATUS_EXAMPLE}}},
    200: {"description": "The same job already existed, or the Idempotency-Key was replayed (`created: false`)."},
    403: {"description": "A path of the configuration lies outside the service's data roots."},
    409: {"description": "A concurrent request with the same Idempotency-Key."},
    413: {"description": "The request body is larger than the upload limit."},
    422: {"description": "Invalid configuration or data, or Idempotency-Key reused with another body."},
    429: {"description": "Rate limit reached (`Retry-After` header)."},
    503: {"description": "The queue is full (`Retry-After` header)."},
}


def _body_doc(json_field: str, json_description: str) -> dict[str, Any]:
    form = {
        "type": "object",
        "properties": {
            json_field: {"type": "string", "description": f"{json_description} (JSON text)"},
            "data": {"type": "string", "format": "binary", "description": "The table: CSV or Parquet."},
            "data_format": {"type": "string", "enum": ["csv", "parquet"],
                            "description": "Format of `data` (default: from the file name; CSV)."},
        },
    }
    return {"requestBody": {"content": {
        "multipart/form-data": {"schema": form},
        "application/json": {"schema": {"type": "object", "properties": {
            json_field: {"type": "object", "description": json_description}}}},
    }}}


_SUBMIT_BODY = _body_doc("config", "The job configuration; without `data` its `source` is read (in the data roots)")
_SUBMIT_BODY["requestBody"]["required"] = True
_APPLY_BODY = _body_doc("target", "Where the new job writes its result (a data store), optional")

IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=255,
                                              description="Same key + same request → the same job.")]
Force = Annotated[bool, Query(description="Run again even if an identical job exists.")]
PtyStorage = Annotated[bool, Query(description="Keep the result in the service's storage.")]

health_router = APIRouter(tags=["health"])
router = APIRouter(prefix=API_PREFIX, tags=["jobs"], responses={401: _ERRORS[401]})


@health_router.get("/health", summary="Liveness (no authentication)")
async def health() -> dict[str, str]:
    return {"status": "ok", "version": __version__}


# --------------------------------------------------------------------------- submit / apply
@router.post("/jobs", summary="Submit an anonymization job", status_code=202,
             responses=_SUBMIT_RESPONSES, openapi_extra=_SUBMIT_BODY)
async def submit_job(
    request: Request,
    force: Force = False,
    mode: Annotated[Literal["auto"] | None, Query(description="'auto': fill in what the configuration omits.")] = None,
    pty_storage: PtyStorage = True,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Multipart (`config` JSON text + `data` file) or JSON (`{"config": {…}}`, data from its source)."""
    state = _state(request)
    payload = await read_payload(request, state.settings.max_upload_bytes, ("config",))
    try:
        submission = await run_in_threadpool(_submit, state, payload, force, mode, pty_storage,
                                             idempotency_key or None)
    finally:
        await payload.close()
    return _submission_response(submission)


def _submit(state: ServiceState, payload: Payload, force: bool, mode: str | None, pty_storage: bool,
            key: str | None) -> Submission:
    if "config" not in payload.fields:
        raise ConfigError("config: required (the job configuration)")
    config = JobConfig.parse(payload.fields["config"], state.roots.base_dir)
    state.roots.check_config(config)
    data, data_hash, fmt = _table(payload)
    params = {"force": force, "mode": mode, "pty_storage": pty_storage, "data_format": fmt}
    digest = request_hash("anonymize", config.to_dict(), data_hash, params)
    with _idempotent_insert(key):
        return state.runtime.submit(
            config, data, force=force, mode=mode, pty_storage=pty_storage, idempotency_key=key,
            request_hash=digest, base_dir=state.roots.base_dir,
            source_description=f"uploaded {fmt} table" if data is not None else None,
        )


@router.post("/jobs/{job_id}/apply", summary="Apply a completed job's transformation to new data",
             status_code=202, responses={**_SUBMIT_RESPONSES, 404: _ERRORS[404],
                                         409: {"description": "The job is not completed (or a concurrent "
                                                              "request with the same Idempotency-Key)."}},
             openapi_extra=_APPLY_BODY)
async def apply_job(
    job_id: str,
    request: Request,
    force: Force = False,
    pty_storage: PtyStorage = True,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Multipart with a `data` file and an optional `target` (JSON text); a new job of kind 'apply'."""
    state = _state(request)
    payload = await read_payload(request, state.settings.max_upload_bytes, ("target",))
    try:
        submission = await run_in_threadpool(_apply, state, job_id, payload, force, pty_storage,
                                             idempotency_key or None)
    finally:
        await payload.close()
    return _submission_response(submission)


def _apply(state: ServiceState, job_id: str, payload: Payload, force: bool, pty_storage: bool,
           key: str | None) -> Submission:
    parent = state.runtime.get(job_id)
    if parent.status != JobStatus.COMPLETED:  # before reading a large upload for nothing
        raise JobStateError(f"job {job_id}: only a completed job can be applied (is {parent.status.value})")
    target = payload.fields.get("target")
    # The configuration the new job will run with (as the runtime builds it), for the path check.
    effective = {k: v for k, v in parent.config.items() if k != "target"}
    if target is not None:
        effective["target"] = target
    if payload.upload is not None:
        effective.pop("source", None)
    state.roots.check_config(JobConfig.parse(effective, parent.info.get("base_dir")))
    data, data_hash, fmt = _table(payload)
    params = {"force": force, "pty_storage": pty_storage, "data_format": fmt}
    digest = request_hash("apply", {"parent": job_id, "target": target}, data_hash, params)
    with _idempotent_insert(key):
        return state.runtime.apply(job_id, data, target=target, force=force, pty_storage=pty_storage,
                                   idempotency_key=key, request_hash=digest)


def _table(payload: Payload) -> tuple[pd.DataFrame | None, str, str | None]:
    """The uploaded table, the hash of its bytes and its format (None, "", None without upload)."""
    if payload.upload is None:
        if payload.data_format is not None:
            raise ConfigError("data_format: given without a data file")
        return None, "", None
    fmt = upload_format(payload.upload, payload.data_format)
    data_hash = hash_file(payload.upload.file)
    return read_upload(payload.upload, fmt), data_hash, fmt


@contextlib.contextmanager
def _idempotent_insert(key: str | None) -> Iterator[None]:
    """The store's unique constraint on the key turns a concurrent duplicate into a 409."""
    try:
        yield
    except IntegrityError:
        if key is None:
            raise
        raise IdempotencyInProgressError(
            "Idempotency-Key: another request with this key was being processed at the same time; retry"
        ) from None


def _submission_response(submission: Submission) -> Response:
    document = {**submission.job.status_document(), "created": submission.created}
    if submission.created:
        return ServiceJSONResponse(document, status_code=202,
                                   headers={"Location": f"{API_PREFIX}/jobs/{submission.job.id}"})
    return ServiceJSONResponse(document, status_code=200)


# --------------------------------------------------------------------------- queries
@router.get("/jobs", summary="The newest jobs first")
def list_jobs(request: Request, limit: Annotated[int, Query(ge=1, le=1000)] = 20) -> Response:
    jobs = _state(request).runtime.list(limit)
    return ServiceJSONResponse({"jobs": [job.status_document() for job in jobs]})


@router.get("/jobs/{job_id}", summary="The status document of a job", responses={404: _ERRORS[404]})
def job_status(job_id: str, request: Request) -> Response:
    return ServiceJSONResponse(_state(request).runtime.get(job_id).status_document())


@router.get("/jobs/{job_id}/metadata", summary="Fields, configuration and data of a job",
            responses={404: _ERRORS[404]})
def job_metadata(job_id: str, request: Request) -> Response:
    return ServiceJSONResponse(_state(request).runtime.metadata(job_id))


@router.get(
    "/jobs/{job_id}/result",
    summary="The anonymized table (Parquet or CSV)",
    responses={
        200: {"content": {MEDIA_TYPES["parquet"]: {}, "text/csv": {}}, "description": "The table."},
        204: {"description": "The result went to the target datastore only and was not stored."},
        404: _ERRORS[404],
        409: {"description": "The job is not completed (or its result was already handed out once)."},
    },
)
def job_result(
    job_id: str,
    request: Request,
    fmt: Annotated[Literal["parquet", "csv"], Query(alias="format")] = "parquet",
) -> Response:
    state = _state(request)
    frame = state.runtime.result(job_id)
    if frame is None:
        return Response(status_code=204)
    path = _serialize(frame, fmt, state.downloads)
    return FileResponse(path, media_type=MEDIA_TYPES[fmt], filename=f"{job_id}.{fmt}",
                        background=BackgroundTask(_remove, path))


def _serialize(frame: pd.DataFrame, fmt: str, folder: Path) -> Path:
    """Write the table to a file for download (it may be large: streamed, not held in memory twice)."""
    folder.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix="result-", suffix=f".{fmt}", dir=folder)
    os.close(handle)
    path = Path(name)
    try:
        if fmt == "csv":
            frame.to_csv(path, index=False)
        else:
            try:
                frame.to_parquet(path, index=False)
            except (TypeError, ValueError, ImportError, OSError):  # mixed-type columns, e.g. 39 and '*'
                text = {c: "string" for c in frame.columns if frame[c].dtype == object}
                frame.astype(text).to_parquet(path, index=False)
    except BaseException:
        _remove(path)
        raise
    return path


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)


@router.get("/jobs/{job_id}/statistics", summary="The statistics document of a completed job",
            responses={404: _ERRORS[404], 409: _ERRORS[409]})
def job_statistics(job_id: str, request: Request) -> Response:
    return ServiceJSONResponse(_state(request).runtime.statistics(job_id))


def _statistics_part(part: str) -> Callable[[str, Request], Response]:
    def endpoint(job_id: str, request: Request) -> Response:
        statistics = _state(request).runtime.statistics(job_id)
        if part not in statistics:
            return error_response(404, f"statistics.{part}: not recorded for this job")
        return ServiceJSONResponse(statistics[part])

    endpoint.__name__ = f"job_statistics_{part}"
    return endpoint


for _part in STATISTICS_PARTS:
    router.add_api_route(f"/jobs/{{job_id}}/statistics/{_part}", _statistics_part(_part), methods=["GET"],
                         summary=f"The {_part} statistics of a completed job",
                         responses={404: _ERRORS[404], 409: _ERRORS[409]})


@router.get("/jobs/{job_id}/report", summary="The privacy report (self-contained HTML) of a completed job",
            response_class=HTMLResponse, responses={404: _ERRORS[404], 409: _ERRORS[409]})
def job_report(job_id: str, request: Request) -> Response:
    from anon_ops.report import MEDIA_TYPE, render_report

    runtime = _state(request).runtime
    statistics = runtime.statistics(job_id)
    configuration = runtime.metadata(job_id).get("configuration")
    return Response(render_report(statistics, configuration, title=f"Privacy report — job {job_id}"),
                     media_type=MEDIA_TYPE)


# --------------------------------------------------------------------------- abort / delete
@router.post("/jobs/{job_id}/abort", summary="Abort a queued or running job", responses={404: _ERRORS[404]})
def abort_job(job_id: str, request: Request) -> Response:
    return ServiceJSONResponse(_state(request).runtime.abort(job_id).status_document())


@router.delete("/jobs/{job_id}", summary="Delete a job and everything it stored", status_code=204,
               responses={404: _ERRORS[404]})
def delete_job(job_id: str, request: Request) -> Response:
    _state(request).runtime.delete(job_id)
    return Response(status_code=204)


# --------------------------------------------------------------------------- measure / infer
_MEASURE_BODY = _body_doc("config", "The job configuration to vary; without `data` its `source` is read "
                                    "(in the data roots)")
_MEASURE_BODY["requestBody"]["required"] = True
_MEASURE_BODY["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"]["grid"] = {
    "type": "string", "description": 'Candidate values per field (JSON text), e.g. {"k": [2, 5, 10], '
                                     '"max_suppression": [0, 0.05], "metric": ["loss", "entropy"]}'}
_MEASURE_BODY["requestBody"]["content"]["application/json"]["schema"]["properties"]["grid"] = {"type": "object"}
_INFER_OPTIONS: dict[str, dict[str, Any]] = {
    "target": {"type": "string", "description": "The column whose predictive value the result should keep."},
    "k": {"type": "integer", "description": "k of k-anonymity when the base sets no privacy model (5)."},
    "max_suppression": {"type": "number", "description": "When the base sets none (0.05)."},
}
_INFER_BODY = _body_doc("config", "What the user already set (kept); without `data` its `source` is read "
                                  "(in the data roots)")
for _schema in _INFER_BODY["requestBody"]["content"].values():
    _schema["schema"]["properties"].update(_INFER_OPTIONS)
_DECIDE_RESPONSES: dict[int | str, dict[str, Any]] = {
    403: _SUBMIT_RESPONSES[403], 413: _SUBMIT_RESPONSES[413],
    422: {"description": "Invalid configuration, grid or data; `type` says which (ConfigError, DataError)."},
}


@router.post("/measure", summary="Risk and utility of candidate configurations (no job)", tags=["decide"],
             responses=_DECIDE_RESPONSES, openapi_extra=_MEASURE_BODY)
async def measure_candidates(request: Request) -> Response:
    """Multipart (`config` and `grid` JSON text + `data` file) or JSON (`{"config": {…}, "grid": {…}}`).
    → `{"candidates": [one record per candidate]}`; a candidate nothing satisfies has `valid: false`."""
    state = _state(request)
    payload = await read_payload(request, state.settings.max_upload_bytes, ("config", "grid"))
    try:
        rows = await run_in_threadpool(_measure, state, payload)
    finally:
        await payload.close()
    return ServiceJSONResponse({"candidates": rows})


def _measure(state: ServiceState, payload: Payload) -> list[dict[str, Any]]:
    from anon_ops.engine.measure import measure

    if "config" not in payload.fields:
        raise ConfigError("config: required (the job configuration to vary)")
    config = _checked_config(state, payload.fields["config"])
    grid = payload.fields.get("grid", {})
    if not isinstance(grid, dict):
        raise ConfigError("grid: expected an object of field -> list of candidate values")
    return _records(measure(_data(payload, config), config, grid))


@router.post("/infer", summary="The inferred configuration for a table", tags=["decide"],
             responses=_DECIDE_RESPONSES, openapi_extra=_INFER_BODY)
async def infer_configuration(request: Request) -> Response:
    """Multipart (`data` file, optional `config` JSON text, `target`, `k`, `max_suppression`) or JSON
    with the same fields (data from the config's `source`). → the inference: `config`, `profiles`,
    accuracies on the target, `candidates`, `notes`."""
    state = _state(request)
    payload = await read_payload(request, state.settings.max_upload_bytes, ("config",), tuple(_INFER_OPTIONS))
    try:
        result = await run_in_threadpool(_infer, state, payload)
    finally:
        await payload.close()
    return ServiceJSONResponse(result)


def _infer(state: ServiceState, payload: Payload) -> dict[str, Any]:
    from anon_ops.infer import infer_config

    base = _checked_config(state, payload.fields["config"]) if "config" in payload.fields else None
    target = payload.fields.get("target")
    if target is not None and not isinstance(target, str):
        raise ConfigError("target: expected a column name")
    k = _option(payload, "k", int, 5)
    max_suppression = _option(payload, "max_suppression", float, 0.05)
    result = infer_config(_data(payload, base), base=base, target_variable=target or None, k=k,
                          max_suppression=max_suppression)
    return result.to_dict()


def _option(payload: Payload, name: str, kind: type[int] | type[float], default: float) -> Any:
    """A number option given as form text or a JSON number; the message names the field."""
    value = payload.fields.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ConfigError(f"{name}: expected a number")
    try:
        number = kind(value)
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise ConfigError(f"{name}: expected {what}, got {value!r}") from None
    if kind is int and isinstance(value, float) and not value.is_integer():
        raise ConfigError(f"{name}: expected a whole number, got {value!r}")
    return number


def _checked_config(state: ServiceState, document: Any) -> JobConfig:
    """The configuration, parsed against the data roots, every path of it inside them."""
    config = JobConfig.parse(document, state.roots.base_dir)
    state.roots.check_config(config)
    return config


def _data(payload: Payload, config: JobConfig | None) -> pd.DataFrame:
    """The uploaded table, else the configuration's source (already checked against the data roots)."""
    if payload.upload is not None:
        return read_upload(payload.upload, upload_format(payload.upload, payload.data_format))
    if payload.data_format is not None:
        raise ConfigError("data_format: given without a data file")
    if config is None or config.source is None:
        raise ConfigError("data: upload the table, or give a source (inside the data roots) in the configuration")
    from anon_ops.io import read_table

    return read_table(config.source, config.resolve_path)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows as JSON records with full float precision; a missing value is left out, so the
    client's DataFrame has NaN where the engine's has."""
    return [{str(k): _plain(v) for k, v in row.items() if not _missing(v)} for row in frame.to_dict(orient="records")]


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
