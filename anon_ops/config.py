"""The job configuration: the one model shared by the engine, CLI, SDK, REST API and plugins.

It is loaded from JSON or YAML (or a dict) and validated field by field; every error names the
field at fault (``attributes.1.hierarchy.params.intervals: …``). Relative file names inside a
configuration are resolved against the folder of the file it was loaded from (``base_dir``).
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from anon_ops.errors import ConfigError


class _Strict(BaseModel):
    """Unknown keys are errors everywhere: a typo must not be silently ignored."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


# --------------------------------------------------------------------------- data stores
class FileStore(_Strict):
    name: str = Field(min_length=1, description="Path or fsspec URL of the file (or folder of parts).")
    format: Literal["csv", "parquet", "json"] | None = Field(
        default=None, description="Inferred from the file suffix when omitted (csv by default)."
    )
    props: dict[str, Any] = Field(default_factory=dict, description="Reader/writer options, e.g. sep.")

    def resolved_format(self) -> str:
        if self.format:
            return self.format
        suffix = Path(self.name).suffix.lower()
        return {".parquet": "parquet", ".pq": "parquet", ".json": "json"}.get(suffix, "csv")


class SqlStore(_Strict):
    url: str = Field(min_length=1, description="SQLAlchemy URL, e.g. duckdb:///warehouse.duckdb")
    table: str | None = None
    query: str | None = None

    @model_validator(mode="after")
    def _table_or_query(self) -> SqlStore:
        if not self.table and not self.query:
            raise ValueError("give either table or query")
        return self


class InlineData(_Strict):
    records: list[dict[str, Any]] = Field(description="Rows as a list of {column: value} objects.")


class DataStore(_Strict):
    """Where data comes from or goes to: a file, a SQL table, or rows inline."""

    type: Literal["file", "sql", "inline"]
    file: FileStore | None = None
    sql: SqlStore | None = None
    inline: InlineData | None = None

    @model_validator(mode="after")
    def _section_present(self) -> DataStore:
        if getattr(self, self.type) is None:
            raise ValueError(f"type is {self.type!r} but the {self.type!r} section is missing")
        return self


# --------------------------------------------------------------------------- hierarchies
class FileProps(_Strict):
    sep: str = ";"
    encoding: str = "utf-8"


class FileHierarchy(_Strict):
    """ARX CSV layout: no header, one row per leaf, ``leaf;level1;…;top``."""

    type: Literal["file"]
    name: str = Field(min_length=1)
    props: FileProps = Field(default_factory=FileProps)


class IntervalParams(_Strict):
    intervals: list[Annotated[float, Field(gt=0)]] = Field(
        min_length=1, description="Bin width of each level, growing: e.g. [5, 10, 20]."
    )
    start: float | None = Field(default=None, description="Origin of the bins (default: 0).")
    top: str = "*"

    @model_validator(mode="after")
    def _growing(self) -> IntervalParams:
        for smaller, larger in zip(self.intervals, self.intervals[1:], strict=False):
            ratio = larger / smaller
            if larger <= smaller or abs(ratio - round(ratio)) > 1e-9:
                raise ValueError("each width must be a whole multiple (> 1) of the previous one")
        return self


class IntervalHierarchy(_Strict):
    type: Literal["interval"]
    params: IntervalParams


class MaskingParams(_Strict):
    max_level: int | None = Field(default=None, ge=1, description="Characters masked at most (default all).")
    mask_char: str = Field(default="*", min_length=1, max_length=1)


class MaskingHierarchy(_Strict):
    type: Literal["masking"]
    params: MaskingParams = Field(default_factory=MaskingParams)


class DateParams(_Strict):
    format: str | None = Field(default=None, description="strptime format of the values (default: ISO).")
    levels: list[Literal["month", "year", "decade"]] = Field(default_factory=lambda: ["month", "year", "decade"])

    @model_validator(mode="after")
    def _ordered(self) -> DateParams:
        order = ["month", "year", "decade"]
        if not self.levels or [lv for lv in order if lv in self.levels] != self.levels:
            raise ValueError("levels must be a non-empty subsequence of ['month', 'year', 'decade']")
        return self


