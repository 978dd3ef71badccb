"""The embedded backend: a JobRuntime in this process, on the home of ``ANON_OPS_HOME``.

One runtime per home is shared by every embedded connection of the process: two runtimes on one
store would each run a scheduler and start workers for the same queue.
"""

from __future__ import annotations

import atexit
import logging
import threading
from typing import TYPE_CHECKING, Any

import pandas as pd

from anon_ops.config import DataStore, JobConfig
from anon_ops.jobs.runtime import JobRuntime
from anon_ops.sdk.backend import Backend, StatisticsPart, StatusDocument, check_part, source_table
from anon_ops.settings import Settings

if TYPE_CHECKING:
    from anon_ops.infer import InferenceResult

log = logging.getLogger(__name__)

_runtimes: dict[tuple[str, str], JobRuntime] = {}
_runtimes_lock = threading.Lock()


def shared_runtime(settings: Settings) -> JobRuntime:
    """The process's runtime for this home and store, started on first use.

    The first caller's settings win for that home (workers, limits): a later connection with other
    limits but the same home gets the running runtime.
    """
    key = (str(settings.home.expanduser().resolve()), settings.store_url)
    with _runtimes_lock:
        runtime = _runtimes.get(key)
        if runtime is None:
            runtime = JobRuntime(settings)
            _runtimes[key] = runtime
            log.info("embedded job runtime started in %s", key[0])
        return runtime


@atexit.register
def close_shared_runtimes() -> None:
    """Stop the schedulers (running workers finish their jobs; queued jobs wait for the next runtime)."""
    with _runtimes_lock:
        runtimes = list(_runtimes.values())
        _runtimes.clear()
    for runtime in runtimes:
        runtime.close()


class EmbeddedBackend(Backend):
    """Jobs run by a :class:`JobRuntime` in this process (worker processes on this machine).

    The runtime starts on the first job call: measuring and inferring run here directly and need
    neither a job store nor a scheduler.
    """

    writes_targets = True

    def __init__(self, settings: Settings | None = None, runtime: JobRuntime | None = None) -> None:
        self._runtime = runtime
        self.settings = runtime.settings if runtime is not None else settings or Settings.from_env()

    @property
    def runtime(self) -> JobRuntime:
        if self._runtime is None:
            self._runtime = shared_runtime(self.settings)
        return self._runtime

    @property
    def location(self) -> str:
        return str(self.settings.home)

    def measure(self, config: JobConfig, data: pd.DataFrame | None, grid: dict[str, list[Any]]) -> pd.DataFrame:
        from anon_ops.engine.measure import measure

        return measure(source_table(config, data), config, grid)

    def infer(self, base: JobConfig, data: pd.DataFrame | None, *, target: str | None = None, k: int = 5,
              max_suppression: float = 0.05) -> InferenceResult:
        from anon_ops.infer import infer_config

        return infer_config(source_table(base, data), base=base, target_variable=target, k=k,
                            max_suppression=max_suppression)

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
        submission = self.runtime.submit(config, data, force=force, mode=mode, pty_storage=pty_storage,
                                         idempotency_key=idempotency_key, base_dir=config.base_dir)
        return {**submission.job.status_document(), "created": submission.created}

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
        submission = self.runtime.apply(
            job_id, data, target=target.model_dump(mode="json", exclude_none=True) if target else None,
            force=force, pty_storage=pty_storage, idempotency_key=idempotency_key,
        )
        return {**submission.job.status_document(), "created": submission.created}

    def status(self, job_id: str) -> StatusDocument:
        return self.runtime.get(job_id).status_document()

    def list_jobs(self, limit: int = 20) -> list[StatusDocument]:
        return [job.status_document() for job in self.runtime.list(limit)]

    def metadata(self, job_id: str) -> dict[str, Any]:
        return self.runtime.metadata(job_id)

    def statistics(self, job_id: str, part: StatisticsPart | None = None) -> dict[str, Any]:
        check_part(part)
        document = self.runtime.statistics(job_id)
        return document if part is None else document.get(part, {})

    def result(self, job_id: str) -> pd.DataFrame | None:
        return self.runtime.result(job_id)

    def abort(self, job_id: str) -> StatusDocument:
        return self.runtime.abort(job_id).status_document()

    def delete(self, job_id: str) -> None:
        self.runtime.delete(job_id)

