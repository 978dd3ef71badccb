"""The quality gate: publish, resubmit with an adjusted configuration, or fail.

Every check is a Great Expectations (GX 1.x) expectation, so each verdict carries the GX results
that led to it:

* suite ``statistics`` — a one-row frame of the statistics document's metrics, one
  ``ExpectColumnMaxToBeBetween`` / ``ExpectColumnMinToBeBetween`` per threshold of the policy
  (the column aggregates report the measured value as ``observed_value``; a metric missing from
  the document is NaN and fails);
* suite ``table_columns`` — the anonymized table's columns (an empty head of the table: no data
  value ever reaches GX): ``ExpectTableColumnsToMatchSet`` with the table's columns minus the
  identifiers and ``exact_match`` (fails, naming them, when an identifier is present), and the
  same expectation without ``exact_match`` for the quasi-identifiers;
* suite ``table_classes`` — the class sizes of the non-suppressed rows (a row whose QIs are all the
  suppression character is suppressed): ``ExpectColumnValuesToBeBetween(min_value=k)``;
* suites ``union_risk`` / ``union_classes`` — the same risk thresholds and class-size check on the
  union of every batch published so far plus this one (incremental releases).

Verdict: every check passes → publish. A missing metric, an identifier in the table, a missing
quasi-identifier column, or a union that fails while the batch alone passes (earlier releases are
at fault) → fail: no parameter change of this job fixes those. Otherwise the failing kinds (risk,
union, suppression, utility) pick the next escalation-ladder step (``anon_ops.quality.ladder``) →
resubmit with ``next_config``; no step left → fail.

``great_expectations`` takes seconds to import, so it is imported on the first gate only, and one
ephemeral GX context is kept for the process (guarded by a lock: GX contexts are not thread-safe).
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from anon_ops.config import AttributeType, JobConfig
from anon_ops.errors import ConfigError, DataError
from anon_ops.quality.ladder import walk_ladder
from anon_ops.quality.policy import GatePolicy, load_policy

log = logging.getLogger(__name__)

Verdict = Literal["publish", "resubmit", "fail"]
FATAL_KINDS = frozenset({"statistics", "table", "history"})
"""Failures no configuration change can fix, so the gate fails at once: a metric missing from the
statistics, an identifier in (or a QI missing from) the table, and a union that violates the policy
while this batch meets it alone ("history": with one stored transformation the union's classes are
sums of the batches' classes, so only earlier releases can hold its small classes, and no
configuration of this batch removes them)."""


# --------------------------------------------------------------------------- thresholds
@dataclass(frozen=True)
class _Threshold:
    field: str  # the policy field
    column: str  # the metric's name (as in AnonElement.measure)
    path: tuple[str, ...]  # where the statistics document keeps it
    bound: Literal["max", "min"]
    kind: str  # risk | suppression | utility


_RISK = ("risk", "target")
THRESHOLDS: tuple[_Threshold, ...] = (
    _Threshold("prosecutor_highest_risk_max", "prosecutor_highest_risk", (*_RISK, "prosecutor", "highest_risk"),
               "max", "risk"),
    _Threshold("records_at_risk_max", "prosecutor_records_at_risk", (*_RISK, "prosecutor", "records_at_risk"),
               "max", "risk"),
    _Threshold("prosecutor_success_rate_max", "prosecutor_success_rate", (*_RISK, "prosecutor", "success_rate"),
               "max", "risk"),
    _Threshold("journalist_highest_risk_max", "journalist_highest_risk", (*_RISK, "journalist", "highest_risk"),
               "max", "risk"),
    _Threshold("journalist_records_at_risk_max", "journalist_records_at_risk",
               (*_RISK, "journalist", "records_at_risk"), "max", "risk"),
    _Threshold("marketer_success_rate_max", "marketer_success_rate", (*_RISK, "marketer", "success_rate"),
               "max", "risk"),
    _Threshold("sample_uniqueness_max", "sample_uniqueness", (*_RISK, "sample_uniqueness"), "max", "risk"),
    _Threshold("population_uniqueness_max", "population_uniqueness", (*_RISK, "population_uniqueness"),
               "max", "risk"),
    _Threshold("suppressed_max", "suppressed", ("rows", "suppressed"), "max", "suppression"),
    _Threshold("information_loss_max", "information_loss", ("information_loss", "value"), "max", "utility"),
    _Threshold("granularity_min", "granularity", ("utility", "granularity"), "min", "utility"),
    _Threshold("generalization_intensity_min", "generalization_intensity",
               ("utility", "generalization_intensity"), "min", "utility"),
    _Threshold("non_uniform_entropy_min", "non_uniform_entropy", ("utility", "non_uniform_entropy"), "min", "utility"),
    _Threshold("discernibility_min", "discernibility", ("utility", "discernibility"), "min", "utility"),
    _Threshold("aecs_min", "aecs", ("utility", "aecs"), "min", "utility"),
    _Threshold("ambiguity_min", "ambiguity", ("utility", "ambiguity"), "min", "utility"),
)


# --------------------------------------------------------------------------- the verdict
@dataclass
class GateVerdict:
    """What the gate decided, why, what to run next, and the GX results behind it."""

    verdict: Verdict
    reasons: list[str]
    next_config: dict[str, Any] | None = None
    attempt: int = 0
    next_attempt: int | None = None
    step: dict[str, Any] | None = None
    checks: list[dict[str, Any]] = field(default_factory=list)
    gx_results: list[dict[str, Any]] = field(default_factory=list)
    union: dict[str, Any] | None = None
    _next_job: JobConfig | None = field(default=None, repr=False, compare=False)

    @property
    def next_job_config(self) -> JobConfig | None:
        """``next_config`` as a JobConfig; relative file names resolve against the original's folder."""
        if self._next_job is not None:
            return self._next_job
        return JobConfig.parse(self.next_config) if self.next_config is not None else None

    @property
    def failed_checks(self) -> list[dict[str, Any]]:
        return [c for c in self.checks if not c["success"]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "reasons": list(self.reasons),
            "next_config": self.next_config,
            "attempt": self.attempt,
            "next_attempt": self.next_attempt,
            "step": self.step,
            "checks": self.checks,
            "union": self.union,
            "gx_results": self.gx_results,
        }


