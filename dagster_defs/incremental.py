"""The partitioned incremental variant of the refresh: its own code location.

    raw/adult_increments ─ anonymized/adult_increments ─ published/adult_increments
                           (daily partitions from 2026-01-01; blocking checks: risk_gate, utility_gate)

Each day's new rows (``raw.adult_increments`` where ``batch_date`` is the partition key) get the
transformation of the stored configuration applied — the job of the latest release published to
``published.anonymization_runs``, else the newest completed anonymization of an Adult table — with
no new search. The gate checks the batch and the cumulative risk: the union of ``published.adult``,
the other published batches and this one. Published batches go to ``published.adult_increments``
(one partition replaced at a time, so a re-run never duplicates rows).

Run with ``dagster dev -m dagster_defs -m dagster_defs.incremental`` (or ``dagster asset
materialize -m dagster_defs.incremental --select '*' --partition 2026-01-01``). It is a separate
code location because a run materializes assets of one partitioning only: with these assets,
``dagster asset materialize -m dagster_defs --select '*'`` would demand a partition.
"""

from collections.abc import Iterator

import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetIn,
    AssetSelection,
    AssetSpec,
    DailyPartitionsDefinition,
    Definitions,
    MaterializeResult,
    MetadataValue,
    build_schedule_from_partitioned_job,
    define_asset_job,
    multi_asset,
)

import anon_ops as asdk
from anon_ops import warehouse as wh
from anon_ops.dagster import (
    AnonOpsResource,
    WarehouseResource,
    applied_asset,
    release_metadata,
    require_published_verdict,
)
from anon_ops.jobs.status import JobStatus
from dagster_defs.common import (
    ADULT_COLUMNS,
    ANONYMIZED_ADULT,
    ANONYMIZED_INCREMENTS,
    BATCH_COLUMN,
    INCREMENT_POLICY,
    PUBLISHED_ADULT,
    PUBLISHED_INCREMENTS,
    PUBLISHED_INCREMENTS_TABLE,
    RAW_INCREMENTS,
    resources,
)

GROUP = "incremental"
DAILY = DailyPartitionsDefinition(start_date="2026-01-01", timezone="UTC")


def stored_configuration(context: AssetExecutionContext, anon: AnonOpsResource) -> asdk.AnonJob | None:
    """The job whose transformation the batches reuse: the one behind the latest published full
    release (so that batches and ``published.adult`` share one transformation and the union's
    classes add up), else the newest completed anonymization of a table with the Adult columns."""
    warehouse: WarehouseResource = context.resources.warehouse
    if warehouse.has_table(wh.RUNS_TABLE):
        runs = warehouse.read(wh.RUNS_TABLE).sort_values("recorded_at", ascending=False)
        for job_id in runs.loc[runs["verdict"] == "publish", "job_id"].head(20):
            job = anon.existing_job(str(job_id))
            if job is None:
                continue
            document = job.status()
            if document.get("kind") == "anonymize" and document["status"] == JobStatus.COMPLETED:
                context.log.info("stored configuration: job %s of the latest published release", job.id())
                return job
    job = anon.latest_completed_job(columns=ADULT_COLUMNS)
    if job is not None:
        context.log.info("stored configuration: the newest completed anonymization, job %s", job.id())
    return job


def published_history(context: AssetExecutionContext) -> list[pd.DataFrame]:
    """Everything an attacker can already see besides this partition: the full release and the
    other published batches (a re-run of a partition replaces its own rows)."""
    warehouse: WarehouseResource = context.resources.warehouse
    history = []
    if warehouse.has_table(wh.PUBLISHED_TABLE):
        history.append(warehouse.read(wh.PUBLISHED_TABLE))
    if warehouse.has_table(PUBLISHED_INCREMENTS_TABLE):
        batches = warehouse.read(PUBLISHED_INCREMENTS_TABLE)
        for _, batch in batches[batches[BATCH_COLUMN].astype(str) != context.partition_key].groupby(BATCH_COLUMN):
            history.append(batch.drop(columns=[BATCH_COLUMN]))
    return history


anonymized_increments = applied_asset(
    ANONYMIZED_INCREMENTS,
    table=wh.INCREMENTS_TABLE,
    partition_column=BATCH_COLUMN,
    partitions_def=DAILY,
    parent=stored_configuration,
    history=published_history,
    deps=[RAW_INCREMENTS, ANONYMIZED_ADULT, PUBLISHED_ADULT],
    policy=INCREMENT_POLICY,
    group_name=GROUP,
)


@multi_asset(
    specs=[AssetSpec(PUBLISHED_INCREMENTS, deps=[ANONYMIZED_INCREMENTS], group_name=GROUP, kinds={"sql"},
                     description=f"Released daily batches ({PUBLISHED_INCREMENTS_TABLE}, column batch_date): "
                                 "written only when the gate's blocking checks pass.")],
    ins={"anonymized": AssetIn(key=ANONYMIZED_INCREMENTS)},
    partitions_def=DAILY,
    name="publish_adult_increment",
    required_resource_keys={"anon_ops", "warehouse"},
)
def published_increments(context: AssetExecutionContext, anonymized: pd.DataFrame) -> Iterator[MaterializeResult]:
    """Replace this partition's rows of the published batches and log the release."""
    warehouse: WarehouseResource = context.resources.warehouse
    metadata = release_metadata(context, ANONYMIZED_INCREMENTS)
    if metadata.get("gate_verdict") == "nothing to release":
        warehouse.replace_partition(anonymized, PUBLISHED_INCREMENTS_TABLE, BATCH_COLUMN, context.partition_key)
        yield MaterializeResult(metadata={"dagster/row_count": MetadataValue.int(0)})
        return
    job_id = require_published_verdict(metadata, ANONYMIZED_INCREMENTS)
    anon: AnonOpsResource = context.resources.anon_ops
    statistics = anon.job(job_id).statistics()
    warehouse.replace_partition(anonymized, PUBLISHED_INCREMENTS_TABLE, BATCH_COLUMN, context.partition_key)
    row = warehouse.record_run(statistics, job_id=job_id, verdict="publish",
                               orchestrator=f"dagster:{PUBLISHED_INCREMENTS.to_user_string()}")
    context.log.info("published %d rows of batch %s (job %s)", len(anonymized), context.partition_key, job_id)
    yield MaterializeResult(metadata={
        "table": MetadataValue.text(PUBLISHED_INCREMENTS_TABLE), "job_id": MetadataValue.text(job_id),
        "run_id": MetadataValue.text(row["run_id"]), "dagster/row_count": MetadataValue.int(len(anonymized))})


increments_job = define_asset_job(
    "adult_increments",
    selection=AssetSelection.assets(anonymized_increments, published_increments),
    description="Anonymize one day's new rows with the stored configuration, gate, publish.",
)

defs = Definitions(
    assets=[anonymized_increments, published_increments],
    jobs=[increments_job],
    schedules=[build_schedule_from_partitioned_job(increments_job, name="adult_increments_daily", hour_of_day=3)],
    resources=resources(),
)