class DateHierarchy(_Strict):
    type: Literal["date"]
    params: DateParams = Field(default_factory=DateParams)


class TreeParams(_Strict):
    mapping: dict[str, list[str]] = Field(
        min_length=1, description="Each leaf value → its generalizations, most specific first, top last."
    )


class TreeHierarchy(_Strict):
    type: Literal["tree"]
    params: TreeParams


class AutoParams(_Strict):
    max_levels: int = Field(default=4, ge=1, le=10)


class AutoHierarchy(_Strict):
    type: Literal["auto"]
    params: AutoParams = Field(default_factory=AutoParams)


HierarchySpec = Annotated[
    FileHierarchy | IntervalHierarchy | MaskingHierarchy | DateHierarchy | TreeHierarchy | AutoHierarchy,
    Field(discriminator="type"),
]


# --------------------------------------------------------------------------- attributes
class AttributeType(StrEnum):
    IDENTIFIER = "identifier"
    QUASI_IDENTIFIER = "quasi_identifier"
    SENSITIVE = "sensitive"
    INSENSITIVE = "insensitive"


class Attribute(_Strict):
    name: str = Field(min_length=1)
    type: AttributeType
    hierarchy: HierarchySpec | None = None
    weight: float = Field(default=1.0, ge=0, description="Weight of this QI in the loss metric.")


# --------------------------------------------------------------------------- privacy models
class KAnonymityParams(_Strict):
    k: int = Field(ge=1)


class KAnonymity(_Strict):
    model_type: Literal["k-anonymity"]
    params: KAnonymityParams


class LDiversityParams(_Strict):
    l: float = Field(ge=1)  # noqa: E741 - the model's own name
    diversity_type: Literal["distinct", "entropy", "recursive"] = "distinct"
    c: float | None = Field(default=None, gt=0, description="Only for recursive (c,l)-diversity.")
    attribute: str

    @model_validator(mode="after")
    def _c_for_recursive(self) -> LDiversityParams:
        if self.diversity_type == "recursive" and self.c is None:
            raise ValueError("c is required for recursive (c,l)-diversity")
        if self.diversity_type != "recursive" and self.c is not None:
            raise ValueError("c is only used by recursive (c,l)-diversity")
        if self.diversity_type in ("distinct", "recursive") and self.l != int(self.l):
            raise ValueError(f"l must be a whole number for {self.diversity_type} l-diversity")
        return self


class LDiversity(_Strict):
    model_type: Literal["l-diversity"]
    params: LDiversityParams


class TClosenessParams(_Strict):
    t: float = Field(ge=0, le=1)
    distance_metric: Literal["equal", "ordered", "hierarchical"] = "equal"
    attribute: str


class TCloseness(_Strict):
    model_type: Literal["t-closeness"]
    params: TClosenessParams


class DeltaPresenceParams(_Strict):
    delta_min: float = Field(ge=0, le=1)
    delta_max: float = Field(ge=0, le=1)
    subset: DataStore = Field(description="The research subset: rows of the input that are published.")

    @model_validator(mode="after")
    def _ordered(self) -> DeltaPresenceParams:
        if self.delta_min > self.delta_max:
            raise ValueError("delta_min must not exceed delta_max")
        return self


class DeltaPresence(_Strict):
    model_type: Literal["delta-presence"]
    params: DeltaPresenceParams


PrivacyModel = Annotated[KAnonymity | LDiversity | TCloseness | DeltaPresence, Field(discriminator="model_type")]


# --------------------------------------------------------------------------- metric & options
MetricName = Literal["loss", "discernibility", "entropy", "aecs", "precision", "height", "ambiguity", "kl"]


