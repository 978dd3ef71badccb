"""The quality-gate policy: the thresholds a release must meet and the escalation ladder.

A policy is data (YAML, JSON or a dict), validated field by field like the job configuration, so
every error names the field at fault (``ladder.1.raise_k.factor: …``). Defaults (used when a field
or the whole policy is omitted):

=============================== ======= =====================================================
field                           default why
=============================== ======= =====================================================
prosecutor_highest_risk_max     0.2     1/5: every published class holds at least 5 records
records_at_risk_max             0.05    at most 5 % of records above the statistics' risk
                                        threshold (risk.target.threshold, 0.2 by default)
marketer_success_rate_max       0.2     equal to the prosecutor bound on purpose: without a
                                        population table the marketer rate is C/n, which a
                                        correct 5-anonymous table can reach (all classes of
                                        size 5 → 0.2). A 0.05 default would reject such
                                        tables although they meet every other bound; set
                                        0.05 for public releases where the average risk
                                        matters.
suppressed_max                  0.05    share of the input rows suppressed in the output
granularity_min                 0.5     keep at least half of the granularity utility
everything else                 unset   (journalist, uniqueness, loss, other utilities)
=============================== ======= =====================================================

The ladder (``DEFAULT_LADDER``) is tried in order, one step per resubmission, at most
``max_attempts`` steps: raise k ×2 (5 → 10), raise k ×2 again (→ 20), widen the suppression limit
to 10 % (capped at ``suppressed_max``), add one coarser level to every generated hierarchy.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from anon_ops.config import PrivacyModel, format_validation_error
from anon_ops.errors import ConfigError

STEP_KINDS = ("raise_k", "widen_suppression", "widen_hierarchies", "stricter_model")


class _Strict(BaseModel):
    """Unknown keys are errors: a misspelt threshold must not silently disable a check."""

    model_config = ConfigDict(extra="forbid")


class RaiseK(_Strict):
    """Raise k of k-anonymity: multiply by ``factor`` or set it ``to`` a value (one of the two)."""

    factor: float | None = Field(default=None, gt=1, description="New k = ceil(k · factor).")
    to: int | None = Field(default=None, ge=2, description="New k (skipped when k is already at least this).")

    @model_validator(mode="after")
    def _one_of(self) -> RaiseK:
        if (self.factor is None) == (self.to is None):
            raise ValueError("give exactly one of factor or to")
        return self


class WidenSuppression(_Strict):
    """Raise the suppression limit ``max_suppression``; never beyond the policy's ``suppressed_max``."""

    to: float | None = Field(default=None, gt=0, le=1,
                             description="New limit (default: the policy's suppressed_max, else 0.1).")


class WidenHierarchies(_Strict):
    """Add coarser levels to generated hierarchies (interval, masking, date, auto); file and tree
    hierarchies are fixed tables and stay as they are."""

    levels: int = Field(default=1, ge=1, le=5, description="Levels to add to each hierarchy.")
    attributes: list[str] | None = Field(default=None, description="Only these QIs (default: all).")


class StricterModel(_Strict):
    """Privacy models that replace the configuration's model of the same kind (same attribute for
    l-diversity / t-closeness) or are added to it."""

    privacy_models: list[PrivacyModel] = Field(min_length=1)


