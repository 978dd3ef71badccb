"""Asset factories: an anonymized table as a Dagster asset, gated by blocking checks.

``anonymized_asset`` builds the asset of one anonymization: it reads its input (an upstream asset's
DataFrame, or a warehouse table), submits the job (or attaches to the existing one), waits, and
returns the anonymized DataFrame with the job's figures as metadata and the quality gate's two
blocking checks. ``applied_asset`` is the incremental variant: it applies the transformation of a
stored, completed job to each partition's new rows (no new search) and gates the cumulative risk
of everything published so far.
"""


from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    AssetsDefinition,
    Config,
    Failure,
    MetadataValue,
    Output,
    PartitionsDefinition,
    asset,
)
from dagster._core.definitions.asset_key import CoercibleToAssetKey
from pydantic import Field

import anon_ops as asdk
from anon_ops.config import JobConfig
from anon_ops.dagster.gate import (
    gate_check_results,
    gate_check_specs,
    skipped_check_results,
    statistics_metadata,
    write_statistics,
)
from anon_ops.dagster.resource import AnonOpsResource, idempotency_key
from anon_ops.dagster.warehouse import WarehouseResource
from anon_ops.errors import ConfigError
from anon_ops.quality import GatePolicy, GateVerdict, evaluate_gate, load_policy

JOB_ID = "job_id"
GATE_VERDICT = "gate_verdict"
ParentResolver = Callable[[AssetExecutionContext, AnonOpsResource], asdk.AnonJob | None]
HistoryLoader = Callable[[AssetExecutionContext], list[pd.DataFrame]]
Releases = Iterator[Output[pd.DataFrame] | AssetCheckResult]
PolicyLike = GatePolicy | Mapping[str, Any] | str | Path | None


class AnonymizeConfig(Config):
    """Run configuration of an anonymized asset (set in the launchpad, or by the job sensor)."""

    job_id: str = Field(default="", description="Attach to this anon-ops job instead of submitting one (the job "
                                                 "sensor sets it for jobs submitted outside Dagster).")
    force: bool = Field(default=False, description="Run the anonymization again even if an identical job exists.")


class ApplyConfig(Config):
    """Run configuration of an applied (incremental) asset."""

    parent_job_id: str = Field(default="", description="Apply this completed job's transformation instead of the "
                                                       "stored configuration the asset resolves.")
    force: bool = Field(default=False, description="Apply again even if an identical job exists.")


def _key(value: CoercibleToAssetKey) -> AssetKey:
    return AssetKey.from_coercible(value)


def _partition(context: AssetExecutionContext) -> str | None:
    return context.partition_key if context.has_partition_key else None


def _job_config(job: asdk.AnonJob) -> JobConfig | None:
    """The configuration a job ran with, for the gate (None: the gate derives one from the statistics)."""
    try:
        return JobConfig.parse(job.metadata().get("configuration") or {})
    except ConfigError:
        return None


def _reports_folder(context: AssetExecutionContext, anon: AnonOpsResource, asset_key: AssetKey) -> Path:
    """Reports live in the Dagster instance's storage (per asset), unless the resource names a folder."""
    base = Path(anon.reports_dir or Path(context.instance.storage_directory()) / "anon_ops_reports")
    return base / "__".join(asset_key.path)


def _privacy_report(context: AssetExecutionContext, path: Path, statistics: Mapping[str, Any],
                    config: JobConfig | None, title: str) -> Path | None:
    """The HTML privacy report of the release (aggregates only); None if it cannot be rendered:
    the report is for people, the gate's figures are already in the metadata."""
    from anon_ops.report import write_report

    try:
        return write_report(path, statistics, config, title=title)
    except Exception as exc:
        context.log.warning("privacy report not written: %s: %s", type(exc).__name__, exc)
        return None


