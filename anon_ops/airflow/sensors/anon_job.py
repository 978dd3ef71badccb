"""AnonJobSensor: wait for an anon-ops job someone else started (e.g. an AnonymizeOperator with
``wait_for_completion=False``).

``poke`` and ``reschedule`` modes check the status once per interval; ``deferrable=True`` checks
once and then hands the wait to :class:`~anon_ops.airflow.triggers.anon_job.AnonJobTrigger` with
the sensor's ``timeout`` as the trigger's own deadline. A completed job succeeds; failed or
aborted fails the task; an unknown status fails it too. The sensor does not own the job, so by
default neither its timeout nor a kill aborts it (``abort_on_timeout=True`` changes that).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, conf
from airflow.sdk.exceptions import AirflowFailException, AirflowSensorTimeout

from anon_ops.airflow import utils
from anon_ops.airflow.hooks.anon_ops import AnonOpsHook, AnonOpsHookMixin
from anon_ops.airflow.links import AnonJobLink
from anon_ops.airflow.triggers.anon_job import AnonJobTrigger
from anon_ops.airflow.utils import AnonJobTimeoutError

if TYPE_CHECKING:
    from airflow.sdk import Context


class AnonJobSensor(AnonOpsHookMixin, BaseSensorOperator):
    """Succeed once job ``job_id`` is completed.

    :param job_id: the job to wait for (templated; e.g. ``anonymize.output["job_id"]``).
    :param deferrable: wait in the triggerer (poll every ``poke_interval`` seconds).
    :param abort_on_timeout: abort the job when the sensor times out or is killed.
    """

    template_fields: Sequence[str] = ("job_id",)
    operator_extra_links = (AnonJobLink(),)
    ui_color = "#dff1ec"

    def __init__(
        self,
        *,
        job_id: str,
        anon_ops_conn_id: str = AnonOpsHook.default_conn_name,
        deferrable: bool | None = None,
        abort_on_timeout: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.job_id = job_id
        self.anon_ops_conn_id = anon_ops_conn_id
        self.deferrable = (conf.getboolean("operators", "default_deferrable", fallback=False)
                           if deferrable is None else deferrable)
        self.abort_on_timeout = abort_on_timeout


    def poke(self, context: Context) -> bool:
        from anon_ops.jobs.status import JobStatus

        job_id = str(self.job_id)
        context["ti"].xcom_push(key=utils.XCOM_JOB_URL, value=self.hook.job_url(job_id))
        status = self.hook.get_job_status(job_id)
        self.log.info("anon-ops job %s is %s", job_id, status.value)
        if status == JobStatus.COMPLETED:
            return True
        if status.is_terminal:  # final: retrying the sensor cannot revive the job (and no silent_fail)
            raise AirflowFailException(f"anon-ops job {job_id} ended {status.value}")
        return False

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            try:
                return super().execute(context)
            except AirflowSensorTimeout:
                if self.abort_on_timeout:
                    self._abort_quietly()
                raise
        if self.poke(context):  # check before deferring: a finished job needs no trigger
            return None
        timeout = self.timeout.total_seconds() if isinstance(self.timeout, timedelta) else self.timeout
        end_time = None if timeout is None else utils.now() + float(timeout)
        self.defer(
            trigger=AnonJobTrigger(job_id=str(self.job_id), anon_ops_conn_id=self.anon_ops_conn_id,
                                   poll_interval=float(self.poke_interval.total_seconds()
                                                       if isinstance(self.poke_interval, timedelta)
                                                       else self.poke_interval),
                                   end_time=end_time, owns_job=self.abort_on_timeout),
            method_name="execute_complete",
        )

    def execute_complete(self, context: Context, event: Any = None) -> None:
        try:
            job_id = utils.validate_event(event, str(self.job_id))
        except AnonJobTimeoutError:
            if self.abort_on_timeout:
                self._abort_quietly()
            raise
        self.log.info("anon-ops job %s completed", job_id)

    def on_kill(self) -> None:
        if self.abort_on_timeout:
            self._abort_quietly()

    def _abort_quietly(self) -> None:
        try:
            self.hook.abort_job(str(self.job_id))
        except Exception:
            self.log.exception("anon-ops job %s: abort failed", self.job_id)
