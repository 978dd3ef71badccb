"""A sensor that turns anon-ops jobs submitted outside Dagster into materializations.

A data owner may re-run an anonymization from the CLI, the REST API or a notebook (say with a
larger k after a review). The sensor polls the runtime's job list and, when such a job completes,
requests a run of the anonymized asset (and what is downstream) that attaches to that job: the
asset adopts its result, the quality gate checks it, and the published table is refreshed only if
the checks pass.

The cursor is a small JSON document (``JobCursor``): the ``created_at`` of the newest job already
considered and the ids of jobs seen while still queued or running. Nothing is requested twice
for a job: a job leaves the cursor once it is requested or ends without completing.
"""


import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from dagster import (
    AssetKey,
    AssetsDefinition,
    DefaultSensorStatus,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)
from dagster._core.definitions.asset_key import CoercibleToAssetKey
from dagster._core.errors import DagsterInvariantViolationError

from anon_ops.dagster.resource import AnonOpsResource, StatusDocument
from anon_ops.jobs.errors import JobNotFoundError
from anon_ops.jobs.status import JobStatus

log = logging.getLogger(__name__)
JobFilter = Callable[[StatusDocument], bool]


@dataclass
class JobCursor:
    """Where the sensor stopped: serializable to a short JSON text (Dagster stores it per tick)."""

    after: float = 0.0
    pending: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps({"after": self.after, "pending": sorted(set(self.pending))}, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | None) -> "JobCursor | None":
        """The cursor, or None for a first evaluation (or an unreadable cursor: start afresh)."""
        if not text:
            return None
        try:
            data = json.loads(text)
            return cls(after=float(data.get("after", 0.0)), pending=[str(i) for i in data.get("pending", [])])
        except (ValueError, TypeError, AttributeError):
            log.warning("anon-ops job sensor: unreadable cursor %r; starting from now", text[:100])
            return None


def anonymization_jobs(document: StatusDocument) -> bool:
    """The default filter: full anonymizations (not the apply jobs of incremental releases)."""
    return document.get("kind", "anonymize") == "anonymize"


def _created(document: StatusDocument) -> float:
    try:
        return float(document.get("created_at") or 0.0)
    except (TypeError, ValueError):
        return 0.0


def _latest_materialized_job(context: SensorEvaluationContext, asset_key: AssetKey) -> str | None:
    """The job the asset's latest materialization came from (so a job Dagster itself ran, or
    already adopted, is not requested again); None without an instance."""
    try:
        instance = context.instance
    except DagsterInvariantViolationError:
        return None
    event = instance.get_latest_materialization_event(asset_key)
    materialization = event.asset_materialization if event is not None else None
    if materialization is None:
        return None
    value = materialization.metadata.get("job_id")
    return str(value.value) if value is not None else None


def anon_ops_job_sensor(
    asset: AssetsDefinition,
    *,
    downstream: Sequence[CoercibleToAssetKey] = (),
    name: str | None = None,
    resource_key: str = "anon_ops",
    job_filter: JobFilter = anonymization_jobs,
    limit: int = 50,
    minimum_interval_seconds: int = 30,
    default_status: DefaultSensorStatus = DefaultSensorStatus.STOPPED,
) -> SensorDefinition:
    """A sensor requesting a run of ``asset`` (built by ``anonymized_asset``) and ``downstream``
    when a job accepted by ``job_filter`` completes; the run attaches to that job.

    When several such jobs completed since the last tick only the newest is requested: each run
    replaces the asset, so older ones would be overwritten at once.
    """
    asset_key = asset.key
    op_name = asset.node_def.name
    selection = [asset_key, *(AssetKey.from_coercible(k) for k in downstream)]

    @sensor(
        name=name or f"{op_name}_anon_ops_jobs",
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_status,
        required_resource_keys={resource_key},
        asset_selection=selection,
        description=f"Materializes {asset_key.to_user_string()} from anon-ops jobs submitted outside Dagster "
                    "once they complete.",
    )
    def _sensor(context: SensorEvaluationContext) -> SensorResult | SkipReason:
        anon: AnonOpsResource = getattr(context.resources, resource_key)
        documents = anon.list_jobs(limit)
        cursor = JobCursor.from_json(context.cursor)
        if cursor is None:  # first tick: watch from now on, and the jobs still under way
            active = [d["id"] for d in documents if job_filter(d) and JobStatus(d["status"]).is_active]
            start = JobCursor(after=max((_created(d) for d in documents), default=0.0), pending=active)
            return SensorResult(skip_reason=f"watching anon-ops jobs on {anon.location} from now on",
                                cursor=start.to_json())
        listed = {d["id"]: d for d in documents}
        for job_id in cursor.pending:  # a pending job may have dropped out of the newest `limit`
            if job_id not in listed:
                try:
                    listed[job_id] = anon.job(job_id).status()
                except JobNotFoundError:
                    continue
        after, pending, completed = cursor.after, [], []
        for document in listed.values():
            created = _created(document)
            if created <= cursor.after and document["id"] not in cursor.pending:
                continue
            after = max(after, created)
            if not job_filter(document):
                continue
            state = JobStatus(document["status"])
            if state == JobStatus.COMPLETED:
                completed.append(document)
            elif state.is_active:
                pending.append(document["id"])
        next_cursor = JobCursor(after=after, pending=pending).to_json()
        if not completed:
            return SensorResult(skip_reason="no new completed anon-ops job", cursor=next_cursor)
        newest = max(completed, key=_created)
        if _latest_materialized_job(context, asset_key) == newest["id"]:
            return SensorResult(skip_reason=f"job {newest['id']} is already materialized", cursor=next_cursor)
        if len(completed) > 1:
            context.log.info("%d jobs completed; requesting the newest, %s", len(completed), newest["id"])
        run_config: dict[str, Any] = {"ops": {op_name: {"config": {"job_id": newest["id"]}}}}
        request = RunRequest(run_key=f"anon-ops-job-{newest['id']}", run_config=run_config,
                             asset_selection=selection, tags={"anon_ops/job_id": newest["id"]})
        return SensorResult(run_requests=[request], cursor=next_cursor)

    return _sensor
