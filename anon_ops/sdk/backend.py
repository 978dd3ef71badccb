"""The one interface both connections implement, so that a job behaves the same embedded or remote.

Every method speaks in the terms of the REST contract — status documents (``id``, ``status``,
``running``, ``completed``, ``info``…), metadata and statistics dicts, pandas tables — and raises the
runtime's own errors (ConfigError, JobNotFoundError, JobStateError, QueueFullError…), whichever side
of the wire the job runtime is on.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from anon_ops.config import DataStore, JobConfig
from anon_ops.errors import ConfigError

if TYPE_CHECKING:
    from anon_ops.infer import InferenceResult

StatusDocument = dict[str, Any]
StatisticsPart = Literal["risk", "utility", "exploratory"]
STATISTICS_PARTS: tuple[str, ...] = ("risk", "utility", "exploratory")


class Backend(ABC):
    """Submit, monitor and fetch jobs of one job runtime."""

    #: Whether the runtime can write a job's target itself. A remote service cannot reach the
    #: client's files, so for it the SDK downloads the result and writes the target locally.
    writes_targets: bool = True

    @abstractmethod
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
        """Queue an anonymization (``data`` None: read the configuration's source); the status
        document carries ``created`` (False when an identical job already existed)."""

    @abstractmethod
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
        """Queue a job applying the transformation of completed job ``job_id`` to new rows."""

    @abstractmethod
    def status(self, job_id: str) -> StatusDocument: ...

    @abstractmethod
    def list_jobs(self, limit: int = 20) -> list[StatusDocument]:
        """Status documents of the newest jobs, newest first."""

    @abstractmethod
    def metadata(self, job_id: str) -> dict[str, Any]: ...

    @abstractmethod
    def statistics(self, job_id: str, part: StatisticsPart | None = None) -> dict[str, Any]:
        """The statistics document of a completed job, or one part of it."""

    @abstractmethod
    def result(self, job_id: str) -> pd.DataFrame | None:
        """The anonymized table of a completed job; None when it was not kept in storage."""

    @abstractmethod
    def abort(self, job_id: str) -> StatusDocument: ...

    @abstractmethod
    def delete(self, job_id: str) -> None: ...

    # Deciding before a job: interactive calls that return at once, never jobs. Not abstract, so
    # that backends written before them (tests, plugins) still load; such a backend cannot measure.
    def measure(self, config: JobConfig, data: pd.DataFrame | None, grid: dict[str, list[Any]]) -> pd.DataFrame:
        """One row per candidate of ``grid`` over ``config`` (``data`` None: the configuration's source)."""
        raise NotImplementedError(f"{type(self).__name__} cannot measure candidate configurations")

    def infer(self, base: JobConfig, data: pd.DataFrame | None, *, target: str | None = None, k: int = 5,
              max_suppression: float = 0.05) -> InferenceResult:
        """Inference over ``data`` keeping what ``base`` sets (its ``model_fields_set``)."""
        raise NotImplementedError(f"{type(self).__name__} cannot infer configurations")

    def close(self) -> None:  # noqa: B027 - optional hook, nothing to release by default
        """Release what this backend holds (sessions); jobs are not affected."""

    @property
    @abstractmethod
    def location(self) -> str:
        """Where the jobs live, for messages (a URL or the runtime's home; never a credential)."""


def check_part(part: str | None) -> None:
    if part is not None and part not in STATISTICS_PARTS:
        raise ValueError(f"part: expected one of {list(STATISTICS_PARTS)}, got {part!r}")


def source_table(config: JobConfig, data: pd.DataFrame | None) -> pd.DataFrame:
    """``data``, or the table of the configuration's source — read in this process: a service cannot
    reach the client's files, so the remote backend uploads what it reads here."""
    if data is not None:
        return data
    if config.source is None:
        raise ConfigError("source: give the data or a source in the configuration")
    from anon_ops.io import read_table

    return read_table(config.source, config.resolve_path)
