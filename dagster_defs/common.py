"""What the two code locations of ``dagster_defs`` share: asset keys, resources, the job config."""

from __future__ import annotations

from typing import Any

from dagster import AssetKey

from anon_ops.dagster import AnonOpsResource, WarehouseResource
from anon_ops.data import ADULT_JOB, ADULT_QIS

# Asset keys mirror the warehouse tables (schema / table); the anonymized table is the asset the
# gate checks, kept by the IO manager, and published only when its checks pass.
RAW_ADULT = AssetKey(["raw", "adult"])
RAW_INCREMENTS = AssetKey(["raw", "adult_increments"])
ANONYMIZED_ADULT = AssetKey(["anonymized", "adult"])
PUBLISHED_ADULT = AssetKey(["published", "adult"])
ANONYMIZATION_RUNS = AssetKey(["published", "anonymization_runs"])
ANONYMIZED_INCREMENTS = AssetKey(["anonymized", "adult_increments"])
PUBLISHED_INCREMENTS = AssetKey(["published", "adult_increments"])

PUBLISHED_INCREMENTS_TABLE = "published.adult_increments"
BATCH_COLUMN = "batch_date"
JOB_CONFIG = ADULT_JOB  # loaded by path, so its relative hierarchy files resolve
ADULT_COLUMNS = frozenset(ADULT_QIS)

INCREMENT_POLICY: dict[str, Any] = {"suppressed_max": 0.3}
"""The gate policy of daily batches (as the Airflow DAG ``anon_ops_warehouse_incremental``): the
default risk thresholds (on the batch and on the union of every release), but up to 30 % of a
batch suppressed. The stored transformation was chosen for the
whole table; applied to a batch of a few thousand rows it suppresses more of the rare
combinations (about 15 % on the sample's batches), which is the price of not searching again."""


def resources() -> dict[str, Any]:
    """anon-ops from ``ANON_OPS_URL`` / ``ANON_OPS_TOKEN`` (embedded when unset) and the warehouse
    of ``ANON_OPS_WAREHOUSE`` (a DuckDB file in ``ANON_OPS_HOME`` when unset)."""
    return {"anon_ops": AnonOpsResource.from_env(), "warehouse": WarehouseResource.from_env()}


__all__ = [
    "ADULT_COLUMNS",
    "ANONYMIZATION_RUNS",
    "ANONYMIZED_ADULT",
    "ANONYMIZED_INCREMENTS",
    "BATCH_COLUMN",
    "INCREMENT_POLICY",
    "JOB_CONFIG",
    "PUBLISHED_ADULT",
    "PUBLISHED_INCREMENTS",
    "PUBLISHED_INCREMENTS_TABLE",
    "RAW_ADULT",
    "RAW_INCREMENTS",
    "resources",
]
