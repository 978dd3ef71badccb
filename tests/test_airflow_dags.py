"""The example DAGs of ``dags/`` end to end with ``dag.test()``: the real Airflow task runner (tasks,
deferral with the trigger run inline, branching, XCom) on a SQLite metadata database, the real
anon-ops runtime — embedded, then a real ``anon-ops serve`` process — and a DuckDB warehouse.

What must hold: the published table is k-anonymous (checked with pycanon, independently of
anon-ops) and its statistics are recorded; a policy the first attempt cannot meet publishes on a
later attempt, and a policy no attempt can meet fails the run without touching the published
table; a re-run task reuses its job (and an increment is not appended twice).
"""

from __future__ import annotations

from tests import airflow_support  # sets AIRFLOW_HOME before anything imports Airflow

# isort: split

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import anon_ops as asdk
from anon_ops import warehouse
from anon_ops.data import ADULT_QIS
from tests.airflow_support import DagResult, k_of, run_dag
from tests.live_service import LiveService

REFRESH = "anon_ops_warehouse_refresh"
INCREMENTAL = "anon_ops_warehouse_incremental"
MEASURE = "anon_ops_measure_then_choose"
TOKEN = "airflow-test-token"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """An embedded runtime home, a DuckDB warehouse with the Adult sample, no anon_ops connection."""
    root = tmp_path_factory.mktemp("airflow_dags")
    home = root / "home"
    url = f"duckdb:///{root / 'warehouse.duckdb'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ANON_OPS_HOME", str(home))
        mp.setenv("ANON_OPS_WAREHOUSE", url)
        for name in ("ANON_OPS_URL", "ANON_OPS_TOKEN", "AIRFLOW_CONN_ANON_OPS_DEFAULT"):
            mp.delenv(name, raising=False)
        warehouse.load_sample(url)
        airflow_support.airflow_db()
        yield {"root": root, "home": home, "url": url, "mp": mp}
    airflow_support.close_runtimes_under(root)


def _runs(url: str) -> pd.DataFrame:
    return warehouse.read(url, warehouse.RUNS_TABLE)


def _sorted(df: pd.DataFrame) -> pd.DataFrame:
    text = df.astype(str)
    return text.sort_values(list(text.columns)).reset_index(drop=True)


def _embedded_job_ids() -> list[str]:
    return asdk.job_ids(asdk.Connection(), limit=1000)


# --------------------------------------------------------------------------- embedded
@pytest.fixture(scope="module")
def refreshed(env: dict[str, Any]) -> dict[str, Any]:
    """The daily refresh once, embedded, with the default policy — through the code of ``make demo``
    (migrate, sample already loaded, ``dag.test()``, summary)."""
    from anon_ops.airflow import demo

    with airflow_support.airflow_logging_contained():
        summary = demo.run(dags_folder=airflow_support.DAGS_FOLDER)
    run = summary["run"]
    result = DagResult(summary["state"], summary["tasks"], run)
    return {"result": result, "summary": summary, "jobs": _embedded_job_ids()}


def test_refresh_embedded_publishes_a_k_anonymous_table(env: dict[str, Any], refreshed: dict[str, Any]) -> None:
    result = refreshed["result"]
    assert result.state == "success", result.states
    assert result.states["attempt_1.publish"] == "success"
    assert {result.states[f"attempt_{n}.{t}"] for n in (2, 3) for t in ("anonymize", "gate", "publish")} == {"skipped"}

    job_id = result.xcom("attempt_1.anonymize", "job_id")
    summary = result.xcom("attempt_1.anonymize")
    assert summary["job_id"] == job_id and summary["status"] == "completed"
    assert len(json.dumps(summary)) < 2000
    assert result.xcom("attempt_1.gate", "verdict")["verdict"] == "publish"
    assert refreshed["jobs"] == [job_id]  # one job, no duplicate

    published = warehouse.read(env["url"], warehouse.PUBLISHED_TABLE)
    assert len(published) == 30162
    assert k_of(published, ADULT_QIS) >= 5
    assert refreshed["summary"]["published"]["smallest_class"] == k_of(published, ADULT_QIS)
    job_result = asdk.Connection().job(job_id).result().df
    pd.testing.assert_frame_equal(_sorted(published), _sorted(job_result))

    runs = _runs(env["url"])
    assert list(runs["verdict"]) == ["publish"]
    assert runs["job_id"].iloc[0] == job_id
    assert runs["orchestrator"].iloc[0] == f"airflow:{REFRESH}"
    assert runs["prosecutor_highest_risk"].iloc[0] <= 0.2
    assert json.loads(runs["statistics"].iloc[0])["rows"]["input"] == 30162


def test_incremental_applies_the_stored_configuration_and_gates_the_union(env: dict[str, Any],
                                                                          refreshed: dict[str, Any]) -> None:
    from datetime import UTC, datetime

    result = run_dag(INCREMENTAL, logical_date=datetime(2026, 1, 2, tzinfo=UTC))
    assert result.state == "success", result.states
    parent = refreshed["jobs"][0]
    assert result.xcom("release") == parent
    batch_job = result.xcom("apply", "job_id")
    assert asdk.Connection().job(batch_job).metadata()["parent_id"] == parent
    verdict = result.xcom("gate", "verdict")
    assert verdict["verdict"] == "publish"
    assert verdict["union"]["batches"] == 2 and verdict["union"]["min_class_size"] >= 5

    published = warehouse.read(env["url"], warehouse.PUBLISHED_TABLE)
    assert len(published) == 30162 + warehouse.SAMPLE_BATCH_ROWS
    assert k_of(published, ADULT_QIS) >= 5  # the union of the release and the increment
    runs = _runs(env["url"])
    assert runs["orchestrator"].iloc[-1] == f"airflow:{INCREMENTAL}"
    assert runs["job_id"].iloc[-1] == batch_job and runs["verdict"].iloc[-1] == "publish"

    # the same run again (cleared tasks, new tries, same run_id): the job is reused, nothing appended twice
    jobs = _embedded_job_ids()
    again = run_dag(INCREMENTAL, logical_date=result.run.logical_date, run_after=result.run.run_after)
    assert again.run.run_id == result.run.run_id
    assert again.state == "success", again.states
    assert again.xcom("apply", "job_id") == batch_job
    assert _embedded_job_ids() == jobs
    assert len(warehouse.read(env["url"], warehouse.PUBLISHED_TABLE)) == len(published)
    assert len(_runs(env["url"])) == len(runs)


