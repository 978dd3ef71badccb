"""Information-loss metrics, each a small class: the search objective, lower is better.

A metric evaluates one transformation from its equivalence classes and their outlier flags, and
— where it can — gives a lower bound for every node of the lattice at once, computed from
per-attribute, per-level tables without grouping anything. Definitions: spec metrics.md (ARX's).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from anon_ops.config import Metric as MetricConfig
from anon_ops.engine.criteria import ClassTable
from anon_ops.engine.encoding import EncodedData


def floor10(value: np.ndarray | float) -> np.ndarray | float:
    """ARX rounds every per-attribute value down to 10 decimals before aggregating."""
    return np.floor(np.asarray(value, dtype=float) * 1e10) / 1e10


def gs_factors(gs_factor: float) -> tuple[float, float]:
    """(generalization factor g_f, suppression factor s_f) for a gs-factor in [0, 1]."""
    s_f = 2 * gs_factor if gs_factor < 0.5 else 1.0
    g_f = 1.0 if gs_factor <= 0.5 else 1 - 2 * (gs_factor - 0.5)
    return g_f, s_f


@dataclass
class Evaluation:
    """What a metric sees of one transformation."""

    levels: tuple[int, ...]
    table: ClassTable
    outlier: np.ndarray  # per class

    @property
    def any_outlier(self) -> bool:
        return bool(self.outlier.any())


class InformationLoss:
    """Base class: ``monotone`` means a generalization never loses less when nothing is suppressed."""

    name = "metric"
    monotone = True
    ignores_suppression = False

    def __init__(self, encoded: EncodedData, config: MetricConfig) -> None:
        self.encoded = encoded
        self.n = encoded.n_records
        self.g_f, self.s_f = gs_factors(config.params.gs_factor)

    def evaluate(self, ev: Evaluation) -> float:
        raise NotImplementedError

    def lower_bounds(self, nodes: np.ndarray) -> np.ndarray | None:
        """A lower bound of the loss of every node (rows of ``nodes``), or None when there is none cheap."""
        return None

    def generalization_bound(self, ev: Evaluation) -> float | None:
        """A lower bound of the loss of this node and of every generalization of it, whatever is
        suppressed there — learnt from one checked node; None when the metric offers none."""
        return None

    def _shares(self, ev: Evaluation, i: int) -> np.ndarray:
        return self.encoded.qis[i].shares[ev.levels[i]][ev.table.codes[:, i]]


class LossMetric(InformationLoss):
    """ARX's Loss (granularity): normalized domain share per QI, geometric mean over QIs."""

    name = "loss"

    def __init__(self, encoded: EncodedData, config: MetricConfig) -> None:
        super().__init__(encoded, config)
        base = encoded.base
        self.weights = np.array([qi.weight for qi in encoded.qis])
        # all records generalized, none suppressed: Σ g_f · share, per QI and level
        self.unsuppressed = []
        for i, qi in enumerate(encoded.qis):
            leaf_counts = np.bincount(base.qi[:, i], weights=base.counts, minlength=qi.domain_size)
            totals = [float((leaf_counts * qi.shares[lv][qi.maps[lv]]).sum()) for lv in range(qi.height + 1)]
            self.unsuppressed.append(np.array([self._normalize(self.g_f * t, i) for t in totals]))

    def _normalize(self, aggregate: float, i: int) -> float:
        minimum = self.g_f * self.n / self.encoded.qis[i].domain_size
        span = self.n - minimum
        value = (aggregate - minimum) / span if span > 0 else 0.0
        return float(floor10(max(value, 0.0)))

    def _aggregate(self, values: np.ndarray) -> np.ndarray:
        """Weighted geometric mean (Π (w·L + 1))^(1/q) − 1, along the last axis."""
        q = values.shape[-1]
        return np.prod(self.weights * values + 1.0, axis=-1) ** (1.0 / q) - 1.0

    def evaluate(self, ev: Evaluation) -> float:
        sizes = ev.table.sizes.astype(float)
        values = np.empty(len(self.encoded.qis))
        for i in range(len(self.encoded.qis)):
            contribution = sizes * self._shares(ev, i)
            generalized = self.g_f * contribution[~ev.outlier].sum()
            suppressed = contribution[ev.outlier] + self.s_f * (sizes[ev.outlier] - contribution[ev.outlier])
            values[i] = self._normalize(generalized + suppressed.sum(), i)
        return float(self._aggregate(values))

    def lower_bounds(self, nodes: np.ndarray) -> np.ndarray:
        values = np.stack([self.unsuppressed[i][nodes[:, i]] for i in range(nodes.shape[1])], axis=1)
        return self._aggregate(values)


