"""Operators that start an anon-ops job and wait for it: anonymize and apply-anonymize; and the
statistics of a finished job.

The life of one task, as in the dbt Cloud and Databricks providers:

1. find or start the job: a job id kept in Airflow 3.3's ``task_state_store`` by an earlier try
   is reconnected to; otherwise the job is submitted with an Idempotency-Key derived from dag_id,
   task_id, run_id and map_index (not the try number), so a retry gets the job the first try
   started — even when that try died between submitting and recording the id;
2. push the job id and URL to XCom *before* waiting (the UI link works while it runs);
3. check once, and wait only if the job is not terminal yet: poll here, or defer to
   :class:`~anon_ops.airflow.triggers.anon_job.AnonJobTrigger` with the task's own deadline and
   no framework timeout;
4. validate the trigger's event (only ``completed`` succeeds; an unknown status fails);
5. return a small dict — ids, status and a few metrics — never the data.

The job is aborted when the task is killed (``on_kill``) or reaches its deadline, deferred or not.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, conf
from airflow.sdk.exceptions import AirflowException, TaskDeferralTimeout

from anon_ops.airflow import utils
from anon_ops.airflow.hooks.anon_ops import AnonOpsHook, AnonOpsHookMixin, parse_status
from anon_ops.airflow.links import AnonJobLink
from anon_ops.airflow.triggers.anon_job import AnonJobTrigger
from anon_ops.airflow.utils import (
    XCOM_JOB_ID,
    XCOM_JOB_URL,
    AnonJobFailedError,
    AnonJobTimeoutError,
    DataCallable,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

    import anon_ops as asdk
    from anon_ops.jobs.status import JobStatus

DEFAULT_TIMEOUT_SECONDS = 6 * 3600.0
MAX_GENERATIONS = 20  # fresh jobs one task run may start after failed ones (each try starts at most one)


def _default_deferrable() -> bool:
    return conf.getboolean("operators", "default_deferrable", fallback=False)


class AnonJobOperator(AnonOpsHookMixin, BaseOperator):
    """Base of the operators that start one job: submit idempotently, push id and URL, then wait.

    :param anon_ops_conn_id: the ``anon_ops`` connection (default ``anon_ops_default``; when that one
        is not defined, ``ANON_OPS_URL`` or the embedded runtime).
    :param wait_for_completion: False: return once the job is submitted (wait with AnonJobSensor).
    :param poll_interval: seconds between two status checks (here or in the trigger).
    :param timeout: seconds the task waits for the job before aborting it (None: no limit).
    :param deferrable: wait in the triggerer instead of holding a worker slot.
    """

    operator_extra_links = (AnonJobLink(),)
    ui_color = "#dff1ec"

    def __init__(
        self,
        *,
        anon_ops_conn_id: str = AnonOpsHook.default_conn_name,
        wait_for_completion: bool = True,
        poll_interval: float = 5.0,
        timeout: float | None = DEFAULT_TIMEOUT_SECONDS,
        deferrable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if poll_interval <= 0:
            raise ValueError("poll_interval must be > 0 seconds")
        if timeout is not None and timeout < 0:
            raise ValueError("timeout must be >= 0 seconds (or None)")
        self.anon_ops_conn_id = anon_ops_conn_id
        self.wait_for_completion = wait_for_completion
        self.poll_interval = float(poll_interval)
        self.timeout = None if timeout is None else float(timeout)
        self.deferrable = _default_deferrable() if deferrable is None else deferrable
        self._job_id: str | None = None


    # ------------------------------------------------------------------ what subclasses provide
    def prepare_submit(self, context: Context) -> Callable[[str], asdk.AnonJob]:
        """Read the input and return ``submit(idempotency_key) -> AnonJob`` (called once per key)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ execute
    def execute(self, context: Context) -> dict[str, Any]:
        job = self._find_or_submit(context)
        job_id = self._job_id = job.id()
        url = self.hook.job_url(job_id)
        context["ti"].xcom_push(key=XCOM_JOB_ID, value=job_id)
        context["ti"].xcom_push(key=XCOM_JOB_URL, value=url)
        document = job.status()
        status = parse_status(document, job_id)
        self.log.info("anon-ops job %s is %s: %s", job_id, status.value, url)
        if not self.wait_for_completion:
            return {"job_id": job_id, "job_url": url, "status": status.value}
        if status.is_terminal:
            return self._finish(job_id, status, document)
        end_time = None if self.timeout is None else utils.now() + self.timeout
        if self.deferrable:
            self.defer(
                trigger=AnonJobTrigger(job_id=job_id, anon_ops_conn_id=self.anon_ops_conn_id,
                                       poll_interval=self.poll_interval, end_time=end_time, owns_job=True),
                method_name="execute_complete",
            )
        return self._poll(job, end_time)

    def _find_or_submit(self, context: Context) -> asdk.AnonJob:
        """The job of this task run: one an earlier try recorded, else an idempotent submission."""
        from anon_ops.jobs.errors import JobNotFoundError
        from anon_ops.jobs.status import JobStatus

        store = context.get("task_state_store")
        known = _state_get(store, self.log)
        if isinstance(known, str) and known:
            try:
                job = self.hook.job(known)
                status = parse_status(job.status(), known)
            except JobNotFoundError:
                self.log.warning("anon-ops job %s of an earlier try no longer exists; submitting", known)
            else:
                if status not in (JobStatus.FAILED, JobStatus.ABORTED):
                    self.log.info("reconnecting to anon-ops job %s (%s) started by an earlier try", known,
                                  status.value)
                    return job
                self.log.info("anon-ops job %s of an earlier try ended %s; submitting again", known, status.value)
        submit = self.prepare_submit(context)
        for generation in range(1, MAX_GENERATIONS + 1):
            key = utils.idempotency_key(context, generation)
            job = submit(key)
            if job.created:
                self.log.info("anon-ops job %s submitted (idempotency key %s)", job.id(), key)
                break
            status = parse_status(job.status(), job.id())
            if status not in (JobStatus.FAILED, JobStatus.ABORTED):
                self.log.info("anon-ops job %s (%s) reused: same task run or same data and configuration",
                              job.id(), status.value)
                break
            self.log.info("anon-ops job %s of key %s ended %s; starting a fresh one", job.id(), key, status.value)
        else:
            raise AirflowException(f"{MAX_GENERATIONS} jobs of this task run ended failed or aborted; giving up")
        _state_set(store, job.id(), self.log)
        return job

    def _poll(self, job: asdk.AnonJob, end_time: float | None) -> dict[str, Any]:
        job_id = job.id()
        while True:
            remaining = None if end_time is None else end_time - utils.now()
            if remaining is not None and remaining <= 0:
                self._abort_quietly(job_id)
                raise AnonJobTimeoutError(f"anon-ops job {job_id} did not finish within {self.timeout} s; aborted")
            utils.sleep(self.poll_interval if remaining is None else min(self.poll_interval, remaining))
            document = job.status()
            status = parse_status(document, job_id)
            if status.is_terminal:
                return self._finish(job_id, status, document)
            self.log.info("anon-ops job %s is %s (%.0f %% done)", job_id, status.value,
                          float(document.get("running") or 0.0))

    def execute_complete(self, context: Context, event: Any = None) -> dict[str, Any]:
        """Resume after the trigger: only a well-formed ``completed`` event for our job succeeds."""
        expected = _pull_own(context, self.task_id, XCOM_JOB_ID)
        try:
            job_id = utils.validate_event(event, expected)
        except AnonJobTimeoutError:
            self._abort_quietly(expected or (event or {}).get("job_id"))
            raise
        self._job_id = job_id
        document = self.hook.job(job_id).status()
        return self._finish(job_id, parse_status(document, job_id), document)

    def _finish(self, job_id: str, status: JobStatus, document: Mapping[str, Any]) -> dict[str, Any]:
        from anon_ops.jobs.status import JobStatus

        if status != JobStatus.COMPLETED:
            error = document.get("error") or ""
            raise AnonJobFailedError(f"anon-ops job {job_id} ended {status.value}" + (f": {error}" if error else ""))
        metrics = utils.small_metrics(self.hook.job(job_id).statistics())
        self.log.info("anon-ops job %s completed: %s", job_id, json.dumps(metrics, default=str))
        return {"job_id": job_id, "job_url": self.hook.job_url(job_id), "status": status.value, "metrics": metrics}

    # ------------------------------------------------------------------ cancellation
    def on_kill(self) -> None:
        """Killed while polling (or by Airflow's execution_timeout): stop the job it started."""
        self._abort_quietly(self._job_id)

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context) -> Any:
        """A framework deferral timeout (someone set one) ends the task without our callback:
        abort the job first, so a timed-out task never leaves it running."""
        try:
            return super().resume_execution(next_method, next_kwargs, context)
        except TaskDeferralTimeout:
            self._abort_quietly(_pull_own(context, self.task_id, XCOM_JOB_ID))
            raise

    def _abort_quietly(self, job_id: str | None) -> None:
        if not job_id:
            return
        try:
            self.hook.abort_job(job_id)
        except Exception:
            self.log.exception("anon-ops job %s: abort failed", job_id)