class MetricParams(_Strict):
    gs_factor: float = Field(default=0.5, ge=0, le=1, description="Weight of generalization vs suppression.")
    monotonic: bool = Field(default=False, description="Use the monotone variant (ignores suppression).")


class Metric(_Strict):
    name: MetricName = "loss"
    params: MetricParams = Field(default_factory=MetricParams)


class AdditionalProperties(_Strict):
    single_file: Literal["yes", "no"] = "yes"
    drop_suppressed: bool = Field(default=False, description="Drop suppressed rows instead of masking them.")
    shuffle: bool = Field(default=True, description="Shuffle output rows so row order cannot link back.")
    seed: int | None = Field(default=None, description="Shuffle seed; drawn at random and recorded when unset.")
    suppression_char: str = "*"
    keep_source: bool = Field(default=False, description="Keep the job's input snapshot after it ends.")


class RiskSettings(_Strict):
    threshold: float = Field(default=0.2, gt=0, le=1, description="Risk threshold for 'records at risk'.")
    population_size: int = Field(default=317_238_626, ge=1, description="For population uniqueness.")


class SearchSettings(_Strict):
    algorithm: Literal["auto", "optimal", "heuristic"] = "auto"
    max_optimal_nodes: int = Field(default=200_000, ge=1, description="auto: larger lattices use the heuristic.")
    time_budget_seconds: float = Field(default=60.0, gt=0, description="Budget of the heuristic search.")


class Execution(_Strict):
    """Where the engine's two heavy passes run: pandas in-process, or partitions on a Dask cluster."""

    backend: Literal["pandas", "dask"] = Field(
        default="pandas", description="dask: frequency set and output computed over partitions on Dask."
    )
    scheduler: str | None = Field(
        default=None,
        description="Dask scheduler address (tcp://host:8786); else ANON_OPS_DASK_SCHEDULER; else a LocalCluster.",
    )
    dask_threshold_rows: int | None = Field(
        default=None, ge=1, description="backend pandas: inputs with more rows than this run on Dask all the same."
    )
    partition_rows: int = Field(
        default=250_000, ge=1, description="Rows per Dask partition when an in-memory table is split."
    )


