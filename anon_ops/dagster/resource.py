"""``AnonOpsResource``: the anon-ops connection of a Dagster deployment, and the submit-and-wait loop.

Like dagster-fivetran's resource it owns the credentials (``token`` should be an ``EnvVar`` so
Dagster neither stores nor shows it), builds the client (an SDK :class:`~anon_ops.sdk.Connection`,
embedded or remote) and polls a job to its end. Two rules from those integrations:

* attach, never duplicate: a submission carries an idempotency key derived from the Dagster run,
  the asset, the partition and the data, and the runtime returns the existing job for the same
  data and configuration anyway, so a retried step or a second run on unchanged data waits for
  the job that is already there (queued, running or done) instead of starting another;
* never orphan: when the run is terminated (``DagsterExecutionInterruptedError``, or
  ``KeyboardInterrupt`` in a plain process) or the timeout passes, the job this step started is
  aborted before the exception propagates.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

import pandas as pd
from dagster import (
    ConfigurableResource,
    DagsterExecutionInterruptedError,
    EnvVar,
    Failure,
    InitResourceContext,
    MetadataValue,
)
from pydantic import Field, PrivateAttr

import anon_ops as asdk
from anon_ops.config import JobConfig
from anon_ops.jobs.errors import IdempotencyConflictError, JobNotFoundError
from anon_ops.jobs.status import JobStatus
from anon_ops.settings import Settings

log = logging.getLogger(__name__)
ABORT_ATTEMPTS = 3

StatusDocument = dict[str, Any]


class Logger(Protocol):
    """What the resource logs to: a ``logging.Logger`` or Dagster's ``context.log``."""

    def info(self, msg: str, *args: Any) -> Any: ...
    def warning(self, msg: str, *args: Any) -> Any: ...
    def error(self, msg: str, *args: Any) -> Any: ...


def idempotency_key(run_id: str, asset_key: str, partition_key: str | None = None, kind: str = "anonymize") -> str:
    """A key per (run, asset, partition): a retried step replays its own submission.

    Derived from the logical work, not the attempt, as the Databricks provider does; hashed so a
    long asset path or partition key cannot exceed what a header or a store column accepts.
    """
    text = "\x1f".join(("dagster", kind, run_id, asset_key, partition_key or ""))
    return "dagster-" + hashlib.sha256(text.encode()).hexdigest()[:40]


