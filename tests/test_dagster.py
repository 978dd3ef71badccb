"""The Dagster integration against the real runtime: in-process ``materialize`` of ``dagster_defs``.

One embedded anon-ops home serves the module: the first refresh runs the Adult job, later tests
attach to it (same data and configuration) instead of anonymizing again. Each test gets its own
copy of a warehouse the sample was loaded into once. The published table's k-anonymity is checked
with pycanon, independently of anon-ops' own measures.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
import pytest
from pycanon import anonymity

import anon_ops as asdk
import anon_ops.dagster.resource as resource_module
from anon_ops import warehouse as wh
from anon_ops.config import JobConfig
from anon_ops.dagster import (
    RISK_CHECK,
    UTILITY_CHECK,
    AnonOpsResource,
    JobCursor,
    WarehouseResource,
    anonymized_asset,
)
from anon_ops.data import ADULT_JOB, ADULT_QIS
from anon_ops.jobs.status import JobStatus
from dagster_defs import build_definitions
from dagster_defs.common import (
    ANONYMIZATION_RUNS,
    ANONYMIZED_ADULT,
    ANONYMIZED_INCREMENTS,
    PUBLISHED_ADULT,
    PUBLISHED_INCREMENTS,
    PUBLISHED_INCREMENTS_TABLE,
)
from tests.live_service import LiveService

K = 5  # the shipped Adult job's k


# --------------------------------------------------------------------------- helpers
def non_suppressed(df: pd.DataFrame, qis: list[str] = ADULT_QIS) -> pd.DataFrame:
    """Rows whose quasi-identifiers are not all the suppression character."""
    suppressed = (df[qis].astype(str) == "*").all(axis=1)
    return df[~suppressed].reset_index(drop=True)


def assert_k_anonymous(df: pd.DataFrame, k: int = K) -> None:
    rows = non_suppressed(df)
    assert len(rows) > 0.9 * len(df)  # the job may suppress at most 5 %
    assert anonymity.k_anonymity(rows, ADULT_QIS) >= k


def all_assets(defs: dg.Definitions) -> list[dg.AssetsDefinition]:
    graph = defs.get_repository_def().asset_graph
    found = {id(a): a for a in (defs.get_assets_def(key) for key in graph.materializable_asset_keys)}
    return list(found.values())


def materialized(result: dg.ExecuteInProcessResult) -> dict[dg.AssetKey, dict[str, Any]]:
    return {e.materialization.asset_key: {k: v.value for k, v in e.materialization.metadata.items()}
            for e in result.get_asset_materialization_events()}


def checks(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.asset_check_key.name: e for e in result.get_asset_check_evaluations()}


@dataclass
class Place:
    """An anon-ops home and a warehouse for one test."""

    home: Path
    warehouse_url: str

    def resources(self, **anon: Any) -> dict[str, Any]:
        return {"anon_ops": AnonOpsResource(home=str(self.home), poll_interval=0.2, **anon),
                "warehouse": WarehouseResource(url=self.warehouse_url)}


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def sample_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DuckDB warehouse with the sample loaded (once: loading takes seconds)."""
    path = tmp_path_factory.mktemp("warehouse") / "sample.duckdb"
    wh.load_sample(f"duckdb:///{path}")
    return path


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("anon_ops_home")