@dataclass
class _Check:
    """One policy check: its GX expectation and, once validated, the outcome."""

    name: str
    scope: str  # statistics | table | union
    kind: str  # risk | suppression | utility | union | statistics | table | history
    expectation: str  # a class of great_expectations.expectations
    kwargs: dict[str, Any]
    threshold: float | None = None
    success: bool = False
    observed: Any = None
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "scope": self.scope, "kind": self.kind, "success": self.success,
                "observed": _jsonable(self.observed), "threshold": self.threshold}


# --------------------------------------------------------------------------- GX (lazy, shared)
class _GxRunner:
    """One ephemeral GX context with a pandas data source whose batches are the frames we pass."""

    def __init__(self) -> None:
        gx_log = logging.getLogger("great_expectations")
        quiet = gx_log.level == logging.NOTSET  # GX logs hundreds of INFO lines at import; keep `-v` readable
        if quiet:
            gx_log.setLevel(logging.WARNING)
        import great_expectations as gx

        if quiet:  # this module sets its own INFO level at import
            logging.getLogger("great_expectations.data_context.types.base").setLevel(logging.WARNING)
        from great_expectations.data_context.types.base import ProgressBarsConfig

        self.gx = gx
        self.version = gx.__version__
        self.context = gx.get_context(mode="ephemeral")
        # GX draws tqdm bars on stderr for every validation; the CLI's stderr is for errors
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
        source = self.context.data_sources.add_pandas(name="anon_ops_gate")
        asset = source.add_dataframe_asset(name="gate_frame")
        self.batch_definition = asset.add_batch_definition_whole_dataframe("whole_frame")

    def validate(self, suite_name: str, frame: pd.DataFrame, checks: list[_Check]) -> dict[str, Any]:
        """Validate ``checks`` on ``frame``; fill in each check's success and return the suite result."""
        suite = self.gx.ExpectationSuite(name=f"anon_ops_gate.{suite_name}")
        for check in checks:
            cls = getattr(self.gx.expectations, check.expectation)
            suite.add_expectation(cls(**check.kwargs, meta={"check": check.name}))
        batch = self.batch_definition.get_batch(batch_parameters={"dataframe": frame})
        result = batch.validate(suite, result_format="SUMMARY").to_json_dict()
        by_name = {c.name: c for c in checks}
        results = []
        for item in result["results"]:
            compact = _compact(item)
            check = by_name.get(compact["check"])
            if check is not None:
                check.success = compact["success"]
                if "observed_value" in compact:
                    check.observed = compact["observed_value"]
            results.append(compact)
        order = {c.name: i for i, c in enumerate(checks)}
        results.sort(key=lambda r: order.get(r["check"], len(order)))
        return {"suite": suite.name, "success": bool(result["success"]),
                "statistics": _jsonable(result.get("statistics", {})),
                "great_expectations_version": self.version, "results": results}


