"""The remote backend: the anon-ops REST service over ``requests``, with retries.

The service cannot read the client's files, so before sending, the configuration is made portable
(see :func:`~anon_ops.sdk.wire.portable_config`) and a source is read here and uploaded. Each
submission carries one Idempotency-Key, kept across its retries, so a retry after a lost response
returns the job the first attempt created instead of starting a second one.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import TYPE_CHECKING, Any

import pandas as pd
import requests
from urllib3.filepost import encode_multipart_formdata

from anon_ops.config import DataStore, JobConfig
from anon_ops.errors import ConfigError
from anon_ops.jobs.errors import JobStateError
from anon_ops.sdk.backend import Backend, StatisticsPart, StatusDocument, check_part, source_table
from anon_ops.sdk.errors import ServiceError
from anon_ops.sdk.retry import RetryPolicy
from anon_ops.sdk.wire import API, decode_parquet, encode_table, error_for, inference_of, plain, portable_config

if TYPE_CHECKING:
    from anon_ops.infer import InferenceResult

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 60.0


def _flag(value: bool) -> str:
    return "true" if value else "false"


class RemoteBackend(Backend):
    """Jobs run by an anon-ops service at ``url``."""

    writes_targets = False

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        session: requests.Session | None = None,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"connection: expected an http(s) URL, got {url!r}")
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.session = session or requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"
        self.session.headers.setdefault("Accept", "application/json")

    @property
    def location(self) -> str:
        return self.url

    def close(self) -> None:
        self.session.close()

    # ------------------------------------------------------------------ transport
    def request(
        self,
        method: str,
        path: str,
        *,
        job_id: str | None = None,
        params: dict[str, Any] | None = None,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        ok: tuple[int, ...] = (200,),
    ) -> requests.Response:
        """One call with retries; a response outside ``ok`` becomes the matching SDK error."""
        url = f"{self.url}{path}"
        attempt = 0
        while True:
            try:
                response = self.session.request(method, url, params=params, data=body, headers=headers,
                                                timeout=self.timeout)
            except requests.RequestException as exc:
                delay = self.retry.should_retry(attempt, error=exc)
                if delay is None:
                    raise ServiceError(f"{method} {url}: the service is not reachable ({type(exc).__name__})") from exc
                log.warning("%s %s: %s; retry %d in %.1f s", method, path, type(exc).__name__, attempt + 1, delay)
            else:
                if response.status_code in ok:
                    return response
                delay = self.retry.should_retry(attempt, status=response.status_code,
                                                retry_after=response.headers.get("Retry-After"))
                if delay is None:
                    raise error_for(response.status_code, response.content, response.headers.get("Retry-After"),
                                    job_id)
                log.warning("%s %s: HTTP %d; retry %d in %.1f s", method, path, response.status_code, attempt + 1,
                            delay)
            time.sleep(delay)
            attempt += 1

    def _json(self, method: str, path: str, job_id: str | None = None, **kwargs: Any) -> Any:
        return self.request(method, path, job_id=job_id, **kwargs).json()

    def health(self) -> dict[str, Any]:
        """``GET /health``: whether the service is up (no token needed)."""
        return self._json("GET", "/health")

    # ------------------------------------------------------------------ jobs
    def submit(
        self,
        config: JobConfig,
        data: pd.DataFrame | None,
        *,
        force: bool = False,
        mode: str | None = None,
        pty_storage: bool = True,
        idempotency_key: str | None = None,
    ) -> StatusDocument:
        data = source_table(config, data)
        fields = {"config": json.dumps(portable_config(config)), "data": encode_table(data)}
        params = {"force": _flag(force), "pty_storage": _flag(pty_storage)}
        if mode is not None:
            params["mode"] = mode
        response = self._post_multipart(f"{API}/jobs", fields, params, idempotency_key, None, ok=(200, 201, 202))
        document = response.json()
        document.setdefault("created", response.status_code != 200)
        log.info("job %s submitted to %s (created: %s)", document.get("id"), self.url, document["created"])
        return document

    def apply(
        self,
        job_id: str,
        data: pd.DataFrame,
        *,
        target: DataStore | None = None,
        force: bool = False,
        pty_storage: bool = True,
        idempotency_key: str | None = None,
    ) -> StatusDocument:
        fields: dict[str, Any] = {"data": encode_table(data)}
        if target is not None:
            fields["target"] = json.dumps(target.model_dump(mode="json", exclude_none=True))
        params = {"force": _flag(force), "pty_storage": _flag(pty_storage)}
        response = self._post_multipart(f"{API}/jobs/{job_id}/apply", fields, params, idempotency_key, job_id,
                                        ok=(200, 201, 202))
        document = response.json()
        document.setdefault("created", response.status_code != 200)
        return document

    def _post_multipart(self, path: str, fields: dict[str, Any], params: dict[str, str], idempotency_key: str | None,
                        job_id: str | None, ok: tuple[int, ...]) -> requests.Response:
        """Encode once, so every retry sends the very same bytes under the same Idempotency-Key.

        A 409 naming the Idempotency-Key means an earlier attempt of this very call (whose response
        was lost) is still being stored by the service: asking again shortly returns its job.
        """
        body, content_type = encode_multipart_formdata(fields)
        headers = {"Content-Type": content_type, "Idempotency-Key": idempotency_key or uuid.uuid4().hex}
        attempt = 0
        while True:
            try:
                return self.request("POST", path, job_id=job_id, params=params, body=body, headers=headers, ok=ok)
            except JobStateError as exc:
                delay = self.retry.delay(attempt) if str(exc).startswith("Idempotency-Key") else None
                if delay is None:
                    raise
                log.warning("POST %s: the same request is still in progress; retry %d in %.1f s", path,
                            attempt + 1, delay)
                time.sleep(delay)
                attempt += 1

    def status(self, job_id: str) -> StatusDocument:
        return self._json("GET", f"{API}/jobs/{job_id}", job_id)

    # ------------------------------------------------------------------ deciding before a job
    def measure(self, config: JobConfig, data: pd.DataFrame | None, grid: dict[str, list[Any]]) -> pd.DataFrame:
        """``POST /api/v1/measure``: the candidates' rows, built into the table the engine returns."""
        fields = {"config": json.dumps(portable_config(config)), "grid": json.dumps(plain(grid)),
                  "data": encode_table(source_table(config, data))}
        rows = self._post_form(f"{API}/measure", fields)["candidates"]
        return pd.DataFrame(rows)

    def infer(self, base: JobConfig, data: pd.DataFrame | None, *, target: str | None = None, k: int = 5,
              max_suppression: float = 0.05) -> InferenceResult:
        """``POST /api/v1/infer``: the table is uploaded with the fields ``base`` sets."""
        fields: dict[str, Any] = {"config": json.dumps(portable_config(base)), "k": str(k),
                                  "max_suppression": repr(float(max_suppression)),
                                  "data": encode_table(source_table(base, data))}
        if target is not None:
            fields["target"] = target
        return inference_of(self._post_form(f"{API}/infer", fields))

    def _post_form(self, path: str, fields: dict[str, Any]) -> Any:
        """A multipart POST without side effects on the service (so retries need no Idempotency-Key)."""
        body, content_type = encode_multipart_formdata(fields)
        return self._json("POST", path, body=body, headers={"Content-Type": content_type})

    def list_jobs(self, limit: int = 20) -> list[StatusDocument]:
        return [dict(d) for d in self._json("GET", f"{API}/jobs", params={"limit": limit})["jobs"]]

    def metadata(self, job_id: str) -> dict[str, Any]:
        return self._json("GET", f"{API}/jobs/{job_id}/metadata", job_id)

    def statistics(self, job_id: str, part: StatisticsPart | None = None) -> dict[str, Any]:
        check_part(part)
        suffix = f"/{part}" if part else ""
        return self._json("GET", f"{API}/jobs/{job_id}/statistics{suffix}", job_id)

    def result(self, job_id: str) -> pd.DataFrame | None:
        response = self.request("GET", f"{API}/jobs/{job_id}/result", job_id=job_id, params={"format": "parquet"},
                                headers={"Accept": "application/vnd.apache.parquet"}, ok=(200, 204))
        if response.status_code == 204:
            return None
        return decode_parquet(response.content)

    def abort(self, job_id: str) -> StatusDocument:
        return self._json("POST", f"{API}/jobs/{job_id}/abort", job_id, ok=(200, 202))

    def delete(self, job_id: str) -> None:
        self.request("DELETE", f"{API}/jobs/{job_id}", job_id=job_id, ok=(200, 204))

