"""Jobs and results, and the contract's functions: anonymize, apply_anonymize, job_ids."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from anon_ops.config import DataStore, JobConfig
from anon_ops.jobs.status import JobStatus
from anon_ops.sdk.backend import StatisticsPart, StatusDocument
from anon_ops.sdk.element import AnonElement, DataStoreLike, as_datastore, explicit_fields
from anon_ops.sdk.errors import JobFailedError

if TYPE_CHECKING:
    from anon_ops.sdk.connection import Connection

log = logging.getLogger(__name__)


@dataclass
class AnonResult:
    """The outcome of a completed job: ``df`` is the anonymized table, or None when it went to a
    target datastore (``target`` says where)."""

    job: AnonJob
    df: pd.DataFrame | None
    target: str | None = None

    @property
    def statistics(self) -> dict[str, Any]:
        """The job's statistics document."""
        return self.job.statistics()

    def __repr__(self) -> str:
        shape = f"{self.df.shape[0]}x{self.df.shape[1]}" if self.df is not None else "None"
        return f"AnonResult(job={self.job.id()}, df={shape}, target={self.target!r})"


class AnonJob:
    """A job of a connection: monitor it, fetch its result and statistics, abort or delete it.

    For a remote connection a target datastore is written here, by the client, when the result is
    first fetched (``_local_target``): the service cannot reach the client's files.
    """

    def __init__(self, connection: Connection, job_id: str, *, created: bool | None = None,
                 local_target: DataStore | None = None, single_file: bool = True) -> None:
        self.connection = connection
        self._id = job_id
        self.created = created
        self._local_target = local_target
        self._single_file = single_file
        self._result: AnonResult | None = None

    def __repr__(self) -> str:
        return f"AnonJob({self._id}, on {self.connection.location})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AnonJob) and other._id == self._id and other.connection is self.connection

    def __hash__(self) -> int:
        return hash(self._id)

    @property
    def _backend(self) -> Any:
        return self.connection.backend

    def id(self) -> str:
        return self._id

    def status(self) -> StatusDocument:
        """The status document: ``id``, ``status``, ``running`` (percent done), ``completed``, ``info``…"""
        return self._backend.status(self._id)

    def state(self) -> JobStatus:
        return JobStatus(self.status()["status"])

    def metadata(self) -> dict[str, Any]:
        """Fields, configuration and data used."""
        return self._backend.metadata(self._id)

    def wait(self, poll_interval: float = 0.5, timeout: float | None = None) -> StatusDocument:
        """Block until the job is completed, failed or aborted; the final status document.
        TimeoutError after ``timeout`` seconds (the job goes on)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            document = self.status()
            if JobStatus(document["status"]).is_terminal:
                return document
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"job {self._id} still {document['status']} after {timeout} s")
            remaining = poll_interval if deadline is None else max(0.0, deadline - time.monotonic())
            time.sleep(min(poll_interval, remaining))

    def _completed(self, timeout: float | None) -> StatusDocument:
        document = self.wait(timeout=timeout)
        if document["status"] != JobStatus.COMPLETED:
            raise JobFailedError.of(document)
        return document

    def result(self, timeout: float | None = None) -> AnonResult:
        """Wait for the job and return its result. ``df`` is None when the result went to a target
        datastore. The result is fetched once and kept on this object: one not kept in the runtime's
        storage (``pty_storage=False``) can be handed out only once."""
        if self._result is not None:
            return self._result
        document = self._completed(timeout)
        target = (document.get("completed") or {}).get("target")
        if target is not None:  # the runtime wrote it; a stored copy, if any, stays on the service
            self._result = AnonResult(self, None, target)
            return self._result
        df = self._backend.result(self._id)
        if self._local_target is not None and df is not None:
            from anon_ops.io import write_table

            target = write_table(df, self._local_target, single_file=self._single_file)
            log.info("job %s: result written to its target by the client", self._id)
            df = None
        self._result = AnonResult(self, df, target)
        return self._result

    def statistics(self, timeout: float | None = None) -> dict[str, Any]:
        """The statistics document; waits for the job, as the statistics exist once it completed."""
        return self._statistics(None, timeout)

    def _statistics(self, part: StatisticsPart | None, timeout: float | None) -> dict[str, Any]:
        self._completed(timeout)
        return self._backend.statistics(self._id, part)

    def risk_stats(self, timeout: float | None = None) -> dict[str, Any]:
        """Prosecutor, journalist and marketer risk of the source and of the result."""
        return self._statistics("risk", timeout)

    def utility_stats(self, timeout: float | None = None) -> dict[str, Any]:
        return self._statistics("utility", timeout)

    def exploratory_stats(self, timeout: float | None = None) -> dict[str, Any]:
        """Distribution of every attribute in source and result."""
        return self._statistics("exploratory", timeout)

    def abort(self) -> StatusDocument:
        """Stop a queued or running job (a terminal job is left as it is)."""
        return self._backend.abort(self._id)

    def delete(self) -> None:
        """Remove the job and everything it stored."""
        self._backend.delete(self._id)


def _with(config: JobConfig, **changes: Any) -> JobConfig:
    """A copy of ``config`` with top-level fields replaced, validated again; the fields set stay
    the set ones (``mode="auto"`` infers the others)."""
    document = explicit_fields(config)
    for key, value in changes.items():
        if value is None:
            document.pop(key, None)
        else:
            document[key] = value
    return JobConfig.parse(document, config.base_dir)


def anonymize(
    anon_object: AnonElement,
    target_datastore: DataStoreLike | None = None,
    force: bool = False,
    mode: str | None = None,
    pty_storage: bool = True,
    additional_properties: dict[str, Any] | None = None,
    *,
    idempotency_key: str | None = None,
) -> AnonJob:
    """Start an anonymization job; the same data and configuration again return the existing job
    unless ``force``. ``mode="auto"`` completes what the configuration leaves open."""
    config = anon_object.to_config()
    target = as_datastore(target_datastore, "target_datastore") if target_datastore is not None else config.target
    properties = {**config.additional_properties.model_dump(mode="json", exclude_none=True),
                  **(additional_properties or {})}
    backend = anon_object.connection.backend
    local = target is not None and not backend.writes_targets
    if local and target is not None and target.file is not None:  # relative to the configuration's folder
        target = target.model_copy(update={"file": target.file.model_copy(
            update={"name": config.resolve_path(target.file.name)})})
    config = _with(config, additional_properties=properties,
                   target=None if target is None or local else target.model_dump(mode="json", exclude_none=True))
    document = backend.submit(config, anon_object.df, force=force, mode=mode, pty_storage=pty_storage,
                              idempotency_key=idempotency_key)
    return AnonJob(anon_object.connection, document["id"], created=document.get("created"),
                   local_target=target if local else None,
                   single_file=config.additional_properties.single_file == "yes")


def apply_anonymize(
    job: AnonJob,
    df_new: pd.DataFrame,
    target_datastore: DataStoreLike | None = None,
    force: bool = False,
    pty_storage: bool = True,
    *,
    idempotency_key: str | None = None,
) -> AnonJob:
    """Apply the transformation of a completed job to new rows, as a new job (no new search)."""
    backend = job.connection.backend
    target = as_datastore(target_datastore, "target_datastore") if target_datastore is not None else None
    local = target is not None and not backend.writes_targets
    document = backend.apply(job.id(), df_new, target=None if local else target, force=force,
                             pty_storage=pty_storage, idempotency_key=idempotency_key)
    single_file = True
    if local:
        properties = job.metadata().get("configuration", {}).get("additional_properties", {})
        single_file = properties.get("single_file", "yes") == "yes"
    return AnonJob(job.connection, document["id"], created=document.get("created"),
                   local_target=target if local else None, single_file=single_file)


def job_ids(connection: Connection, limit: int = 20) -> list[str]:
    """Ids of the newest jobs (queued, running or ended), newest first."""
    return [document["id"] for document in connection.backend.list_jobs(limit)]