class AnonymizeOperator(AnonJobOperator):
    """Start an anonymization job (the SDK's ``anonymize``) and wait for it.

    :param config: the job configuration — a YAML/JSON path, a dict (e.g. the gate's
        ``next_config`` from XCom) or a JobConfig.
    :param source: a data store (dict, path or DataStore) read in the worker and uploaded;
    :param data_callable: or ``context -> DataFrame`` (e.g. read a warehouse table);
        with neither, the configuration's own ``source`` is used.
    :param force: run again even if the same data and configuration already ran.
    :param mode: ``"auto"``: infer what the configuration leaves open.
    """

    template_fields: Sequence[str] = ("config", "source")

    def __init__(
        self,
        *,
        config: Any,
        source: Any = None,
        data_callable: DataCallable | None = None,
        force: bool = False,
        mode: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        utils.check_data_args(source, data_callable, required=False)
        self.config = config
        self.source = source
        self.data_callable = data_callable
        self.force = force
        self.mode = mode

    def prepare_submit(self, context: Context) -> Callable[[str], asdk.AnonJob]:
        import anon_ops as asdk

        config = utils.load_config(self.config)
        df = None
        if self.source is not None or self.data_callable is not None:
            df = utils.read_input(self.source, self.data_callable, context)
            self.log.info("anonymizing %d rows x %d columns", len(df), df.shape[1])
        element = asdk.AnonElement(self.hook.get_conn(), df, config=config)
        return lambda key: asdk.anonymize(element, force=self.force, mode=self.mode, idempotency_key=key)


class ApplyAnonymizeOperator(AnonJobOperator):
    """Apply the transformation of a completed anonymization job to new rows (the SDK's
    ``apply_anonymize``): no new search, the stored configuration as is; then wait.

    :param parent_job_id: the completed job whose configuration to apply (templated).
    :param source: the new rows as a data store, or
    :param data_callable: ``context -> DataFrame`` (e.g. the day's increment).
    """

    template_fields: Sequence[str] = ("parent_job_id", "source")

    def __init__(
        self,
        *,
        parent_job_id: str,
        source: Any = None,
        data_callable: DataCallable | None = None,
        force: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        utils.check_data_args(source, data_callable, required=True)
        self.parent_job_id = parent_job_id
        self.source = source
        self.data_callable = data_callable
        self.force = force

    def prepare_submit(self, context: Context) -> Callable[[str], asdk.AnonJob]:
        import anon_ops as asdk

        if not self.parent_job_id:
            raise AirflowException("parent_job_id: no completed job to take the configuration from")
        df = utils.read_input(self.source, self.data_callable, context)
        self.log.info("applying the configuration of job %s to %d new rows", self.parent_job_id, len(df))
        parent = self.hook.job(str(self.parent_job_id))
        return lambda key: asdk.apply_anonymize(parent, df, force=self.force, idempotency_key=key)


class AnonStatisticsOperator(AnonOpsHookMixin, BaseOperator):
    """Fetch the statistics of a job: XCom gets the small metrics dict; the whole document (with the
    exploratory distributions) goes to ``output_path`` when given (a local path or fsspec URL), and
    the privacy report (self-contained HTML) to ``report_path`` — XCom then carries its path.

    :param job_id: the job (templated; e.g. ``anonymize.output["job_id"]``).
    :param timeout: seconds to wait for the job to complete first (None: no limit).
    """

    template_fields: Sequence[str] = ("job_id", "output_path", "report_path")
    operator_extra_links = (AnonJobLink(),)
    ui_color = "#dff1ec"

    def __init__(
        self,
        *,
        job_id: str,
        anon_ops_conn_id: str = AnonOpsHook.default_conn_name,
        output_path: str | None = None,
        report_path: str | None = None,
        timeout: float | None = DEFAULT_TIMEOUT_SECONDS,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.job_id = job_id
        self.anon_ops_conn_id = anon_ops_conn_id
        self.output_path = output_path
        self.report_path = report_path
        self.timeout = timeout


    def execute(self, context: Context) -> dict[str, Any]:
        job_id = str(self.job_id)
        context["ti"].xcom_push(key=XCOM_JOB_URL, value=self.hook.job_url(job_id))
        statistics = self.hook.job(job_id).statistics(timeout=self.timeout)
        result: dict[str, Any] = {"job_id": job_id, "metrics": utils.small_metrics(statistics)}
        if self.output_path:
            import fsspec

            with fsspec.open(self.output_path, "w", encoding="utf-8") as handle:
                json.dump(statistics, handle, indent=2, default=str)
            result["statistics_path"] = self.output_path
            self.log.info("statistics of job %s written to %s", job_id, self.output_path)
        if self.report_path:
            from anon_ops.report import write_report

            configuration = self.hook.job(job_id).metadata().get("configuration")
            path = write_report(self.report_path, statistics, configuration, title=f"Privacy report — job {job_id}")
            result["privacy_report"] = str(path)
            context["ti"].xcom_push(key="privacy_report", value=str(path))
            self.log.info("privacy report of job %s written to %s", job_id, path)
        return result


# --------------------------------------------------------------------------- helpers
def _pull_own(context: Context, task_id: str, key: str) -> Any:
    """A value this task instance pushed (before deferring) — None outside a real task run."""
    ti = context["ti"]
    map_index = getattr(ti, "map_index", -1)
    kwargs: dict[str, Any] = {"map_indexes": map_index} if isinstance(map_index, int) and map_index >= 0 else {}
    return ti.xcom_pull(task_ids=task_id, key=key, **kwargs)


def _state_get(store: Any, log: Any) -> Any:
    if store is None:
        return None
    try:
        return store.get(utils.STATE_JOB_ID)
    except Exception:
        log.warning("task_state_store unavailable; relying on the idempotency key", exc_info=True)
        return None


def _state_set(store: Any, job_id: str, log: Any) -> None:
    if store is None:
        return
    try:
        store.set(utils.STATE_JOB_ID, job_id)
    except Exception:
        log.warning("could not record job %s in task_state_store; the idempotency key still applies", job_id,
                    exc_info=True)
