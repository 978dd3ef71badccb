"""QI detection and auto-configuration for the SDK's routes: anon-ops' own inference (`infer_config`).

anon-ops classifies columns by their data domain (age, zip code, e-mail, record id…) with a confidence
and a reason; that is what ``detect_qi`` reports, with these translations:

* ``classification`` uses the attribute types of the job configuration (``quasi_identifier``,
  ``identifier``, ``sensitive``, ``insensitive``), so a detection can be sent back as ``attributes``.
* ``importance_score`` / ``unique_ratio``: the column's distinct-value ratio — how far the column on
  its own tells records apart (anon-ops learns no importance model, so ``detection_method`` is
  ``heuristic`` whatever ``mode`` asks for).
* ``known_identifiers`` / ``known_sensitive`` are kept as given; ``ignore_columns`` are left out.
* ``uniqueness_threshold``: a label column (categorical domain) whose distinct ratio reaches it is a
  direct identifier. Numbers and dates are not: their values are distinct by precision, not by naming
  someone; inference generalizes them instead.
* ``max_quasi_identifiers``: beyond it, the QIs with the fewest distinct values are demoted to
  insensitive (the caller asked for the cap). ``cumulative_importance_threshold`` and
  ``sampling_method`` are accepted and not used: inference already samples, and drops no QI by rank.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import pandas as pd

from anon_ops.config import AttributeType, JobConfig
from anon_ops.errors import ConfigError
from anon_ops.infer import Domain, InferenceResult, infer_config
from anon_ops.service.compat.translate import check_columns, privacy_settings, sdk_privacy_model
from anon_ops.service.compat.wire import PrivacyModelIn

log = logging.getLogger(__name__)

_LABEL_DOMAINS = frozenset({Domain.CATEGORICAL, Domain.CATEGORICAL_CODE})
_LISTS = {
    AttributeType.QUASI_IDENTIFIER: "quasi_identifiers",
    AttributeType.IDENTIFIER: "direct_identifiers",
    AttributeType.SENSITIVE: "sensitive_attributes",
    AttributeType.INSENSITIVE: "non_sensitive_attributes",
}


@dataclass
class Detection:
    """The SDK's ``DetectionResult`` document and the configuration anon-ops inferred with it."""

    document: dict[str, Any]
    config: JobConfig


def detect(
    frame: pd.DataFrame,
    *,
    known_identifiers: list[str] | None = None,
    known_sensitive: list[str] | None = None,
    ignore_columns: list[str] | None = None,
    uniqueness_threshold: float = 0.95,
    max_quasi_identifiers: int | None = None,
    base: dict[str, Any] | None = None,
) -> Detection:
    """Classify the columns (and build hierarchies) with `infer_config`, then apply the SDK's knobs."""
    started = time.perf_counter()
    known_identifiers, known_sensitive = list(known_identifiers or []), list(known_sensitive or [])
    ignore_columns = list(ignore_columns or [])
    check_columns(frame, known_identifiers, "known_identifiers")
    check_columns(frame, known_sensitive, "known_sensitive")
    check_columns(frame, ignore_columns, "ignore_columns")
    both = sorted(set(known_identifiers) & set(known_sensitive))
    if both:
        raise ConfigError(f"known_sensitive: {both} also listed in known_identifiers")
    data = frame.drop(columns=ignore_columns)
    if data.shape[1] == 0:
        raise ConfigError("ignore_columns: every column is ignored; nothing to detect")
    user = [{"name": n, "type": "identifier"} for n in known_identifiers]
    user += [{"name": n, "type": "sensitive"} for n in known_sensitive]
    inferred = infer_config(data, base={**(base or {}), "attributes": user})
    config = _adjusted(inferred, set(known_identifiers) | set(known_sensitive), uniqueness_threshold,
                       max_quasi_identifiers)
    document = _document(inferred, config, len(frame), time.perf_counter() - started)
    log.info("detected %d QI(s) among %d column(s) of %d rows", len(config.quasi_identifiers), data.shape[1],
             len(frame))
    return Detection(document, config)


