"""Dictionary-encoding of the input: integer codes per QI level, once, before any search.

Every QI becomes leaf codes of its hierarchy plus one integer lookup table per level
(leaf → generalized code); sensitive attributes become value codes. The rows are then reduced to
their frequency set, and the search works on that set only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from anon_ops.config import AttributeType, JobConfig
from anon_ops.engine.frequency import FrequencySet, aggregate
from anon_ops.engine.hierarchy import (
    Hierarchy,
    build_hierarchy,
    leaf_codes,
    level_labels,
    lookup_tables,
    values_as_text,
)
from anon_ops.errors import ConfigError, DataError


@dataclass
class QuasiIdentifier:
    """A QI with its hierarchy as integer tables: ``maps[l][leaf]`` is the leaf's code at level l."""

    name: str
    hierarchy: Hierarchy
    weight: float
    maps: list[np.ndarray]
    labels: list[np.ndarray]
    _up: dict[tuple[int, int], np.ndarray] = field(default_factory=dict, repr=False)

    @classmethod
    def from_hierarchy(cls, name: str, hierarchy: Hierarchy, weight: float = 1.0) -> QuasiIdentifier:
        return cls(name, hierarchy, weight, lookup_tables(hierarchy), level_labels(hierarchy))

    @property
    def height(self) -> int:
        return self.hierarchy.height

    @property
    def domain_size(self) -> int:
        return self.hierarchy.domain_size

    @cached_property
    def sizes(self) -> list[int]:
        """Number of distinct values at each level."""
        return [len(labels) for labels in self.labels]

    @cached_property
    def leaves_below(self) -> list[np.ndarray]:
        """Per level: number of hierarchy leaves under each generalized code."""
        return [np.bincount(m, minlength=s).astype(np.int64) for m, s in zip(self.maps, self.sizes, strict=True)]

    @cached_property
    def shares(self) -> list[np.ndarray]:
        """Per level: the domain share of each generalized code (leaves below / domain size)."""
        return [below / self.domain_size for below in self.leaves_below]

    def up_map(self, source: int, target: int) -> np.ndarray:
        """Code at level ``source`` → code at level ``target`` (target ≥ source): the roll-up table."""
        key = (source, target)
        if key not in self._up:
            table = np.zeros(self.sizes[source], dtype=np.int32)
            table[self.maps[source]] = self.maps[target]
            self._up[key] = table
        return self._up[key]


@dataclass
class SensitiveAttribute:
    """A sensitive attribute as value codes; codes follow the value order (numeric when numeric)."""

    name: str
    labels: np.ndarray
    hierarchy: Hierarchy | None = None

    @property
    def size(self) -> int:
        return len(self.labels)

    @cached_property
    def maps(self) -> list[np.ndarray]:
        if self.hierarchy is None:
            raise ValueError(f"{self.name} has no hierarchy")
        return lookup_tables(self.hierarchy)


@dataclass
class EncodedData:
    """The input reduced to integer codes and its frequency set."""

    qis: list[QuasiIdentifier]
    sensitive: list[SensitiveAttribute]
    base: FrequencySet
    row_to_base: np.ndarray
    in_subset: np.ndarray | None

    @property
    def n_records(self) -> int:
        """Records the privacy models protect (the research subset's size under δ-presence)."""
        return int(self.base.counts.sum())

    @property
    def qi_names(self) -> list[str]:
        return [qi.name for qi in self.qis]

    def sensitive_index(self, name: str) -> int:
        return next(i for i, s in enumerate(self.sensitive) if s.name == name)

    def radices(self, levels: tuple[int, ...]) -> list[int]:
        return [qi.sizes[lv] for qi, lv in zip(self.qis, levels, strict=True)]

    @property
    def extra_radices(self) -> list[int]:
        return [s.size for s in self.sensitive]


def check_columns(df: pd.DataFrame, config: JobConfig) -> None:
    """Every attribute of the configuration must be a column of the data."""
    missing = [a.name for a in config.attributes if a.name not in df.columns]
    if missing:
        raise DataError(f"attributes: column(s) {missing} not found in the data (columns: {list(df.columns)})")


def encode_qi_column(qi: QuasiIdentifier, values: pd.Series) -> np.ndarray:
    """Leaf codes of a column's values; a value outside the hierarchy is an error naming it."""
    return leaf_codes(qi.hierarchy, values)


def _encode_sensitive(
    name: str, values: pd.Series, hierarchy: Hierarchy | None
) -> tuple[SensitiveAttribute, np.ndarray]:
    if hierarchy is not None:
        attribute = SensitiveAttribute(name, hierarchy.leaves, hierarchy)
        return attribute, sensitive_codes(attribute, values)
    text = values_as_text(values)
    attribute = SensitiveAttribute(name, sensitive_labels(text))
    return attribute, pd.Index(attribute.labels).get_indexer(text).astype(np.int32)


