"""The FastAPI application factory of the anon-ops REST service.

``create_app`` builds a fresh app (tests build one per test); the job runtime is created in the
app's lifespan — after the settings are known, before the first request — and closed on shutdown.
Closing stops scheduling only: running worker processes finish their jobs, and the next service on
the same home picks up whatever is queued.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.concurrency import run_in_threadpool

from anon_ops import __version__
from anon_ops.jobs.runtime import JobRuntime
from anon_ops.service.compat import router as compat_router
from anon_ops.service.errors import install_error_handlers
from anon_ops.service.middleware import PUBLIC_PATHS, BearerAuthMiddleware, BodyLimitMiddleware, InternalErrorMiddleware
from anon_ops.service.paths import DataRoots
from anon_ops.service.routes import ServiceState, health_router, router
from anon_ops.settings import Settings

log = logging.getLogger(__name__)

DESCRIPTION = """Anonymization jobs over HTTP: submit a configuration with a table (or a source inside
the service's data roots), poll the job, fetch the anonymized table and its risk and utility
statistics. Errors are `{"detail": "<message naming the field>"}`."""


def create_app(settings: Settings | None = None, runtime: JobRuntime | None = None) -> FastAPI:
    """A new service app. A ``runtime`` passed in is used as is and left open (its owner closes it);
    without one, the lifespan creates it from ``settings`` (default: the environment) and closes it."""
    settings = settings or (runtime.settings if runtime is not None else Settings.from_env())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = runtime is None
        job_runtime = runtime if runtime is not None else await run_in_threadpool(JobRuntime, settings)
        state = ServiceState(settings=settings, runtime=job_runtime, roots=DataRoots(settings.data_roots))
        shutil.rmtree(state.downloads, ignore_errors=True)  # left over if a download was cut by a crash
        app.state.service = state
        log.info("service ready: home %s, %d worker(s), %d data root(s), auth %s", settings.home,
                 settings.workers, len(state.roots.roots), "on" if settings.token else "off")
        try:
            yield
        finally:
            if owned:
                await run_in_threadpool(job_runtime.close)
            log.info("service stopped")

    app = FastAPI(
        title="anon-ops",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_tags=[{"name": "jobs", "description": "Submit, monitor, fetch, abort and delete jobs."},
                      {"name": "health", "description": "Liveness."}],
    )
    app.include_router(health_router)
    app.include_router(router)
    app.include_router(compat_router)  # the protegrity-anonymization-sdk REST API, on the same runtime
    install_error_handlers(app)
    # Added innermost first: errors → auth → body limit → routes.
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_upload_bytes)
    if settings.token:
        app.add_middleware(BearerAuthMiddleware, token=settings.token)
        _document_bearer_auth(app)
    app.add_middleware(InternalErrorMiddleware)
    return app


def _document_bearer_auth(app: FastAPI) -> None:
    """Declare the bearer scheme in the OpenAPI document (the middleware enforces it)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description,
                                 routes=app.routes, tags=app.openapi_tags)
            schema.setdefault("components", {})["securitySchemes"] = {
                "bearerAuth": {"type": "http", "scheme": "bearer"}}
            schema["security"] = [{"bearerAuth": []}]
            for path in PUBLIC_PATHS:
                for operation in schema.get("paths", {}).get(path, {}).values():
                    operation["security"] = []
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
