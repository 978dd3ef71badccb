"""Daily incremental release: the day's new rows of ``raw.adult_increments``, anonymized with the
stored configuration of the latest full release, appended to ``published.adult`` — if the union
of everything published stays within the policy.

    release ─▶ apply ─▶ gate ─▶ append ─▶ record (all done)

``release`` finds the job of the newest full release in ``published.anonymization_runs`` (run
``anon_ops_warehouse_refresh`` first). ``apply`` reuses its transformation as is (no new search);
the job suppresses rows whose class is too small in the batch. ``gate`` checks the batch's
statistics and table and the cumulative risk of the union with what was published before
(``history_callable``); an increment cannot be resubmitted with another configuration — that
would change the published classes — so a failing gate fails the run and nothing is appended.

The default policy allows more suppression than the full refresh's (0.3 instead of 0.05): a day's
batch is small, so more of its rows fall in classes the batch alone cannot fill.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, Param, TriggerRule, get_current_context, task

from anon_ops.airflow import warehouse_tasks
from anon_ops.airflow.operators import AnonQualityGateOperator, ApplyAnonymizeOperator

DAG_ID = "anon_ops_warehouse_incremental"
CONN_ID = "anon_ops_default"

with DAG(
    dag_id=DAG_ID,
    description="Apply the stored configuration to the day's new rows and append them, gating the union",
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    render_template_as_native_obj=True,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=1)},
    params={
        "warehouse_url": Param("", type="string", description="SQLAlchemy URL; empty: ANON_OPS_WAREHOUSE"),
        "policy": Param({"suppressed_max": 0.3}, type="object", description="Quality-gate policy fields"),
    },
    tags=["anon-ops", "warehouse"],
    doc_md=__doc__,
) as dag:

    @task
    def release() -> str:
        """The job id of the latest full release (XCom: an id)."""
        return warehouse_tasks.latest_release(get_current_context())

    apply = ApplyAnonymizeOperator(
        task_id="apply",
        anon_ops_conn_id=CONN_ID,
        parent_job_id=release(),
        data_callable=warehouse_tasks.read_increment,
        deferrable=True,
        poll_interval=2.0,
    )
    gate = AnonQualityGateOperator(
        task_id="gate",
        anon_ops_conn_id=CONN_ID,
        job_id=apply.output["job_id"],
        policy="{{ params.policy }}",
        history_callable=warehouse_tasks.published_history,
        publish_task_id="append",
        resubmit_task_id=None,
        retries=0,
    )

    @task(retries=0)
    def append() -> dict[str, Any]:
        """Append the gated batch to published.adult."""
        return warehouse_tasks.publish_release(get_current_context(), "gate", CONN_ID, append=True)

    @task(trigger_rule=TriggerRule.ALL_DONE)
    def record() -> dict[str, Any]:
        """Record the batch's statistics and verdict; fail the run when nothing was appended."""
        return warehouse_tasks.record_runs(get_current_context(), ["gate"], ["append"], CONN_ID)

    appended = append()
    gate >> appended >> record()
