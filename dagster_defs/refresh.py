"""The warehouse refresh (the Airflow DAG ``anon_ops_warehouse_refresh``) as Dagster assets::

    raw/adult ─┐                    ┌─ published/adult
               └─ anonymized/adult ─┤  (blocking checks: risk_gate, utility_gate)
    raw/adult_increments            └─ published/anonymization_runs

``raw/adult`` loads the shipped sample when the warehouse lacks it; ``anonymized/adult`` runs the
shipped Adult job (embedded or on a service) and is gated; the published tables are written only
when both blocking checks pass. A daily schedule runs the refresh; a sensor materializes the
anonymized and published tables from anonymizations of the same table submitted outside Dagster.
"""


from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    AssetsDefinition,
    AssetSelection,
    AssetSpec,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    Definitions,
    MaterializeResult,
    MetadataValue,
    ScheduleDefinition,
    define_asset_job,
    multi_asset,
)

from anon_ops import warehouse as wh
from anon_ops.config import JobConfig
from anon_ops.dagster import (
    AnonOpsResource,
    WarehouseResource,
    anon_ops_job_sensor,
    anonymized_asset,
    release_metadata,
    require_published_verdict,
)
from anon_ops.dagster.resource import StatusDocument
from anon_ops.quality import GatePolicy
from dagster_defs.common import (
    ADULT_COLUMNS,
    ANONYMIZATION_RUNS,
    ANONYMIZED_ADULT,
    JOB_CONFIG,
    PUBLISHED_ADULT,
    RAW_ADULT,
    RAW_INCREMENTS,
    resources,
)

GROUP = "warehouse_refresh"


@multi_asset(
    specs=[
        AssetSpec(RAW_ADULT, description=f"The Adult table to anonymize ({wh.RAW_TABLE}); the shipped sample "
                                         "is loaded when the warehouse has none.", group_name=GROUP, kinds={"sql"}),
        AssetSpec(RAW_INCREMENTS, description=f"Daily batches of new rows ({wh.INCREMENTS_TABLE}, column "
                                              "batch_date), loaded with the sample.", group_name=GROUP,
                  kinds={"sql"}),
    ],
    name="raw_adult_sample",
    required_resource_keys={"warehouse"},
)
def raw_adult(context: AssetExecutionContext) -> Iterator[MaterializeResult]:
    """Make sure the raw tables exist (never overwrite a warehouse's own data)."""
    warehouse: WarehouseResource = context.resources.warehouse
    missing = [t for t in (wh.RAW_TABLE, wh.INCREMENTS_TABLE) if not warehouse.has_table(t)]
    if missing:
        context.log.info("warehouse %s lacks %s: loading the shipped Adult sample", warehouse.safe_url, missing)
        warehouse.load_sample()
    raw = warehouse.read(wh.RAW_TABLE)
    batches = warehouse.read(wh.INCREMENTS_TABLE)
    common = {"warehouse": MetadataValue.text(warehouse.safe_url), "sample_loaded": MetadataValue.bool(bool(missing))}
    yield MaterializeResult(asset_key=RAW_ADULT, metadata={
        **common, "table": MetadataValue.text(wh.RAW_TABLE), "dagster/row_count": MetadataValue.int(len(raw))})
    dates = sorted(batches["batch_date"].astype(str).unique()) if len(batches) else []
    yield MaterializeResult(asset_key=RAW_INCREMENTS, metadata={
        **common, "table": MetadataValue.text(wh.INCREMENTS_TABLE),
        "dagster/row_count": MetadataValue.int(len(batches)),
        "batch_dates": MetadataValue.json(dates)})


def _published(anonymized_key: AssetKey = ANONYMIZED_ADULT) -> AssetsDefinition:
    @multi_asset(
        specs=[
            AssetSpec(PUBLISHED_ADULT, description=f"The released table ({wh.PUBLISHED_TABLE}): written only when "
                                                   "the gate's blocking checks pass.", group_name=GROUP,
                      kinds={"sql"}, deps=[anonymized_key]),
            AssetSpec(ANONYMIZATION_RUNS, description=f"One row per release ({wh.RUNS_TABLE}): job, verdict, "
                                                      "risk and utility figures.", group_name=GROUP, kinds={"sql"},
                      deps=[anonymized_key]),
        ],
        ins={"anonymized": AssetIn(key=anonymized_key)},
        name="publish_adult",
        required_resource_keys={"anon_ops", "warehouse"},
    )
    def publish_adult(context: AssetExecutionContext, anonymized: pd.DataFrame) -> Iterator[MaterializeResult]:
        """Replace the published table and log the release's statistics."""
        anon: AnonOpsResource = context.resources.anon_ops
        warehouse: WarehouseResource = context.resources.warehouse
        job_id = require_published_verdict(release_metadata(context, anonymized_key), anonymized_key)
        statistics = anon.job(job_id).statistics()
        where = warehouse.publish(anonymized, wh.PUBLISHED_TABLE)
        row = warehouse.record_run(statistics, job_id=job_id, verdict="publish",
                                   orchestrator=f"dagster:{PUBLISHED_ADULT.to_user_string()}")
        context.log.info("published %d rows of job %s to %s", len(anonymized), job_id, where)
        yield MaterializeResult(asset_key=PUBLISHED_ADULT, metadata={
            "table": MetadataValue.text(where), "job_id": MetadataValue.text(job_id),
            "dagster/row_count": MetadataValue.int(len(anonymized))})
        yield MaterializeResult(asset_key=ANONYMIZATION_RUNS, metadata={
            "table": MetadataValue.text(wh.RUNS_TABLE), "run_id": MetadataValue.text(row["run_id"]),
            "job_id": MetadataValue.text(job_id), "verdict": MetadataValue.text(row["verdict"])})

    return publish_adult


def adult_jobs(document: StatusDocument) -> bool:
    """Anonymizations of a table with the Adult columns: the jobs the sensor may publish."""
    columns = set((document.get("info") or {}).get("columns") or ())
    return document.get("kind", "anonymize") == "anonymize" and columns == ADULT_COLUMNS


def build_definitions(
    *,
    config: JobConfig | dict[str, Any] | str | Path = JOB_CONFIG,
    policy: GatePolicy | dict[str, Any] | str | Path | None = None,
    resource_overrides: dict[str, Any] | None = None,
) -> Definitions:
    """The refresh's Definitions; tests pass another policy or resources of their own."""
    anonymized = anonymized_asset(ANONYMIZED_ADULT, config, table=wh.RAW_TABLE, deps=[RAW_ADULT], policy=policy,
                                  group_name=GROUP)
    publish = _published()
    refresh = define_asset_job(
        "warehouse_refresh",
        selection=AssetSelection.assets(raw_adult, anonymized, publish),
        description="Load raw.adult if missing, anonymize it, gate it, publish it.",
    )
    return Definitions(
        assets=[raw_adult, anonymized, publish],
        jobs=[refresh],
        schedules=[ScheduleDefinition(name="warehouse_refresh_daily", job=refresh, cron_schedule="0 2 * * *",
                                      execution_timezone="UTC", default_status=DefaultScheduleStatus.STOPPED)],
        sensors=[anon_ops_job_sensor(anonymized, downstream=[PUBLISHED_ADULT, ANONYMIZATION_RUNS],
                                     name="adult_external_anonymizations", job_filter=adult_jobs,
                                     default_status=DefaultSensorStatus.STOPPED)],
        resources={**resources(), **(resource_overrides or {})},
    )
