"""The example warehouse the Airflow DAGs and Dagster assets refresh.

``ANON_OPS_WAREHOUSE`` names it (a SQLAlchemy URL; default a DuckDB file in ``ANON_OPS_HOME``).
``raw.adult`` holds the shipped Adult sample, ``raw.adult_increments`` daily batches of new rows
(``batch_date``); a refresh publishes ``published.adult`` and appends the statistics of every run to
``published.anonymization_runs``.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from typing import Any

import numpy as np
import pandas as pd

from anon_ops.config import DataStore, SqlStore
from anon_ops.data import ADULT_CSV
from anon_ops.io import read_csv_text, read_table, write_table
from anon_ops.settings import Settings

log = logging.getLogger(__name__)

RAW_TABLE = "raw.adult"
INCREMENTS_TABLE = "raw.adult_increments"
PUBLISHED_TABLE = "published.adult"
RUNS_TABLE = "published.anonymization_runs"
SAMPLE_BATCHES = 7
SAMPLE_BATCH_ROWS = 3000


def warehouse_url(url: str | None = None, settings: Settings | None = None) -> str:
    """The warehouse URL: explicit, else ``ANON_OPS_WAREHOUSE``, else a DuckDB file in the home."""
    if url:
        return url
    if os.environ.get("ANON_OPS_WAREHOUSE"):
        return os.environ["ANON_OPS_WAREHOUSE"]
    home = (settings or Settings.from_env()).home
    home.mkdir(parents=True, exist_ok=True)
    return f"duckdb:///{home / 'warehouse.duckdb'}"


def table_store(url: str, table: str) -> DataStore:
    """A data store of the job configuration for one warehouse table."""
    return DataStore(type="sql", sql=SqlStore(url=url, table=table))


def load_sample(url: str | None = None, *, batches: int = SAMPLE_BATCHES, seed: int = 1) -> str:
    """Load the shipped Adult sample into ``raw.adult`` and daily batches of resampled new rows
    into ``raw.adult_increments``; returns the warehouse URL."""
    url = warehouse_url(url)
    adult = read_csv_text(ADULT_CSV, sep=";")
    write_table(adult, table_store(url, RAW_TABLE))
    rng = np.random.default_rng(seed)
    parts = []
    for day in range(batches):
        batch = adult.iloc[rng.integers(0, len(adult), SAMPLE_BATCH_ROWS)].reset_index(drop=True)
        parts.append(batch.assign(batch_date=(pd.Timestamp("2026-01-01") + pd.Timedelta(days=day)).date().isoformat()))
    write_table(pd.concat(parts, ignore_index=True), table_store(url, INCREMENTS_TABLE))
    log.info("sample warehouse loaded: %s (%d rows) and %s (%d batches)", RAW_TABLE, len(adult),
             INCREMENTS_TABLE, batches)
    return url


def safe_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    import sqlalchemy as sa

    return sa.engine.make_url(url).render_as_string(hide_password=True)


def read(url: str, table: str) -> pd.DataFrame:
    return read_table(table_store(url, table))


def increment(url: str, batch_date: str) -> pd.DataFrame:
    """The new rows of one day (without the ``batch_date`` column)."""
    rows = read(url, INCREMENTS_TABLE)
    return rows[rows["batch_date"] == batch_date].drop(columns=["batch_date"]).reset_index(drop=True)


def publish(df: pd.DataFrame, url: str, table: str = PUBLISHED_TABLE) -> str:
    """Replace the published table atomically (the old one stays until the new one is complete)."""
    return write_table(df, table_store(url, table))


def append(df: pd.DataFrame, url: str, table: str = PUBLISHED_TABLE) -> None:
    """Append rows to a published table (incremental releases), creating it when missing."""
    import sqlalchemy as sa

    schema, name = table.split(".", 1)
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
            df.to_sql(name, connection, schema=schema, if_exists="append", index=False)
    finally:
        engine.dispose()


def record_run(
    url: str,
    statistics: dict[str, Any],
    *,
    job_id: str | None = None,
    verdict: str = "publish",
    attempt: int = 0,
    orchestrator: str = "",
    table: str = RUNS_TABLE,
) -> dict[str, Any]:
    """Append one refresh's statistics to ``published.anonymization_runs``; returns the row."""
    risk = statistics.get("risk", {}).get("target", {})
    rows = statistics.get("rows", {})
    row = {
        "run_id": uuid.uuid4().hex,
        "recorded_at": time.time(),
        "orchestrator": orchestrator,
        "job_id": job_id or "",
        "verdict": verdict,
        "attempt": attempt,
        "rows_input": rows.get("input"),
        "rows_output": rows.get("output"),
        "rows_suppressed": rows.get("suppressed"),
        "equivalence_classes": statistics.get("equivalence_classes"),
        "information_loss": statistics.get("information_loss", {}).get("value"),
        "prosecutor_highest_risk": risk.get("prosecutor", {}).get("highest_risk"),
        "prosecutor_records_at_risk": risk.get("prosecutor", {}).get("records_at_risk"),
        "marketer_success_rate": risk.get("marketer", {}).get("success_rate"),
        "granularity": statistics.get("utility", {}).get("granularity"),
        "transformation": json.dumps(statistics.get("transformation", {})),
        "statistics": json.dumps({k: v for k, v in statistics.items() if k != "exploratory"}, default=str),
    }
    append(pd.DataFrame([row]), url, table)
    return row
