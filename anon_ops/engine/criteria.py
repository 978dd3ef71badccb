"""Privacy models, each a small class: which equivalence classes fail it, and is it monotone?

A model sees the equivalence classes of one transformation (``ClassTable``) and returns a boolean
per class: True where the class violates the model (its records become outliers to suppress).
``monotone`` models (k-anonymity, distinct l-diversity) let the search tag whole lattice regions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from anon_ops.config import DeltaPresence, JobConfig, KAnonymity, LDiversity, TCloseness
from anon_ops.engine.encoding import EncodedData, SensitiveAttribute
from anon_ops.engine.frequency import FrequencySet, group_codes

_EPS = 1e-12


@dataclass
class ClassTable:
    """Equivalence classes of one transformation, built from its frequency set."""

    freq: FrequencySet
    class_of_row: np.ndarray
    representative: np.ndarray
    sizes: np.ndarray
    psizes: np.ndarray | None

    @classmethod
    def from_frequency_set(cls, freq: FrequencySet, radices: list[int]) -> ClassTable:
        if freq.extra.shape[1] == 0:  # rows of a frequency set are distinct: each is a class
            identity = np.arange(freq.n_rows, dtype=np.int64)
            return cls(freq, identity, identity, freq.counts, freq.pcounts)
        grouping = group_codes(freq.qi, radices)
        n = grouping.n_groups
        sizes = np.bincount(grouping.inverse, weights=freq.counts, minlength=n).astype(np.int64)
        psizes = None
        if freq.pcounts is not None:
            psizes = np.bincount(grouping.inverse, weights=freq.pcounts, minlength=n).astype(np.int64)
        return cls(freq, grouping.inverse, grouping.representative, sizes, psizes)

    @property
    def n_classes(self) -> int:
        return int(self.sizes.shape[0])

    @cached_property
    def codes(self) -> np.ndarray:
        """(classes, q) generalized QI codes of each class."""
        return self.freq.qi[self.representative]

    def distribution(self, j: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(class, value code, count) triples of sensitive attribute j, sorted by class."""
        pairs = np.stack([self.class_of_row, self.freq.extra[:, j].astype(np.int64)], axis=1)
        grouping = group_codes(pairs, [self.n_classes, int(self.freq.extra[:, j].max()) + 1])
        counts = np.bincount(grouping.inverse, weights=self.freq.counts, minlength=grouping.n_groups)
        rep = grouping.representative
        order = np.lexsort((pairs[rep, 1], pairs[rep, 0]))
        keep = counts[order] > 0
        order = order[keep]
        return pairs[rep[order], 0], pairs[rep[order], 1], counts[order]


class Criterion:
    monotone: bool = False
    min_class_size: int = 1

    def failing(self, table: ClassTable) -> np.ndarray:
        raise NotImplementedError

    def describe(self) -> str:
        return type(self).__name__


@dataclass
class KAnonymityCriterion(Criterion):
    k: int
    monotone = True

    @property
    def min_class_size(self) -> int:  # type: ignore[override]
        return self.k

    def failing(self, table: ClassTable) -> np.ndarray:
        return table.sizes < self.k

    def describe(self) -> str:
        return f"{self.k}-anonymity"


def _per_class(classes: np.ndarray, values: np.ndarray, n_classes: int) -> np.ndarray:
    return np.bincount(classes, weights=values, minlength=n_classes)


@dataclass
class DistinctLDiversity(Criterion):
    attribute: int
    l: int  # noqa: E741
    monotone = True

    @property
    def min_class_size(self) -> int:  # type: ignore[override]
        return self.l

    def failing(self, table: ClassTable) -> np.ndarray:
        classes, _, _ = table.distribution(self.attribute)
        distinct = np.bincount(classes, minlength=table.n_classes)
        return distinct < self.l

    def describe(self) -> str:
        return f"distinct-{self.l}-diversity"


@dataclass
class EntropyLDiversity(Criterion):
    attribute: int
    l: float  # noqa: E741

    @property
    def min_class_size(self) -> int:  # type: ignore[override]
        return math.ceil(self.l)

    def failing(self, table: ClassTable) -> np.ndarray:
        classes, _, counts = table.distribution(self.attribute)
        sizes = table.sizes[classes].astype(float)
        p = counts / sizes
        entropy = -_per_class(classes, p * np.log(p), table.n_classes)
        distinct = np.bincount(classes, minlength=table.n_classes)
        return (distinct < math.ceil(self.l)) | (entropy + _EPS < math.log(self.l))

    def describe(self) -> str:
        return f"entropy-{self.l:g}-diversity"


