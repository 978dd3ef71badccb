"""The persistent job store: one table of job records (SQLite by default, any SQLAlchemy URL).

State changes are conditional updates (``UPDATE … WHERE status = expected``) so that several
runtimes and their worker processes sharing one store never overwrite each other's transitions.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, Field

from anon_ops.jobs.status import JobStatus

log = logging.getLogger(__name__)

_metadata = sa.MetaData()
jobs_table = sa.Table(
    "anon_ops_jobs",
    _metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("progress", sa.Float, nullable=False, default=0.0),
    sa.Column("created_at", sa.Float, nullable=False, index=True),
    sa.Column("started_at", sa.Float),
    sa.Column("finished_at", sa.Float),
    sa.Column("heartbeat", sa.Float),
    sa.Column("fingerprint", sa.String(64), index=True),
    sa.Column("parent_id", sa.String(40)),
    sa.Column("config", sa.Text, nullable=False),
    sa.Column("info", sa.Text, nullable=False),
    sa.Column("summary", sa.Text),
    sa.Column("error", sa.Text),
    sa.Column("error_type", sa.String(64)),
    sa.Column("pty_storage", sa.Boolean, nullable=False, default=True),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("worker_pid", sa.Integer),
    sa.Column("abort_requested", sa.Boolean, nullable=False, default=False),
)

idempotency_table = sa.Table(
    "anon_ops_idempotency",
    _metadata,
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("request_hash", sa.String(64), nullable=False),
    sa.Column("job_id", sa.String(40), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

_JSON_FIELDS = ("config", "info", "summary")
_PRIVATE_INFO = ("base_dir",)  # where the runtime resolves paths: not for clients


class JobRecord(BaseModel):
    """One job as stored."""

    id: str
    kind: str = "anonymize"
    status: JobStatus = JobStatus.QUEUED
    progress: float = 0.0
    created_at: float = Field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    heartbeat: float | None = None
    fingerprint: str | None = None
    parent_id: str | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    info: dict[str, Any] = Field(default_factory=dict)
    summary: dict[str, Any] | None = None
    error: str | None = None
    error_type: str | None = None  # class name of the error a failed job ended with (never its message)
    pty_storage: bool = True
    attempts: int = 0
    worker_pid: int | None = None
    abort_requested: bool = False

    def status_document(self) -> dict[str, Any]:
        """The status JSON of the SDK contract: id, status, running (percent), completed, info."""
        return {
            "id": self.id,
            "kind": self.kind,
            "status": self.status.value,
            "running": round(100.0 * self.progress, 1),
            "completed": self.summary if self.status == JobStatus.COMPLETED else None,
            "info": {k: v for k, v in self.info.items() if k not in _PRIVATE_INFO},
            "error": self.error,
            "error_type": self.error_type,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "attempts": self.attempts,
            "parent_id": self.parent_id,
        }

    @classmethod
    def from_row(cls, row: sa.Row[Any]) -> JobRecord:
        values = dict(row._mapping)
        for name in _JSON_FIELDS:
            if values.get(name) is not None:
                values[name] = json.loads(values[name])
        return cls(**values)


def _encode(values: dict[str, Any]) -> dict[str, Any]:
    encoded = dict(values)
    for name in _JSON_FIELDS:
        if name in encoded and encoded[name] is not None:
            encoded[name] = json.dumps(encoded[name], default=str)
    if isinstance(encoded.get("status"), JobStatus):
        encoded["status"] = encoded["status"].value
    return encoded


class JobStore:
    """CRUD and conditional state transitions over the jobs table."""

    def __init__(self, url: str) -> None:
        self.url = url
        is_sqlite = url.startswith("sqlite")
        self.engine = sa.create_engine(
            url,
            connect_args={"timeout": 30, "check_same_thread": False} if is_sqlite else {},
            pool_pre_ping=not is_sqlite,
        )
        if is_sqlite:
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        _metadata.create_all(self.engine)
        _add_missing_columns(self.engine)

    @contextmanager
    def _begin(self) -> Iterator[sa.Connection]:
        with self.engine.begin() as connection:
            yield connection

    def create(self, record: JobRecord) -> JobRecord:
        with self._begin() as c:
            c.execute(jobs_table.insert().values(**_encode(record.model_dump())))
        return record

    def get(self, job_id: str) -> JobRecord | None:
        with self._begin() as c:
            row = c.execute(sa.select(jobs_table).where(jobs_table.c.id == job_id)).first()
        return JobRecord.from_row(row) if row is not None else None

    def find(self, **equal: Any) -> list[JobRecord]:
        query = sa.select(jobs_table).order_by(jobs_table.c.created_at.desc())
        for name, value in equal.items():
            query = query.where(jobs_table.c[name] == (value.value if isinstance(value, JobStatus) else value))
        with self._begin() as c:
            return [JobRecord.from_row(row) for row in c.execute(query)]

    def newest(self, limit: int = 20) -> list[JobRecord]:
        query = sa.select(jobs_table).order_by(jobs_table.c.created_at.desc()).limit(limit)
        with self._begin() as c:
            return [JobRecord.from_row(row) for row in c.execute(query)]

    def in_states(self, *states: JobStatus) -> list[JobRecord]:
        query = sa.select(jobs_table).where(jobs_table.c.status.in_([s.value for s in states]))
        with self._begin() as c:
            return [JobRecord.from_row(row) for row in c.execute(query.order_by(jobs_table.c.created_at))]

    def count(self, status: JobStatus) -> int:
        query = sa.select(sa.func.count()).select_from(jobs_table).where(jobs_table.c.status == status.value)
        with self._begin() as c:
            return int(c.execute(query).scalar_one())

    def created_since(self, since: float) -> list[float]:
        query = sa.select(jobs_table.c.created_at).where(jobs_table.c.created_at >= since)
        with self._begin() as c:
            return sorted(float(r[0]) for r in c.execute(query))

    def update(self, job_id: str, **values: Any) -> None:
        with self._begin() as c:
            c.execute(jobs_table.update().where(jobs_table.c.id == job_id).values(**_encode(values)))

    def transition(self, job_id: str, expected: JobStatus | tuple[JobStatus, ...], **values: Any) -> bool:
        """Update only while the job is in ``expected`` state(s); True when the update happened."""
        states = [expected.value] if isinstance(expected, JobStatus) else [s.value for s in expected]
        with self._begin() as c:
            done = c.execute(
                jobs_table.update()
                .where(jobs_table.c.id == job_id, jobs_table.c.status.in_(states))
                .values(**_encode(values))
            )
        return done.rowcount == 1

    def claim_next(self) -> JobRecord | None:
        """Atomically move the oldest queued job to running and return it."""
        query = (sa.select(jobs_table.c.id).where(jobs_table.c.status == JobStatus.QUEUED.value)
                 .order_by(jobs_table.c.created_at).limit(5))
        with self._begin() as c:
            candidates = [r[0] for r in c.execute(query)]
        now = time.time()
        for job_id in candidates:
            claimed = self.transition(
                job_id, JobStatus.QUEUED, status=JobStatus.RUNNING, started_at=now, heartbeat=now,
                attempts=jobs_table.c.attempts + 1, progress=0.0, worker_pid=None,
            )
            if claimed:
                return self.get(job_id)
        return None

    def delete(self, job_id: str) -> None:
        with self._begin() as c:
            c.execute(jobs_table.delete().where(jobs_table.c.id == job_id))
            c.execute(idempotency_table.delete().where(idempotency_table.c.job_id == job_id))

    def idempotency(self, key: str) -> tuple[str, str] | None:
        """(request hash, job id) recorded for an Idempotency-Key, if any."""
        query = sa.select(idempotency_table.c.request_hash, idempotency_table.c.job_id).where(
            idempotency_table.c.key == key)
        with self._begin() as c:
            row = c.execute(query).first()
        return (row[0], row[1]) if row is not None else None

    def remember_idempotency(self, key: str, request_hash: str, job_id: str) -> bool:
        """Record the key; False when it was recorded meanwhile (a concurrent duplicate request)."""
        try:
            with self._begin() as c:
                c.execute(idempotency_table.insert().values(key=key, request_hash=request_hash, job_id=job_id,
                                                            created_at=time.time()))
        except sa.exc.IntegrityError:
            return False
        return True


_ADDED_COLUMNS: tuple[tuple[str, str], ...] = (("error_type", "VARCHAR(64)"),)
"""Columns added after the first release: ``create_all`` does not add them to an existing table."""


def _add_missing_columns(engine: sa.Engine) -> None:
    """Migrate a store made by an earlier version, so a home keeps its jobs across upgrades.

    Several processes (a service, its workers, a CLI) may open an old store at once: when another
    one added the column first, the ALTER fails and the column is there, which is all we need.
    """
    present = {column["name"] for column in sa.inspect(engine).get_columns(jobs_table.name)}
    for name, sql_type in _ADDED_COLUMNS:
        if name in present:
            continue
        try:
            with engine.begin() as c:
                c.execute(sa.text(f"ALTER TABLE {jobs_table.name} ADD COLUMN {name} {sql_type}"))
            log.info("job store migrated: column %s added", name)
        except sa.exc.DBAPIError:
            if name not in {column["name"] for column in sa.inspect(engine).get_columns(jobs_table.name)}:
                raise


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets workers write progress while the service reads; busy_timeout waits instead of failing."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