def _adjusted(result: InferenceResult, user: set[str], uniqueness_threshold: float,
              max_qis: int | None) -> JobConfig:
    """The inferred configuration with the uniqueness threshold and the QI cap applied."""
    types = {a.name: a.type for a in result.config.attributes}
    ratio = {p.name: p.distinct_ratio for p in result.profiles}
    for profile in result.profiles:
        if (profile.name not in user and profile.domain in _LABEL_DOMAINS
                and types.get(profile.name) in (AttributeType.QUASI_IDENTIFIER, AttributeType.INSENSITIVE)
                and profile.distinct_ratio >= uniqueness_threshold):
            types[profile.name] = AttributeType.IDENTIFIER
    qis = [n for n, t in types.items() if t == AttributeType.QUASI_IDENTIFIER]
    if max_qis is not None and len(qis) > max_qis:
        for name in sorted(qis, key=lambda n: ratio.get(n, 0.0))[: len(qis) - max_qis]:
            types[name] = AttributeType.INSENSITIVE
    document = result.config.to_dict()
    attributes = []
    for attribute in document.get("attributes", []):
        kind = types[attribute["name"]]
        if kind.value != attribute["type"]:
            attribute = {"name": attribute["name"], "type": kind.value}
        attributes.append(attribute)
    document["attributes"] = attributes
    return JobConfig.parse(document, result.config.base_dir)


def _document(result: InferenceResult, config: JobConfig, rows: int, seconds: float) -> dict[str, Any]:
    by_type: dict[str, list[str]] = {name: [] for name in _LISTS.values()}
    classified = []
    types = {a.name: a.type for a in config.attributes}
    for profile in result.profiles:
        kind = types.get(profile.name, AttributeType.INSENSITIVE)
        by_type[_LISTS[kind]].append(profile.name)
        reasoning = [profile.reason]
        if kind != profile.classification:
            reasoning.append(f"{kind.value}: by the request's uniqueness threshold or QI cap")
        classified.append({
            "name": profile.name,
            "classification": kind.value,
            "importance_score": round(float(profile.distinct_ratio), 6),
            "confidence": round(float(profile.confidence), 6),
            "reasoning": reasoning,
            "unique_ratio": round(float(profile.distinct_ratio), 6),
        })
    return {**by_type, "attributes": classified, "detection_method": "heuristic", "total_records": rows,
            "processing_time_seconds": round(seconds, 4)}


def auto_config(frame: pd.DataFrame, model: PrivacyModelIn) -> tuple[Detection, JobConfig, dict[str, Any]]:
    """Detection, the runnable configuration for ``model`` and the SDK's ``anonymize_request``.

    Inference sizes hierarchies for the request's k (or l); the privacy model is then translated
    against the detected attributes, so l-diversity / t-closeness protect the detected sensitive ones.
    """
    params = model.params
    base: dict[str, Any] = {"max_suppression": params.get("max_suppression", 0.0)}
    if model.model_type == "k-anonymity" or "k" in params:
        k = params.get("k")
        if k is not None:
            base["privacy_models"] = [{"model_type": "k-anonymity", "params": {"k": k}}]
    detection = detect(frame, base=base)
    if not detection.config.quasi_identifiers:
        raise ConfigError("input_data: no quasi-identifier was detected; there is nothing to generalize")
    document = detection.config.to_dict()
    attributes = document.get("attributes", [])
    models, suppression = privacy_settings(model, attributes, frame)
    document.update(privacy_models=models, max_suppression=suppression)
    config = JobConfig.parse(document, detection.config.base_dir)
    request = {"privacy_model": sdk_privacy_model(config, model),
               "attributes": [a.model_dump(mode="json", exclude_none=True) for a in config.attributes]}
    return detection, config, request
