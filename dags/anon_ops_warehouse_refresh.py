"""Daily warehouse refresh: ``raw.adult`` → anonymize → quality gate → ``published.adult``.

    extract ─▶ attempt_1 [anonymize ─▶ gate ─┬▶ publish]──────────────────────┐
                                             └▶ attempt_2 [anonymize ─▶ gate ─┬▶ publish]──┐
                                                                              └▶ attempt_3 …│
                                                                  record (all done) ◀───────┘

Each attempt is its own task group. A gate that passes branches to its group's ``publish`` (the
later groups are skipped); one that asks for a resubmission branches to the next group, whose
``anonymize`` runs the gate's adjusted configuration (``next_config``) and whose gate continues
the escalation ladder (``next_attempt``). A failing gate — or a resubmission asked for by the last
gate — fails, so a table that did not pass is never published. ``record`` appends every gated
attempt's statistics to ``published.anonymization_runs`` and fails the run if nothing was
published.

Connection: the Airflow connection ``anon_ops_default`` (type ``anon_ops``), e.g.
``AIRFLOW_CONN_ANON_OPS_DEFAULT='{"conn_type": "anon_ops", "host": "http://anon-ops:8090",
"password": "<token>"}'``; undefined → the embedded runtime (no server). Warehouse: the run's
``warehouse_url`` param, else ``ANON_OPS_WAREHOUSE``, else the DuckDB file in ``ANON_OPS_HOME``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, Param, TaskGroup, TriggerRule, get_current_context, task

from anon_ops.airflow import warehouse_tasks
from anon_ops.airflow.operators import AnonQualityGateOperator, AnonymizeOperator
from anon_ops.data import ADULT_JOB

DAG_ID = "anon_ops_warehouse_refresh"
CONN_ID = "anon_ops_default"
MAX_ATTEMPTS = 3  # the first run plus two resubmissions; each one is a task group


def _gate_output(attempt: int, key: str) -> str:
    """A template for what the gate of ``attempt`` pushed (rendered to a native value)."""
    return f"{{{{ ti.xcom_pull(task_ids='attempt_{attempt}.gate', key='{key}') }}}}"


with DAG(
    dag_id=DAG_ID,
    description="Anonymize raw.adult, gate it, publish published.adult (bounded resubmission)",
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    render_template_as_native_obj=True,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=1)},
    params={
        "warehouse_url": Param("", type="string", description="SQLAlchemy URL; empty: ANON_OPS_WAREHOUSE"),
        "source_table": Param(warehouse_tasks.RAW_TABLE, type="string"),
        "policy": Param({}, type="object", description="Quality-gate policy fields; {}: the defaults"),
    },
    tags=["anon-ops", "warehouse"],
    doc_md=__doc__,
) as dag:

    @task
    def extract() -> dict[str, Any]:
        """Check the raw table before any job starts (XCom: its size, not its rows)."""
        context = get_current_context()
        return warehouse_tasks.check_source(context, context["params"]["source_table"])

    @task(task_id="publish", retries=0)
    def publish(gate_task_id: str) -> dict[str, Any]:
        """Replace published.adult with the result of the job this group's gate passed."""
        return warehouse_tasks.publish_release(get_current_context(), gate_task_id, CONN_ID)

    @task(trigger_rule=TriggerRule.ALL_DONE)
    def record(gate_task_ids: list[str], publish_task_ids: list[str]) -> dict[str, Any]:
        """Record every gated attempt's statistics; fail the run when nothing was published."""
        return warehouse_tasks.record_runs(get_current_context(), gate_task_ids, publish_task_ids, CONN_ID)

    upstream: Any = extract()
    gates: list[str] = []
    publishes = []
    for attempt in range(1, MAX_ATTEMPTS + 1):
        with TaskGroup(group_id=f"attempt_{attempt}"):
            first = attempt == 1
            anonymize = AnonymizeOperator(
                task_id="anonymize",
                anon_ops_conn_id=CONN_ID,
                config=str(ADULT_JOB) if first else upstream.output["next_config"],
                data_callable=warehouse_tasks.read_raw,
                deferrable=True,
                poll_interval=2.0,
                timeout=3600.0,
            )
            gate = AnonQualityGateOperator(
                task_id="gate",
                anon_ops_conn_id=CONN_ID,
                job_id=anonymize.output["job_id"],
                config=str(ADULT_JOB) if first else _gate_output(attempt - 1, "next_config"),
                attempt=0 if first else _gate_output(attempt - 1, "next_attempt"),
                policy="{{ params.policy }}",
                publish_task_id=f"attempt_{attempt}.publish",
                resubmit_task_id=f"attempt_{attempt + 1}.anonymize" if attempt < MAX_ATTEMPTS else None,
                retries=0,
            )
            published = publish(f"attempt_{attempt}.gate")
            gate >> published
        upstream >> anonymize
        upstream = gate
        gates.append(f"attempt_{attempt}.gate")
        publishes.append(published)

    publishes >> record(gates, [f"attempt_{n}.publish" for n in range(1, MAX_ATTEMPTS + 1)])