class LadderStep(_Strict):
    """One escalation step: exactly one of its fields is set."""

    raise_k: RaiseK | None = None
    widen_suppression: WidenSuppression | None = None
    widen_hierarchies: WidenHierarchies | None = None
    stricter_model: StricterModel | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> LadderStep:
        given = [kind for kind in STEP_KINDS if getattr(self, kind) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of {', '.join(STEP_KINDS)} (got {len(given)})")
        return self

    @property
    def kind(self) -> str:
        return next(kind for kind in STEP_KINDS if getattr(self, kind) is not None)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


DEFAULT_LADDER: list[dict[str, Any]] = [
    {"raise_k": {"factor": 2}},
    {"raise_k": {"factor": 2}},
    {"widen_suppression": {"to": 0.1}},
    {"widen_hierarchies": {"levels": 1}},
]
"""raise k 5 → 10 → 20, then suppression up to 10 % (capped at suppressed_max), then coarser hierarchies."""


def _default_ladder() -> list[LadderStep]:
    return [LadderStep.model_validate(step) for step in DEFAULT_LADDER]


def _share(default: float | None, what: str) -> Any:
    return Field(default=default, ge=0, le=1, description=what)


class GatePolicy(_Strict):
    """Thresholds a release must meet (``None`` disables a check) and the escalation ladder."""

    # risk of the published table (risk.target of the statistics document)
    prosecutor_highest_risk_max: float | None = _share(0.2, "Prosecutor highest risk (1 / smallest class).")
    records_at_risk_max: float | None = _share(0.05, "Prosecutor records at risk (share above the threshold).")
    prosecutor_success_rate_max: float | None = _share(None, "Prosecutor success rate C/n.")
    journalist_highest_risk_max: float | None = _share(None, "Journalist highest risk.")
    journalist_records_at_risk_max: float | None = _share(None, "Journalist records at risk.")
    marketer_success_rate_max: float | None = _share(0.2, "Marketer success rate (see the module docstring).")
    sample_uniqueness_max: float | None = _share(None, "Share of records in classes of size 1.")
    population_uniqueness_max: float | None = _share(None, "Estimated population uniqueness.")
    # suppression and utility
    suppressed_max: float | None = _share(0.05, "Suppressed rows / input rows.")
    information_loss_max: float | None = Field(default=None, ge=0, description="Value of the job's loss metric.")
    granularity_min: float | None = _share(0.5, "Granularity utility (1 = nothing generalized).")
    generalization_intensity_min: float | None = _share(None, "Generalization-intensity utility.")
    non_uniform_entropy_min: float | None = _share(None, "Non-uniform-entropy utility.")
    discernibility_min: float | None = _share(None, "Discernibility utility.")
    aecs_min: float | None = _share(None, "Average-class-size utility.")
    ambiguity_min: float | None = _share(None, "Ambiguity utility.")
    # the anonymized table
    identifier_columns: list[str] = Field(
        default_factory=list,
        description="Columns that must never be published, besides the configuration's identifiers.",
    )
    # escalation
    ladder: list[LadderStep] = Field(default_factory=_default_ladder)
    max_attempts: int = Field(default=4, ge=0, le=50, description="Resubmissions at most (bounds the ladder).")

    @property
    def ladder_bound(self) -> int:
        """Number of ladder positions the gate may ever use: min(len(ladder), max_attempts)."""
        return min(len(self.ladder), self.max_attempts)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def parse(cls, data: Any) -> GatePolicy:
        if not isinstance(data, dict):
            raise ConfigError("policy: expected a mapping of fields")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            message = format_validation_error(exc).replace("invalid configuration:", "invalid gate policy:", 1)
            raise ConfigError(message) from None


def load_policy(value: GatePolicy | dict[str, Any] | str | Path | None = None) -> GatePolicy:
    """Load a policy from a model, a dict, a YAML/JSON file path or YAML/JSON text (None: the defaults)."""
    if value is None:
        return GatePolicy()
    if isinstance(value, GatePolicy):
        return value
    if isinstance(value, dict):
        return GatePolicy.parse(value)
    text = str(value)
    if "\n" not in text and Path(text).is_file():
        return GatePolicy.parse(_read(Path(text).read_text(encoding="utf-8"), text))
    if isinstance(value, Path) or ("\n" not in text and text.endswith((".yaml", ".yml", ".json"))):
        raise ConfigError(f"policy file not found: {text}")
    return GatePolicy.parse(_read(text, "policy"))


def _read(text: str, origin: str) -> Any:
    try:
        data = json.loads(text) if text.lstrip().startswith("{") else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{origin}: not valid JSON/YAML: {exc}") from None
    return {} if data is None else data
