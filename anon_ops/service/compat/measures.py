"""Risk, validation and quality metrics of a given table, for the SDK's ``/risk``, ``/validation`` and
``/metrics`` routes — computed by the engine's own risk model and privacy criteria.

Suppressed records are those whose every quasi-identifier holds the suppression value (``*``, as
anon-ops writes them); like the engine, risk and privacy models are evaluated over the other records.

Risk levels (the SDK's ``risk_level``) grade a model's ``overall_risk`` — its success rate, i.e. the
expected share of records an attacker re-identifies: below 0.05 low, below 0.2 medium, below 0.5 high,
else very_high.

``/metrics`` compares an original and an anonymized table without their configuration: rows need
not be aligned (anon-ops shuffles its output). It reports utility figures on the scale of a job's
statistics (1 = no loss): discernibility and average class size exactly as the engine computes them,
and non-uniform entropy from the two tables' value counts, H(X|Y) = H(X) − H(Y) for a generalization
Y of X — exact when no record is suppressed, a lower bound of the loss otherwise.
``information_loss`` is 1 − that non-uniform entropy utility.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from anon_ops.config import JobConfig
from anon_ops.engine.anonymizer import measure_risk
from anon_ops.engine.criteria import ClassTable, build_criteria
from anon_ops.engine.encoding import encode
from anon_ops.engine.hierarchy import values_as_text
from anon_ops.errors import ConfigError, DataError
from anon_ops.service.compat.translate import check_columns, privacy_settings
from anon_ops.service.compat.wire import MetricsRequest, PrivacyModelIn, RiskRequest, ValidationRequest

_LEVELS = ((0.05, "low"), (0.2, "medium"), (0.5, "high"))


def risk_level(risk: float) -> str:
    return next((name for limit, name in _LEVELS if risk < limit), "very_high")


def _texts(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame({c: values_as_text(frame[c]) for c in columns}, index=frame.index)


def suppressed_rows(frame: pd.DataFrame, qis: list[str], value: str = "*") -> np.ndarray:
    """Per row: True when every QI holds the suppression value."""
    return (_texts(frame, qis) == value).all(axis=1).to_numpy()


def class_sizes(frame: pd.DataFrame, qis: list[str]) -> np.ndarray:
    """Sizes of the equivalence classes over the QIs (values compared as text, as the engine does)."""
    if len(frame) == 0:
        return np.zeros(0, dtype=np.int64)
    return _texts(frame, qis).groupby(qis, sort=False).size().to_numpy(dtype=np.int64)


# --------------------------------------------------------------------------- /risk
def risk_document(frame: pd.DataFrame, request: RiskRequest) -> dict[str, Any]:
    """The SDK's ``RiskResult``: the engine's ``measure_risk`` over the non-suppressed records."""
    qis = list(request.quasi_identifiers)
    check_columns(frame, qis, "quasi_identifiers")
    hidden = suppressed_rows(frame, qis, request.suppress_value)
    kept = frame[~hidden]
    stats = measure_risk(kept, qis, threshold=request.risk_threshold)
    sizes = class_sizes(kept, qis)
    models: dict[str, Any] = {}
    for name, wanted in (("prosecutor", request.include_prosecutor), ("journalist", request.include_journalist)):
        if wanted:
            part = stats[name]
            models[name] = {"records_at_risk": part["records_at_risk"], "highest_risk": part["highest_risk"],
                            "success_rate": part["success_rate"], "overall_risk": part["success_rate"],
                            "risk_level": risk_level(part["success_rate"]), "threshold": request.risk_threshold}
    if request.include_marketer:
        rate = stats["marketer"]["success_rate"]
        models["marketer"] = {"success_rate": rate, "overall_risk": rate, "risk_level": risk_level(rate)}
    highest = max((m["overall_risk"] for m in models.values()), default=0.0)
    return {
        "prosecutor": models.get("prosecutor"),
        "journalist": models.get("journalist"),
        "marketer": models.get("marketer"),
        "max_overall_risk": highest,
        "highest_risk_level": risk_level(highest),
        "k_anonymity": int(sizes.min()) if len(sizes) else 0,
        "quasi_identifiers": qis,
        "num_records": len(kept),
        "num_equivalence_classes": len(sizes),
        "smallest_class_size": int(sizes.min()) if len(sizes) else 0,
        "largest_class_size": int(sizes.max()) if len(sizes) else 0,
        "suppressed_records": int(hidden.sum()),
        "sample_uniqueness": stats["sample_uniqueness"],
        "population_uniqueness": stats["population_uniqueness"],
    }


# --------------------------------------------------------------------------- /validation
def validation_document(frame: pd.DataFrame, request: ValidationRequest) -> dict[str, Any]:
    """The SDK's ``ValidationResult``: which equivalence classes of the table as it is (every QI at
    its own values) fail the engine's privacy criteria. Violations give counts, never values."""
    qis, sensitive = list(request.quasi_identifiers), list(request.sensitive_attributes)
    check_columns(frame, qis, "quasi_identifiers")
    check_columns(frame, sensitive, "sensitive_attributes")
    overlap = sorted(set(qis) & set(sensitive))
    if overlap:
        raise ConfigError(f"sensitive_attributes: {overlap} also listed in quasi_identifiers")
    hidden = suppressed_rows(frame, qis)
    kept = frame[~hidden].reset_index(drop=True)
    config = _validation_config(kept, qis, sensitive, request.privacy_model)
    statistics: dict[str, Any] = {"records": len(kept), "suppressed_records": int(hidden.sum())}
    violations: list[dict[str, Any]] = []
    if len(kept):
        encoded = encode(kept, config)
        table = ClassTable.from_frequency_set(encoded.base, encoded.radices(encoded.base.levels))
        sizes = table.sizes[table.sizes > 0]
        statistics.update(equivalence_classes=len(sizes), smallest_class_size=int(sizes.min()),
                          largest_class_size=int(sizes.max()), k_anonymity=int(sizes.min()))
        for criterion in build_criteria(config, encoded):
            failing = criterion.failing(table) & (table.sizes > 0)
            if failing.any():
                classes, records = int(failing.sum()), int(table.sizes[failing].sum())
                violations.append({"model": criterion.describe(), "classes": classes, "records": records,
                                   "message": f"{classes} equivalence class(es) with {records} record(s) "
                                              f"violate {criterion.describe()}"})
        statistics["models"] = [c.describe() for c in build_criteria(config, encoded)]
    return {"is_valid": not violations, "model_type": request.privacy_model.model_type,
            "violations": violations, "statistics": statistics}


