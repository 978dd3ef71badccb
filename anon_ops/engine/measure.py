"""Measure candidate configurations before running a job: risk and utility per candidate.

The data are encoded once and every candidate's search shares one roll-up cache — the frequency
set of a transformation does not depend on k, the suppression limit or the metric — so a grid of
candidates costs little more than its slowest member. Nothing is written.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable
from typing import Any

import pandas as pd

from anon_ops.config import JobConfig
from anon_ops.engine.anonymizer import (
    NoSolutionError,
    _read_subset,
    _validate_for_anonymization,
    find_optimum,
    outcome_statistics,
)
from anon_ops.engine.encoding import encode
from anon_ops.engine.search import RollupCache
from anon_ops.errors import ConfigError

log = logging.getLogger(__name__)

GRID_FIELDS = ("k", "max_suppression", "metric", "l", "t")
_CACHE_SLOTS = 1024


def _candidate(base: JobConfig, values: dict[str, Any]) -> JobConfig:
    """``base`` with the grid's values set, as an ordinary (validated) job configuration."""
    data = base.to_dict()
    models = data.setdefault("privacy_models", [])
    for name, value in values.items():
        if name == "k":
            k_models = [m for m in models if m["model_type"] == "k-anonymity"]
            if k_models:
                k_models[0]["params"]["k"] = value
            else:
                models.insert(0, {"model_type": "k-anonymity", "params": {"k": value}})
        elif name == "max_suppression":
            data["max_suppression"] = value
        elif name == "metric":
            data["metric"] = {"name": value} if isinstance(value, str) else value
        else:
            kind = {"l": "l-diversity", "t": "t-closeness"}[name]
            matching = [m for m in models if m["model_type"] == kind]
            if not matching:
                raise ConfigError(f"measure.{name}: the configuration has no {kind} model to vary")
            for model in matching:
                model["params"][name] = value
    return JobConfig.parse(data, base.base_dir)


def candidates(base: JobConfig, grid: dict[str, list[Any]]) -> list[tuple[dict[str, Any], JobConfig]]:
    unknown = sorted(set(grid) - set(GRID_FIELDS))
    if unknown:
        raise ConfigError(f"measure: unknown grid field(s) {unknown}; use {list(GRID_FIELDS)}")
    names = list(grid)
    for name in names:
        if not isinstance(grid[name], list | tuple) or not grid[name]:
            raise ConfigError(f"measure.{name}: give a non-empty list of candidate values")
    combos = itertools.product(*(grid[n] for n in names)) if names else [()]
    return [(dict(zip(names, combo, strict=True)), _candidate(base, dict(zip(names, combo, strict=True))))
            for combo in combos]


def measure(
    df: pd.DataFrame,
    config: JobConfig | dict[str, Any],
    grid: dict[str, list[Any]] | None = None,
    *,
    progress: Callable[[float], None] | None = None,
) -> pd.DataFrame:
    """One row per candidate: its grid values, information loss, suppression, risk and utility."""
    base = JobConfig.load(config)
    plan = candidates(base, grid or {})
    for _, candidate in plan:
        _validate_for_anonymization(candidate)
    encoded = encode(df, plan[0][1], subset=_read_subset(plan[0][1], None))
    cache = RollupCache(len(encoded.qis), slots=_CACHE_SLOTS)
    validity: dict[tuple[object, ...], dict[tuple[int, ...], bool]] = {}
    rows = []
    for position, (values, candidate) in enumerate(plan):
        started = time.perf_counter()
        row: dict[str, Any] = {name: _label(value) for name, value in values.items()}
        try:
            found = find_optimum(encoded, candidate, cache=cache, validity=validity)
        except NoSolutionError:
            row.update(valid=False, seconds=round(time.perf_counter() - started, 4))
            rows.append(row)
            continue
        stats = outcome_statistics(encoded, candidate, found.outcome)
        risk = stats["risk"]["target"]
        row.update(
            valid=True,
            metric_name=candidate.metric.name,
            information_loss=found.loss,
            suppressed=stats["rows"]["suppressed"],
            suppressed_share=stats["rows"]["suppressed"] / max(encoded.n_records, 1),
            equivalence_classes=stats["equivalence_classes"],
            prosecutor_highest_risk=risk["prosecutor"]["highest_risk"],
            prosecutor_records_at_risk=risk["prosecutor"]["records_at_risk"],
            prosecutor_success_rate=risk["prosecutor"]["success_rate"],
            journalist_highest_risk=risk["journalist"]["highest_risk"],
            marketer_success_rate=risk["marketer"]["success_rate"],
            **stats["utility"],
            transformation=stats["transformation"],
            nodes_checked=found.search.checked,
            seconds=round(time.perf_counter() - started, 4),
        )
        rows.append(row)
        if progress is not None:
            progress((position + 1) / len(plan))
    log.info("measured %d candidate(s) over %d records", len(plan), encoded.n_records)
    return pd.DataFrame(rows)


def _label(value: Any) -> Any:
    return value.get("name", str(value)) if isinstance(value, dict) else value
