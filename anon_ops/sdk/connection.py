"""Connection: where jobs run — the embedded runtime (default) or an anon-ops service."""

from __future__ import annotations

import logging
import os
from typing import Any

from anon_ops.sdk.backend import Backend
from anon_ops.sdk.embedded import EmbeddedBackend
from anon_ops.sdk.job import AnonJob
from anon_ops.sdk.remote import DEFAULT_TIMEOUT, RemoteBackend
from anon_ops.sdk.retry import RetryPolicy
from anon_ops.settings import Settings

log = logging.getLogger(__name__)


class Connection:
    """``Connection()``: the embedded runtime on ``ANON_OPS_HOME`` — or the service of ``ANON_OPS_URL``
    when that is set; ``Connection(url, token=…)``: that service; ``Connection(settings=…)``: an
    embedded runtime with these settings, whatever the environment says.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        token: str | None = None,
        settings: Settings | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        backend: Backend | None = None,
    ) -> None:
        if backend is None:
            if url is None and settings is None:
                settings = Settings.from_env()
                url = settings.url
            if url:
                token = token if token is not None else os.environ.get("ANON_OPS_TOKEN") or None
                backend = RemoteBackend(url, token, timeout=timeout, retry=retry)
            else:
                backend = EmbeddedBackend(settings)
        self.backend = backend

    @property
    def is_remote(self) -> bool:
        return isinstance(self.backend, RemoteBackend)

    @property
    def location(self) -> str:
        """The service URL, or the embedded runtime's home."""
        return self.backend.location

    def job(self, job_id: str) -> AnonJob:
        """A handle on an existing job (nothing is fetched until asked)."""
        return AnonJob(self, job_id)

    def jobs(self, limit: int = 20) -> list[dict[str, Any]]:
        """Status documents of the newest jobs, newest first."""
        return self.backend.list_jobs(limit)

    def close(self) -> None:
        """Release the HTTP session; an embedded runtime is shared and stops when the process exits."""
        self.backend.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        kind = "remote" if self.is_remote else "embedded"
        return f"Connection({kind}, {self.location})"