class PrecisionMetric(InformationLoss):
    """Precision: level/height per generalized cell (g_f-weighted), s_f per suppressed cell."""

    name = "precision"

    def evaluate(self, ev: Evaluation) -> float:
        sizes = ev.table.sizes
        kept, suppressed = sizes[~ev.outlier].sum(), sizes[ev.outlier].sum()
        values = [
            floor10((kept * (lv / qi.height) * self.g_f + suppressed * self.s_f) / self.n)
            for qi, lv in zip(self.encoded.qis, ev.levels, strict=True)
        ]
        return float(np.mean(values))

    def lower_bounds(self, nodes: np.ndarray) -> np.ndarray:
        heights = np.array([qi.height for qi in self.encoded.qis], dtype=float)
        per_qi = np.minimum(self.g_f * nodes / heights, self.s_f)
        return floor10(per_qi).mean(axis=1)


class HeightMetric(InformationLoss):
    """Height: the sum of the generalization levels (independent of the data)."""

    name = "height"
    ignores_suppression = True

    def evaluate(self, ev: Evaluation) -> float:
        return float(sum(ev.levels))

    def lower_bounds(self, nodes: np.ndarray) -> np.ndarray:
        return nodes.sum(axis=1).astype(float)


class DiscernibilityMetric(InformationLoss):
    """DM = Σ|E|² + N·|E| per suppressed class; DM* (monotonic) = Σ|E|² ignoring suppression."""

    name = "discernibility"

    def __init__(self, encoded: EncodedData, config: MetricConfig) -> None:
        super().__init__(encoded, config)
        self.ignores_suppression = config.params.monotonic

    def evaluate(self, ev: Evaluation) -> float:
        sizes = ev.table.sizes.astype(float)
        if self.ignores_suppression:
            return float((sizes**2).sum())
        return float((sizes[~ev.outlier] ** 2).sum() + self.n * sizes[ev.outlier].sum())

    def generalization_bound(self, ev: Evaluation) -> float:
        # Σ|E|² only grows when classes merge, and N·|E| ≥ |E|² for suppressed ones
        return float((ev.table.sizes.astype(float) ** 2).sum())


class AECSMetric(InformationLoss):
    """Average equivalence class size; suppressed records count as one class."""

    name = "aecs"

    def evaluate(self, ev: Evaluation) -> float:
        sizes = ev.table.sizes
        classes = int(((~ev.outlier) & (sizes > 0)).sum()) + int((sizes[ev.outlier] > 0).any())
        return float(self.n / max(classes, 1))

    def generalization_bound(self, ev: Evaluation) -> float:
        # generalizing merges classes and suppressing joins them into one: never more classes than here
        return float(self.n / max(int((ev.table.sizes > 0).sum()), 1))

    def lower_bounds(self, nodes: np.ndarray) -> np.ndarray:
        # no more classes than distinct input rows, nor than the product of the values present per QI
        present = [
            np.array([np.unique(qi.maps[lv][self.encoded.base.qi[:, i]]).size for lv in range(qi.height + 1)])
            for i, qi in enumerate(self.encoded.qis)
        ]
        product = np.ones(len(nodes))
        for i in range(nodes.shape[1]):
            product *= present[i][nodes[:, i]]
        return self.n / np.minimum(product, float(self.encoded.base.n_rows))


