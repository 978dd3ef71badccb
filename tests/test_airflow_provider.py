"""The Airflow provider's pieces one by one: hook, trigger, operators, sensor.

Jobs run on the real embedded runtime in a temporary ANON_OPS_HOME. Where a test needs a job that
is "still running" it uses a runtime without a scheduler (the job stays queued); where it needs
time to pass it replaces the provider's clock. Nothing else is mocked.
"""

from __future__ import annotations

from tests import airflow_support  # sets AIRFLOW_HOME before anything imports Airflow

# isort: split

import asyncio
import json
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from airflow.sdk import Connection as AirflowConnection
from airflow.sdk.bases.operator import TRIGGER_FAIL_REPR, TriggerFailureReason
from airflow.sdk.exceptions import (
    AirflowFailException,
    AirflowNotFoundException,
    AirflowRescheduleException,
    TaskDeferralTimeout,
    TaskDeferred,
)

import anon_ops as asdk
from anon_ops.airflow import utils
from anon_ops.airflow.get_provider_info import get_provider_info
from anon_ops.airflow.hooks.anon_ops import AnonOpsHook, Endpoint, endpoint_from_connection
from anon_ops.airflow.operators import (
    AnonInferOperator,
    AnonMeasureOperator,
    AnonQualityGateOperator,
    AnonStatisticsOperator,
    AnonymizeOperator,
    ApplyAnonymizeOperator,
)
from anon_ops.airflow.sensors import AnonJobSensor
from anon_ops.airflow.triggers import AnonJobTrigger
from anon_ops.airflow.utils import AnonJobFailedError, AnonJobTimeoutError, validate_event
from tests.airflow_support import FakeTaskInstance, FakeTaskStateStore, task_context
from tests.conftest import adult_config

QIS = ["age", "sex", "race"]
PAUSED_CONN = "anon_ops_paused"


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def homes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """A running embedded runtime (``ANON_OPS_HOME``, the default connection) and a paused one
    (connection ``anon_ops_paused``: an explicit embedded connection with its own home)."""
    root = tmp_path_factory.mktemp("airflow_provider")
    live, paused = root / "live", root / "paused"
    airflow_support.paused_runtime(paused)
    conn = json.dumps({"conn_type": "anon_ops", "host": "embedded", "extra": {"home": str(paused)}})
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ANON_OPS_HOME", str(live))
        mp.delenv("ANON_OPS_URL", raising=False)
        mp.delenv("ANON_OPS_WAREHOUSE", raising=False)
        mp.delenv("AIRFLOW_CONN_ANON_OPS_DEFAULT", raising=False)
        mp.setenv(f"AIRFLOW_CONN_{PAUSED_CONN.upper()}", conn)
        yield {"live": live, "paused": paused}
    airflow_support.close_runtimes_under(root)


@pytest.fixture(scope="module")
def small(adult: pd.DataFrame) -> pd.DataFrame:
    return adult.head(2000).reset_index(drop=True)


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    return adult_config(qis=QIS, k=5, suppression=0.05)


def _queued_job(homes: dict[str, Path], small: pd.DataFrame, config: dict[str, Any], seed: int) -> asdk.AnonJob:
    """A job on the paused runtime: it stays queued (a different seed: a different job)."""
    connection = AnonOpsHook(PAUSED_CONN).get_conn()
    element = asdk.AnonElement(connection, small, config={**config, "additional_properties": {"seed": seed}})
    return asdk.anonymize(element)


def _anonymize(task_id: str, config: dict[str, Any], small: pd.DataFrame, **kwargs: Any) -> AnonymizeOperator:
    return AnonymizeOperator(task_id=task_id, config=config, data_callable=lambda _: small,
                             **{"poll_interval": 0.2, **kwargs})


