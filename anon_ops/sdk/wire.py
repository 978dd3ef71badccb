"""What the sync and async REST clients share: error mapping, table encoding, portable configurations."""

from __future__ import annotations

import io
import json
import logging
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa

from anon_ops.config import JobConfig
from anon_ops.errors import AnonOpsError, ConfigError, DataError
from anon_ops.jobs.errors import (
    IdempotencyConflictError,
    JobNotFoundError,
    JobStateError,
    QueueFullError,
    RateLimitedError,
)
from anon_ops.sdk.errors import AuthenticationError, ServiceError, error_kind
from anon_ops.sdk.retry import retry_after_seconds

if TYPE_CHECKING:
    from anon_ops.infer import InferenceResult

log = logging.getLogger(__name__)

API = "/api/v1"


def _error_document(body: bytes) -> Any:
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None


def type_of(body: bytes) -> str | None:
    """The ``type`` of an error body: the class name of the service's error (None if absent)."""
    document = _error_document(body)
    value = document.get("type") if isinstance(document, dict) else None
    return value if isinstance(value, str) else None


def detail_of(body: bytes, fallback: str) -> str:
    """The ``detail`` of an error body as one message (FastAPI's validation lists become lines)."""
    document = _error_document(body)
    if document is None:
        return fallback
    detail = document.get("detail") if isinstance(document, dict) else None
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list):
        lines = []
        for item in detail:
            if isinstance(item, dict):
                where = ".".join(str(p) for p in item.get("loc", []) if p != "body")
                lines.append(f"{where}: {item.get('msg', '')}" if where else str(item.get("msg", "")))
            else:
                lines.append(str(item))
        return "\n  ".join(lines)
    return json.dumps(detail) if detail is not None else fallback


def error_for(status: int, body: bytes, retry_after: str | None, job_id: str | None) -> AnonOpsError:
    """The SDK error of an HTTP error response — the same classes the embedded runtime raises.

    Both ConfigError and DataError are 422, so the body's ``type`` tells them apart; without a
    ``type`` (an older service, a proxy) the status decides.
    """
    detail = detail_of(body, f"HTTP {status}")
    kind = error_kind(type_of(body)) if status in (400, 413, 422) else None
    if status == 401:
        return AuthenticationError(f"the service refused the credentials (401): {detail}; "
                                   "check the token (ANON_OPS_TOKEN, --token or token=...)")
    if status == 403:
        return AuthenticationError(f"the service does not allow this (403): {detail}")
    if status == 404 and job_id is not None:
        return JobNotFoundError(job_id)
    if status == 409:
        return JobStateError(detail)
    if kind is not None:
        return kind(detail)
    if status == 422 and type_of(body) == IdempotencyConflictError.__name__:
        return IdempotencyConflictError(detail)
    if status in (400, 422):
        return ConfigError(detail)
    if status == 413:
        return DataError(detail)
    if status == 429:
        return RateLimitedError(detail, retry_after_seconds(retry_after) or 60.0)
    if status == 503:
        return QueueFullError(detail)
    return ServiceError(f"the service answered {status}: {detail}", status)


# --------------------------------------------------------------------------- tables
def encode_table(df: pd.DataFrame) -> tuple[str, bytes, str]:
    """(file name, bytes, media type) of an upload: Parquet, or CSV for columns Parquet cannot hold."""
    buffer = io.BytesIO()
    try:
        df.to_parquet(buffer, index=False)
        return "data.parquet", buffer.getvalue(), "application/vnd.apache.parquet"
    except (pa.ArrowException, TypeError, ValueError):
        log.info("table not writable as parquet (mixed column types); uploading CSV")
    return "data.csv", df.to_csv(index=False).encode("utf-8"), "text/csv"


def decode_parquet(content: bytes) -> pd.DataFrame:
    return pd.read_parquet(io.BytesIO(content))


def plain(value: Any) -> Any:
    """``value`` as plain JSON types: numpy scalars become Python numbers (dicts and lists recursively)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def inference_of(document: dict[str, Any]) -> InferenceResult:
    """The InferenceResult of a ``POST /api/v1/infer`` answer (``InferenceResult.to_dict()``)."""
    from anon_ops.infer import CandidateScore, ColumnProfile, InferenceResult

    return InferenceResult(
        config=JobConfig.parse(document["config"]),
        profiles=[ColumnProfile.model_validate(p) for p in document.get("profiles", [])],
        target_variable=document.get("target_variable"),
        accuracy_input=document.get("accuracy_input"),
        accuracy_output=document.get("accuracy_output"),
        accuracy_baseline=document.get("accuracy_baseline"),
        candidates=[CandidateScore(**c) for c in document.get("candidates", [])],
        notes=list(document.get("notes", [])),
    )


# --------------------------------------------------------------------------- configurations
def portable_config(config: JobConfig) -> dict[str, Any]:
    """The configuration as the service can run it: nothing that points into the client's files.

    Only the fields the user set are sent (``mode="auto"`` and infer fill in the others). ``file``
    hierarchies become inline ``tree`` ones, a delta-presence subset that is not inline is
    read here and sent inline, and ``source`` and ``target`` are dropped — the table is uploaded and
    the SDK writes the target itself after downloading the result.
    """
    from anon_ops.engine.hierarchy import read_hierarchy_file
    from anon_ops.io import read_table
    from anon_ops.sdk.element import explicit_fields

    document = explicit_fields(config)  # only what was set: inference on the service fills in the rest
    document.pop("source", None)
    document.pop("target", None)
    for i, attribute in enumerate(config.attributes):
        spec = attribute.hierarchy
        if spec is None or spec.type != "file":
            continue
        hierarchy = read_hierarchy_file(attribute.name, config.resolve_path(spec.name), spec.props.sep,
                                        spec.props.encoding)
        mapping = {str(row[0]): [str(v) for v in row[1:]] for row in hierarchy.levels}
        document["attributes"][i]["hierarchy"] = {"type": "tree", "params": {"mapping": mapping}}
    for i, model in enumerate(config.privacy_models):
        if model.model_type == "delta-presence" and model.params.subset.type != "inline":
            subset = read_table(model.params.subset, config.resolve_path, where=f"privacy_models.{i}.params.subset")
            records = json.loads(subset.to_json(orient="records", date_format="iso"))
            document["privacy_models"][i]["params"]["subset"] = {"type": "inline", "inline": {"records": records}}
    return document
