"""Operators that look before a job runs: measure candidate configurations and choose one; infer a
configuration from the data. Both return configurations and metrics — never rows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from anon_ops.airflow import utils
from anon_ops.airflow.hooks.anon_ops import AnonOpsHook, AnonOpsHookMixin
from anon_ops.airflow.utils import DataCallable

if TYPE_CHECKING:
    import pandas as pd
    from airflow.sdk import Context

    from anon_ops.config import JobConfig

XCOM_CANDIDATES = "candidates"
XCOM_CONFIG = "config"
_ROW_FIELDS = ("valid", "information_loss", "suppressed", "suppressed_share", "equivalence_classes",
               "prosecutor_highest_risk", "prosecutor_records_at_risk", "marketer_success_rate", "granularity")


def _input(source: Any, data_callable: DataCallable | None, config: JobConfig,
           context: Context) -> pd.DataFrame:
    """The operator's source / callable, else the configuration's own ``source``."""
    if source is not None or data_callable is not None:
        return utils.read_input(source, data_callable, context)
    if config.source is None:
        raise AirflowFailException("no input: give source, data_callable or a configuration with a source")
    from anon_ops.io import read_table

    return read_table(config.source, config.resolve_path)


class AnonMeasureOperator(AnonOpsHookMixin, BaseOperator):
    """Measure a grid of candidate configurations, then choose the one with the least information
    loss among those meeting the gate policy's thresholds.

    :param config: the base configuration (path, dict or JobConfig).
    :param grid: candidate values per field, e.g. ``{"k": [5, 10], "max_suppression": [0.02, 0.05]}``.
    :param policy: the gate policy whose thresholds a candidate must meet (None: the defaults).
    :param fail_if_none: fail the task when no candidate meets the policy (else ``config`` is None).

    Returns ``{"candidates": [...], "chosen": {...} | None, "config": {...} | None}``: one small row of
    metrics per candidate and the chosen candidate's self-contained configuration; ``candidates``
    and ``config`` are also pushed under their own keys (``measure.output["config"]``).
    """

    template_fields: Sequence[str] = ("config", "grid", "source", "policy")
    ui_color = "#e3ecfa"

    def __init__(
        self,
        *,
        config: Any,
        grid: dict[str, list[Any]],
        source: Any = None,
        data_callable: DataCallable | None = None,
        policy: Any = None,
        fail_if_none: bool = True,
        anon_ops_conn_id: str = AnonOpsHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        utils.check_data_args(source, data_callable, required=False)
        self.config = config
        self.grid = grid
        self.source = source
        self.data_callable = data_callable
        self.policy = policy
        self.fail_if_none = fail_if_none
        self.anon_ops_conn_id = anon_ops_conn_id


    def execute(self, context: Context) -> dict[str, Any]:
        from anon_ops.engine.measure import candidates
        from anon_ops.quality import load_policy

        config = utils.load_config(self.config)
        grid = {name: list(values) for name, values in dict(self.grid or {}).items()}
        df = _input(self.source, self.data_callable, config, context)
        frame = self._measure(df, config, grid)
        policy = load_policy(self.policy or None)
        rows = [_row(record, list(grid), len(df), policy) for record in frame.to_dict(orient="records")]
        eligible = [i for i, row in enumerate(rows) if row["meets_policy"]]
        chosen = min(eligible, key=lambda i: (rows[i]["information_loss"], i)) if eligible else None
        for row in rows:
            self.log.info("candidate %s", row)
        context["ti"].xcom_push(key=XCOM_CANDIDATES, value=rows)
        if chosen is None:
            if self.fail_if_none:
                raise AirflowFailException(f"none of the {len(rows)} candidates meets the gate policy")
            return {"candidates": rows, "chosen": None, "config": None}
        self.log.info("chosen: %s", rows[chosen])
        chosen_config = utils.self_contained(candidates(config, grid)[chosen][1])
        context["ti"].xcom_push(key=XCOM_CONFIG, value=chosen_config)
        return {"candidates": rows, "chosen": rows[chosen], "config": chosen_config}

    def _measure(self, df: pd.DataFrame, config: JobConfig, grid: dict[str, list[Any]]) -> pd.DataFrame:
        """On the connection when the SDK offers ``AnonElement.measure``; else the engine, here."""
        import anon_ops as asdk

        if callable(getattr(asdk.AnonElement, "measure", None)):
            return asdk.AnonElement(self.hook.get_conn(), df, config=config).measure(**grid)
        from anon_ops.engine.measure import measure

        return measure(df, config, grid)


def _row(record: dict[str, Any], names: list[str], n_rows: int, policy: Any) -> dict[str, Any]:
    """One candidate: its grid values, a few metrics (JSON-safe) and whether it meets the policy."""
    row: dict[str, Any] = {name: _plain(record.get(name)) for name in names}
    row.update({field: _plain(record.get(field)) for field in _ROW_FIELDS if field in record})
    row.setdefault("valid", True)
    if row.get("suppressed_share") is None and isinstance(row.get("suppressed"), int | float) and n_rows:
        row["suppressed_share"] = row["suppressed"] / n_rows
    failures = _policy_failures(record, row, policy) if row["valid"] else ["no valid transformation"]
    row["meets_policy"] = not failures
    row["failures"] = failures
    return row


def _policy_failures(record: dict[str, Any], row: dict[str, Any], policy: Any) -> list[str]:
    """The policy thresholds a candidate misses (a metric the measurement lacks counts as missed,
    as in the gate)."""
    from anon_ops.quality import THRESHOLDS

    failures = []
    for threshold in THRESHOLDS:
        limit = getattr(policy, threshold.field)
        if limit is None:
            continue
        value = row.get("suppressed_share") if threshold.column == "suppressed" else _plain(
            record.get(threshold.column))
        if not isinstance(value, int | float) or isinstance(value, bool):
            failures.append(f"{threshold.column} not measured")
        elif (threshold.bound == "max" and value > limit) or (threshold.bound == "min" and value < limit):
            failures.append(f"{threshold.column} {value:.4g} vs {threshold.field} {limit}")
    return failures


def _plain(value: Any) -> Any:
    """numpy scalars → Python, NaN → None: XCom stores JSON."""
    if hasattr(value, "item") and not isinstance(value, list | dict | str):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class AnonInferOperator(AnonOpsHookMixin, BaseOperator):
    """Infer a configuration from the data: domains, classification, hierarchies, privacy model.

    :param base_config: what is already decided (kept as is), or None.
    :param target_variable: the column whose analytic usefulness to preserve.
    :param output_path: write the configuration there as YAML (XCom then holds the path only).

    Returns ``{"config": {...} | None, "config_path": str | None, "attributes": {name: type}}``.
    """

    template_fields: Sequence[str] = ("source", "base_config", "target_variable", "output_path")
    ui_color = "#e3ecfa"

    def __init__(
        self,
        *,
        source: Any = None,
        data_callable: DataCallable | None = None,
        base_config: Any = None,
        target_variable: str | None = None,
        output_path: str | None = None,
        anon_ops_conn_id: str = AnonOpsHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        utils.check_data_args(source, data_callable, required=True)
        self.source = source
        self.data_callable = data_callable
        self.base_config = base_config
        self.target_variable = target_variable
        self.output_path = output_path
        self.anon_ops_conn_id = anon_ops_conn_id


    def execute(self, context: Context) -> dict[str, Any]:
        import anon_ops as asdk

        df = utils.read_input(self.source, self.data_callable, context)
        base = utils.load_config(self.base_config) if self.base_config else None
        target = self.target_variable or None
        if callable(getattr(asdk.AnonElement, "infer", None)):
            inferred = asdk.AnonElement(self.hook.get_conn(), df, config=base).infer(targetVariable=target)
            config = inferred.to_config()
        else:
            from anon_ops.infer import infer_config

            config = infer_config(df, base=base, target_variable=target).config
        attributes = {a.name: a.type.value for a in config.attributes}
        self.log.info("inferred attributes: %s", attributes)
        document = utils.self_contained(config)
        if self.output_path:
            import fsspec
            import yaml

            with fsspec.open(self.output_path, "w", encoding="utf-8") as handle:
                yaml.safe_dump(document, handle, sort_keys=False)
            return {"config": None, "config_path": self.output_path, "attributes": attributes}
        return {"config": document, "config_path": None, "attributes": attributes}