# --------------------------------------------------------------------------- provider & hook
def test_provider_entry_point_names_importable_classes() -> None:
    found = [ep for ep in entry_points(group="apache_airflow_provider") if ep.value.startswith("anon_ops.")]
    assert len(found) == 1 and found[0].load() is get_provider_info
    info = get_provider_info()
    assert info["package-name"] == "anon-ops"
    connection_type = info["connection-types"][0]
    assert connection_type["connection-type"] == AnonOpsHook.conn_type == "anon_ops"
    assert connection_type["hook-class-name"] == f"{AnonOpsHook.__module__}.{AnonOpsHook.__name__}"
    for kind in ("hooks", "operators", "sensors", "triggers"):
        for module in info[kind][0]["python-modules"]:
            __import__(module)
    assert info["extra-links"] == ["anon_ops.airflow.links.AnonJobLink"]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"host": "http://svc:8090/", "password": "tok"}, Endpoint(url="http://svc:8090", token="tok")),
        ({"host": "svc", "port": 9000, "schema": "https"}, Endpoint(url="https://svc:9000")),
        ({"host": "svc", "extra": json.dumps({"token": "t2", "timeout": 7})},
         Endpoint(url="http://svc:8090", token="t2", timeout=7.0)),
        ({"host": "http://svc", "port": 8443}, Endpoint(url="http://svc:8443")),
        ({"host": ""}, Endpoint()),
        ({"host": "embedded", "extra": json.dumps({"home": "/srv/anon"})}, Endpoint(home="/srv/anon")),
    ],
)
def test_endpoint_from_connection(fields: dict[str, Any], expected: Endpoint) -> None:
    assert endpoint_from_connection(AirflowConnection(conn_id="c", conn_type="anon_ops", **fields)) == expected


def test_ui_fields_relabelled_for_service_or_embedded() -> None:
    behaviour = AnonOpsHook.get_ui_field_behaviour()
    assert "login" in behaviour["hidden_fields"]
    assert "embedded" in behaviour["relabeling"]["host"]
    assert behaviour["relabeling"]["password"] == "API token"