def _release(
    context: AssetExecutionContext,
    anon: AnonOpsResource,
    asset_key: AssetKey,
    job: asdk.AnonJob,
    verdict_of: Callable[[dict[str, Any], pd.DataFrame], GateVerdict],
    extra: Mapping[str, MetadataValue],
    gate_config: JobConfig | None,
) -> Iterator[Output[pd.DataFrame] | AssetCheckResult]:
    """Fetch a completed job's result and statistics, gate them, and yield the anonymized table
    (an ``Output``: a ``MaterializeResult`` value cannot be a DataFrame, whose ``!=`` is elementwise)
    and the gate's check results."""
    result = job.result()
    if result.df is None:
        raise Failure(description=f"anon-ops job {job.id()} kept no result to return (it went to {result.target})")
    statistics = job.statistics()
    verdict = verdict_of(statistics, result.df)
    partition = _partition(context)
    folder = _reports_folder(context, anon, asset_key)
    statistics_file = write_statistics(folder, job.id(), statistics, verdict,
                                       {"asset": asset_key.to_user_string(), "partition": partition,
                                        "run_id": context.run.run_id, "location": anon.location})
    metadata: dict[str, Any] = {
        JOB_ID: MetadataValue.text(job.id()),
        "anon_ops": MetadataValue.text(anon.location),
        GATE_VERDICT: MetadataValue.text(verdict.verdict),
        "statistics_file": MetadataValue.path(str(statistics_file)),
        **statistics_metadata(statistics),
        **extra,
    }
    report = _privacy_report(context, folder / f"{job.id()}.html", statistics, gate_config,
                             f"Privacy report: {asset_key.to_user_string()}" + (f" ({partition})" if partition else ""))
    if report is not None:
        metadata["report"] = MetadataValue.path(str(report))
    url = anon.status_url(job.id())
    if url:
        metadata["status_url"] = MetadataValue.url(url)
    context.log.info("anon-ops job %s: gate verdict %s (%s)", job.id(), verdict.verdict, "; ".join(verdict.reasons[:3]))
    yield Output(result.df, metadata=metadata)
    yield from gate_check_results(asset_key, verdict)


def anonymized_asset(
    key: CoercibleToAssetKey,
    config: JobConfig | Mapping[str, Any] | str | Path,
    *,
    upstream: CoercibleToAssetKey | None = None,
    table: str | None = None,
    deps: Sequence[CoercibleToAssetKey] = (),
    policy: PolicyLike = None,
    group_name: str | None = None,
    description: str | None = None,
    resource_key: str = "anon_ops",
    warehouse_key: str = "warehouse",
    blocking: bool = True,
) -> AssetsDefinition:
    """An asset holding the anonymized version of ``upstream`` (an asset whose value is a
    DataFrame) or of warehouse ``table`` (then list the assets that produce it in ``deps``).

    ``config`` is a job configuration (a path resolves relative hierarchy files against its
    folder); its source and target are ignored: the asset passes the data and keeps the result.
    ``policy`` is the quality-gate policy of the two blocking checks (default thresholds when None).
    """
    if (upstream is None) == (table is None):
        raise ConfigError("anonymized_asset: give exactly one of upstream (an asset) or table (a warehouse table)")
    asset_key = _key(key)
    job_config = JobConfig.load(config if not isinstance(config, Mapping) else dict(config))
    gate_policy = load_policy(policy if not isinstance(policy, Mapping) else dict(policy))
    required = {resource_key} | ({warehouse_key} if table is not None else set())
    qis = ", ".join(job_config.quasi_identifiers)
    spec_description = description or (
        f"Anonymized {table or _key(upstream).to_user_string()} (k={job_config.k()}, quasi-identifiers: {qis}), "
        "gated by the anon-ops quality gate.")

    def compute(context: AssetExecutionContext, run: AnonymizeConfig, df: pd.DataFrame | None) -> Releases:
        anon: AnonOpsResource = getattr(context.resources, resource_key)
        if run.job_id:  # a job submitted elsewhere (the sensor found it): adopt its result
            job = anon.job(run.job_id)
            anon.completed(job, logger=context.log, abort_on_interrupt=False)
            gate_config = _job_config(job)
            attached = True
            context.log.info("attached to anon-ops job %s given in the run configuration", run.job_id)
        else:
            if df is None:
                warehouse: WarehouseResource = getattr(context.resources, warehouse_key)
                assert table is not None
                df = warehouse.read(table)
            run_key = idempotency_key(context.run.run_id, asset_key.to_user_string(), _partition(context))
            job = anon.run(df, job_config, key=run_key, force=run.force, logger=context.log)
            gate_config, attached = job_config, job.created is False
        yield from _release(
            context, anon, asset_key, job,
            lambda statistics, table_df: evaluate_gate(statistics, gate_policy, config=gate_config, table=table_df),
            {"attached": MetadataValue.bool(attached)}, gate_config,
        )

    common: dict[str, Any] = {
        "key": asset_key,
        "deps": list(deps),
        "check_specs": gate_check_specs(asset_key, blocking=blocking),
        "required_resource_keys": required,
        "group_name": group_name,
        "description": spec_description,
        "metadata": {"anon_ops/quasi_identifiers": job_config.quasi_identifiers, "anon_ops/k": job_config.k()},
        "kinds": {"pandas"},
    }
    if upstream is not None:
        @asset(ins={"df": AssetIn(key=_key(upstream))}, **common)
        def _from_asset(context: AssetExecutionContext, config: AnonymizeConfig, df: pd.DataFrame) -> Releases:
            yield from compute(context, config, df)

        return _from_asset

    @asset(**common)
    def _from_table(context: AssetExecutionContext, config: AnonymizeConfig) -> Releases:
        yield from compute(context, config, None)

    return _from_table