def sensitive_labels(text: pd.Series) -> np.ndarray:
    """The labels of a sensitive attribute without hierarchy: its distinct texts, in numeric order
    when all are numbers, else sorted. Only the distinct values matter, so a partitioned run can
    build the same labels from the distinct values of its partitions."""
    uniques = pd.unique(text)
    numeric = pd.to_numeric(pd.Series(uniques), errors="coerce")
    if len(uniques) and numeric.notna().all():
        return np.asarray(uniques, dtype=object)[np.argsort(numeric.to_numpy(), kind="stable")]
    return np.sort(np.asarray(uniques, dtype=object))


def sensitive_codes(attribute: SensitiveAttribute, values: pd.Series) -> np.ndarray:
    """Codes of ``values`` under an attribute built before (one partition of a Dask run)."""
    if attribute.hierarchy is not None:
        return leaf_codes(attribute.hierarchy, values)
    codes = pd.Index(attribute.labels).get_indexer(values_as_text(values))
    if (codes < 0).any():
        raise DataError(f"column {attribute.name!r}: values changed while the data was read")
    return codes.astype(np.int32)


def encode(
    df: pd.DataFrame,
    config: JobConfig,
    hierarchies: dict[str, Hierarchy] | None = None,
    subset: pd.DataFrame | None = None,
) -> EncodedData:
    """Encode the QIs and the sensitive attributes the models need, and build the frequency set."""
    check_columns(df, config)
    hierarchies = dict(hierarchies or {})
    qis: list[QuasiIdentifier] = []
    qi_codes = []
    for index, attribute in enumerate(config.attributes):
        if attribute.type != AttributeType.QUASI_IDENTIFIER:
            continue
        if attribute.name not in hierarchies:
            if attribute.hierarchy is None:
                raise ConfigError(
                    f"attributes.{index}.hierarchy: quasi-identifier {attribute.name!r} needs a hierarchy "
                    "(or use {type: auto})"
                )
            # file and tree hierarchies are checked for coverage when the column is encoded below
            built_from_data = attribute.hierarchy.type not in ("file", "tree")
            hierarchies[attribute.name] = build_hierarchy(
                attribute.name, attribute.hierarchy, df[attribute.name] if built_from_data else None,
                config.resolve_path,
            )
        qi = QuasiIdentifier.from_hierarchy(attribute.name, hierarchies[attribute.name], attribute.weight)
        qis.append(qi)
        qi_codes.append(encode_qi_column(qi, df[attribute.name]))

    sensitive: list[SensitiveAttribute] = []
    extra_codes = []
    for name in _sensitive_names_used(config):
        spec = config.attribute(name).hierarchy
        hierarchy = hierarchies.get(name)
        if hierarchy is None and spec is not None:
            hierarchy = build_hierarchy(name, spec, df[name], config.resolve_path)
        attribute, codes = _encode_sensitive(name, df[name], hierarchy)
        sensitive.append(attribute)
        extra_codes.append(codes)

    n = len(df)
    qi_matrix = np.stack(qi_codes, axis=1) if qi_codes else np.zeros((n, 0), dtype=np.int32)
    extra_matrix = np.stack(extra_codes, axis=1) if extra_codes else np.zeros((n, 0), dtype=np.int32)
    in_subset = _subset_membership(df, subset) if subset is not None else None
    ones = np.ones(n, dtype=np.int64)
    counts = in_subset.astype(np.int64) if in_subset is not None else ones
    pcounts = ones if in_subset is not None else None
    levels = tuple(0 for _ in qis)
    radices = [qi.sizes[0] for qi in qis]
    if not qis:
        base = FrequencySet(levels, qi_matrix[:1], extra_matrix[:1], np.array([n], dtype=np.int64), None)
        return EncodedData(qis, sensitive, base, np.zeros(n, dtype=np.int64), in_subset)
    base, row_to_base = aggregate(levels, qi_matrix, extra_matrix, counts, pcounts, radices,
                                  [s.size for s in sensitive])
    return EncodedData(qis, sensitive, base, row_to_base, in_subset)


def _sensitive_names_used(config: JobConfig) -> list[str]:
    names: list[str] = []
    for model in config.privacy_models:
        attribute = getattr(model.params, "attribute", None)
        if attribute is not None and attribute not in names:
            names.append(attribute)
    return names


def _subset_membership(df: pd.DataFrame, subset: pd.DataFrame) -> np.ndarray:
    """Mark the rows of ``df`` that form the research subset (rows matched as a multiset)."""
    missing = [c for c in df.columns if c not in subset.columns]
    if missing:
        raise DataError(f"privacy_models: the δ-presence subset lacks column(s) {missing}")
    left = pd.DataFrame({c: values_as_text(df[c]) for c in df.columns})
    right = pd.DataFrame({c: values_as_text(subset[c]) for c in df.columns})
    columns = list(df.columns)
    left["__occurrence"] = left.groupby(columns, sort=False).cumcount()
    right["__occurrence"] = right.groupby(columns, sort=False).cumcount()
    left["__row"] = np.arange(len(left))
    matched = right.merge(left, on=[*columns, "__occurrence"], how="left")
    if matched["__row"].isna().any():
        raise DataError("privacy_models: the δ-presence subset has row(s) that are not in the input data")
    member = np.zeros(len(df), dtype=bool)
    member[matched["__row"].to_numpy(dtype=np.int64)] = True
    return member