def test_measure_then_choose_publishes_the_chosen_candidate(env: dict[str, Any], refreshed: dict[str, Any]) -> None:
    result = run_dag(MEASURE)
    assert result.state == "success", result.states
    measured = result.xcom("measure")
    assert len(measured["candidates"]) == 4
    chosen_k = measured["chosen"]["k"]
    assert measured["config"]["privacy_models"][0]["params"]["k"] == chosen_k
    assert result.states["wait"] == "success"
    published = warehouse.read(env["url"], warehouse.PUBLISHED_TABLE)
    assert len(published) == 30162
    assert k_of(published, ADULT_QIS) >= chosen_k
    assert _runs(env["url"])["orchestrator"].iloc[-1] == f"airflow:{MEASURE}"


# --------------------------------------------------------------------------- a real service
@pytest.fixture(scope="module")
def service(env: dict[str, Any]) -> Iterator[LiveService]:
    """``anon-ops serve`` with a token; the Airflow connection anon_ops_default points at it."""
    with LiveService(env["root"] / "service_home", token=TOKEN) as live:
        connection = {"conn_type": "anon_ops", "host": live.url, "password": TOKEN}
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("AIRFLOW_CONN_ANON_OPS_DEFAULT", json.dumps(connection))
            yield live
        live.abort_active_jobs()


def _service_job_ids(service: LiveService) -> list[str]:
    return asdk.job_ids(asdk.Connection(service.url, token=TOKEN), limit=1000)


def test_service_forced_resubmit_publishes_a_later_attempt(env: dict[str, Any], refreshed: dict[str, Any],
                                                           service: LiveService) -> None:
    embedded_before = _embedded_job_ids()
    strict = {"prosecutor_highest_risk_max": 0.1}
    result = run_dag(REFRESH, conf={"policy": strict})
    assert result.state == "success", result.states
    assert result.states["attempt_1.publish"] == "skipped"  # the first table failed the gate: never published
    assert result.states["attempt_2.publish"] == "success"
    assert result.states["attempt_3.anonymize"] == "skipped"
    first, second = (result.xcom(f"attempt_{n}.anonymize", "job_id") for n in (1, 2))
    assert result.xcom("attempt_1.anonymize", "job_url") == f"{service.url}/api/v1/jobs/{first}"
    assert result.xcom("attempt_1.gate", "verdict")["verdict"] == "resubmit"
    assert result.xcom("attempt_1.gate", "next_config")["privacy_models"][0]["params"]["k"] == 10
    assert set(_service_job_ids(service)) == {first, second}
    assert _embedded_job_ids() == embedded_before  # everything ran on the service

    published = warehouse.read(env["url"], warehouse.PUBLISHED_TABLE)
    assert k_of(published, ADULT_QIS) >= 10
    job_result = asdk.Connection(service.url, token=TOKEN).job(second).result().df
    pd.testing.assert_frame_equal(_sorted(published), _sorted(job_result))
    runs = _runs(env["url"]).tail(2)
    assert list(runs["job_id"]) == [first, second]
    assert list(runs["verdict"]) == ["resubmit", "publish"]
    assert runs["prosecutor_highest_risk"].iloc[1] <= 0.1


def test_service_policy_no_attempt_meets_fails_cleanly(env: dict[str, Any], service: LiveService) -> None:
    before = _sorted(warehouse.read(env["url"], warehouse.PUBLISHED_TABLE))
    runs_before = len(_runs(env["url"]))
    result = run_dag(REFRESH, conf={"policy": {"prosecutor_highest_risk_max": 0.1, "max_attempts": 0}})
    assert result.state == "failed"
    assert result.states["attempt_1.gate"] == "failed"
    assert result.states["attempt_1.publish"] == "upstream_failed"
    assert result.states["record"] == "failed"  # recorded the attempt, then failed the run
    assert result.xcom("attempt_1.gate", "verdict")["verdict"] == "fail"
    pd.testing.assert_frame_equal(_sorted(warehouse.read(env["url"], warehouse.PUBLISHED_TABLE)), before)
    runs = _runs(env["url"])
    assert len(runs) == runs_before + 1 and runs["verdict"].iloc[-1] == "fail"


def test_dag_files_parse_fast_without_the_sdk() -> None:
    """The scheduler parses DAG files often: no pandas, SDK, GX or warehouse access at import."""
    import subprocess
    import sys

    folder = str(airflow_support.DAGS_FOLDER)
    code = (
        "import sys, time, importlib.util, airflow.sdk\n"
        "t = time.perf_counter()\n"
        f"for name in {[REFRESH, INCREMENTAL, MEASURE]!r}:\n"
        f"    spec = importlib.util.spec_from_file_location(name, {folder!r} + '/' + name + '.py')\n"
        "    spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
        "print(time.perf_counter() - t)\n"
        "print(sorted(m for m in ('pandas', 'anon_ops.sdk', 'great_expectations', 'duckdb') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stderr
    seconds, heavy = done.stdout.strip().splitlines()[-2:]
    assert heavy == "[]"
    assert float(seconds) < 2.0