class EntropyMetric(InformationLoss):
    """Non-uniform entropy: Σ −log2 P(original | generalized) per QI; the non-monotone variant adds
    the entropy of the suppressed records' values (ARX: their generalized values), weighted by s_f."""

    name = "entropy"

    def __init__(self, encoded: EncodedData, config: MetricConfig) -> None:
        super().__init__(encoded, config)
        self.ignores_suppression = config.params.monotonic
        base = encoded.base
        self.raw: list[np.ndarray] = []
        for i, qi in enumerate(encoded.qis):
            leaf_counts = np.bincount(base.qi[:, i], weights=base.counts, minlength=qi.domain_size)
            values = []
            for lv in range(qi.height + 1):
                general = np.bincount(qi.maps[lv], weights=leaf_counts, minlength=qi.sizes[lv])
                a = leaf_counts[leaf_counts > 0]
                b = general[qi.maps[lv]][leaf_counts > 0]
                values.append(float((a * np.log2(b / a)).sum()))
            self.raw.append(np.array(values))
        self.per_level = [floor10(raw) for raw in self.raw]

    def evaluate(self, ev: Evaluation) -> float:
        total = 0.0
        sizes = ev.table.sizes
        n_supp = float(sizes[ev.outlier].sum())
        for i in range(len(self.encoded.qis)):
            if self.ignores_suppression or n_supp == 0:
                total += self.per_level[i][ev.levels[i]]
                continue
            raw = float(self.raw[i][ev.levels[i]])
            codes = ev.table.codes[ev.outlier, i]
            c = np.bincount(codes, weights=sizes[ev.outlier])
            c = c[c > 0]
            raw += float((c * np.log2(n_supp / c)).sum()) * self.s_f
            total += float(floor10(raw))
        return float(total)

    def lower_bounds(self, nodes: np.ndarray) -> np.ndarray:
        return np.stack([self.per_level[i][nodes[:, i]] for i in range(nodes.shape[1])], axis=1).sum(axis=1)


class AmbiguityMetric(InformationLoss):
    """Ambiguity: Σ_E |E| · Π_i (leaves below E's value); a suppressed class counts Π_i #D_i."""

    name = "ambiguity"

    def evaluate(self, ev: Evaluation) -> float:
        product = np.ones(ev.table.n_classes)
        for i, qi in enumerate(self.encoded.qis):
            product *= qi.leaves_below[ev.levels[i]][ev.table.codes[:, i]]
        full = float(np.prod([float(qi.domain_size) for qi in self.encoded.qis]))
        product[ev.outlier] = full
        return float((ev.table.sizes * product).sum())

    def generalization_bound(self, ev: Evaluation) -> float:
        # every record's Π(leaves below its value) only grows with generalization, and ≤ Π #D_i
        product = np.ones(ev.table.n_classes)
        for i, qi in enumerate(self.encoded.qis):
            product *= qi.leaves_below[ev.levels[i]][ev.table.codes[:, i]]
        return float((ev.table.sizes * product).sum())


class KLDivergenceMetric(InformationLoss):
    """KL divergence between the input's QI distribution and the one the output implies."""

    name = "kl"
    monotone = False

    def __init__(self, encoded: EncodedData, config: MetricConfig) -> None:
        super().__init__(encoded, config)
        base = encoded.base
        tuples = pd.DataFrame(base.qi).assign(_count=base.counts).groupby(list(range(base.qi.shape[1])),
                                                                          sort=False)["_count"].sum()
        self.tuples = np.array(tuples.index.tolist(), dtype=np.int64).reshape(len(tuples), -1)
        self.tuple_counts = tuples.to_numpy(dtype=float)

    def evaluate(self, ev: Evaluation) -> float:
        qis = self.encoded.qis
        generalized = [qi.maps[lv][self.tuples[:, i]] for i, (qi, lv) in enumerate(zip(qis, ev.levels, strict=True))]
        class_index = pd.MultiIndex.from_arrays(list(ev.table.codes.T)).get_indexer(
            pd.MultiIndex.from_arrays(generalized)
        )
        keep = self.tuple_counts > 0
        sizes = ev.table.sizes[class_index].astype(float)
        below = np.ones(len(class_index))
        for i, qi in enumerate(qis):
            below *= qi.leaves_below[ev.levels[i]][generalized[i]]
        outlier = ev.outlier[class_index]
        if outlier.any():
            sizes[outlier] = float(ev.table.sizes[ev.outlier].sum())
            below[outlier] = float(np.prod([float(qi.domain_size) for qi in qis]))
        p = self.tuple_counts[keep] / self.n
        q = (sizes[keep] / self.n) / below[keep]
        return float((p * np.log2(p / q)).sum())


_METRICS: dict[str, type[InformationLoss]] = {
    cls.name: cls
    for cls in (LossMetric, PrecisionMetric, HeightMetric, DiscernibilityMetric, AECSMetric, EntropyMetric,
                AmbiguityMetric, KLDivergenceMetric)
}


def build_metric(encoded: EncodedData, config: MetricConfig) -> InformationLoss:
    return _METRICS[config.name](encoded, config)
