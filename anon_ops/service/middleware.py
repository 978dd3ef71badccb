"""Pure ASGI middlewares: bearer auth, the request body limit and the last-resort 500.

They run before FastAPI parses anything, so an unauthenticated or oversized upload is refused
before a byte of it is stored. (Pure ASGI rather than BaseHTTPMiddleware: no buffering, and
exceptions and streaming behave as without middleware.)
"""

from __future__ import annotations

import hmac
import logging
import traceback
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from anon_ops.service.errors import error_response

log = logging.getLogger(__name__)

PUBLIC_PATHS = frozenset({"/health", "/pty/anonymization/v3/health"})


class BearerAuthMiddleware:
    """Every route but /health requires ``Authorization: Bearer <token>`` (compared in constant time)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._token = token.encode("utf-8")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in PUBLIC_PATHS or self._authorized(scope):
            await self.app(scope, receive, send)
            return
        response = error_response(401, "Authorization: a valid bearer token is required",
                                  {"WWW-Authenticate": "Bearer"})
        await response(scope, receive, send)

    def _authorized(self, scope: Scope) -> bool:
        header = _header(scope, b"authorization")
        if header is None:
            return False
        scheme, _, credentials = header.partition(b" ")
        if scheme.lower() != b"bearer":
            return False
        return hmac.compare_digest(credentials.strip(), self._token)


class BodyTooLargeError(HTTPException):
    """The request body grew past the limit while it was read (→ 413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body: larger than the limit of {limit} bytes")


class BodyLimitMiddleware:
    """413 when the body is larger than ``limit``: checked on Content-Length up front, and counted
    while the body is read (a chunked upload has no Content-Length)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                await error_response(400, "Content-Length: not a whole number")(scope, receive, send)
                return
            if size > self.limit:
                await error_response(413, BodyTooLargeError(self.limit).detail)(scope, receive, send)
                return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise BodyTooLargeError(self.limit)
            return message

        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLargeError as exc:  # raised outside a route (normally the route's handler answers)
            if not started:
                await error_response(413, str(exc.detail))(scope, receive, send)


class InternalErrorMiddleware:
    """Any unexpected exception → 500 ``{"detail": "internal error"}``, never a stack trace.

    The server log gets the exception type and the stack frames, not the exception's message: a
    message may quote a data value (a KeyError of a cell, a driver error with SQL parameters).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            log.error("unhandled %s in %s %s; stack:\n%s", type(exc).__name__, scope.get("method"),
                      _route_of(scope), "".join(traceback.format_tb(exc.__traceback__)))
            if not started:
                await error_response(500, "internal error")(scope, receive, send)


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value)
    return None


def _route_of(scope: Scope) -> Any:
    route = scope.get("route")
    return getattr(route, "path", None) or scope.get("path")
