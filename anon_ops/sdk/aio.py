"""An async client of the service for Airflow triggers and other event loops.

It holds only the URL, the token and the retry policy (all plain values), opens its own
``httpx.AsyncClient`` and retries under the same predicate as the sync backend.
"""

from __future__ import annotations

import asyncio
import logging
import time

import httpx

from anon_ops.jobs.status import JobStatus
from anon_ops.sdk.backend import StatusDocument
from anon_ops.sdk.errors import ServiceError
from anon_ops.sdk.retry import RetryPolicy
from anon_ops.sdk.wire import API, error_for

log = logging.getLogger(__name__)


class AsyncRemoteClient:
    """Job status, abort and wait over the REST API, without blocking the event loop."""

    def __init__(self, url: str, token: str | None = None, *, timeout: float = 30.0,
                 retry: RetryPolicy | None = None) -> None:
        self.url = url.rstrip("/")
        self.retry = retry or RetryPolicy()
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._client = httpx.AsyncClient(base_url=self.url, headers=headers, timeout=timeout)

    async def __aenter__(self) -> AsyncRemoteClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def request(self, method: str, path: str, *, job_id: str | None = None,
                      ok: tuple[int, ...] = (200,)) -> httpx.Response:
        """One call with retries; a response outside ``ok`` becomes the matching SDK error."""
        attempt = 0
        while True:
            try:
                response = await self._client.request(method, path)
            except httpx.HTTPError as exc:
                delay = self.retry.should_retry(attempt, error=exc)
                if delay is None:
                    raise ServiceError(f"{method} {self.url}{path}: the service is not reachable "
                                       f"({type(exc).__name__})") from exc
                log.warning("%s %s: %s; retry %d in %.1f s", method, path, type(exc).__name__, attempt + 1, delay)
            else:
                if response.status_code in ok:
                    return response
                retry_after = response.headers.get("Retry-After")
                delay = self.retry.should_retry(attempt, status=response.status_code, retry_after=retry_after)
                if delay is None:
                    raise error_for(response.status_code, response.content, retry_after, job_id)
                log.warning("%s %s: HTTP %d; retry %d in %.1f s", method, path, response.status_code, attempt + 1,
                            delay)
            await asyncio.sleep(delay)
            attempt += 1

    async def get_status(self, job_id: str) -> StatusDocument:
        response = await self.request("GET", f"{API}/jobs/{job_id}", job_id=job_id)
        return dict(response.json())

    async def abort(self, job_id: str) -> StatusDocument:
        response = await self.request("POST", f"{API}/jobs/{job_id}/abort", job_id=job_id, ok=(200, 202))
        return dict(response.json())

    async def wait(self, job_id: str, poll_interval: float = 2.0, timeout: float | None = None) -> StatusDocument:
        """The status document once the job is terminal; TimeoutError after ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            document = await self.get_status(job_id)
            if JobStatus(document["status"]).is_terminal:
                return document
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"job {job_id} still {document['status']} after {timeout} s")
            await asyncio.sleep(poll_interval if deadline is None else
                                max(0.0, min(poll_interval, deadline - time.monotonic())))