_GX: _GxRunner | None = None
_GX_LOCK = threading.Lock()


def _run_suite(suite_name: str, frame: pd.DataFrame, checks: list[_Check]) -> dict[str, Any]:
    global _GX
    with _GX_LOCK:
        if _GX is None:
            _GX = _GxRunner()
        return _GX.validate(suite_name, frame, checks)


def _compact(item: dict[str, Any]) -> dict[str, Any]:
    """The parts of one GX expectation result a reader needs: type, kwargs, success, observed value."""
    config = item.get("expectation_config") or {}
    result = item.get("result") or {}
    out: dict[str, Any] = {
        "check": (config.get("meta") or {}).get("check"),
        "expectation_type": config.get("type"),
        "kwargs": {k: v for k, v in (config.get("kwargs") or {}).items() if k != "batch_id"},
        "success": bool(item.get("success")),
    }
    if "observed_value" in result:
        out["observed_value"] = result["observed_value"]
    for key in ("element_count", "unexpected_count"):
        if key in result:
            out[key] = result[key]
    if result.get("details"):
        out["details"] = result["details"]
    message = _exception_message(item.get("exception_info"))
    if message:
        out["exception"] = message
    return _jsonable(out)


def _exception_message(info: Any) -> str | None:
    """GX reports a raised exception either flat or keyed by metric id; return its first line."""
    if not isinstance(info, dict):
        return None
    entries = [info] if "raised_exception" in info else [v for v in info.values() if isinstance(v, dict)]
    for entry in entries:
        if entry.get("raised_exception") or entry.get("exception_message"):
            return str(entry.get("exception_message") or "exception").splitlines()[0]
    return None


