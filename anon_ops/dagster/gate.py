"""The quality gate as Dagster asset checks, and a job's statistics as Dagster metadata.

The gate (``anon_ops.quality.evaluate_gate``) runs a dozen policy checks; Dagster shows two
blocking checks per anonymized asset, the two questions a data owner asks:

* ``risk_gate`` — may this table be released? (risk thresholds, k-anonymity of the table, no
  identifier column, every quasi-identifier present, and for incremental releases the risk of the
  union of everything published);
* ``utility_gate`` — is it still useful? (suppression and utility thresholds).

Both are ``blocking``: when one fails, Dagster does not run the assets downstream (the published
table) in that run. Their metadata carry the measured figures, the thresholds and the gate's
reasons, so the UI says why a release was stopped.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, AssetKey, MetadataValue

from anon_ops.quality import THRESHOLDS, GateVerdict

RISK_CHECK = "risk_gate"
UTILITY_CHECK = "utility_gate"
GATE_CHECKS = (RISK_CHECK, UTILITY_CHECK)
_KIND_OF = {t.field: t.kind for t in THRESHOLDS}
_METRIC_OF = {t.field: t.column for t in THRESHOLDS}
_DESCRIPTIONS = {
    RISK_CHECK: "Quality gate, risk: re-identification risk thresholds of the policy, k-anonymity of the "
                "published rows, no identifier column (and the risk of the union of all releases for "
                "incremental ones). Blocking: a failure stops the publication.",
    UTILITY_CHECK: "Quality gate, utility: suppression and utility thresholds of the policy. Blocking: a "
                   "failure stops the publication.",
}


def gate_check_specs(asset_key: AssetKey, *, blocking: bool = True) -> list[AssetCheckSpec]:
    """The two gate checks of an anonymized asset (blocking by default)."""
    return [AssetCheckSpec(name, asset=asset_key, blocking=blocking, description=_DESCRIPTIONS[name])
            for name in GATE_CHECKS]


def _group(check_name: str) -> str:
    """Which Dagster check a policy check of the gate belongs to."""
    kind = _KIND_OF.get(check_name)
    return UTILITY_CHECK if kind in ("utility", "suppression") else RISK_CHECK


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    number = _number(value)
    if number is not None:
        return f"{number:.6g}"
    return json.dumps(value, default=str) if isinstance(value, dict | list) else str(value)


def gate_check_results(asset_key: AssetKey, verdict: GateVerdict) -> list[AssetCheckResult]:
    """One result per gate check: passed when every policy check of its group passed; metadata
    with each figure, its threshold and the reasons."""
    reasons = _reasons_by_check(verdict)
    results = []
    for name in GATE_CHECKS:
        checks = [c for c in verdict.checks if _group(c["name"]) == name]
        failed = [c for c in checks if not c["success"]]
        metadata: dict[str, Any] = {
            "gate_verdict": MetadataValue.text(verdict.verdict),
            "checks": MetadataValue.md(_table(checks, reasons)),
            "reasons": MetadataValue.md("\n".join(f"- {reasons.get(c['name'], c['name'])}" for c in checks)
                                        or "no policy check in this group"),
        }
        if failed:
            metadata["failed"] = MetadataValue.text(", ".join(c["name"] for c in failed))
        for check in checks:  # the measured figure under the metric's name, the bound under the policy field's
            field = check["name"].removeprefix("union_")
            metric = _METRIC_OF.get(field)
            observed = _number(check.get("observed"))
            if metric is not None and observed is not None:
                prefix = "union_" if check["name"].startswith("union_") else ""
                metadata[prefix + metric] = MetadataValue.float(observed)
            elif isinstance(check.get("observed"), dict):
                metadata[check["name"]] = MetadataValue.json(check["observed"])
            threshold = _number(check.get("threshold"))
            if metric is not None and threshold is not None:
                metadata[check["name"]] = MetadataValue.float(threshold)
        if name == RISK_CHECK and verdict.union is not None:
            metadata["union_risk"] = MetadataValue.json(verdict.union)
        if verdict.next_config is not None and failed:
            metadata["suggested_next_step"] = MetadataValue.json(verdict.step or {})
        if failed:
            description = "; ".join(reasons.get(c["name"], c["name"]) for c in failed)
        else:
            description = f"{len(checks)} policy check(s) passed" if checks else "no policy check in this group"
        results.append(AssetCheckResult(
            asset_key=asset_key, check_name=name, passed=not failed, severity=AssetCheckSeverity.ERROR,
            description=description[:2000], metadata=metadata,
        ))
    return results


def skipped_check_results(asset_key: AssetKey, why: str) -> list[AssetCheckResult]:
    """Passing results for a release with nothing in it (an empty partition): there is nothing
    to stop, and a declared check must report."""
    return [AssetCheckResult(asset_key=asset_key, check_name=name, passed=True, description=why,
                             metadata={"gate_verdict": MetadataValue.text("nothing to release")})
            for name in GATE_CHECKS]


def _reasons_by_check(verdict: GateVerdict) -> dict[str, str]:
    """The gate's reason of each policy check.

    ``evaluate_gate`` lists one reason per check, in check order, when it publishes (``ok: …``),
    and one per failed check, in order, before its notes otherwise; a passing check of a refused
    release gets a reason composed from its figures.
    """
    checks = verdict.checks
    if verdict.verdict == "publish":
        paired = zip(checks, verdict.reasons, strict=False)
    else:
        paired = zip([c for c in checks if not c["success"]], verdict.reasons, strict=False)
    out = {check["name"]: reason.removeprefix("ok: ") for check, reason in paired}
    for check in checks:
        out.setdefault(check["name"], f"{check['name']}: {'passed' if check['success'] else 'failed'} (observed "
                                      f"{_cell(check.get('observed'))}, threshold {_cell(check.get('threshold'))})")
    return out


def _table(checks: Sequence[Mapping[str, Any]], reasons: Mapping[str, str]) -> str:
    if not checks:
        return "no policy check in this group"
    lines = ["| check | observed | threshold | passed |", "| --- | --- | --- | --- |"]
    lines += [f"| {c['name']} | {_cell(c.get('observed'))} | {_cell(c.get('threshold'))} | "
              f"{'yes' if c['success'] else '**no**'} |" for c in checks]
    return "\n".join(lines)


# --------------------------------------------------------------------------- asset metadata
_RISK_FIGURES = (
    ("prosecutor_highest_risk", ("prosecutor", "highest_risk")),
    ("prosecutor_records_at_risk", ("prosecutor", "records_at_risk")),
    ("prosecutor_success_rate", ("prosecutor", "success_rate")),
    ("journalist_highest_risk", ("journalist", "highest_risk")),
    ("marketer_success_rate", ("marketer", "success_rate")),
    ("sample_uniqueness", ("sample_uniqueness",)),
    ("population_uniqueness", ("population_uniqueness",)),
)
_UTILITY_FIGURES = ("granularity", "generalization_intensity", "non_uniform_entropy", "discernibility", "aecs",
                    "ambiguity")


def _lookup(document: Any, path: Sequence[str]) -> Any:
    for key in path:
        if not isinstance(document, Mapping):
            return None
        document = document.get(key)
    return document


def statistics_metadata(statistics: Mapping[str, Any]) -> dict[str, MetadataValue]:
    """The figures of a statistics document as Dagster metadata (floats plot over time in the UI)."""
    metadata: dict[str, MetadataValue] = {}
    rows = statistics.get("rows") or {}
    for name in ("input", "output", "suppressed"):
        if isinstance(rows.get(name), int):
            metadata[f"rows_{name}"] = MetadataValue.int(rows[name])
    if isinstance(rows.get("output"), int):
        metadata["dagster/row_count"] = MetadataValue.int(rows["output"])
    if isinstance(statistics.get("equivalence_classes"), int):
        metadata["equivalence_classes"] = MetadataValue.int(statistics["equivalence_classes"])
    if statistics.get("transformation") is not None:
        metadata["transformation"] = MetadataValue.json(statistics["transformation"])
    loss = statistics.get("information_loss") or {}
    if _number(loss.get("value")) is not None:
        metadata[f"information_loss ({loss.get('metric', 'metric')})"] = MetadataValue.float(float(loss["value"]))
    target = _lookup(statistics, ("risk", "target")) or {}
    for name, path in _RISK_FIGURES:
        value = _number(_lookup(target, path))
        if value is not None:
            metadata[name] = MetadataValue.float(value)
    source_risk = _number(_lookup(statistics, ("risk", "source", "prosecutor", "records_at_risk")))
    if source_risk is not None:
        metadata["source_prosecutor_records_at_risk"] = MetadataValue.float(source_risk)
    utility = statistics.get("utility") or {}
    for name in _UTILITY_FIGURES:
        value = _number(utility.get(name))
        if value is not None:
            metadata[name] = MetadataValue.float(value)
    if statistics.get("privacy_models") is not None:
        metadata["privacy_models"] = MetadataValue.json(statistics["privacy_models"])
    return metadata


def write_statistics(folder: Path, job_id: str, statistics: Mapping[str, Any], verdict: GateVerdict | None,
                     extra: Mapping[str, Any] | None = None) -> Path:
    """Write the statistics document and the gate verdict of one release as JSON; its path.

    The exploratory part (distributions of the source's values) is left out, as in
    ``published.anonymization_runs``: Dagster's storage should hold no more of the raw data than
    the figures. Written atomically so a reader never sees half of it.
    """
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{job_id}.json"
    document = {"job_id": job_id, **(extra or {}),
                "statistics": {k: v for k, v in statistics.items() if k != "exploratory"},
                "gate": verdict.to_dict() if verdict is not None else None}
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(document, indent=2, default=str), encoding="utf-8")
    tmp.replace(path)
    return path