@dataclass
class RecursiveCLDiversity(Criterion):
    attribute: int
    l: int  # noqa: E741
    c: float

    @property
    def min_class_size(self) -> int:  # type: ignore[override]
        return self.l

    def failing(self, table: ClassTable) -> np.ndarray:
        classes, _, counts = table.distribution(self.attribute)
        # sort each class's frequencies descending: by class, then by -count
        order = np.lexsort((-counts, classes))
        classes, counts = classes[order], counts[order]
        starts = np.searchsorted(classes, np.arange(table.n_classes))
        rank = np.arange(len(classes)) - starts[classes]
        distinct = np.bincount(classes, minlength=table.n_classes)
        top = np.zeros(table.n_classes)
        top[classes[rank == 0]] = counts[rank == 0]
        tail = _per_class(classes[rank >= self.l - 1], counts[rank >= self.l - 1], table.n_classes)
        return (distinct < self.l) | ~(top < self.c * tail)

    def describe(self) -> str:
        return f"recursive-({self.c:g},{self.l})-diversity"


@dataclass
class TClosenessCriterion(Criterion):
    attribute: int
    t: float
    distance: str
    sensitive: SensitiveAttribute
    overall: np.ndarray  # distribution of the attribute in the whole table, per value code

    _CHUNK_CELLS = 20_000_000

    def failing(self, table: ClassTable) -> np.ndarray:
        classes, codes, counts = table.distribution(self.attribute)
        p = counts / table.sizes[classes]
        if self.distance == "equal":
            q = self.overall[codes]
            # ½ Σ_s |p_s − q_s|: values absent from a class contribute q_s
            emd = 0.5 * (_per_class(classes, np.abs(p - q) - q, table.n_classes) + 1.0)
        else:
            emd = self._dense_emd(classes, codes, p, table.n_classes)
        return emd > self.t + _EPS

    def _dense_emd(self, classes: np.ndarray, codes: np.ndarray, p: np.ndarray, n_classes: int) -> np.ndarray:
        m = self.sensitive.size
        emd = np.zeros(n_classes)
        step = max(1, self._CHUNK_CELLS // max(m, 1))
        for start in range(0, n_classes, step):
            stop = min(n_classes, start + step)
            sel = (classes >= start) & (classes < stop)
            matrix = np.zeros((stop - start, m))
            matrix[classes[sel] - start, codes[sel]] = p[sel]
            diff = matrix - self.overall[None, :]
            if self.distance == "ordered":
                emd[start:stop] = np.abs(np.cumsum(diff, axis=1)).sum(axis=1) / max(m - 1, 1)
            else:
                emd[start:stop] = self._hierarchical(diff)
        return emd

    def _hierarchical(self, extra: np.ndarray) -> np.ndarray:
        """Li et al.'s hierarchical EMD: flows settled bottom-up, cost level/height per inner node."""
        maps = self.sensitive.maps
        height = len(maps) - 1
        cost = np.zeros(extra.shape[0])
        for level in range(1, height + 1):
            # parent (at `level`) of each code at level-1
            child_to_parent = np.zeros(int(maps[level - 1].max()) + 1, dtype=np.int64)
            child_to_parent[maps[level - 1]] = maps[level]
            parent_of = np.zeros((len(child_to_parent), int(maps[level].max()) + 1))
            parent_of[np.arange(len(child_to_parent)), child_to_parent] = 1.0
            positive = np.clip(extra, 0, None) @ parent_of
            negative = np.clip(-extra, 0, None) @ parent_of
            cost += (level / height) * np.minimum(positive, negative).sum(axis=1)
            extra = positive - negative
        return cost

    def describe(self) -> str:
        return f"{self.t:g}-closeness ({self.distance})"


@dataclass
class DeltaPresenceCriterion(Criterion):
    delta_min: float
    delta_max: float

    def failing(self, table: ClassTable) -> np.ndarray:
        assert table.psizes is not None
        delta = table.sizes / np.maximum(table.psizes, 1)
        return (delta < self.delta_min - _EPS) | (delta > self.delta_max + _EPS)

    def describe(self) -> str:
        return f"({self.delta_min:g},{self.delta_max:g})-presence"


def build_criteria(config: JobConfig, encoded: EncodedData) -> list[Criterion]:
    """The configured privacy models as criteria over the encoded data."""
    criteria: list[Criterion] = []
    for model in config.privacy_models:
        if isinstance(model, KAnonymity):
            criteria.append(KAnonymityCriterion(model.params.k))
        elif isinstance(model, LDiversity):
            j = encoded.sensitive_index(model.params.attribute)
            p = model.params
            if p.diversity_type == "distinct":
                criteria.append(DistinctLDiversity(j, int(p.l)))
            elif p.diversity_type == "entropy":
                criteria.append(EntropyLDiversity(j, float(p.l)))
            else:
                criteria.append(RecursiveCLDiversity(j, int(p.l), float(p.c or 0)))
        elif isinstance(model, TCloseness):
            j = encoded.sensitive_index(model.params.attribute)
            sensitive = encoded.sensitive[j]
            counts = np.bincount(encoded.base.extra[:, j], weights=encoded.base.counts, minlength=sensitive.size)
            overall = counts / max(counts.sum(), 1)
            criteria.append(TClosenessCriterion(j, model.params.t, model.params.distance_metric, sensitive, overall))
        elif isinstance(model, DeltaPresence):
            criteria.append(DeltaPresenceCriterion(model.params.delta_min, model.params.delta_max))
    return criteria
