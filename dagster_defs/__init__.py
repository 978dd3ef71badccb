"""Dagster definitions of the example warehouse refresh: ``dagster dev -m dagster_defs``.

``defs`` (this module) is the full refresh ``raw.adult → anonymized → published.adult`` with its
blocking quality-gate checks, a daily schedule and a sensor for anonymizations submitted outside
Dagster (see ``dagster_defs.refresh``); ``dagster asset materialize -m dagster_defs --select '*'``
runs it.

The partitioned incremental variant is a second code location, ``dagster_defs.incremental``:
Dagster materializes a selection of assets in one run only when they share one partitioning, so
daily-partitioned assets in this module would make ``--select '*'`` fail without a partition.
Load both with ``dagster dev -m dagster_defs -m dagster_defs.incremental``.
"""

from dagster_defs.refresh import build_definitions

defs = build_definitions()

__all__ = ["build_definitions", "defs"]