def applied_asset(
    key: CoercibleToAssetKey,
    *,
    upstream: CoercibleToAssetKey | None = None,
    table: str | None = None,
    partition_column: str | None = None,
    partitions_def: PartitionsDefinition | None = None,
    parent: str | ParentResolver | None = None,
    columns: Sequence[str] | None = None,
    history: HistoryLoader | None = None,
    deps: Sequence[CoercibleToAssetKey] = (),
    policy: PolicyLike = None,
    group_name: str | None = None,
    description: str | None = None,
    resource_key: str = "anon_ops",
    warehouse_key: str = "warehouse",
    blocking: bool = True,
) -> AssetsDefinition:
    """An incremental anonymized asset: each partition's new rows (``upstream``'s DataFrame, or
    the rows of warehouse ``table`` whose ``partition_column`` equals the partition key) with the
    transformation of a stored, completed anonymization job applied.

    ``parent`` picks that job: a job id, a function of (context, resource), or None for the newest
    completed anonymization over a table with the batch's columns (``columns`` when given).
    ``history`` returns the batches published before (the union the gate's cumulative risk checks).
    """
    if (upstream is None) == (table is None):
        raise ConfigError("applied_asset: give exactly one of upstream (an asset) or table (a warehouse table)")
    asset_key = _key(key)
    gate_policy = load_policy(policy if not isinstance(policy, Mapping) else dict(policy))
    required = {resource_key} | ({warehouse_key} if table is not None else set())

    def resolve_parent(context: AssetExecutionContext, anon: AnonOpsResource, run: ApplyConfig,
                       df: pd.DataFrame) -> asdk.AnonJob:
        chosen = run.parent_job_id or (parent if isinstance(parent, str) else None)
        if chosen:
            job = anon.existing_job(chosen)
        elif callable(parent):
            job = parent(context, anon)
        else:
            job = anon.latest_completed_job(columns=columns or [str(c) for c in df.columns])
        if job is None:
            raise Failure(description=f"{asset_key.to_user_string()}: no completed anonymization job on "
                                      f"{anon.location} to take the stored configuration from; materialize the "
                                      "full anonymization first (or set parent_job_id)")
        return job

    def compute(context: AssetExecutionContext, run: ApplyConfig, df: pd.DataFrame | None) -> Releases:
        anon: AnonOpsResource = getattr(context.resources, resource_key)
        partition = _partition(context)
        if df is None:
            warehouse: WarehouseResource = getattr(context.resources, warehouse_key)
            assert table is not None
            if partition_column and partition is not None:
                df = warehouse.read_partition(table, partition_column, partition)
            else:
                df = warehouse.read(table)
        parent_job = resolve_parent(context, anon, run, df)
        extra = {"parent_job_id": MetadataValue.text(parent_job.id())}
        if df.empty:
            why = f"no new rows for partition {partition}: nothing to release"
            context.log.info(why)
            yield Output(df, metadata={**extra, "dagster/row_count": MetadataValue.int(0),
                                       GATE_VERDICT: MetadataValue.text("nothing to release")})
            yield from skipped_check_results(asset_key, why)
            return
        run_key = idempotency_key(context.run.run_id, asset_key.to_user_string(), partition, kind="apply")
        job = anon.run_apply(parent_job, df, key=run_key, force=run.force, logger=context.log)
        gate_config = _job_config(parent_job)
        published = history(context) if history is not None else None

        def verdict_of(statistics: dict[str, Any], table_df: pd.DataFrame) -> GateVerdict:
            return evaluate_gate(statistics, gate_policy, config=gate_config, table=table_df,
                                 published_history=published)

        extra["attached"] = MetadataValue.bool(job.created is False)
        if published is not None:
            extra["published_batches_before"] = MetadataValue.int(len(published))
        yield from _release(context, anon, asset_key, job, verdict_of, extra, gate_config)

    common: dict[str, Any] = {
        "key": asset_key,
        "deps": list(deps),
        "check_specs": gate_check_specs(asset_key, blocking=blocking),
        "required_resource_keys": required,
        "partitions_def": partitions_def,
        "group_name": group_name,
        "description": description or (
            f"New rows of {table or _key(upstream).to_user_string()} with a stored anonymization applied, "
            "gated on the cumulative risk of every release."),
        "kinds": {"pandas"},
    }
    if upstream is not None:
        @asset(ins={"df": AssetIn(key=_key(upstream))}, **common)
        def _from_asset(context: AssetExecutionContext, config: ApplyConfig, df: pd.DataFrame) -> Releases:
            yield from compute(context, config, df)

        return _from_asset

    @asset(**common)
    def _from_table(context: AssetExecutionContext, config: ApplyConfig) -> Releases:
        yield from compute(context, config, None)

    return _from_table