def test_default_connection_falls_back_to_the_sdk_defaults(homes: dict[str, Path],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    assert AnonOpsHook().endpoint == Endpoint(from_environment=True)
    assert not AnonOpsHook().get_conn().is_remote
    ok, message = AnonOpsHook().test_connection()
    assert ok and str(homes["live"]) in message
    monkeypatch.setenv("ANON_OPS_URL", "http://elsewhere:8090")
    assert AnonOpsHook().endpoint.url == "http://elsewhere:8090"
    with pytest.raises(AirflowNotFoundException):
        _ = AnonOpsHook("not_defined").endpoint


# --------------------------------------------------------------------------- events & trigger
@pytest.mark.parametrize(
    ("event", "error"),
    [
        ("completed", AnonJobFailedError),
        ({"status": "completed"}, AnonJobFailedError),
        ({"status": "completed", "job_id": "other"}, AnonJobFailedError),
        ({"status": "failed", "job_id": "j", "message": "boom"}, AnonJobFailedError),
        ({"status": "aborted", "job_id": "j"}, AnonJobFailedError),
        ({"status": "error", "job_id": "j", "message": "unreachable"}, AnonJobFailedError),
        ({"status": "timeout", "job_id": "j"}, AnonJobTimeoutError),
        ({"status": "succeeded", "job_id": "j"}, AnonJobFailedError),
        ({"status": None, "job_id": "j"}, AnonJobFailedError),
    ],
)
def test_only_a_completed_event_for_our_job_succeeds(event: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        validate_event(event, "j")
    assert validate_event({"status": "completed", "job_id": "j"}, "j") == "j"


def test_trigger_kwargs_are_json_and_rebuild_the_trigger() -> None:
    trigger = AnonJobTrigger("j1", "c1", poll_interval=3, end_time=123.5, owns_job=False)
    classpath, kwargs = trigger.serialize()
    assert json.loads(json.dumps(kwargs)) == kwargs
    module, name = classpath.rsplit(".", 1)
    rebuilt = getattr(__import__(module, fromlist=[name]), name)(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)


async def _events(trigger: AnonJobTrigger) -> list[dict[str, Any]]:
    return [event.payload async for event in trigger.run()]


def test_trigger_deadline_aborts_the_job_with_one_timeout_event(homes: dict[str, Path], small: pd.DataFrame,
                                                                config: dict[str, Any],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    job = _queued_job(homes, small, config, seed=11)
    ticks = iter([999.0, 1000.5])  # a fake clock: first check before the deadline, then past it
    monkeypatch.setattr(utils, "now", lambda: next(ticks))
    trigger = AnonJobTrigger(job.id(), PAUSED_CONN, poll_interval=0.01, end_time=1000.0)
    events = asyncio.run(_events(trigger))
    assert [e["status"] for e in events] == ["timeout"]
    assert "aborted" in events[0]["message"]
    assert job.state() == asdk.JobStatus.ABORTED


def test_trigger_on_kill_aborts_and_unknown_job_is_an_error_event(homes: dict[str, Path], small: pd.DataFrame,
                                                                  config: dict[str, Any]) -> None:
    job = _queued_job(homes, small, config, seed=12)
    asyncio.run(AnonJobTrigger(job.id(), PAUSED_CONN).on_kill())
    assert job.state() == asdk.JobStatus.ABORTED
    events = asyncio.run(_events(AnonJobTrigger("no-such-job", PAUSED_CONN)))
    assert [e["status"] for e in events] == ["error"]
    assert "no-such-job" in events[0]["message"]
    sensor_trigger = AnonJobTrigger(_queued_job(homes, small, config, seed=13).id(), PAUSED_CONN, owns_job=False)
    asyncio.run(sensor_trigger.on_kill())  # a sensor's trigger does not own the job: left queued
    assert AnonOpsHook(PAUSED_CONN).get_job_status(sensor_trigger.job_id) == asdk.JobStatus.QUEUED


# --------------------------------------------------------------------------- the job operators
@pytest.fixture(scope="module")
def completed(homes: dict[str, Path], small: pd.DataFrame, config: dict[str, Any]) -> dict[str, Any]:
    """One AnonymizeOperator run, waited for here (no deferral), on the live runtime."""
    operator = _anonymize("anonymize", config, small, deferrable=False, force=True)
    ti = FakeTaskInstance(try_number=1)
    result = operator.execute(task_context(operator, ti))
    return {"result": result, "ti": ti, "operator": operator}


def test_anonymize_pushes_ids_and_returns_a_small_summary(completed: dict[str, Any]) -> None:
    result, ti = completed["result"], completed["ti"]
    job_id = result["job_id"]
    assert ti.xcoms[("anonymize", "job_id")] == job_id
    assert ti.xcoms[("anonymize", "job_url")] == result["job_url"]
    assert result["status"] == "completed"
    assert set(result["metrics"]) >= {"rows_input", "prosecutor_highest_risk", "information_loss", "transformation"}
    assert result["metrics"]["rows_input"] == 2000
    assert result["metrics"]["prosecutor_highest_risk"] <= 0.2
    assert len(json.dumps(result)) < 2000  # ids and a few metrics, never rows


def test_retry_of_the_same_task_run_reuses_the_job(completed: dict[str, Any], small: pd.DataFrame,
                                                   config: dict[str, Any]) -> None:
    """force=True would start a new job on every call; only the idempotency key (dag, task, run,
    map_index — not the try number) makes the retry get the first try's job. The job is
    complete, so the deferrable retry returns at once (check before deferring)."""
    job_id = completed["result"]["job_id"]
    conn = AnonOpsHook().get_conn()
    before = asdk.job_ids(conn, limit=100)
    retry = _anonymize("anonymize", config, small, deferrable=True, force=True)
    result = retry.execute(task_context(retry, FakeTaskInstance(try_number=2)))
    assert result["job_id"] == job_id
    assert asdk.job_ids(conn, limit=100) == before
    other_run = _anonymize("anonymize", config, small, deferrable=False, force=True)
    fresh = other_run.execute(task_context(other_run, FakeTaskInstance(run_id="scheduled__2026-01-03")))
    assert fresh["job_id"] != job_id


def test_defer_after_pushing_ids_and_on_kill_aborts(homes: dict[str, Path], small: pd.DataFrame,
                                                    config: dict[str, Any]) -> None:
    operator = _anonymize("defer", config, small, anon_ops_conn_id=PAUSED_CONN, deferrable=True, timeout=600)
    ti = FakeTaskInstance()
    before = utils.now()
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute(task_context(operator, ti))
    job_id = ti.xcoms[("defer", "job_id")]
    assert ti.xcoms[("defer", "job_url")].endswith(job_id)
    trigger = deferred.value.trigger
    assert isinstance(trigger, AnonJobTrigger) and trigger.job_id == job_id and trigger.owns_job
    assert deferred.value.timeout is None  # the trigger's own deadline, not Airflow's
    assert before + 600 <= trigger.end_time <= utils.now() + 600
    assert deferred.value.method_name == "execute_complete"
    operator.on_kill()
    assert AnonOpsHook(PAUSED_CONN).get_job_status(job_id) == asdk.JobStatus.ABORTED


def test_execute_complete_validates_the_event(homes: dict[str, Path], completed: dict[str, Any],
                                              small: pd.DataFrame, config: dict[str, Any]) -> None:
    operator, ti = completed["operator"], completed["ti"]
    job_id = completed["result"]["job_id"]
    context = task_context(operator, ti)
    assert operator.execute_complete(context, {"status": "completed", "job_id": job_id})["job_id"] == job_id
    with pytest.raises(AnonJobFailedError, match="unknown status"):
        operator.execute_complete(context, {"status": "done", "job_id": job_id})
    with pytest.raises(AnonJobFailedError, match="waits for job"):
        operator.execute_complete(context, {"status": "completed", "job_id": "someone-else"})
    paused = _anonymize("late", config, small, anon_ops_conn_id=PAUSED_CONN, deferrable=True)
    late_ti = FakeTaskInstance()
    with pytest.raises(TaskDeferred):
        paused.execute(task_context(paused, late_ti))
    late_job = late_ti.xcoms[("late", "job_id")]
    with pytest.raises(AnonJobTimeoutError):
        paused.execute_complete(task_context(paused, late_ti), {"status": "timeout", "job_id": late_job})
    assert AnonOpsHook(PAUSED_CONN).get_job_status(late_job) == asdk.JobStatus.ABORTED


def test_sync_wait_has_its_own_deadline_and_aborts(homes: dict[str, Path], small: pd.DataFrame,
                                                   config: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr(utils, "now", lambda: clock[0])
    monkeypatch.setattr(utils, "sleep", lambda seconds: clock.__setitem__(0, clock[0] + seconds))
    operator = _anonymize("sync", config, small, anon_ops_conn_id=PAUSED_CONN, deferrable=False, timeout=30,
                          poll_interval=10)
    ti = FakeTaskInstance()
    with pytest.raises(AnonJobTimeoutError):
        operator.execute(task_context(operator, ti))
    assert clock[0] == 1030.0
    assert AnonOpsHook(PAUSED_CONN).get_job_status(ti.xcoms[("sync", "job_id")]) == asdk.JobStatus.ABORTED


def test_framework_deferral_timeout_aborts_the_job(homes: dict[str, Path], small: pd.DataFrame,
                                                   config: dict[str, Any]) -> None:
    operator = _anonymize("framework", config, small, anon_ops_conn_id=PAUSED_CONN, deferrable=True)
    ti = FakeTaskInstance()
    with pytest.raises(TaskDeferred):
        operator.execute(task_context(operator, ti))
    with pytest.raises(TaskDeferralTimeout):
        operator.resume_execution(TRIGGER_FAIL_REPR, {"error": TriggerFailureReason.TRIGGER_TIMEOUT},
                                  task_context(operator, ti))
    assert AnonOpsHook(PAUSED_CONN).get_job_status(ti.xcoms[("framework", "job_id")]) == asdk.JobStatus.ABORTED


def test_retry_reconnects_through_the_state_store_and_replaces_a_dead_job(homes: dict[str, Path],
                                                                          small: pd.DataFrame,
                                                                          config: dict[str, Any]) -> None:
    reads: list[int] = []

    def read(_: Any) -> pd.DataFrame:
        reads.append(1)
        return small

    store = FakeTaskStateStore()
    hook = AnonOpsHook(PAUSED_CONN)

    def run(try_number: int) -> str:
        operator = AnonymizeOperator(task_id="resume", config=config, data_callable=read,
                                     anon_ops_conn_id=PAUSED_CONN, deferrable=True)
        ti = FakeTaskInstance(try_number=try_number)
        with pytest.raises(TaskDeferred):
            operator.execute(task_context(operator, ti, task_state_store=store))
        return ti.xcoms[("resume", "job_id")]

    first = run(1)
    assert store.values[utils.STATE_JOB_ID] == first and len(reads) == 1
    assert run(2) == first and len(reads) == 1  # reconnected by id: not even the data is read again
    hook.abort_job(first)
    second = run(3)  # the first job is dead: a fresh one (next key generation), recorded for later tries
    assert second != first and store.values[utils.STATE_JOB_ID] == second
    store.values.clear()
    assert run(4) == second  # without the store, the key generations lead to the same live job


def test_apply_and_statistics_operators(completed: dict[str, Any], adult: pd.DataFrame, tmp_path: Path) -> None:
    parent = completed["result"]["job_id"]
    new_rows = adult.iloc[5000:5600].reset_index(drop=True)
    apply = ApplyAnonymizeOperator(task_id="apply", parent_job_id=parent, data_callable=lambda _: new_rows,
                                   deferrable=False, poll_interval=0.2)
    result = apply.execute(task_context(apply))
    assert result["status"] == "completed" and result["job_id"] != parent
    hook = AnonOpsHook()
    assert hook.job(result["job_id"]).metadata()["parent_id"] == parent
    assert result["metrics"]["transformation"] == completed["result"]["metrics"]["transformation"]

    path, report = tmp_path / "stats.json", tmp_path / "reports" / "job.html"
    statistics = AnonStatisticsOperator(task_id="stats", job_id=result["job_id"], output_path=str(path),
                                        report_path=str(report))
    ti = FakeTaskInstance()
    summary = statistics.execute(task_context(statistics, ti))
    assert summary["metrics"]["rows_input"] == 600
    assert json.loads(path.read_text())["rows"]["input"] == 600
    assert "exploratory" not in json.dumps(summary)
    assert summary["privacy_report"] == str(report) == ti.xcoms[("stats", "privacy_report")]
    assert "<svg" in report.read_text()


def test_gate_branches_publish_or_resubmit_and_fails_cleanly(completed: dict[str, Any],
                                                            config: dict[str, Any]) -> None:
    job_id = completed["result"]["job_id"]

    def gate(policy: dict[str, Any], resubmit: str | None) -> tuple[AnonQualityGateOperator, FakeTaskInstance]:
        operator = AnonQualityGateOperator(task_id="gate", job_id=job_id, config=config, policy=policy,
                                           publish_task_id="publish", resubmit_task_id=resubmit)
        return operator, FakeTaskInstance()

    lenient = {"suppressed_max": 0.1}
    operator, ti = gate(lenient, "attempt_2.anonymize")
    assert operator.choose_branch(task_context(operator, ti)) == "publish"
    assert ti.xcoms[("gate", "verdict")]["verdict"] == "publish"
    assert ti.xcoms[("gate", "next_config")] is None

    strict = {**lenient, "prosecutor_highest_risk_max": 0.1}
    operator, ti = gate(strict, "attempt_2.anonymize")
    assert operator.choose_branch(task_context(operator, ti)) == "attempt_2.anonymize"
    next_config = ti.xcoms[("gate", "next_config")]
    assert next_config["privacy_models"][0]["params"]["k"] == 10
    assert ti.xcoms[("gate", "next_attempt")] == 1
    for attribute in next_config["attributes"]:  # self-contained: usable by a task anywhere on the worker
        if "hierarchy" in attribute:
            assert Path(attribute["hierarchy"]["name"]).is_absolute()
            assert Path(attribute["hierarchy"]["name"]).is_file()

    operator, ti = gate(strict, None)  # the last attempt: a resubmission is not possible → fail
    with pytest.raises(AirflowFailException, match="last attempt"):
        operator.choose_branch(task_context(operator, ti))
    assert ti.xcoms[("gate", "verdict")]["verdict"] == "fail"
    assert ti.xcoms[("gate", "verdict")]["gate_verdict"] == "resubmit"


# --------------------------------------------------------------------------- measure & infer
def test_measure_chooses_the_least_loss_candidate_meeting_the_policy(homes: dict[str, Path], small: pd.DataFrame,
                                                                     config: dict[str, Any]) -> None:
    operator = AnonMeasureOperator(task_id="measure", config=config, grid={"k": [2, 5, 10]},
                                   data_callable=lambda _: small,
                                   policy={"suppressed_max": 0.1})
    ti = FakeTaskInstance()
    result = operator.execute(task_context(operator, ti))
    rows = result["candidates"]
    assert [r["k"] for r in rows] == [2, 5, 10]
    assert not rows[0]["meets_policy"]  # k=2: prosecutor risk 0.5 > 0.2
    eligible = [r for r in rows if r["meets_policy"]]
    assert result["chosen"] == min(eligible, key=lambda r: r["information_loss"])
    assert result["config"]["privacy_models"][0]["params"]["k"] == result["chosen"]["k"]
    assert ti.xcoms[("measure", "candidates")] == rows
    assert ti.xcoms[("measure", "config")] == result["config"]
    assert len(json.dumps(result)) < 10_000


def test_infer_returns_a_configuration_not_data(homes: dict[str, Path], small: pd.DataFrame, tmp_path: Path) -> None:
    frame = small[["age", "sex", "race", "salary-class"]]
    operator = AnonInferOperator(task_id="infer", data_callable=lambda _: frame, target_variable="salary-class")
    result = operator.execute(task_context(operator))
    assert set(result["attributes"]) == set(frame.columns)
    assert {a["name"] for a in result["config"]["attributes"]} == set(frame.columns)
    to_file = AnonInferOperator(task_id="infer_file", data_callable=lambda _: frame,
                                output_path=str(tmp_path / "inferred.yaml"))
    written = to_file.execute(task_context(to_file))
    assert written["config"] is None and Path(written["config_path"]).is_file()


# --------------------------------------------------------------------------- the sensor
def test_sensor_poke_reschedule_and_defer(homes: dict[str, Path], completed: dict[str, Any], small: pd.DataFrame,
                                          config: dict[str, Any]) -> None:
    done = completed["result"]["job_id"]
    sensor = AnonJobSensor(task_id="wait", job_id=done, deferrable=True, poke_interval=1)
    assert sensor.execute(task_context(sensor)) is None  # complete: checked, not deferred

    queued = _queued_job(homes, small, config, seed=21).id()
    rescheduling = AnonJobSensor(task_id="wait", job_id=queued, anon_ops_conn_id=PAUSED_CONN, mode="reschedule",
                                 poke_interval=30)
    with pytest.raises(AirflowRescheduleException):
        rescheduling.execute(task_context(rescheduling))

    deferring = AnonJobSensor(task_id="wait", job_id=queued, anon_ops_conn_id=PAUSED_CONN, deferrable=True,
                              poke_interval=2, timeout=60)
    with pytest.raises(TaskDeferred) as deferred:
        deferring.execute(task_context(deferring))
    assert isinstance(deferred.value.trigger, AnonJobTrigger) and not deferred.value.trigger.owns_job
    assert deferred.value.trigger.poll_interval == 2
    with pytest.raises(AnonJobFailedError):
        deferring.execute_complete(task_context(deferring), {"status": "queued", "job_id": queued})

    AnonOpsHook(PAUSED_CONN).abort_job(queued)
    with pytest.raises(AirflowFailException, match="aborted"):
        rescheduling.poke(task_context(rescheduling))
