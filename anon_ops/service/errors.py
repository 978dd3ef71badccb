"""How errors become HTTP responses: ``{"detail": "<message naming the field>", "type": "<ErrorClass>"}``.

Each anon-ops error class maps to one status code (the most specific class in its MRO wins). The
status alone cannot tell a configuration error from a data error (both 422), so the body names the
error class in ``type``; clients map it back (the SDK raises ConfigError or DataError again).
Messages of client errors are returned to the client that caused them, but never logged: they may
quote a value of the client's data (e.g. a value a hierarchy does not cover).
"""

from __future__ import annotations

import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from anon_ops.errors import AnonOpsError, ConfigError, DataError
from anon_ops.jobs.errors import (
    IdempotencyConflictError,
    JobNotFoundError,
    JobStateError,
    QueueFullError,
    RateLimitedError,
)

log = logging.getLogger(__name__)

#: Seconds a client is told to wait when the queue is full (jobs take seconds to minutes).
QUEUE_FULL_RETRY_AFTER_SECONDS = 5


class ServiceError(AnonOpsError):
    """An error of the service layer itself; ``status_code`` says how it is answered."""

    status_code = 400


class PathNotAllowedError(ServiceError):
    """A path of the configuration lies outside the service's data roots (→ 403)."""

    status_code = 403


class IdempotencyInProgressError(ServiceError):
    """Another request with the same Idempotency-Key was being stored at the same moment (→ 409)."""

    status_code = 409


class UnsupportedMediaTypeError(ServiceError):
    """The request body is neither multipart/form-data nor JSON (→ 415)."""

    status_code = 415


_STATUS_OF: dict[type[BaseException], int] = {
    JobNotFoundError: 404,
    JobStateError: 409,
    QueueFullError: 503,
    RateLimitedError: 429,
    IdempotencyConflictError: 422,
    ConfigError: 422,
    DataError: 422,
    AnonOpsError: 422,
}


def status_of(exc: AnonOpsError) -> int:
    if isinstance(exc, ServiceError):
        return exc.status_code
    for cls in type(exc).__mro__:
        if cls in _STATUS_OF:
            return _STATUS_OF[cls]
    return 422


#: ``type`` of the errors the middlewares answer before any anon-ops error class is involved: the
#: class the SDK raises for them. An internal error (500) has no type to tell.
_TYPE_OF_STATUS = {400: "ConfigError", 401: "AuthenticationError", 413: "DataError"}


def error_response(status_code: int, detail: str, headers: dict[str, str] | None = None,
                   error_type: str | None = None) -> JSONResponse:
    """The error body: ``detail`` (always) and ``type`` (the error's class name, when there is one)."""
    body = {"detail": detail}
    error_type = error_type or _TYPE_OF_STATUS.get(status_code)
    if error_type is not None:
        body["type"] = error_type
    return JSONResponse(body, status_code=status_code, headers=headers)


async def _anon_ops_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AnonOpsError)
    status_code = status_of(exc)
    headers: dict[str, str] = {}
    if isinstance(exc, RateLimitedError):
        headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
    elif isinstance(exc, QueueFullError):
        headers["Retry-After"] = str(QUEUE_FULL_RETRY_AFTER_SECONDS)
    log.info("%s %s -> %d (%s)", request.method, request.url.path, status_code, type(exc).__name__)
    return error_response(status_code, str(exc), headers or None, type(exc).__name__)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # A query parameter or path value out of range is an invalid request, as an invalid configuration is.
    return error_response(422, format_request_errors(exc.errors()), error_type=ConfigError.__name__)


def format_request_errors(errors: Any) -> str:
    """FastAPI's list of errors as lines ``field: message`` (the field without 'query'/'body'/…)."""
    lines = []
    for error in errors:
        loc = [str(part) for part in error.get("loc", ())]
        if loc and loc[0] in ("query", "path", "header", "body", "cookie"):
            loc = loc[1:]
        field = ".".join(loc)
        message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
        lines.append(f"{field}: {message}" if field else message)
    return "\n".join(lines) or "invalid request"


def install_error_handlers(app: FastAPI) -> None:
    """Map anon-ops errors and request validation errors to ``{"detail": …, "type": …}`` responses."""
    app.add_exception_handler(AnonOpsError, _anon_ops_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
