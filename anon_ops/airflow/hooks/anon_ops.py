"""AnonOpsHook: an Airflow connection of type ``anon_ops`` as an SDK connection.

The connection names either an anon-ops service — host (a URL, or a host name with port and the
scheme in ``schema``), token in the password field or in extra ``{"token": …}`` — or the
embedded runtime: an empty host (or ``embedded``), optionally with extra ``{"home": …}`` for its
``ANON_OPS_HOME``. When the default connection ``anon_ops_default`` is not defined at all, the
SDK's own default applies (``ANON_OPS_URL`` if set, else embedded), so a DAG runs on a laptop with
no set-up. Retries and auth are the SDK's (one retry predicate for sync and async).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException

if TYPE_CHECKING:
    from airflow.sdk import Connection as AirflowConnection

    import anon_ops as asdk
    from anon_ops.jobs.status import JobStatus
    from anon_ops.sdk.aio import AsyncRemoteClient
    from anon_ops.settings import Settings

DEFAULT_PORT = 8090
EMBEDDED = "embedded"


@dataclass(frozen=True)
class Endpoint:
    """Where the jobs of a connection live: a service (``url`` set) or an embedded runtime (``home``,
    None meaning ``ANON_OPS_HOME``). Plain values only, so a trigger can rebuild it anywhere."""

    url: str | None = None
    token: str | None = None
    home: str | None = None
    timeout: float | None = None
    from_environment: bool = False  # no Airflow connection: the SDK's defaults decide

    @property
    def is_remote(self) -> bool:
        return self.url is not None

    def settings(self) -> Settings:
        from anon_ops.settings import Settings

        return Settings.from_env(home=self.home) if self.home else Settings.from_env()


def endpoint_from_connection(conn: AirflowConnection | None) -> Endpoint:
    """Read an Airflow connection (None: not defined → the SDK's environment defaults)."""
    if conn is None:
        from anon_ops.settings import Settings

        url = Settings.from_env().url
        return Endpoint(url=url.rstrip("/") if url else None, from_environment=True)
    extra = _extra(conn)
    token = conn.password or extra.get("token") or None
    timeout = float(extra["timeout"]) if extra.get("timeout") not in (None, "") else None
    host = (conn.host or "").strip()
    if not host or host.lower() == EMBEDDED or _truthy(extra.get("embedded")):
        return Endpoint(home=extra.get("home") or None, timeout=timeout)
    if "://" in host:
        url = host.rstrip("/")
        if conn.port and not _has_port(url):
            url = f"{url}:{conn.port}"
    else:
        scheme = (conn.schema or "").strip().lower() or "http"
        if scheme not in ("http", "https"):
            raise ValueError(f"anon_ops connection {conn.conn_id}: schema must be http or https, got {scheme!r}")
        url = f"{scheme}://{host}:{conn.port or DEFAULT_PORT}"
    return Endpoint(url=url, token=token, timeout=timeout)


def _extra(conn: AirflowConnection) -> dict[str, Any]:
    extra = conn.extra_dejson if hasattr(conn, "extra_dejson") else json.loads(conn.extra or "{}")
    return dict(extra or {})


def _truthy(value: Any) -> bool:
    return value is True or str(value).strip().lower() in ("1", "true", "yes")


def _has_port(url: str) -> bool:
    netloc = url.split("://", 1)[1].split("/", 1)[0]
    return ":" in netloc.rsplit("@", 1)[-1]


class AnonOpsHook(BaseHook):
    """Jobs of one ``anon_ops`` connection: the SDK connection for the worker, async status and
    abort for the triggerer."""

    conn_name_attr = "anon_ops_conn_id"
    default_conn_name = "anon_ops_default"
    conn_type = "anon_ops"
    hook_name = "anon-ops"

    def __init__(self, anon_ops_conn_id: str = default_conn_name) -> None:
        super().__init__()
        self.anon_ops_conn_id = anon_ops_conn_id
        self._endpoint: Endpoint | None = None
        self._connection: asdk.Connection | None = None
        self._aclient: AsyncRemoteClient | None = None

    # ------------------------------------------------------------------ the UI form
    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Relabel the generic form: host is the service URL (empty: embedded), password the token."""
        return {
            "hidden_fields": ["login"],
            "relabeling": {
                "host": "Service URL (empty or 'embedded': the embedded runtime)",
                "password": "API token",
                "schema": "Scheme (http or https, when the host has none)",
            },
            "placeholders": {
                "host": "http://anon-ops.internal:8090",
                "port": str(DEFAULT_PORT),
                "schema": "https",
                "password": "the service's ANON_OPS_TOKEN",
                "extra": json.dumps({"home": "/var/lib/anon_ops (embedded only)", "timeout": 60}),
            },
        }

    # ------------------------------------------------------------------ resolving the connection
    def _lookup(self) -> AirflowConnection | None:
        try:
            return self.get_connection(self.anon_ops_conn_id)
        except AirflowNotFoundException:
            if self.anon_ops_conn_id != self.default_conn_name:
                raise
            self.log.info("connection %s is not defined: using the SDK defaults (ANON_OPS_URL, else embedded)",
                          self.anon_ops_conn_id)
            return None

    async def _alookup(self) -> AirflowConnection | None:
        try:
            return await self.aget_connection(self.anon_ops_conn_id)
        except AirflowNotFoundException:
            if self.anon_ops_conn_id != self.default_conn_name:
                raise
            return None

    @property
    def endpoint(self) -> Endpoint:
        if self._endpoint is None:
            self._endpoint = endpoint_from_connection(self._lookup())
        return self._endpoint

    async def aendpoint(self) -> Endpoint:
        """The endpoint, looked up without blocking the triggerer's event loop."""
        if self._endpoint is None:
            self._endpoint = endpoint_from_connection(await self._alookup())
        return self._endpoint

    def get_conn(self) -> asdk.Connection:
        """The SDK connection (built once per hook)."""
        if self._connection is None:
            self._connection = build_connection(self.endpoint)
            self.log.info("anon-ops connection %s: %s", self.anon_ops_conn_id, self._connection)
        return self._connection

    # ------------------------------------------------------------------ jobs (sync, worker side)
    def job(self, job_id: str) -> asdk.AnonJob:
        return self.get_conn().job(job_id)

    def job_url(self, job_id: str) -> str:
        """The job's status URL on the service; for the embedded runtime, its folder."""
        return job_url(self.endpoint if self._connection is None else _endpoint_of(self._connection), job_id)

    def get_job_status(self, job_id: str) -> JobStatus:
        """The job's state; a status outside :class:`JobStatus` raises (never read as success)."""
        return parse_status(self.job(job_id).status(), job_id)

    def abort_job(self, job_id: str) -> None:
        """Abort a queued or running job; a terminal job is left as it is."""
        self.job(job_id).abort()
        self.log.info("anon-ops job %s: abort requested", job_id)

    def test_connection(self) -> tuple[bool, str]:
        """The UI's "Test" button: list one job (authenticated) on the service or the runtime."""
        try:
            self.get_conn().jobs(limit=1)
        except Exception as exc:
            return False, f"{type(exc).__name__}: {exc}"
        return True, f"connected to {self.get_conn().location}"

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    # ------------------------------------------------------------------ jobs (async, triggerer side)
    async def aget_status_document(self, job_id: str) -> dict[str, Any]:
        """The status document, without blocking the event loop: httpx for a service; for the
        embedded runtime, its (SQLite) store read in a thread."""
        endpoint = await self.aendpoint()
        if endpoint.is_remote:
            return await self._async_client(endpoint).get_status(job_id)
        return await asyncio.to_thread(lambda: self._embedded(endpoint).status(job_id))

    async def aabort_job(self, job_id: str) -> None:
        endpoint = await self.aendpoint()
        if endpoint.is_remote:
            await self._async_client(endpoint).abort(job_id)
        else:
            await asyncio.to_thread(lambda: self._embedded(endpoint).abort(job_id))
        self.log.info("anon-ops job %s: abort requested", job_id)

    async def aclose(self) -> None:
        """Close the async HTTP client (one per hook, kept across the trigger's polls)."""
        if self._aclient is not None:
            await self._aclient.aclose()
            self._aclient = None

    def _async_client(self, endpoint: Endpoint) -> AsyncRemoteClient:
        if self._aclient is None:
            from anon_ops.sdk.aio import AsyncRemoteClient

            assert endpoint.url is not None
            self._aclient = AsyncRemoteClient(endpoint.url, endpoint.token, timeout=endpoint.timeout or 30.0)
        return self._aclient

    def _embedded(self, endpoint: Endpoint) -> Any:
        if self._connection is None:
            self._connection = build_connection(endpoint)
        return self._connection.backend


def build_connection(endpoint: Endpoint) -> asdk.Connection:
    """The SDK connection of an endpoint."""
    import anon_ops as asdk
    from anon_ops.sdk.remote import DEFAULT_TIMEOUT

    timeout = endpoint.timeout or DEFAULT_TIMEOUT
    if endpoint.is_remote:
        return asdk.Connection(endpoint.url, token=endpoint.token, timeout=timeout)
    if endpoint.from_environment:
        return asdk.Connection(timeout=timeout)
    return asdk.Connection(settings=endpoint.settings(), timeout=timeout)


def _endpoint_of(connection: asdk.Connection) -> Endpoint:
    return Endpoint(url=connection.location) if connection.is_remote else Endpoint(home=connection.location)


def job_url(endpoint: Endpoint, job_id: str) -> str:
    if endpoint.is_remote:
        return f"{endpoint.url}/api/v1/jobs/{job_id}"
    return (endpoint.settings().jobs_dir / job_id).resolve().as_uri()


def parse_status(document: Any, job_id: str) -> JobStatus:
    """The JobStatus of a status document; an unknown or missing status is an error."""
    from anon_ops.jobs.status import JobStatus

    value = document.get("status") if isinstance(document, dict) else None
    try:
        return JobStatus(value)
    except ValueError:
        raise ValueError(f"anon-ops job {job_id}: unknown status {value!r} in the status document") from None


class AnonOpsHookMixin:
    """The ``hook`` of an operator or sensor, built once from its ``anon_ops_conn_id``."""

    anon_ops_conn_id: str

    @cached_property
    def hook(self) -> AnonOpsHook:
        return AnonOpsHook(self.anon_ops_conn_id)
