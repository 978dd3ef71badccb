"""AnonElement: everything one anonymization request needs — connection, data, configuration.

The element is a builder over the one job configuration model: its setters produce exactly the
models :class:`~anon_ops.config.JobConfig` holds, ``to_config()`` returns a validated JobConfig, and
``AnonElement(conn, df, config=element.to_config())`` gives the same element back. Each setter
validates its own piece at once (``e.k_anonymity(0)`` fails where it is written); rules that span
pieces (an l-diversity attribute must be sensitive) are checked by ``to_config()``.
"""

from __future__ import annotations

from collections.abc import Mapping
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
    from anon_ops.sdk.connection import Connection

HierarchyLike = HierarchySpec | Mapping[str, Any] | str | Path
DataStoreLike = DataStore | Mapping[str, Any] | str | Path


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
        self._rest: dict[str, Any] = loaded.model_dump(mode="json", exclude_none=True,
                                                       exclude={"attributes", "privacy_models"})
        if source is not None:
            self._rest["source"] = as_datastore(source, "source").model_dump(mode="json", exclude_none=True)

    def __repr__(self) -> str:
        data = f"{self.df.shape[0]}x{self.df.shape[1]} DataFrame" if self.df is not None else "source"
        return (f"AnonElement({data}, {len(self._attributes)} attribute(s), "
                f"{len(self._models)} privacy model(s), on {self.connection.location})")

    # ------------------------------------------------------------------ the configuration
    def to_config(self) -> JobConfig:
        """The validated job configuration (the model the CLI, the REST API and plugins share)."""
        document = {
            **self._rest,
            "attributes": [a.model_dump(mode="json", exclude_none=True) for a in self._attributes.values()],
            "privacy_models": [m.model_dump(mode="json", exclude_none=True) for m in self._models],
        }
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