@pytest.fixture
def place(sample_db: Path, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Place:
    for name in ("ANON_OPS_URL", "ANON_OPS_TOKEN", "ANON_OPS_WAREHOUSE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ANON_OPS_HOME", str(home))
    db = tmp_path / "warehouse.duckdb"
    shutil.copy(sample_db, db)
    return Place(home, f"duckdb:///{db}")


@dataclass
class Refresh:
    place: Place
    instance: dg.DagsterInstance
    result: dg.ExecuteInProcessResult
    job_id: str


@pytest.fixture(scope="module")
def refresh(sample_db: Path, home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Refresh]:
    """The whole refresh, materialized once in process on the embedded runtime."""
    db = tmp_path_factory.mktemp("refresh") / "warehouse.duckdb"
    shutil.copy(sample_db, db)
    where = Place(home, f"duckdb:///{db}")
    defs = build_definitions(resource_overrides=where.resources())
    with dg.instance_for_test() as instance:
        result = dg.materialize(all_assets(defs), instance=instance, resources=defs.resources)
        job_id = materialized(result)[ANONYMIZED_ADULT]["job_id"]
        yield Refresh(where, instance, result, job_id)


# --------------------------------------------------------------------------- the refresh
def test_refresh_publishes_a_k_anonymous_table(refresh: Refresh) -> None:
    assert refresh.result.success
    meta = materialized(refresh.result)
    assert set(meta) >= {PUBLISHED_ADULT, ANONYMIZATION_RUNS, ANONYMIZED_ADULT}
    anonymized = meta[ANONYMIZED_ADULT]
    # the job's figures are metadata values; the HTML privacy report and a JSON file (statistics, verdict)
    assert anonymized["gate_verdict"] == "publish"
    assert anonymized["prosecutor_highest_risk"] <= 1 / K
    assert 0 < anonymized["granularity"] <= 1
    assert set(anonymized["transformation"]) == set(ADULT_QIS)
    assert Path(anonymized["report"]).read_text().startswith("<!DOCTYPE html>")
    assert Path(anonymized["statistics_file"]).is_file()
    assert {name: c.passed for name, c in checks(refresh.result).items()} == {RISK_CHECK: True, UTILITY_CHECK: True}
    published = wh.read(refresh.place.warehouse_url, wh.PUBLISHED_TABLE)
    assert len(published) == anonymized["rows_output"]
    assert_k_anonymous(published)  # independently of anon-ops' own measures
    runs = wh.read(refresh.place.warehouse_url, wh.RUNS_TABLE)
    assert runs["job_id"].tolist() == [refresh.job_id]
    assert runs["orchestrator"].tolist() == ["dagster:published/adult"]


def test_unmeetable_policy_blocks_the_published_asset(refresh: Refresh, place: Place) -> None:
    defs = build_definitions(policy={"prosecutor_highest_risk_max": 0.01}, resource_overrides=place.resources())
    result = dg.materialize(all_assets(defs), instance=refresh.instance, resources=defs.resources,
                            raise_on_error=False)
    assert not result.success
    meta = materialized(result)
    # the same data and configuration: the run attached to the job of the first refresh
    assert meta[ANONYMIZED_ADULT]["job_id"] == refresh.job_id and meta[ANONYMIZED_ADULT]["attached"] is True
    assert meta[ANONYMIZED_ADULT]["gate_verdict"] != "publish"
    assert PUBLISHED_ADULT not in meta and ANONYMIZATION_RUNS not in meta
    assert not WarehouseResource(url=place.warehouse_url).has_table(wh.PUBLISHED_TABLE)
    risk = checks(result)[RISK_CHECK]
    assert not risk.passed
    assert "prosecutor_highest_risk 0.2 exceeds prosecutor_highest_risk_max 0.01" in (risk.description or "")
    metadata = {k: v.value for k, v in risk.metadata.items()}
    assert metadata["failed"] == "prosecutor_highest_risk_max"
    assert metadata["prosecutor_highest_risk"] == pytest.approx(0.2)
    assert metadata["prosecutor_highest_risk_max"] == pytest.approx(0.01)
    assert "exceeds" in metadata["reasons"]
    assert checks(result)[UTILITY_CHECK].passed

    # a later run of the published asset alone does not publish the refused release either
    again = dg.materialize(all_assets(defs), instance=refresh.instance, resources=defs.resources,
                           selection=[PUBLISHED_ADULT, ANONYMIZATION_RUNS], raise_on_error=False)
    assert not again.success
    assert not WarehouseResource(url=place.warehouse_url).has_table(wh.PUBLISHED_TABLE)


def test_incremental_partition_applies_the_stored_configuration(refresh: Refresh) -> None:
    from dagster_defs.incremental import anonymized_increments, published_increments

    result = dg.materialize([anonymized_increments, published_increments], instance=refresh.instance,
                            resources=refresh.place.resources(), partition_key="2026-01-01")
    meta = materialized(result)
    increment = meta[ANONYMIZED_INCREMENTS]
    assert increment["parent_job_id"] == refresh.job_id  # the job of the published release
    assert increment["published_batches_before"] == 1  # published.adult
    risk = checks(result)[RISK_CHECK]
    assert risk.passed
    union = {k: v.value for k, v in risk.metadata.items()}["union_k_anonymity"]
    assert union["smallest_class"] >= K and union["classes_below_k"] == 0
    batches = wh.read(refresh.place.warehouse_url, PUBLISHED_INCREMENTS_TABLE)
    assert (batches["batch_date"] == "2026-01-01").sum() == meta[PUBLISHED_INCREMENTS]["dagster/row_count"] > 0
    # the cumulative release (full table + batch) is k-anonymous, checked independently
    union_rows = pd.concat([wh.read(refresh.place.warehouse_url, wh.PUBLISHED_TABLE),
                            batches.drop(columns=["batch_date"])], ignore_index=True)
    assert anonymity.k_anonymity(non_suppressed(union_rows), ADULT_QIS) >= K


# --------------------------------------------------------------------------- the resource
@pytest.mark.parametrize("how", ["interrupted", "timeout"])
def test_wait_aborts_the_job_it_started(place: Place, how: str, monkeypatch: pytest.MonkeyPatch) -> None:
    anon = AnonOpsResource(home=str(place.home), poll_interval=0.05, timeout=600 if how == "interrupted" else 0.01)
    df = wh.read(place.warehouse_url, wh.RAW_TABLE)
    job = anon.submit(df, JobConfig.load(ADULT_JOB), force=True)  # a new job, still queued or running
    assert job.created is True

    class InterruptingTime:
        monotonic = staticmethod(resource_module.time.monotonic)

        @staticmethod
        def sleep(seconds: float) -> None:
            raise dg.DagsterExecutionInterruptedError()

    if how == "interrupted":  # what Dagster raises in the step when the run is terminated
        monkeypatch.setattr(resource_module, "time", InterruptingTime)
        with pytest.raises(dg.DagsterExecutionInterruptedError):
            anon.wait(job)
    else:
        with pytest.raises(dg.Failure, match="still"):
            anon.wait(job)
    assert job.state() == JobStatus.ABORTED


def test_resource_from_env_reads_env_vars_at_run_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANON_OPS_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("ANON_OPS_TOKEN", "not-shown")
    resource = AnonOpsResource.from_env()
    assert isinstance(resource.url, dg.EnvVar) and isinstance(resource.token, dg.EnvVar)
    monkeypatch.delenv("ANON_OPS_URL")
    monkeypatch.delenv("ANON_OPS_TOKEN")
    assert AnonOpsResource.from_env().url == ""  # embedded; an unset EnvVar would fail every run


# --------------------------------------------------------------------------- the sensor
def test_sensor_materializes_a_job_submitted_outside_dagster(refresh: Refresh, place: Place) -> None:
    defs = build_definitions(resource_overrides=place.resources())
    sensor = next(s for s in defs.sensors or [] if s.name == "adult_external_anonymizations")
    resources = {"anon_ops": place.resources()["anon_ops"]}

    def tick(cursor: str | None) -> Any:  # dagster's SensorExecutionData
        # a context manager: the resource has a teardown (it closes its connection)
        with dg.build_sensor_context(instance=refresh.instance, cursor=cursor, resources=resources,
                                     definitions=defs) as context:
            return sensor.evaluate_tick(context)

    first = tick(None)  # watches from now on: the refresh's job is history
    assert not first.run_requests and JobCursor.from_json(first.cursor) is not None

    df = wh.read(place.warehouse_url, wh.RAW_TABLE).head(3000)  # someone anonymizes a sample elsewhere
    external = asdk.anonymize(asdk.AnonElement(asdk.Connection(), df, config=ADULT_JOB))

    second = tick(first.cursor)
    if not second.run_requests:  # still queued or running: the cursor keeps it pending
        assert external.id() in JobCursor.from_json(second.cursor).pending
        external.result()
        second = tick(second.cursor)
    assert [r.tags["anon_ops/job_id"] for r in second.run_requests] == [external.id()]
    request = second.run_requests[0]
    assert request.run_key == f"anon-ops-job-{external.id()}"
    third = tick(second.cursor)  # the cursor remembers: nothing is requested twice
    assert not third.run_requests

    # the requested run adopts the external job instead of submitting one
    result = dg.materialize(all_assets(defs), instance=refresh.instance, resources=defs.resources,
                            selection=[ANONYMIZED_ADULT], run_config=request.run_config, raise_on_error=False)
    adopted = materialized(result)[ANONYMIZED_ADULT]
    assert adopted["job_id"] == external.id() and adopted["attached"] is True
    assert adopted["rows_input"] == 3000


# --------------------------------------------------------------------------- a real service process
def test_refresh_against_a_live_service(sample_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "warehouse.duckdb"
    shutil.copy(sample_db, db)
    with LiveService(tmp_path / "service_home", token="s3cret") as service:
        monkeypatch.setenv("TEST_ANON_OPS_URL", service.url)
        monkeypatch.setenv("TEST_ANON_OPS_TOKEN", "s3cret")
        anon = AnonOpsResource(url=dg.EnvVar("TEST_ANON_OPS_URL"), token=dg.EnvVar("TEST_ANON_OPS_TOKEN"),
                               poll_interval=0.2, reports_dir=str(tmp_path / "reports"))
        defs = build_definitions(resource_overrides={"anon_ops": anon,
                                                     "warehouse": WarehouseResource(url=f"duckdb:///{db}")})
        try:
            with dg.instance_for_test() as instance:
                result = dg.materialize(all_assets(defs), instance=instance, resources=defs.resources)
        finally:
            service.abort_active_jobs()
        meta = materialized(result)[ANONYMIZED_ADULT]
        assert meta["anon_ops"] == service.url
        assert meta["status_url"] == f"{service.url}/api/v1/jobs/{meta['job_id']}"
        assert Path(meta["statistics_file"]).parent.parent == tmp_path / "reports"
        # the job lives on the service, not in an embedded home
        assert asdk.Connection(service.url, token="s3cret").job(meta["job_id"]).state() == JobStatus.COMPLETED
    published = wh.read(f"duckdb:///{db}", wh.PUBLISHED_TABLE)
    assert_k_anonymous(published)


def test_factory_takes_an_upstream_dataframe_asset(place: Place) -> None:
    @dg.asset
    def people() -> pd.DataFrame:
        return wh.read(place.warehouse_url, wh.RAW_TABLE).head(2000)

    config = {
        "attributes": [
            {"name": "age", "type": "quasi_identifier",
             "hierarchy": {"type": "interval", "params": {"intervals": [5, 10, 20, 40]}}},
            {"name": "sex", "type": "quasi_identifier", "hierarchy": {"type": "auto"}},
        ],
        "privacy_models": [{"model_type": "k-anonymity", "params": {"k": 10}}],
        "max_suppression": 0.02,
    }
    small = anonymized_asset("people_anonymized", config, upstream="people", policy={"granularity_min": None})
    result = dg.materialize([people, small], resources=place.resources())
    value = result.output_for_node("people_anonymized")
    assert anonymity.k_anonymity(non_suppressed(value, ["age", "sex"]), ["age", "sex"]) >= 10
    assert {name: c.passed for name, c in checks(result).items()} == {RISK_CHECK: True, UTILITY_CHECK: True}


def test_both_code_locations_load() -> None:
    import dagster_defs
    from dagster_defs import incremental

    dg.Definitions.validate_loadable(dagster_defs.defs)
    dg.Definitions.validate_loadable(incremental.defs)
    assert {s.name for s in dagster_defs.defs.schedules or []} == {"warehouse_refresh_daily"}
    assert {s.name for s in incremental.defs.schedules or []} == {"adult_increments_daily"}
    graph = incremental.defs.get_repository_def().asset_graph
    partitions = graph.get(ANONYMIZED_INCREMENTS).partitions_def
    assert isinstance(partitions, dg.DailyPartitionsDefinition)
    assert partitions.get_first_partition_key() == "2026-01-01"
