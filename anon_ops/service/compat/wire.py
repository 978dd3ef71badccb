"""The request bodies of the SDK's REST API (``protegrity-anonymization-sdk`` 2.x), as sent on the wire.

Field names, nesting and defaults follow the package's payload builders (``anonymization_sdk._helpers``):
every table travels as ``{"inline": <base64 of a CSV text>}`` or ``{"uri": <location>}``, and the privacy
model as ``{"model_type": …, "params": {…}}``. Unknown fields are errors (422 naming the field), as in
anon-ops' own configuration: a privacy-relevant option silently ignored would be worse than a refusal.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

DetectionMode = Literal["auto", "ml", "heuristic"]
SamplingMethod = Literal["fast", "full", "adaptive"]
ModelType = Literal["k-anonymity", "l-diversity", "t-closeness"]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataInput(_Wire):
    """One table: base64-encoded CSV inline, or a location (``uri``) the service may read."""

    inline: str | None = Field(default=None, description="The table as base64 of its CSV text.")
    uri: str | None = Field(default=None, description="A file inside the service's data roots.")
    inline_tables: dict[str, str] | None = Field(default=None, description="Several tables (not supported).")
    uri_tables: dict[str, str] | None = Field(default=None, description="Several tables (not supported).")

    @model_validator(mode="after")
    def _exactly_one(self) -> DataInput:
        given = [name for name in ("inline", "uri", "inline_tables", "uri_tables") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of inline or uri")
        return self


class PrivacyModelIn(_Wire):
    """``{"model_type": "k-anonymity", "params": {"k": 5, "max_suppression": 0.0}}`` and the like."""

    model_type: ModelType
    params: dict[str, Any] = Field(default_factory=dict)


class OutputIn(_Wire):
    uri: str = Field(min_length=1, description="Where the anonymized table is written (inside the data roots).")


class AnonymizeRequest(_Wire):
    """``POST /anonymize`` — what ``anonymize()`` and ``submit_job()`` send."""

    privacy_model: PrivacyModelIn
    attributes: list[dict[str, Any]] = Field(default_factory=list)
    input_data: DataInput
    output: OutputIn | None = None
    output_format: Literal["csv", "parquet", "json"] | None = None
    mlops_config: dict[str, Any] | None = Field(default=None, description="Accepted; anon-ops tracks no models.")


class ApplyRequest(_Wire):
    """``POST /anonymize/{job_id}/apply`` — ``apply_anon()``."""

    input_data: DataInput
    mlops_config: dict[str, Any] | None = None


class DetectQIRequest(_Wire):
    """``POST /detection/qi`` — ``detect_qi()``."""

    mode: DetectionMode = "auto"
    sampling_method: SamplingMethod = "fast"
    cumulative_importance_threshold: float = Field(default=0.8, ge=0, le=1)
    max_quasi_identifiers: int = Field(default=10, ge=1)
    uniqueness_threshold: float = Field(default=0.95, gt=0, le=1)
    known_identifiers: list[str] = Field(default_factory=list)
    known_sensitive: list[str] = Field(default_factory=list)
    ignore_columns: list[str] = Field(default_factory=list)
    input_data: DataInput


class AutoConfigRequest(_Wire):
    """``POST /detection/auto-config`` — ``generate_config()``."""

    detection_mode: DetectionMode = "auto"
    privacy_model: PrivacyModelIn
    sampling_method: SamplingMethod = "fast"
    input_data: DataInput


class AutoAnonymizeRequest(AutoConfigRequest):
    """``POST /anonymize/auto`` — ``auto_anonymize()``."""

    mlops_config: dict[str, Any] | None = None


class RiskRequest(_Wire):
    """``POST /risk`` — ``calculate_risk()``."""

    quasi_identifiers: list[str] = Field(min_length=1)
    risk_threshold: float = Field(default=0.2, ge=0, le=1)
    suppress_value: str = "*"
    include_prosecutor: bool = True
    include_journalist: bool = True
    include_marketer: bool = True
    input_data: DataInput
    mlops_config: dict[str, Any] | None = None


class ValidationRequest(_Wire):
    """``POST /validation`` — ``validate()``."""

    quasi_identifiers: list[str] = Field(min_length=1)
    sensitive_attributes: list[str] = Field(default_factory=list)
    privacy_model: PrivacyModelIn
    input_data: DataInput


class MetricsRequest(_Wire):
    """``POST /metrics`` — ``measure()``."""

    quasi_identifiers: list[str] = Field(min_length=1)
    original_input: DataInput
    anonymized_input: DataInput
