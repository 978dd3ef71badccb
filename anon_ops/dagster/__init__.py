"""anon-ops in Dagster asset graphs, the way dagster-dbt and dagster-fivetran bring their tools in.

* :class:`AnonOpsResource` — the connection (embedded runtime or service URL + ``EnvVar`` token),
  poll interval and timeout; submits or attaches to a job and aborts it if the run is terminated.
* :func:`anonymized_asset` — an anonymized table as an asset with the quality gate's two blocking
  checks (``risk_gate``, ``utility_gate``); :func:`applied_asset` — the partitioned / incremental
  variant applying a stored transformation and gating the cumulative risk.
* :func:`anon_ops_job_sensor` — materializes an asset from jobs submitted outside Dagster.
* :class:`WarehouseResource` — the example warehouse of ``anon_ops.warehouse``.

``dagster_defs`` (at the repository root) wires these into the example warehouse refresh.
"""

from anon_ops.dagster.assets import (
    GATE_VERDICT,
    JOB_ID,
    AnonymizeConfig,
    ApplyConfig,
    anonymized_asset,
    applied_asset,
    release_metadata,
    require_published_verdict,
)
from anon_ops.dagster.gate import (
    GATE_CHECKS,
    RISK_CHECK,
    UTILITY_CHECK,
    gate_check_results,
    gate_check_specs,
    statistics_metadata,
)
from anon_ops.dagster.resource import AnonOpsResource, idempotency_key
from anon_ops.dagster.sensors import JobCursor, anon_ops_job_sensor, anonymization_jobs
from anon_ops.dagster.warehouse import WarehouseResource

__all__ = [
    "GATE_CHECKS",
    "GATE_VERDICT",
    "JOB_ID",
    "RISK_CHECK",
    "UTILITY_CHECK",
    "AnonOpsResource",
    "AnonymizeConfig",
    "ApplyConfig",
    "JobCursor",
    "WarehouseResource",
    "anon_ops_job_sensor",
    "anonymization_jobs",
    "anonymized_asset",
    "applied_asset",
    "gate_check_results",
    "gate_check_specs",
    "idempotency_key",
    "release_metadata",
    "require_published_verdict",
    "statistics_metadata",
]
