"""``WarehouseResource``: the example warehouse (``anon_ops.warehouse``) as a Dagster resource.

A resource rather than module calls so that the URL (which may hold a password) comes from an
``EnvVar`` and tests point a whole Definitions at a warehouse of their own.
"""

from __future__ import annotations

import os
from typing import Any

import pandas as pd
from dagster import ConfigurableResource, EnvVar
from pydantic import Field

from anon_ops import warehouse


def _split(table: str) -> tuple[str | None, str]:
    schema, _, name = table.rpartition(".")
    return schema or None, name


class WarehouseResource(ConfigurableResource):
    """The SQLAlchemy URL of the warehouse; empty: ``ANON_OPS_WAREHOUSE``, else a DuckDB file in
    ``ANON_OPS_HOME`` (what :func:`anon_ops.warehouse.warehouse_url` decides)."""

    url: str = Field(default="", description="SQLAlchemy URL; pass EnvVar('ANON_OPS_WAREHOUSE') when it holds a "
                                             "password.")

    @classmethod
    def from_env(cls) -> WarehouseResource:
        """``ANON_OPS_WAREHOUSE`` as an ``EnvVar`` when set (resolved per run, hidden in the UI)."""
        return cls(url=EnvVar("ANON_OPS_WAREHOUSE") if os.environ.get("ANON_OPS_WAREHOUSE") else "")

    @property
    def resolved_url(self) -> str:
        return warehouse.warehouse_url(self.url or None)

    @property
    def safe_url(self) -> str:
        """The URL without its password, for metadata and logs."""
        return warehouse.safe_url(self.resolved_url)

    def has_table(self, table: str) -> bool:
        import sqlalchemy as sa

        schema, name = _split(table)
        engine = sa.create_engine(self.resolved_url)
        try:
            with engine.connect() as connection:
                return sa.inspect(connection).has_table(name, schema=schema)
        finally:
            engine.dispose()

    def read(self, table: str) -> pd.DataFrame:
        return warehouse.read(self.resolved_url, table)

    def read_partition(self, table: str, column: str, value: str) -> pd.DataFrame:
        """The rows of one partition (``column == value``), without the partition column."""
        rows = self.read(table)
        return rows[rows[column].astype(str) == value].drop(columns=[column]).reset_index(drop=True)

    def load_sample(self) -> str:
        """Load the shipped Adult sample (``raw.adult`` and ``raw.adult_increments``)."""
        return warehouse.load_sample(self.resolved_url)

    def publish(self, df: pd.DataFrame, table: str) -> str:
        """Replace ``table`` atomically; the stored location without a password."""
        return warehouse.publish(df, self.resolved_url, table)

    def replace_partition(self, df: pd.DataFrame, table: str, column: str, value: str) -> None:
        """Replace the rows of one partition in one transaction, so that re-running a partition
        never publishes its rows twice (``warehouse.append`` alone would)."""
        import sqlalchemy as sa

        schema, name = _split(table)
        engine = sa.create_engine(self.resolved_url)
        try:
            with engine.begin() as connection:
                if schema:
                    connection.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
                if sa.inspect(connection).has_table(name, schema=schema):
                    target = sa.Table(name, sa.MetaData(), sa.Column(column), schema=schema)
                    connection.execute(sa.delete(target).where(target.c[column] == value))
                rows = df.assign(**{column: value})
                if len(rows):
                    rows.to_sql(name, connection, schema=schema, if_exists="append", index=False)
        finally:
            engine.dispose()

    def record_run(self, statistics: dict[str, Any], *, orchestrator: str = "dagster", **kwargs: Any) -> dict[str, Any]:
        """Append one release's statistics to ``published.anonymization_runs`` (``orchestrator``:
        ``dagster:<published asset>``, as the Airflow DAGs record ``airflow:<dag_id>``)."""
        return warehouse.record_run(self.resolved_url, statistics, orchestrator=orchestrator, **kwargs)
