"""AnonQualityGateOperator: decide publish / resubmit / fail for one job, and branch on it.

The gate (``anon_ops.quality.evaluate_gate``) checks the job's statistics against a policy and —
by default — the anonymized table itself (k-anonymity of the non-suppressed rows, no identifier
columns), fetched into the worker's memory, never into XCom. For incremental releases a
``history_callable`` supplies what was published before, and the union is gated.

XCom: ``verdict`` (verdict, reasons, attempt, next_attempt, job_id, failed checks),
``next_config`` (the ladder's adjusted configuration, self-contained, or None) and
``next_attempt``. A ``fail`` verdict — or a ``resubmit`` with no resubmit task left — fails the
task (no retry: the same statistics give the same verdict), so nothing downstream publishes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseBranchOperator
from airflow.sdk.exceptions import AirflowFailException

from anon_ops.airflow import utils
from anon_ops.airflow.hooks.anon_ops import AnonOpsHook, AnonOpsHookMixin
from anon_ops.airflow.links import AnonJobLink

if TYPE_CHECKING:
    import pandas as pd
    from airflow.sdk import Context

XCOM_VERDICT = "verdict"
XCOM_NEXT_CONFIG = "next_config"
XCOM_NEXT_ATTEMPT = "next_attempt"

HistoryCallable = Callable[[Mapping[str, Any]], "list[pd.DataFrame]"]


class AnonQualityGateOperator(AnonOpsHookMixin, BaseBranchOperator):
    """Gate the release of ``job_id``; continue with ``publish_task_id`` or ``resubmit_task_id``.

    :param job_id: the completed job to gate (templated; e.g. ``anonymize.output["job_id"]``).
    :param publish_task_id: the task (or task group) that publishes when the gate passes.
    :param resubmit_task_id: the task that runs the next attempt with ``next_config``; None on the
        last attempt, where a ``resubmit`` verdict becomes a failure.
    :param policy: the gate policy (dict, YAML/JSON path or text; None: the defaults).
    :param config: the configuration the job ran with (the ladder adjusts it); None: the job's own,
        from its metadata.
    :param attempt: the ladder position reached so far (0, then the previous gate's ``next_attempt``).
    :param check_table: also check the anonymized table itself (fetched into the worker).
    :param history_callable: ``context -> [DataFrame]`` of everything published before (incremental
        releases: the union's risk is gated).
    """

    template_fields: Sequence[str] = ("job_id", "policy", "config", "attempt")
    operator_extra_links = (AnonJobLink(),)
    ui_color = "#fbe9c6"

    def __init__(
        self,
        *,
        job_id: str,
        publish_task_id: str,
        resubmit_task_id: str | None = None,
        policy: Any = None,
        config: Any = None,
        attempt: int | str = 0,
        check_table: bool = True,
        history_callable: HistoryCallable | None = None,
        anon_ops_conn_id: str = AnonOpsHook.default_conn_name,
        statistics_timeout: float | None = 3600.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if history_callable is not None and not callable(history_callable):
            raise ValueError("history_callable must be callable: context -> list of DataFrames")
        self.job_id = job_id
        self.publish_task_id = publish_task_id
        self.resubmit_task_id = resubmit_task_id
        self.policy = policy
        self.config = config
        self.attempt = attempt
        self.check_table = check_table
        self.history_callable = history_callable
        self.anon_ops_conn_id = anon_ops_conn_id
        self.statistics_timeout = statistics_timeout


    def choose_branch(self, context: Context) -> str:
        from anon_ops.quality import evaluate_gate

        job_id = str(self.job_id)
        ti = context["ti"]
        ti.xcom_push(key=utils.XCOM_JOB_URL, value=self.hook.job_url(job_id))
        job = self.hook.job(job_id)
        statistics = job.statistics(timeout=self.statistics_timeout)
        config = utils.load_config(self.config) if self.config else utils.load_config(
            job.metadata()["configuration"])
        table = None
        if self.check_table:
            table = job.result().df
            if table is None:
                self.log.warning("job %s wrote its result to a target: only its statistics are gated", job_id)
        history = self.history_callable(context) if self.history_callable is not None else None
        attempt = int(self.attempt or 0)
        verdict = evaluate_gate(statistics, self.policy or None, config=config, table=table, attempt=attempt,
                                published_history=history)

        decision = verdict.verdict
        reasons = list(verdict.reasons)
        if decision == "resubmit" and not self.resubmit_task_id:
            decision = "fail"
            reasons.append("fail: the gate asks for a resubmission, but this was the last attempt of the DAG")
        summary = {
            "verdict": decision,
            "gate_verdict": verdict.verdict,
            "job_id": job_id,
            "attempt": attempt,
            "next_attempt": verdict.next_attempt,
            "reasons": reasons,
            "failed_checks": [c["name"] for c in verdict.failed_checks],
            "union": _small_union(verdict.union),
        }
        next_config = None
        if decision == "resubmit" and verdict.next_job_config is not None:
            next_config = utils.self_contained(verdict.next_job_config)
        ti.xcom_push(key=XCOM_VERDICT, value=summary)
        ti.xcom_push(key=XCOM_NEXT_CONFIG, value=next_config)
        ti.xcom_push(key=XCOM_NEXT_ATTEMPT, value=verdict.next_attempt)
        for reason in reasons:
            self.log.info("gate: %s", reason)

        if decision == "publish":
            return self.publish_task_id
        if decision == "resubmit":
            assert self.resubmit_task_id is not None
            return self.resubmit_task_id
        raise AirflowFailException(f"quality gate failed for anon-ops job {job_id}: "
                                   + "; ".join(r for r in reasons if not r.startswith("ok:")))


def _small_union(union: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The union's headline numbers (batches, rows, smallest class, prosecutor risk)."""
    if not union:
        return None
    return {
        "batches": union.get("batches"),
        "rows": union.get("rows"),
        "suppressed_rows": union.get("suppressed_rows"),
        "min_class_size": union.get("min_class_size"),
        "prosecutor_highest_risk": (union.get("prosecutor") or {}).get("highest_risk"),
    }
