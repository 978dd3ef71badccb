"""Utility statistics of a published table (metrics.md, "Utility statistics"): each in [0, 1],
1 − (loss − min) / (max − min) of a loss measured on the output; column-wise losses are averaged
over the QIs before normalizing. Also the exploratory statistics (per-attribute distributions)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from anon_ops.engine.criteria import ClassTable
from anon_ops.engine.encoding import EncodedData

_TOP_VALUES = 30


def _normalized(loss: float, minimum: float, maximum: float) -> float:
    if maximum - minimum <= 0:
        return 1.0
    return float(min(1.0, max(0.0, 1.0 - (loss - minimum) / (maximum - minimum))))


def utility_statistics(
    encoded: EncodedData,
    levels: tuple[int, ...],
    table: ClassTable,
    suppressed: np.ndarray,
    base_class: np.ndarray,
) -> dict[str, float]:
    """Utility of the output of transformation ``levels``.

    ``table``: its classes (built from the base frequency set); ``suppressed``: per class, True when
    its records are suppressed in the output; ``base_class``: class of each base frequency-set row.
    """
    qis = encoded.qis
    base = encoded.base
    n = float(encoded.n_records)
    if n == 0 or not qis:
        return {k: 1.0 for k in ("granularity", "generalization_intensity", "non_uniform_entropy",
                                 "discernibility", "aecs", "ambiguity")}
    sizes = table.sizes.astype(float)
    kept_sizes = sizes[~suppressed]
    n_supp = float(sizes[suppressed].sum())
    n_kept = n - n_supp

    intensity = np.mean([(n_kept * lv / qi.height + n_supp) / n for qi, lv in zip(qis, levels, strict=True)])
    granularity_loss = np.mean([
        ((kept_sizes * qi.shares[lv][table.codes[~suppressed, i]]).sum() + n_supp) / n
        for i, (qi, lv) in enumerate(zip(qis, levels, strict=True))
    ])
    granularity_min = float(np.mean([1.0 / qi.domain_size for qi in qis]))

    row_suppressed = suppressed[base_class]
    entropy_losses, entropy_maxima = [], []
    for i, (qi, lv) in enumerate(zip(qis, levels, strict=True)):
        leaf = base.qi[:, i].astype(np.int64)
        out = np.where(row_suppressed, qi.sizes[lv], qi.maps[lv][leaf]).astype(np.int64)
        pair = pd.DataFrame({"leaf": leaf, "out": out, "c": base.counts})
        pair_counts = pair.groupby(["out", "leaf"], sort=False)["c"].sum()
        out_counts = pair.groupby("out", sort=False)["c"].sum()
        c = pair_counts.to_numpy(dtype=float)
        totals = out_counts.reindex(pair_counts.index.get_level_values("out")).to_numpy(dtype=float)
        keep = c > 0
        entropy_losses.append(float((c[keep] * np.log2(totals[keep] / c[keep])).sum()))
        leaf_counts = pair.groupby("leaf", sort=False)["c"].sum().to_numpy(dtype=float)
        leaf_counts = leaf_counts[leaf_counts > 0]
        entropy_maxima.append(float((leaf_counts * np.log2(n / leaf_counts)).sum()))

    input_classes = ClassTable.from_frequency_set(base, encoded.radices(base.levels)) if base.extra.shape[1] \
        else None
    input_sizes = (input_classes.sizes if input_classes is not None else base.counts).astype(float)
    input_sizes = input_sizes[input_sizes > 0]
    dm = float((kept_sizes**2).sum() + n * n_supp)
    kept_classes = int((kept_sizes > 0).sum()) + int(n_supp > 0)
    aecs = n / max(kept_classes, 1)
    product = np.ones(table.n_classes)
    for i, (qi, lv) in enumerate(zip(qis, levels, strict=True)):
        product *= qi.leaves_below[lv][table.codes[:, i]]
    full = float(np.prod([float(qi.domain_size) for qi in qis]))
    ambiguity = float((kept_sizes * product[~suppressed]).sum() + n_supp * full)
    return {
        "granularity": _normalized(float(granularity_loss), granularity_min, 1.0),
        "generalization_intensity": _normalized(float(intensity), 0.0, 1.0),
        "non_uniform_entropy": _normalized(float(np.mean(entropy_losses)), 0.0, float(np.mean(entropy_maxima))),
        "discernibility": _normalized(dm, float((input_sizes**2).sum()), n * n),
        "aecs": _normalized(aecs, n / len(input_sizes), n),
        "ambiguity": _normalized(ambiguity, n, n * full),
    }


def distribution(values: pd.Series, min_count: int = 1) -> dict[str, object]:
    """Distribution of one attribute: the most frequent values (those seen fewer than ``min_count``
    times are folded into 'other', so rare — identifying — values are not listed), and a numeric
    summary (from the distinct values and their counts) when the values are numbers."""
    counts = values.value_counts(sort=True, dropna=False)
    labels = ["" if pd.isna(k) else str(k) for k in counts.index]
    frequencies = counts.to_numpy(dtype=np.int64)
    listed = np.flatnonzero(frequencies >= min_count)[:_TOP_VALUES]
    result: dict[str, object] = {
        "count": len(values),
        "distinct": len(counts),
        "values": {labels[i]: int(frequencies[i]) for i in listed},
        "other": int(len(values) - frequencies[listed].sum()),
    }
    if len(values) and not pd.api.types.is_bool_dtype(values):
        numbers = pd.to_numeric(pd.Series(labels, dtype=object), errors="coerce").to_numpy(dtype=float)
        numeric = ~np.isnan(numbers)
        if frequencies[numeric].sum() > 0.95 * len(values):
            result["numeric"] = _weighted_summary(numbers[numeric], frequencies[numeric])
    return result


def _weighted_summary(numbers: np.ndarray, weights: np.ndarray) -> dict[str, float]:
    order = np.argsort(numbers)
    numbers, weights = numbers[order], weights[order].astype(float)
    cumulative = np.cumsum(weights) / weights.sum()
    mean = float(np.average(numbers, weights=weights))
    summary = {"min": float(numbers[0]), "max": float(numbers[-1]), "mean": mean,
               "std": float(np.sqrt(np.average((numbers - mean) ** 2, weights=weights)))}
    for name, q in (("25%", 0.25), ("50%", 0.5), ("75%", 0.75)):
        summary[name] = float(numbers[min(np.searchsorted(cumulative, q), len(numbers) - 1)])
    return summary