def _with_content(key: str | None, df: pd.DataFrame, *parts: str) -> str | None:
    """``key`` narrowed to this data and configuration.

    A retried step sending the same rows replays its submission; one whose input changed between
    attempts gets a new job rather than the earlier attempt's (the embedded runtime replays a key
    without comparing the request).
    """
    if key is None:
        return None
    digest = hashlib.sha256(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    digest.update(",".join(map(str, df.columns)).encode())
    for part in parts:
        digest.update(part.encode())
    return f"{key}-{digest.hexdigest()[:16]}"


def without_io(config: JobConfig) -> JobConfig:
    """The configuration without source and target: the asset hands the data over and wants the
    result back as a DataFrame (the IO manager, not the job, decides where it is stored)."""
    document = config.to_dict()
    document.pop("source", None)
    document.pop("target", None)
    return JobConfig.parse(document, config.base_dir)


class AnonOpsResource(ConfigurableResource):
    """Where anonymization jobs run: the embedded runtime (``url`` empty) or an anon-ops service.

    ``AnonOpsResource.from_env()`` reads ``ANON_OPS_URL`` / ``ANON_OPS_TOKEN`` as ``EnvVar`` when
    they are set (an unset ``EnvVar`` would fail every run), so one Definitions module works on a
    laptop (embedded) and against a service.
    """

    url: str = Field(default="", description="anon-ops service URL; empty: the embedded runtime.")
    token: str = Field(default="", description="Bearer token of the service; pass EnvVar('ANON_OPS_TOKEN').")
    home: str = Field(default="", description="ANON_OPS_HOME of the embedded runtime; empty: the environment's.")
    poll_interval: float = Field(default=1.0, gt=0, description="Seconds between two status requests.")
    timeout: float = Field(default=3600.0, gt=0, description="Seconds a job may take; then it is aborted.")
    request_timeout: float = Field(default=60.0, gt=0, description="Seconds one HTTP request may take.")
    reports_dir: str = Field(default="", description="Folder of the release reports (statistics and gate verdict); "
                                                     "empty: the Dagster instance's storage.")

    _connection: asdk.Connection | None = PrivateAttr(default=None)

    @classmethod
    def from_env(cls, **overrides: Any) -> AnonOpsResource:
        """The resource the environment describes: the service of ``ANON_OPS_URL`` (token from
        ``ANON_OPS_TOKEN``) when set, else the embedded runtime of ``ANON_OPS_HOME``."""
        values: dict[str, Any] = {
            "url": EnvVar("ANON_OPS_URL") if os.environ.get("ANON_OPS_URL") else "",
            "token": EnvVar("ANON_OPS_TOKEN") if os.environ.get("ANON_OPS_TOKEN") else "",
        }
        values.update(overrides)
        return cls(**values)

    # ------------------------------------------------------------------ the client
    @property
    def connection(self) -> asdk.Connection:
        """The SDK connection, built once per process (one HTTP session, one embedded runtime)."""
        if self._connection is None:
            if self.url:
                self._connection = asdk.Connection(self.url, token=self.token or None, timeout=self.request_timeout)
            else:
                settings = Settings.from_env(home=Path(self.home) if self.home else None)
                self._connection = asdk.Connection(settings=settings)
        return self._connection

    @property
    def location(self) -> str:
        """The service URL or the embedded home, for metadata (never a credential)."""
        return self.connection.location

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def job(self, job_id: str) -> asdk.AnonJob:
        return self.connection.job(job_id)

    def list_jobs(self, limit: int = 50) -> list[StatusDocument]:
        """Status documents of the newest jobs, newest first."""
        return self.connection.jobs(limit)

    def status_url(self, job_id: str) -> str | None:
        """The job's status route on a service (None when embedded: there is no URL to link)."""
        return f"{self.url.rstrip('/')}/api/v1/jobs/{job_id}" if self.url else None

    # ------------------------------------------------------------------ submit, attach, wait
    def submit(
        self,
        df: pd.DataFrame,
        config: JobConfig,
        *,
        key: str | None = None,
        force: bool = False,
        logger: Logger | None = None,
    ) -> asdk.AnonJob:
        """Queue an anonymization of ``df`` (or get the existing job for the same data and
        configuration: ``job.created`` is then False and the caller attaches to it)."""
        config = without_io(config)
        element = asdk.AnonElement(self.connection, df, config=config)
        key = _with_content(key, df, config.to_yaml())
        return self._submitting(lambda k: asdk.anonymize(element, force=force, idempotency_key=k), key, logger)

    def submit_apply(
        self,
        parent: asdk.AnonJob,
        df: pd.DataFrame,
        *,
        key: str | None = None,
        force: bool = False,
        logger: Logger | None = None,
    ) -> asdk.AnonJob:
        """Queue a job applying the stored transformation of ``parent`` to new rows."""
        key = _with_content(key, df, parent.id())
        return self._submitting(lambda k: asdk.apply_anonymize(parent, df, force=force, idempotency_key=k), key,
                                logger)

    def _submitting(self, submit: Callable[[str | None], asdk.AnonJob], key: str | None,
                    logger: Logger | None) -> asdk.AnonJob:
        logger = logger or log
        try:
            job = submit(key)
        except IdempotencyConflictError:
            # a service that compares requests found the key used for another one: submit without
            # it (identical data and configuration still find their existing job)
            logger.warning("idempotency key %s was used for another request; submitting without it", key)
            job = submit(None)
        if job.created is False:
            logger.info("attached to existing anon-ops job %s on %s (same data and configuration)", job.id(),
                        self.location)
        else:
            logger.info("submitted anon-ops job %s to %s", job.id(), self.location)
        return job

    def wait(self, job: asdk.AnonJob, *, logger: Logger | None = None,
             abort_on_interrupt: bool = True) -> StatusDocument:
        """Poll ``job`` until it ends; the final status document.

        On a run termination (``DagsterExecutionInterruptedError`` / ``KeyboardInterrupt``) or at
        ``timeout`` the job is aborted when ``abort_on_interrupt`` (pass False for a job that
        someone else started and this run only attached to), and the exception propagates.
        """
        logger = logger or log
        deadline = time.monotonic() + self.timeout
        last: tuple[str, float] | None = None
        try:
            while True:
                document = job.status()
                state = JobStatus(document["status"])
                if state.is_terminal:
                    return document
                progress = (state.value, float(document.get("running") or 0.0))
                if progress != last:
                    logger.info("anon-ops job %s: %s (%.0f %%)", job.id(), *progress)
                    last = progress
                if time.monotonic() >= deadline:
                    self._abort(job, f"timeout of {self.timeout:g} s reached", logger, abort_on_interrupt)
                    raise Failure(
                        description=f"anon-ops job {job.id()} still {state.value} after {self.timeout:g} s",
                        metadata={"job_id": MetadataValue.text(job.id())},
                    )
                time.sleep(self.poll_interval)
        except (DagsterExecutionInterruptedError, KeyboardInterrupt):
            self._abort(job, "the run was interrupted", logger, abort_on_interrupt)
            raise

    @staticmethod
    def _abort(job: asdk.AnonJob, why: str, logger: Logger, abort: bool) -> None:
        if not abort:
            logger.warning("%s; anon-ops job %s was not started by this step and goes on", why, job.id())
            return
        interrupted = (DagsterExecutionInterruptedError, KeyboardInterrupt)
        for _ in range(ABORT_ATTEMPTS):
            try:
                document = job.abort()
                break
            except interrupted:
                # a second interrupt while aborting (Ctrl-C reaches the step process, and the
                # executor forwards one more): the abort matters more than acknowledging it
                continue
            except Exception as exc:  # the interruption matters more than a failed abort
                with contextlib.suppress(*interrupted):
                    logger.error("%s: could not abort anon-ops job %s: %s", why, job.id(), exc)
                return
        else:
            return
        with contextlib.suppress(*interrupted):
            logger.warning("%s: aborted anon-ops job %s (now %s)", why, job.id(), document.get("status"))

    def completed(self, job: asdk.AnonJob, *, logger: Logger | None = None,
                  abort_on_interrupt: bool = True) -> StatusDocument:
        """``wait``, then a ``Failure`` (with the job's error) unless the job completed."""
        document = self.wait(job, logger=logger, abort_on_interrupt=abort_on_interrupt)
        if document["status"] != JobStatus.COMPLETED:
            raise Failure(
                description=f"anon-ops job {job.id()} {document['status']}: "
                            f"{document.get('error') or 'no reason given'}",
                metadata={"job_id": MetadataValue.text(job.id()), "status": MetadataValue.text(document["status"])},
            )
        return document

    def run(self, df: pd.DataFrame, config: JobConfig, *, key: str | None = None, force: bool = False,
            logger: Logger | None = None) -> asdk.AnonJob:
        """Submit (or attach) and wait: a completed job, or a ``Failure``."""
        return self._run(lambda k: self.submit(df, config, key=k, force=force, logger=logger), key, logger)

    def run_apply(self, parent: asdk.AnonJob, df: pd.DataFrame, *, key: str | None = None, force: bool = False,
                  logger: Logger | None = None) -> asdk.AnonJob:
        """Apply ``parent``'s transformation to ``df`` and wait: a completed job, or a ``Failure``."""
        return self._run(lambda k: self.submit_apply(parent, df, key=k, force=force, logger=logger), key, logger)

    def _run(self, submit: Callable[[str | None], asdk.AnonJob], key: str | None,
             logger: Logger | None) -> asdk.AnonJob:
        job = submit(key)
        if job.created is False and job.state() in (JobStatus.FAILED, JobStatus.ABORTED):
            # the key replays this step's earlier attempt, whose job was aborted (the run was
            # interrupted) or failed: a retry means a new job, which identical data may now get
            (logger or log).info("anon-ops job %s of an earlier attempt is %s; submitting again", job.id(),
                                 job.state().value)
            job = submit(None)
        self.completed(job, logger=logger, abort_on_interrupt=job.created is not False)
        return job

    # ------------------------------------------------------------------ stored configurations
    def latest_completed_job(
        self,
        *,
        kind: str = "anonymize",
        columns: Iterable[str] | None = None,
        limit: int = 100,
    ) -> asdk.AnonJob | None:
        """The newest completed job of ``kind`` (over a table with exactly ``columns`` when given):
        the stored configuration an incremental release applies."""
        wanted = set(columns) if columns is not None else None
        for document in self.list_jobs(limit):
            if document.get("kind", "anonymize") != kind or document.get("status") != JobStatus.COMPLETED:
                continue
            if wanted is not None and set((document.get("info") or {}).get("columns") or ()) != wanted:
                continue
            return self.job(document["id"])
        return None

    def existing_job(self, job_id: str | None) -> asdk.AnonJob | None:
        """A handle on ``job_id`` if this runtime knows it (a job id recorded elsewhere may belong
        to another runtime)."""
        if not job_id:
            return None
        job = self.job(job_id)
        try:
            job.status()
        except JobNotFoundError:
            return None
        return job
