"""AnonElement: everything one anonymization request needs — connection, data, configuration.

The element is a builder over the one job configuration model: its setters produce exactly the
models :class:`~anon_ops.config.JobConfig` holds, ``to_config()`` returns a validated JobConfig, and
``AnonElement(conn, df, config=element.to_config())`` gives the same element back. Each setter
validates its own piece at once (``e.k_anonymity(0)`` fails where it is written); rules that span
pieces (an l-diversity attribute must be sensitive) are checked by ``to_config()``.

The element remembers only what the user set: ``to_config()`` marks exactly those fields as set
(``model_fields_set``), because ``infer()`` and ``mode="auto"`` fill in every field that is not —
a default that looked user-set would never be inferred.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from anon_ops.config import (
    AdditionalProperties,
    Attribute,
    AttributeType,
    DataStore,
    DeltaPresence,
    HierarchySpec,
    JobConfig,
    KAnonymity,
    LDiversity,
    Metric,
    MetricName,
    PrivacyModel,
    TCloseness,
)
from anon_ops.errors import ConfigError, DataError
from anon_ops.sdk.hierarchies import as_hierarchy, validated

if TYPE_CHECKING:
    from anon_ops.infer import ColumnProfile, InferenceResult
    from anon_ops.sdk.connection import Connection

HierarchyLike = HierarchySpec | Mapping[str, Any] | str | Path
DataStoreLike = DataStore | Mapping[str, Any] | str | Path


_LISTS = ("attributes", "privacy_models")


@cache
def _defaults() -> dict[str, Any]:
    return JobConfig().model_dump(mode="json", exclude_none=True)


def explicit_fields(config: JobConfig) -> dict[str, Any]:
    """The top-level fields of ``config`` that someone set, as JSON: those its document named
    (``model_fields_set``) and those changed since (``config.additional_properties.seed = 7``)."""
    full = config.model_dump(mode="json", exclude_none=True)
    defaults = _defaults()
    return {k: v for k, v in full.items() if k in config.model_fields_set or defaults.get(k) != v}


def as_datastore(value: DataStoreLike, where: str) -> DataStore:
    """A DataStore from a model, its dict form, or a path (a file store; format from the suffix).

    A local path is made absolute: it means the caller's working folder, not the folder of the
    configuration it may later be saved in.
    """
    if isinstance(value, DataStore):
        return value
    if isinstance(value, str | Path):
        name = str(value)
        if not name:
            raise ConfigError(f"{where}: empty path")
        if "://" not in name:
            name = str(Path(name).expanduser().resolve())
        return DataStore.model_validate({"type": "file", "file": {"name": name}})
    if isinstance(value, Mapping):
        return validated(DataStore, dict(value), where)
    raise ConfigError(f"{where}: expected a path, a data store dict or a DataStore; got {type(value).__name__}")


class AnonElement:
    """The data (a DataFrame or a source) and the configuration of one anonymization request.

    Setters return the element, so a request reads as one chain::

        e = (asdk.AnonElement(conn, df)
             .identifier("ssn")
             .quasi_identifier("age", hierarchy=asdk.Interval([5, 10, 20]))
             .sensitive("disease")
             .k_anonymity(5)
             .l_diversity("disease", 2)
             .max_suppression(0.05))
    """

    def __init__(
        self,
        connection: Connection,
        df: pd.DataFrame | None = None,
        *,
        source: DataStoreLike | None = None,
        config: JobConfig | Mapping[str, Any] | str | Path | None = None,
    ) -> None:
        if df is not None and not isinstance(df, pd.DataFrame):
            raise DataError(f"df: expected a pandas DataFrame, got {type(df).__name__}")
        if df is not None and source is not None:
            raise ConfigError("source: give a DataFrame or a source, not both")
        self.connection = connection
        self.df = df
        loaded = JobConfig() if config is None else JobConfig.load(dict(config) if isinstance(config, Mapping)
                                                                   else config)
        self._base_dir = loaded.base_dir
        self._attributes: dict[str, Attribute] = {a.name: a.model_copy(deep=True) for a in loaded.attributes}
        self._models: list[PrivacyModel] = [m.model_copy(deep=True) for m in loaded.privacy_models]
        self._rest: dict[str, Any] = {k: v for k, v in explicit_fields(loaded).items() if k not in _LISTS}
        #: What ``infer()`` found (profiles, accuracies, notes) on the element it returned; else None.
        self.inference: InferenceResult | None = None
        if source is not None:
            self._rest["source"] = as_datastore(source, "source").model_dump(mode="json", exclude_none=True)

    def __repr__(self) -> str:
        data = f"{self.df.shape[0]}x{self.df.shape[1]} DataFrame" if self.df is not None else "source"
        return (f"AnonElement({data}, {len(self._attributes)} attribute(s), "
                f"{len(self._models)} privacy model(s), on {self.connection.location})")

    # ------------------------------------------------------------------ the configuration
    def to_config(self) -> JobConfig:
        """The validated job configuration (the model the CLI, the REST API and plugins share);
        only the fields set on this element count as set (``model_fields_set``)."""
        document = dict(self._rest)
        if self._attributes:
            document["attributes"] = [a.model_dump(mode="json", exclude_none=True) for a in self._attributes.values()]
        if self._models:
            document["privacy_models"] = [m.model_dump(mode="json", exclude_none=True) for m in self._models]
        return JobConfig.parse(document, self._base_dir)

    @property
    def source(self) -> DataStore | None:
        source = self._rest.get("source")
        return DataStore.model_validate(source) if source is not None else None

    # ------------------------------------------------------------------ attributes
    def _set(self, names: tuple[str, ...], kind: AttributeType, hierarchy: HierarchyLike | None = None,
             weight: float | None = None) -> AnonElement:
        if not names:
            raise ConfigError(f"attributes: name at least one {kind.value} column")
        for name in names:
            where = f"attributes.{name}"
            values: dict[str, Any] = {"name": name, "type": kind.value}
            if hierarchy is not None:
                values["hierarchy"] = as_hierarchy(hierarchy, f"{where}.hierarchy").model_dump(
                    mode="json", exclude_none=True)
            if weight is not None:
                values["weight"] = weight
            self._attributes[name] = validated(Attribute, values, where)  # replaces keep their position
        return self

    def identifier(self, *names: str) -> AnonElement:
        """Direct identifiers (name, SSN…): removed from the result."""
        return self._set(names, AttributeType.IDENTIFIER)

    def quasi_identifier(self, *names: str, hierarchy: HierarchyLike | None = None,
                         weight: float | None = None) -> AnonElement:
        """Columns an attacker may know; generalized along ``hierarchy`` (a helper such as
        ``Interval([5, 10])``, the configuration's dict form, or an ARX file path)."""
        return self._set(names, AttributeType.QUASI_IDENTIFIER, hierarchy, weight)

    def sensitive(self, *names: str, hierarchy: HierarchyLike | None = None) -> AnonElement:
        """Columns protected by l-diversity / t-closeness (a hierarchy only for hierarchical t-closeness)."""
        return self._set(names, AttributeType.SENSITIVE, hierarchy)

    def insensitive(self, *names: str) -> AnonElement:
        """Columns published as they are."""
        return self._set(names, AttributeType.INSENSITIVE)

    def remove(self, *names: str) -> AnonElement:
        """Forget the role given to these columns."""
        for name in names:
            self._attributes.pop(name, None)
        return self

    # ------------------------------------------------------------------ privacy models
    def _model(self, model: PrivacyModel) -> AnonElement:
        """Add a model, replacing the one of the same type (and attribute, for per-attribute models)."""
        key = (model.model_type, getattr(model.params, "attribute", None))
        for i, existing in enumerate(self._models):
            if (existing.model_type, getattr(existing.params, "attribute", None)) == key:
                self._models[i] = model
                return self
        self._models.append(model)
        return self

    def k_anonymity(self, k: int) -> AnonElement:
        """Every record shares its quasi-identifiers with at least ``k - 1`` others."""
        return self._model(validated(KAnonymity, {"model_type": "k-anonymity", "params": {"k": k}},
                                     "privacy_models.k-anonymity"))

    def l_diversity(self, attribute: str, l: float,  # noqa: E741 - the model's own name
                    diversity_type: Literal["distinct", "entropy", "recursive"] = "distinct",
                    c: float | None = None) -> AnonElement:
        """At least ``l`` well-represented values of the sensitive ``attribute`` in every class."""
        params: dict[str, Any] = {"l": l, "diversity_type": diversity_type, "attribute": attribute}
        if c is not None:
            params["c"] = c
        return self._model(validated(LDiversity, {"model_type": "l-diversity", "params": params},
                                     "privacy_models.l-diversity"))

    def t_closeness(self, attribute: str, t: float,
                    distance_metric: Literal["equal", "ordered", "hierarchical"] = "equal") -> AnonElement:
        """The distribution of ``attribute`` in every class within distance ``t`` of the whole table's."""
        params = {"t": t, "distance_metric": distance_metric, "attribute": attribute}
        return self._model(validated(TCloseness, {"model_type": "t-closeness", "params": params},
                                     "privacy_models.t-closeness"))

    def delta_presence(self, delta_min: float, delta_max: float,
                       subset: DataStoreLike | pd.DataFrame) -> AnonElement:
        """Bound the probability that a person of the population is in the published ``subset``."""
        if isinstance(subset, pd.DataFrame):
            store: dict[str, Any] = {"type": "inline", "inline": {"records": subset.to_dict(orient="records")}}
        else:
            store = as_datastore(subset, "privacy_models.delta-presence.params.subset").model_dump(
                mode="json", exclude_none=True)
        params = {"delta_min": delta_min, "delta_max": delta_max, "subset": store}
        return self._model(validated(DeltaPresence, {"model_type": "delta-presence", "params": params},
                                     "privacy_models.delta-presence"))

    # ------------------------------------------------------------------ options
    def max_suppression(self, fraction: float) -> AnonElement:
        """Share of records (0–1) that may be suppressed instead of generalizing further."""
        if not isinstance(fraction, int | float) or not 0 <= fraction <= 1:
            raise ConfigError(f"max_suppression: expected a fraction between 0 and 1, got {fraction!r}")
        self._rest["max_suppression"] = float(fraction)
        return self

    def metric(self, name: MetricName = "loss", *, gs_factor: float | None = None,
               monotonic: bool | None = None) -> AnonElement:
        """The information-loss measure the search minimizes."""
        params: dict[str, Any] = {}
        if gs_factor is not None:
            params["gs_factor"] = gs_factor
        if monotonic is not None:
            params["monotonic"] = monotonic
        metric = validated(Metric, {"name": name, "params": params}, "metric")
        self._rest["metric"] = metric.model_dump(mode="json", exclude_none=True)
        return self

    def additional_properties(self, **properties: Any) -> AnonElement:
        """Output options: ``single_file="no"``, ``seed=7``, ``drop_suppressed=True``…"""
        merged = {**self._rest.get("additional_properties", {}), **properties}
        validated(AdditionalProperties, merged, "additional_properties")
        self._rest["additional_properties"] = merged
        return self

    # ------------------------------------------------------------------ deciding before a job
    def measure(self, **grid: Any) -> pd.DataFrame:
        """Risk and utility of candidate configurations, to pick one before running a job.

        Each keyword is a configuration field with its candidate values — ``k``, ``max_suppression``,
        ``metric`` (and ``l``, ``t`` of the element's l-diversity / t-closeness model); a single value
        counts as a list of one. One row per combination, in order, with the candidate's values and
        ``valid``, ``information_loss``, ``suppressed``, ``prosecutor_highest_risk``,
        ``prosecutor_records_at_risk``, ``marketer_success_rate``, ``granularity``, the other
        utility measures and the ``transformation``. A candidate no transformation satisfies is a
        row with ``valid`` False, not an error. Runs at once (no job): embedded in this process, or
        on the service.
        """
        lists = {name: list(values) if isinstance(values, list | tuple | range) else [values]
                 for name, values in grid.items()}
        return self.connection.backend.measure(self.to_config(), self.df, lists)

    def infer(self, targetVariable: str | None = None, k: int = 5,  # the contract's camelCase name
              max_suppression: float = 0.05, *, target_variable: str | None = None) -> AnonElement:
        """A new element (same connection, same data) whose configuration inference completed.

        Detects every column's domain and classification and builds hierarchies and a privacy
        configuration; what this element sets (attributes, hierarchies, privacy models,
        max_suppression…) is kept. ``targetVariable``: the column whose predictive value the result
        should keep. ``k`` / ``max_suppression`` apply only when this element sets no privacy model /
        no suppression limit. The evidence (``profiles``, ``inference.report()``) stays on the new
        element.
        """
        target = target_variable if target_variable is not None else targetVariable
        result = self.connection.backend.infer(self.to_config(), self.df, target=target, k=k,
                                               max_suppression=max_suppression)
        result.config = self._with_local_parts(result.config)
        inferred = AnonElement(self.connection, self.df, config=result.config)
        inferred.inference = result
        return inferred

    @property
    def profiles(self) -> list[ColumnProfile]:
        """Per column: detected domain, classification, confidence and why (empty unless inferred)."""
        return list(self.inference.profiles) if self.inference is not None else []

    def _with_local_parts(self, inferred: JobConfig) -> JobConfig:
        """``inferred`` with what only this side can express: the source and target, hierarchy files
        and file subsets as set here (a service received inline copies) and the folder that relative
        names are resolved against. Inference keeps these parts unchanged, so nothing is lost."""
        document = explicit_fields(inferred)
        for key in ("source", "target"):
            if key in self._rest:
                document[key] = self._rest[key]
        own = {name: a for name, a in self._attributes.items() if a.hierarchy is not None}
        document["attributes"] = [own[a["name"]].model_dump(mode="json", exclude_none=True) if a["name"] in own else a
                                  for a in document.get("attributes", [])]
        if self._models:
            document["privacy_models"] = [m.model_dump(mode="json", exclude_none=True) for m in self._models]
        return JobConfig.parse(document, self._base_dir)
