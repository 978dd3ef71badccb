"""Measure, then choose: compare candidate configurations on ``raw.adult`` before running a job.

    measure ─▶ anonymize ─▶ wait ─▶ gate ─▶ publish ─▶ record (all done)

``measure`` computes the risk and utility of every candidate of the grid (k × suppression limit)
and picks the one with the least information loss among those meeting the gate policy's
thresholds; ``anonymize`` submits that configuration without waiting, ``wait`` (AnonJobSensor,
reschedule mode: no worker slot held between pokes) waits for the job, and the gate checks the
real result before ``publish`` replaces ``published.adult``. Triggered manually.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, Param, TriggerRule, get_current_context, task

from anon_ops.airflow import warehouse_tasks
from anon_ops.airflow.operators import AnonMeasureOperator, AnonQualityGateOperator, AnonymizeOperator
from anon_ops.airflow.sensors import AnonJobSensor
from anon_ops.data import ADULT_JOB

DAG_ID = "anon_ops_measure_then_choose"
CONN_ID = "anon_ops_default"

with DAG(
    dag_id=DAG_ID,
    description="Measure candidate configurations, choose one, anonymize, gate, publish",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    render_template_as_native_obj=True,
    params={
        "warehouse_url": Param("", type="string", description="SQLAlchemy URL; empty: ANON_OPS_WAREHOUSE"),
        "source_table": Param(warehouse_tasks.RAW_TABLE, type="string"),
        "grid": Param({"k": [5, 10], "max_suppression": [0.02, 0.05]}, type="object"),
        "policy": Param({}, type="object", description="Quality-gate policy fields; {}: the defaults"),
    },
    tags=["anon-ops", "warehouse"],
    doc_md=__doc__,
) as dag:
    measure = AnonMeasureOperator(
        task_id="measure",
        anon_ops_conn_id=CONN_ID,
        config=str(ADULT_JOB),
        grid="{{ params.grid }}",
        policy="{{ params.policy }}",
        data_callable=warehouse_tasks.read_raw,
    )
    anonymize = AnonymizeOperator(
        task_id="anonymize",
        anon_ops_conn_id=CONN_ID,
        config=measure.output["config"],
        data_callable=warehouse_tasks.read_raw,
        wait_for_completion=False,
    )
    wait = AnonJobSensor(
        task_id="wait",
        anon_ops_conn_id=CONN_ID,
        job_id=anonymize.output["job_id"],
        mode="reschedule",
        poke_interval=5,
        timeout=3600,
    )
    gate = AnonQualityGateOperator(
        task_id="gate",
        anon_ops_conn_id=CONN_ID,
        job_id=anonymize.output["job_id"],
        config="{{ ti.xcom_pull(task_ids='measure')['config'] }}",
        policy="{{ params.policy }}",
        publish_task_id="publish",
        retries=0,
    )

    @task(retries=0)
    def publish() -> dict[str, Any]:
        """Replace published.adult with the gated result."""
        return warehouse_tasks.publish_release(get_current_context(), "gate", CONN_ID)

    @task(trigger_rule=TriggerRule.ALL_DONE)
    def record() -> dict[str, Any]:
        """Record the statistics of the chosen configuration's job."""
        return warehouse_tasks.record_runs(get_current_context(), ["gate"], ["publish"], CONN_ID)

    wait >> gate >> publish() >> record()