def _jsonable(value: Any) -> Any:
    """numpy scalars → Python, NaN/inf → None, containers recursively: the verdict must dump as JSON."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# --------------------------------------------------------------------------- metrics & classes
def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _lookup(document: Any, path: tuple[str, ...]) -> float | None:
    for key in path:
        if not isinstance(document, dict) or key not in document:
            return None
        document = document[key]
    return _number(document)


def _metric(statistics: dict[str, Any], threshold: _Threshold) -> float | None:
    if threshold.column == "suppressed":
        rows = statistics.get("rows")
        suppressed = _lookup(rows, ("suppressed",))
        total = _lookup(rows, ("input",))
        if suppressed is None or total is None:
            return None
        return suppressed / total if total > 0 else 0.0
    return _lookup(statistics, threshold.path)


def _fmt(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, int | float) else str(value)


def _class_sizes(
    frame: pd.DataFrame, quasi_identifiers: list[str], suppression_char: str
) -> tuple[np.ndarray, np.ndarray]:
    """(sizes of the classes of non-suppressed rows, class of each row with -1 for a suppressed row).

    A row whose QIs are all the suppression character is suppressed (masked by the engine, or a
    class generalized to the top everywhere, which the engine reports as suppressed too).
    """
    from anon_ops.engine.hierarchy import values_as_text

    text = pd.DataFrame({q: values_as_text(frame[q]) for q in quasi_identifiers}, index=frame.index)
    suppressed = (text == suppression_char).all(axis=1).to_numpy()
    codes = np.full(len(frame), -1, dtype=np.int64)
    if suppressed.all():
        return np.zeros(0, dtype=np.int64), codes
    codes[~suppressed] = text[~suppressed].groupby(quasi_identifiers, sort=False).ngroup().to_numpy()
    return np.bincount(codes[~suppressed]), codes


def union_risk(
    published_batches: list[pd.DataFrame],
    quasi_identifiers: list[str],
    threshold: float = 0.2,
    *,
    population_size: int = 317_238_626,
    suppression_char: str = "*",
) -> dict[str, Any]:
    """Risk of the union of every published batch (suppressed rows excluded).

    A scheduled refresh applies one stored transformation to each new batch and gates that batch
    alone; an attacker sees everything published so far. With one transformation the classes of
    the union are sums of the batches' classes, so a union class is small only where earlier
    releases left it small (published before the gate, or under a weaker k or policy): this is the
    check that finds them. The result is ``measure_risk``'s document plus ``batches``, ``rows``,
    ``suppressed_rows`` and ``min_class_size``.
    """
    return _union(published_batches, quasi_identifiers, threshold, population_size, suppression_char)[0]


def _union(
    batches: list[pd.DataFrame], qis: list[str], threshold: float, population_size: int, char: str
) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """(risk document, class sizes, class of each union row) of the concatenated batches."""
    from anon_ops.engine.anonymizer import measure_risk

    if not batches:
        raise DataError("published_batches: give at least one published batch")
    if not qis:
        raise ConfigError("quasi_identifiers: give at least one quasi-identifier column")
    for i, batch in enumerate(batches):
        missing = [q for q in qis if q not in batch.columns]
        if missing:
            raise DataError(f"published_batches.{i}: quasi-identifier column(s) {missing} not found")
    union = pd.concat([b[qis] for b in batches], ignore_index=True)
    sizes, codes = _class_sizes(union, qis, char)
    suppressed = codes < 0
    stats = measure_risk(union[~suppressed], qis, threshold, population_size)
    stats.update(batches=len(batches), rows=len(union), suppressed_rows=int(suppressed.sum()),
                 min_class_size=int(sizes.min()) if sizes.size else None)
    return stats, sizes, codes


# --------------------------------------------------------------------------- the gate
def evaluate_gate(
    statistics: dict[str, Any],
    policy: GatePolicy | dict[str, Any] | str | Path | None = None,
    *,
    config: JobConfig | dict[str, Any] | str | Path | None = None,
    table: pd.DataFrame | None = None,
    attempt: int = 0,
    published_history: list[pd.DataFrame] | None = None,
) -> GateVerdict:
    """Gate one release: its statistics document, optionally its anonymized ``table`` and, for
    incremental releases, the batches published before it (``published_history``).

    ``config`` is the job configuration that produced the release (the ladder adjusts it); without
    it a minimal one is derived from the statistics (QI names, privacy models, suppression limit).
    ``attempt`` is the ladder position reached so far: 0 at first, then the previous verdict's
    ``next_attempt``.
    """
    if not isinstance(statistics, dict):
        raise DataError("statistics: expected the statistics document (a JSON object)")
    if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 0:
        raise ConfigError(f"attempt: must be a whole number >= 0, got {attempt!r}")
    policy = load_policy(policy)
    derived = config is None
    job = _config_from_statistics(statistics) if config is None else JobConfig.load(config)
    qis = job.quasi_identifiers or list(statistics.get("transformation") or {})
    k = job.k()
    char = job.additional_properties.suppression_char

    suites: list[dict[str, Any]] = []
    checks = _statistics_checks(statistics, policy, suites)
    if table is not None:
        checks += _table_checks(table, job, policy, qis, k, char, suites)
    union: dict[str, Any] | None = None
    if published_history is not None:
        batches = [*published_history, *([table] if table is not None else [])]
        union, union_checks = _union_checks(batches, job, policy, qis, k, char, suites, table is not None)
        _explain_union(union_checks, checks, table is not None, union)
        checks += union_checks

    verdict = _decide(checks, job, policy, attempt, derived)
    verdict.checks = [c.as_dict() for c in checks]
    verdict.gx_results = suites
    verdict.union = _jsonable(union) if union is not None else None
    failed = [c.name for c in checks if not c.success]
    log.info("quality gate: %s at attempt %d (%d check(s), failed: %s)", verdict.verdict, attempt, len(checks),
             ", ".join(failed) or "none")
    return verdict


def _config_from_statistics(statistics: dict[str, Any]) -> JobConfig:
    """The part of a job configuration the statistics document records; enough for the ladder's
    k and suppression steps (hierarchies are not recorded, so they cannot be widened)."""
    qis = [str(q) for q in (statistics.get("transformation") or {})]
    models = statistics.get("privacy_models") or []
    sensitive = []
    for model in models:
        attribute = (model.get("params") or {}).get("attribute") if isinstance(model, dict) else None
        if attribute and attribute not in qis and attribute not in sensitive:
            sensitive.append(attribute)
    data: dict[str, Any] = {
        "attributes": [{"name": q, "type": "quasi_identifier"} for q in qis]
        + [{"name": s, "type": "sensitive"} for s in sensitive],
        "privacy_models": models,
    }
    if _number(statistics.get("max_suppression")) is not None:
        data["max_suppression"] = statistics["max_suppression"]
    threshold = _lookup(statistics, (*_RISK, "threshold"))
    if threshold is not None and 0 < threshold <= 1:
        data["risk"] = {"threshold": threshold}
    try:
        return JobConfig.parse(data)
    except ConfigError as exc:
        raise DataError(f"statistics: cannot derive a job configuration from it ({exc})") from None


def _statistics_checks(statistics: dict[str, Any], policy: GatePolicy, suites: list[dict[str, Any]]) -> list[_Check]:
    row: dict[str, float] = {}
    checks: list[_Check] = []
    missing: dict[str, str] = {}
    for t in THRESHOLDS:
        limit = getattr(policy, t.field)
        if limit is None:
            continue
        value = _metric(statistics, t)
        row[t.column] = np.nan if value is None else value
        if value is None:
            missing[t.field] = "rows.suppressed / rows.input" if t.column == "suppressed" else ".".join(t.path)
        expectation = "ExpectColumnMaxToBeBetween" if t.bound == "max" else "ExpectColumnMinToBeBetween"
        bound = {"max_value": limit} if t.bound == "max" else {"min_value": limit}
        checks.append(_Check(t.field, "statistics", t.kind, expectation, {"column": t.column, **bound}, limit))
    if not checks:  # every threshold disabled: still validate that there is a document to gate
        checks.append(_Check("statistics_present", "statistics", "statistics", "ExpectTableRowCountToEqual",
                             {"value": 1}))
    suites.append(_run_suite("statistics", pd.DataFrame([row]) if row else pd.DataFrame({"_": [0]}), checks))
    by_field = {t.field: t for t in THRESHOLDS}
    for check in checks:
        t = by_field.get(check.name)
        if t is None:
            check.reason = "statistics document present"
            continue
        if check.name in missing:
            check.success, check.kind = False, "statistics"
            check.reason = f"statistics lack {missing[check.name]} (needed by {check.name})"
            continue
        check.reason = _threshold_reason(t.column, check.observed, t.bound, check.name, check.threshold,
                                         check.success)
    return checks


def _threshold_reason(column: str, observed: Any, bound: str, name: str, limit: Any, success: bool) -> str:
    if success:
        sign = "≤" if bound == "max" else "≥"
        return f"{column} {_fmt(observed)} {sign} {_fmt(limit)} ({name})"
    verb = "exceeds" if bound == "max" else "is below"
    return f"{column} {_fmt(observed)} {verb} {name} {_fmt(limit)}"


def _table_checks(
    table: pd.DataFrame, job: JobConfig, policy: GatePolicy, qis: list[str], k: int, char: str,
    suites: list[dict[str, Any]],
) -> list[_Check]:
    columns = [str(c) for c in table.columns]
    identifiers = [a.name for a in job.attributes_of(AttributeType.IDENTIFIER)]
    identifiers += [c for c in policy.identifier_columns if c not in identifiers]
    present = [c for c in columns if c in identifiers]
    missing_qis = [q for q in qis if q not in columns]
    checks = [_Check("no_identifier_columns", "table", "table", "ExpectTableColumnsToMatchSet",
                     {"column_set": [c for c in columns if c not in identifiers], "exact_match": True})]
    if qis:
        checks.append(_Check("quasi_identifiers_present", "table", "table", "ExpectTableColumnsToMatchSet",
                             {"column_set": list(qis), "exact_match": False}))
    # only the column names go to GX: an empty head of the table carries no data value
    suites.append(_run_suite("table_columns", table.head(0), checks))
    checks[0].reason = (f"identifier column(s) {present} present in the anonymized table" if present
                        else "no identifier column in the anonymized table")
    if qis:
        checks[1].reason = (f"quasi-identifier column(s) {missing_qis} missing from the anonymized table"
                            if missing_qis else "every quasi-identifier column present")
    if qis and not missing_qis:
        sizes, codes = _class_sizes(table, qis, char)
        checks.append(_class_check("table", "k_anonymity", "risk", sizes, int((codes < 0).sum()), k, suites,
                                   "the anonymized table"))
    return checks


def _class_check(
    scope: str, name: str, kind: str, sizes: np.ndarray, suppressed: int, k: int, suites: list[dict[str, Any]],
    what: str,
) -> _Check:
    """k-anonymity of the non-suppressed rows, validated by GX on a frame of class sizes."""
    check = _Check(name, scope, kind, "ExpectColumnValuesToBeBetween", {"column": "class_size", "min_value": k},
                   float(k))
    suite = _run_suite(f"{scope}_classes", pd.DataFrame({"class_size": sizes}), [check])
    small = int((sizes < k).sum())
    check.observed = {"classes": int(sizes.size), "smallest_class": int(sizes.min()) if sizes.size else None,
                      "classes_below_k": small, "suppressed_rows": suppressed}
    for result in suite["results"]:
        result["observed_value"] = check.observed
    suites.append(suite)
    if check.success:
        check.reason = f"every class of non-suppressed rows in {what} has at least k={k} records"
    else:
        check.reason = (f"{small} class(es) of non-suppressed rows in {what} are smaller than k={k} "
                        f"(smallest: {check.observed['smallest_class']})")
    return check


def _union_checks(
    batches: list[pd.DataFrame], job: JobConfig, policy: GatePolicy, qis: list[str], k: int, char: str,
    suites: list[dict[str, Any]], with_batch: bool,
) -> tuple[dict[str, Any], list[_Check]]:
    union, sizes, codes = _union(batches, qis, job.risk.threshold, job.risk.population_size, char)
    if with_batch:  # which rows of this batch sit in classes too small for the policy (risk = 1 / size)?
        bound = policy.prosecutor_highest_risk_max
        small = sizes < max(k, math.ceil(1.0 / bound - 1e-9) if bound else 1)
        batch_codes = codes[len(codes) - len(batches[-1]):]
        batch_codes = batch_codes[batch_codes >= 0]
        union["rows_of_this_batch_in_small_classes"] = int(small[batch_codes].sum())
    row: dict[str, float] = {}
    pairs: list[tuple[_Check, _Threshold]] = []
    for t in THRESHOLDS:
        limit = getattr(policy, t.field)
        if limit is None or t.kind != "risk":
            continue
        value = _lookup(union, t.path[len(_RISK):])
        row[t.column] = np.nan if value is None else value
        pairs.append((_Check(f"union_{t.field}", "union", "union", "ExpectColumnMaxToBeBetween",
                             {"column": t.column, "max_value": limit}, limit), t))
    checks = [c for c, _ in pairs]
    if checks:
        suites.append(_run_suite("union_risk", pd.DataFrame([row]), checks))
        for check, t in pairs:
            check.reason = _threshold_reason(t.column, check.observed, t.bound, t.field, check.threshold,
                                             check.success)
    checks.append(_class_check("union", "union_k_anonymity", "union", sizes, int((codes < 0).sum()), k, suites,
                               "the union"))
    return union, checks


def _explain_union(union_checks: list[_Check], checks: list[_Check], with_batch: bool, union: dict[str, Any]) -> None:
    """Prefix union reasons with their scope; when the union fails but this batch's rows are in no
    small union class and the batch meets the risk checks alone, earlier releases are at fault."""
    batch_ok = all(c.success for c in checks if c.kind in ("risk", "statistics"))
    batch_clear = union.get("rows_of_this_batch_in_small_classes", 0) == 0
    scope = (f"union of the {union['batches'] - 1} published batch(es) and this batch" if with_batch
             else f"union of the {union['batches']} published batch(es)")
    for check in union_checks:
        check.reason = f"{scope}: {check.reason}"
        if check.success:
            continue
        if batch_ok and batch_clear:
            check.kind = "history"
            check.reason += (" — the union of everything published violates the policy, not this batch"
                             + (" (which meets it alone)" if with_batch else ""))
        elif with_batch and not batch_clear:
            check.reason += (f" — {union['rows_of_this_batch_in_small_classes']} row(s) of this batch fall in "
                             "those small classes")


def _decide(checks: list[_Check], job: JobConfig, policy: GatePolicy, attempt: int, derived: bool) -> GateVerdict:
    failed = [c for c in checks if not c.success]
    if not failed:
        return GateVerdict("publish", [f"ok: {c.reason}" for c in checks], attempt=attempt)
    reasons = [c.reason for c in failed]
    fatal = sorted({c.kind for c in failed} & FATAL_KINDS)
    if fatal:
        reasons.append(f"fail: {' and '.join(fatal)} check(s) failed; no configuration change of the ladder fixes that")
        if "history" in fatal:
            reasons.append("fail: earlier releases hold classes the policy does not allow; republish or withdraw "
                           "them (new rows can only enlarge the union's classes)")
        return GateVerdict("fail", reasons, attempt=attempt)
    kinds = sorted({c.kind for c in failed})
    move, skipped = walk_ladder(job, policy, attempt, kinds)
    reasons += [f"note: {note}" for note in skipped]
    if move is None:
        bound = policy.ladder_bound
        if attempt >= bound:
            reasons.append(f"fail: the escalation ladder is exhausted (attempt {attempt} of at most {bound})")
        else:
            reasons.append(f"fail: no remaining ladder step (positions {attempt + 1}–{bound}) addresses "
                           f"{', '.join(kinds)}")
        return GateVerdict("fail", reasons, attempt=attempt)
    reasons.append(f"resubmit: {move.description} (next attempt {move.next_attempt} of at most {policy.ladder_bound})")
    if derived:
        reasons.append("note: no job configuration was given, so next_config is derived from the statistics "
                       "(QI names, privacy models, suppression limit): merge those into the job configuration")
    return GateVerdict("resubmit", reasons, next_config=move.config.to_dict(), attempt=attempt,
                       next_attempt=move.next_attempt, step=move.step.to_dict(), _next_job=move.config)