def _validation_config(frame: pd.DataFrame, qis: list[str], sensitive: list[str], model: PrivacyModelIn) -> JobConfig:
    """QIs at their own values (a one-level tree over the values present), the requested models."""
    attributes: list[dict[str, Any]] = []
    for q in qis:
        values = [str(v) for v in pd.unique(values_as_text(frame[q]))] or [""]
        attributes.append({"name": q, "type": "quasi_identifier",
                           "hierarchy": {"type": "tree", "params": {"mapping": {v: ["*"] for v in values}}}})
    attributes += [{"name": s, "type": "sensitive"} for s in sensitive]
    models, _ = privacy_settings(model, attributes, frame)
    return JobConfig.parse({"attributes": attributes, "privacy_models": models})


# --------------------------------------------------------------------------- /metrics
def _normalized(loss: float, minimum: float, maximum: float) -> float:
    """Utility on the engine's scale: 1 − (loss − min) / (max − min), clipped to [0, 1]."""
    if maximum - minimum <= 0:
        return 1.0
    return float(min(1.0, max(0.0, 1.0 - (loss - minimum) / (maximum - minimum))))


def _entropy_bits(counts: np.ndarray) -> float:
    """Σ c · log2(n / c): n times the entropy of a column, in bits."""
    counts = counts[counts > 0].astype(float)
    return float((counts * np.log2(counts.sum() / counts)).sum()) if len(counts) else 0.0


def metrics_document(original: pd.DataFrame, anonymized: pd.DataFrame, request: MetricsRequest) -> dict[str, Any]:
    """The SDK's ``MetricsResult`` (see the module docstring for what each figure means)."""
    qis = list(request.quasi_identifiers)
    check_columns(original, qis, "original_input")
    check_columns(anonymized, qis, "anonymized_input")
    n = len(original)
    if len(anonymized) > n:
        raise DataError("anonymized_input: more rows than original_input; give the anonymization of that table")
    hidden = suppressed_rows(anonymized, qis)
    kept = anonymized[~hidden]
    n_supp = n - len(kept)
    kept_sizes = class_sizes(kept, qis).astype(float)
    input_sizes = class_sizes(original, qis).astype(float)
    dm = float((kept_sizes**2).sum() + n * n_supp)
    classes = len(kept_sizes) + (1 if n_supp else 0)
    aecs = n / max(classes, 1)
    per_attribute: dict[str, dict[str, Any]] = {}
    losses, maxima = [], []
    for q in qis:
        x = values_as_text(original[q]).value_counts().to_numpy()
        y_values = values_as_text(anonymized[q]).where(~hidden, "*")
        y = y_values.value_counts()
        y_counts = np.append(y.to_numpy(), n - len(anonymized))  # dropped rows: suppressed
        maximum = _entropy_bits(x)
        loss = min(maximum, max(0.0, maximum - _entropy_bits(y_counts)))
        losses.append(loss)
        maxima.append(maximum)
        per_attribute[q] = {"entropy_loss": loss / maximum if maximum > 0 else 0.0,
                            "distinct_original": len(x), "distinct_anonymized": len(y)}
    entropy = _normalized(float(np.mean(losses)), 0.0, float(np.mean(maxima)))
    metrics = {
        "non_uniform_entropy": entropy,
        "discernibility": _normalized(dm, float((input_sizes**2).sum()), float(n) * n),
        "aecs": _normalized(aecs, n / max(len(input_sizes), 1), float(n)),
        "records": n,
        "suppressed_records": n_supp,
        "suppressed_share": n_supp / n if n else 0.0,
        "equivalence_classes": len(kept_sizes),
        "average_class_size": aecs,
        "discernibility_penalty": dm,
        "entropy_exact": n_supp == 0,
        "per_attribute": per_attribute,
    }
    return {"information_loss": 1.0 - entropy, "metrics": metrics}
