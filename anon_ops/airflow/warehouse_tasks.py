"""The warehouse steps of the example DAGs in ``dags/``: read the raw table, publish a gated
release, record every attempt's statistics, find the stored configuration for increments.

They run in the Airflow worker: rows move between the warehouse and the anon-ops connection here
and never through XCom, which carries the verdicts and job ids these steps use. The warehouse is
``params.warehouse_url`` when a run sets it, else ``ANON_OPS_WAREHOUSE``, else the DuckDB file in
``ANON_OPS_HOME`` — resolved at run time, so nothing is read when the scheduler parses a DAG.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from anon_ops.airflow.hooks.anon_ops import AnonOpsHook
from anon_ops.airflow.operators.gate import XCOM_VERDICT

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

# the table names of anon_ops.warehouse, repeated so that DAG files do not import pandas to parse
RAW_TABLE = "raw.adult"
PUBLISHED_TABLE = "published.adult"
RUNS_TABLE = "published.anonymization_runs"
FULL_RELEASE_DAGS = ("anon_ops_warehouse_refresh", "anon_ops_measure_then_choose")


def orchestrator(context: Mapping[str, Any]) -> str:
    """What ``published.anonymization_runs`` records as the orchestrator: ``airflow:<dag_id>``."""
    return f"airflow:{context['ti'].dag_id}"


def warehouse_url(context: Mapping[str, Any]) -> str:
    from anon_ops.warehouse import warehouse_url as resolve

    params = context.get("params") or {}
    return resolve(params.get("warehouse_url") or None)


def safe_url(context: Mapping[str, Any]) -> str:
    from anon_ops.warehouse import safe_url as hide_password

    return hide_password(warehouse_url(context))


# --------------------------------------------------------------------------- reading
def _count_rows(url: str, table: str) -> tuple[int | None, str]:
    """(rows, "") — or (None, the database's reason) when the table cannot be read. A query rather
    than SQLAlchemy's inspector, which duckdb-engine does not fully support."""
    import sqlalchemy as sa

    schema, name = table.split(".", 1) if "." in table else (None, table)
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            query = sa.select(sa.func.count()).select_from(sa.table(name, schema=schema))
            return int(connection.execute(query).scalar() or 0), ""
    except sa.exc.DBAPIError as exc:
        return None, str(exc.orig).splitlines()[0]
    finally:
        engine.dispose()


def check_source(context: Mapping[str, Any], table: str = RAW_TABLE) -> dict[str, Any]:
    """Fail early (before any job) when the raw table is missing or empty; XCom gets its size only."""
    rows, reason = _count_rows(warehouse_url(context), table)
    if rows is None:
        raise AirflowFailException(f"table {table} cannot be read from the warehouse {safe_url(context)} "
                                   f"({reason}); load it first (anon-ops sample-warehouse)")
    if not rows:
        raise AirflowFailException(f"table {table} is empty: nothing to anonymize")
    log.info("%s: %d rows", table, rows)
    return {"table": table, "rows": rows}


def read_raw(context: Mapping[str, Any]) -> pd.DataFrame:
    """The raw table (``params.source_table``, default ``raw.adult``)."""
    from anon_ops.warehouse import read

    params = context.get("params") or {}
    return read(warehouse_url(context), params.get("source_table") or RAW_TABLE)


def read_increment(context: Mapping[str, Any]) -> pd.DataFrame:
    """The new rows of the run's logical day; none → the run is skipped, not failed."""
    from anon_ops.warehouse import increment

    day = str(context["ds"])
    rows = increment(warehouse_url(context), day)
    if rows.empty:
        raise AirflowSkipException(f"no new rows for {day}")
    return rows


def published_history(context: Mapping[str, Any]) -> list[pd.DataFrame]:
    """Everything published so far (the full release plus earlier increments) for the union gate."""
    from anon_ops.warehouse import read

    url = warehouse_url(context)
    rows, reason = _count_rows(url, PUBLISHED_TABLE)
    if rows is None:
        raise AirflowFailException(f"{PUBLISHED_TABLE} cannot be read ({reason}): run the full refresh first")
    return [read(url, PUBLISHED_TABLE)]


# --------------------------------------------------------------------------- publishing
def publish_release(context: Mapping[str, Any], gate_task_id: str, conn_id: str, *, append: bool = False,
                    table: str = PUBLISHED_TABLE) -> dict[str, Any]:
    """Write the result of the job the gate passed — only that job, and only on a publish verdict."""
    from anon_ops import warehouse

    verdict = context["ti"].xcom_pull(task_ids=gate_task_id, key=XCOM_VERDICT)
    if not isinstance(verdict, Mapping) or verdict.get("verdict") != "publish" or not verdict.get("job_id"):
        raise AirflowFailException(f"{gate_task_id} did not pass a release (verdict: {verdict!r}); nothing published")
    job_id = str(verdict["job_id"])
    url = warehouse_url(context)
    if append and _already_released(url, job_id):
        log.info("the rows of job %s were already appended (a re-run of this day): nothing to do", job_id)
        return {"table": table, "rows": 0, "job_id": job_id, "mode": "append", "already_released": True}
    df = AnonOpsHook(conn_id).job(job_id).result().df
    if df is None:
        raise AirflowFailException(f"job {job_id} kept no result to publish")
    if append:
        warehouse.append(df, url, table)
    else:
        warehouse.publish(df, url, table)
    log.info("%s %d rows of job %s to %s", "appended" if append else "published", len(df), job_id, table)
    return {"table": table, "rows": len(df), "job_id": job_id, "mode": "append" if append else "replace"}


def _already_released(url: str, job_id: str) -> bool:
    """Whether a run log entry says this job's rows were published (appending is not idempotent)."""
    from anon_ops.warehouse import read

    if not _count_rows(url, RUNS_TABLE)[0]:
        return False
    runs = read(url, RUNS_TABLE)
    return bool(((runs["job_id"] == job_id) & (runs["verdict"] == "publish")).any())


def record_runs(context: Mapping[str, Any], gate_task_ids: Sequence[str], publish_task_ids: Sequence[str],
                conn_id: str) -> dict[str, Any]:
    """Append the statistics of every gated attempt to ``published.anonymization_runs``; fail the
    run when no attempt was published (the gate's reasons are in the message)."""
    from anon_ops import warehouse

    ti = context["ti"]
    url = warehouse_url(context)
    hook = AnonOpsHook(conn_id)
    published = [p for p in (ti.xcom_pull(task_ids=t) for t in publish_task_ids) if isinstance(p, Mapping)]
    if any(p.get("already_released") for p in published):
        log.info("job %s was released and recorded by an earlier run: nothing to record", published[-1]["job_id"])
        return {"recorded": [], "published_job_id": published[-1]["job_id"], "rows": 0}
    recorded = []
    last: Mapping[str, Any] | None = None
    for attempt, gate_task_id in enumerate(gate_task_ids):
        verdict = ti.xcom_pull(task_ids=gate_task_id, key=XCOM_VERDICT)
        if not isinstance(verdict, Mapping) or not verdict.get("job_id"):
            continue
        last = verdict
        statistics = hook.job(str(verdict["job_id"])).statistics()
        warehouse.record_run(url, statistics, job_id=str(verdict["job_id"]), verdict=str(verdict["verdict"]),
                             attempt=attempt, orchestrator=orchestrator(context))
        recorded.append({"attempt": attempt, "job_id": verdict["job_id"], "verdict": verdict["verdict"]})
    log.info("recorded %d run(s) in %s; published: %s", len(recorded), RUNS_TABLE, published or "nothing")
    if not published:
        reasons = "; ".join(r for r in (last or {}).get("reasons", []) if not str(r).startswith("ok:"))
        raise AirflowFailException(f"nothing was published after {len(recorded)} gated attempt(s): "
                                   f"{reasons or 'no attempt reached the gate'}")
    return {"recorded": recorded, "published_job_id": published[-1]["job_id"], "rows": published[-1]["rows"]}


def latest_release(context: Mapping[str, Any]) -> str:
    """The job of the newest full release (the stored configuration an increment applies)."""
    from anon_ops.warehouse import read

    url = warehouse_url(context)
    runs = read(url, RUNS_TABLE) if _count_rows(url, RUNS_TABLE)[0] else None
    if runs is not None:
        full = [f"airflow:{dag_id}" for dag_id in FULL_RELEASE_DAGS]
        runs = runs[(runs["verdict"] == "publish") & runs["orchestrator"].isin(full)]
    if runs is None or runs.empty:
        raise AirflowFailException("no full release recorded in published.anonymization_runs: "
                                   "run anon_ops_warehouse_refresh first")
    job_id = str(runs.sort_values("recorded_at").iloc[-1]["job_id"])
    log.info("applying the configuration of the latest full release, job %s", job_id)
    return job_id