def release_metadata(context: AssetExecutionContext, asset_key: CoercibleToAssetKey) -> dict[str, Any]:
    """The metadata values of the latest materialization of an anonymized asset (of this run's
    partition when partitioned): what a downstream "published" asset needs to know about the
    release it publishes (``job_id``, ``gate_verdict``…). Empty when it was never materialized."""
    from dagster import AssetRecordsFilter

    partition = _partition(context)
    records = context.instance.fetch_materializations(
        AssetRecordsFilter(asset_key=_key(asset_key), asset_partitions=[partition] if partition else None),
        limit=1,
    ).records
    materialization = records[0].asset_materialization if records else None
    if materialization is None:
        return {}
    return {name: value.value for name, value in materialization.metadata.items()}


def require_published_verdict(metadata: Mapping[str, Any], asset_key: CoercibleToAssetKey) -> str:
    """The job id of a release the gate let through; a ``Failure`` otherwise.

    Blocking checks stop the downstream asset in the run where they fail; this guard also stops a
    later run that materializes only the downstream asset on top of a refused release.
    """
    name = _key(asset_key).to_user_string()
    verdict, job_id = metadata.get(GATE_VERDICT), metadata.get(JOB_ID)
    if verdict != "publish" or not job_id:
        raise Failure(description=f"{name}: its latest release has gate verdict {verdict!r}; not publishing it",
                      metadata={"gate_verdict": MetadataValue.text(str(verdict))})
    return str(job_id)