class JobConfig(_Strict):
    """A complete anonymization job: data, attributes, privacy models, metric and options."""

    source: DataStore | None = None
    target: DataStore | None = None
    attributes: list[Attribute] = Field(default_factory=list)
    privacy_models: list[PrivacyModel] = Field(default_factory=list)
    max_suppression: float = Field(default=0.0, ge=0, le=1)
    metric: Metric = Field(default_factory=Metric)
    additional_properties: AdditionalProperties = Field(default_factory=AdditionalProperties)
    risk: RiskSettings = Field(default_factory=RiskSettings)
    search: SearchSettings = Field(default_factory=SearchSettings)
    execution: Execution = Field(default_factory=Execution)

    _base_dir: Path | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _consistent(self) -> JobConfig:
        names = [a.name for a in self.attributes]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"attributes: duplicate names {duplicates}")
        by_name = {a.name: a for a in self.attributes}
        if sum(isinstance(m, KAnonymity) for m in self.privacy_models) > 1:
            raise ValueError("privacy_models: k-anonymity is given more than once")
        for i, model in enumerate(self.privacy_models):
            attribute = getattr(model.params, "attribute", None)
            if attribute is None:
                continue
            where = f"privacy_models.{i}.params.attribute"
            if attribute not in by_name:
                raise ValueError(f"{where}: {attribute!r} is not one of the attributes")
            if by_name[attribute].type != AttributeType.SENSITIVE:
                raise ValueError(f"{where}: {attribute!r} must have type 'sensitive'")
            if (
                isinstance(model, TCloseness)
                and model.params.distance_metric == "hierarchical"
                and by_name[attribute].hierarchy is None
            ):
                raise ValueError(f"{where}: hierarchical t-closeness needs a hierarchy on {attribute!r}")
        for i, attribute in enumerate(self.attributes):
            if attribute.hierarchy is not None and attribute.type in (
                AttributeType.IDENTIFIER,
                AttributeType.INSENSITIVE,
            ):
                raise ValueError(f"attributes.{i}.hierarchy: a {attribute.type.value} attribute has no hierarchy")
        return self

    # ------------------------------------------------------------------ convenience
    @property
    def base_dir(self) -> Path | None:
        return self._base_dir

    def with_base_dir(self, base_dir: str | Path | None) -> JobConfig:
        self._base_dir = Path(base_dir) if base_dir is not None else None
        return self

    def resolve_path(self, name: str) -> str:
        """A relative local path is taken relative to the configuration's folder; URLs are kept."""
        if "://" in name or self._base_dir is None or Path(name).is_absolute():
            return name
        return str(self._base_dir / name)

    def attributes_of(self, kind: AttributeType) -> list[Attribute]:
        return [a for a in self.attributes if a.type == kind]

    @property
    def quasi_identifiers(self) -> list[str]:
        return [a.name for a in self.attributes_of(AttributeType.QUASI_IDENTIFIER)]

    def attribute(self, name: str) -> Attribute:
        for a in self.attributes:
            if a.name == name:
                return a
        raise KeyError(name)

    def k(self) -> int:
        """The k of k-anonymity (1 when no k-anonymity model is given)."""
        return next((m.params.k for m in self.privacy_models if isinstance(m, KAnonymity)), 1)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, value: JobConfig | dict[str, Any] | str | Path, base_dir: str | Path | None = None) -> JobConfig:
        """Load from a model, a dict, a path to a JSON/YAML file, or JSON/YAML text."""
        if isinstance(value, JobConfig):
            return value
        if isinstance(value, dict):
            return cls.parse(value, base_dir)
        text_or_path = str(value)
        if "\n" not in text_or_path and Path(text_or_path).is_file():
            path = Path(text_or_path)
            return cls.parse(_read_yaml_or_json(path.read_text(encoding="utf-8"), str(path)), path.parent)
        if isinstance(value, Path) or (text_or_path.endswith((".yaml", ".yml", ".json")) and "\n" not in text_or_path):
            raise ConfigError(f"configuration file not found: {text_or_path}")
        return cls.parse(_read_yaml_or_json(text_or_path, "configuration"), base_dir)

    @classmethod
    def parse(cls, data: Any, base_dir: str | Path | None = None) -> JobConfig:
        if not isinstance(data, dict):
            raise ConfigError("configuration: expected a mapping of fields")
        try:
            config = cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(format_validation_error(exc)) from None
        return config.with_base_dir(base_dir)


def _read_yaml_or_json(text: str, origin: str) -> Any:
    try:
        return json.loads(text) if text.lstrip().startswith("{") else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{origin}: not valid JSON/YAML: {exc}") from None


def format_validation_error(exc: ValidationError) -> str:
    """One line per problem, each starting with the dotted path of the field."""
    lines = []
    for error in exc.errors():
        field = ".".join(_without_union_tags(error["loc"]))
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown field"
        lines.append(f"{field}: {message}" if field else message)
    return "invalid configuration:\n  " + "\n  ".join(lines)


def _without_union_tags(loc: tuple[Any, ...]) -> list[str]:
    """pydantic puts the discriminator value (e.g. 'interval') into the path of a union member; drop it."""
    parts: list[str] = []
    for i, part in enumerate(loc):
        previous = loc[i - 1] if i else None
        in_hierarchy = previous == "hierarchy"
        in_models = isinstance(previous, int) and i >= 2 and loc[i - 2] == "privacy_models"
        if (in_hierarchy or in_models) and isinstance(part, str) and part not in ("type", "model_type"):
            continue
        parts.append(str(part))
    return parts
