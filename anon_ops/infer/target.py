"""How well a table still predicts a target variable: accuracy of a small classifier (metrics.md).

The classifier is a categorical naive Bayes with Laplace smoothing, in numpy: every feature is
taken as categories (its canonical text), which is exactly what a generalized value is ('[20, 30)',
'1234*', '*'), so input and output are measured the same way. It is deliberately simple: the point
is to compare the input with candidate outputs, not to build a good model, and it trains in one pass
over the rows. The train/test split is a fixed-seed permutation of the row positions, so an output
whose rows are aligned with the input (not shuffled) is split into the same records.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from anon_ops.engine.hierarchy import values_as_text
from anon_ops.errors import DataError

__all__ = ["majority_accuracy", "mutual_information", "target_accuracy", "target_classes"]

TEST_SHARE = 0.3
SEED = 0
_MAX_CLASSES = 10  # a numeric target with more distinct values is measured in quartile classes


def target_classes(train: pd.Series, *others: pd.Series) -> list[np.ndarray]:
    """Class labels (as text) of the target in `train` and in each of `others`: its values, or
    quartiles of the training values when the target is numeric with many values (a classifier
    cannot learn thousands of distinct incomes)."""
    numeric = pd.api.types.is_numeric_dtype(train.dtype) and not pd.api.types.is_bool_dtype(train.dtype)
    if numeric and train.nunique(dropna=True) > _MAX_CLASSES:
        x = pd.to_numeric(train, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        edges = np.unique(np.nanquantile(x, [0.25, 0.5, 0.75]))

        def binned(values: pd.Series) -> np.ndarray:
            v = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
            labels = np.searchsorted(edges, v, side="right").astype(str).astype(object)
            labels[np.isnan(v)] = ""
            return labels

        return [binned(s) for s in (train, *others)]
    return [values_as_text(s).to_numpy(dtype=object) for s in (train, *others)]


def _split(n: int, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    n_test = max(1, round(n * TEST_SHARE))
    return np.sort(order[n_test:]), np.sort(order[:n_test])


def _codes(train: pd.Series, test: pd.Series) -> tuple[np.ndarray, np.ndarray, int]:
    """Category codes over train and test together (a value only seen in test gets a code with no counts)."""
    both = np.concatenate([values_as_text(train).to_numpy(dtype=object), values_as_text(test).to_numpy(dtype=object)])
    codes, uniques = pd.factorize(both)
    return codes[: len(train)], codes[len(train):], len(uniques)


def target_accuracy(
    train_df: pd.DataFrame,
    features: list[str],
    target: str,
    test_df: pd.DataFrame | None = None,
    alpha: float = 1.0,
) -> float:
    """Accuracy of a categorical naive Bayes predicting `target` from `features`.

    Without `test_df`, `train_df` is split: a fixed-seed 30 % of its rows are the test set.
    """
    missing = [c for c in [*features, target] if c not in train_df.columns]
    if missing:
        raise DataError(f"target accuracy: column(s) {missing} not in the data")
    if test_df is None:
        if len(train_df) < 2:
            raise DataError("target accuracy: at least 2 rows are needed to split into train and test")
        train_rows, test_rows = _split(len(train_df))
        test_df = train_df.iloc[test_rows]
        train_df = train_df.iloc[train_rows]
    y_train_text, y_test_text = target_classes(train_df[target], test_df[target])
    y_train, classes = pd.factorize(y_train_text)
    n_classes = len(classes)
    class_index = {c: i for i, c in enumerate(classes)}
    y_test = np.array([class_index.get(c, -1) for c in y_test_text])
    class_counts = np.bincount(y_train, minlength=n_classes).astype(float)
    scores = np.tile(np.log(class_counts / class_counts.sum()), (len(test_df), 1))
    for feature in features:
        x_train, x_test, n_values = _codes(train_df[feature], test_df[feature])
        joint = np.bincount(y_train * n_values + x_train, minlength=n_classes * n_values).reshape(n_classes, n_values)
        log_p = np.log((joint + alpha) / (class_counts[:, None] + alpha * n_values))
        scores += log_p[:, x_test].T
    predicted = scores.argmax(axis=1)
    return float(np.mean(predicted == y_test))


def majority_accuracy(train_df: pd.DataFrame, target: str) -> float:
    """Accuracy of always predicting the most frequent class (on the same split): the floor to compare with."""
    if len(train_df) < 2:
        raise DataError("target accuracy: at least 2 rows are needed to split into train and test")
    train_rows, test_rows = _split(len(train_df))
    y_train, y_test = target_classes(train_df[target].iloc[train_rows], train_df[target].iloc[test_rows])
    values, counts = np.unique(y_train.astype(str), return_counts=True)
    return float(np.mean(y_test.astype(str) == values[counts.argmax()]))


def mutual_information(feature: pd.Series, target: pd.Series) -> float:
    """I(feature; target) in bits, both taken as categories: how much a QI tells about the target."""
    x, _ = pd.factorize(values_as_text(feature).to_numpy(dtype=object))
    y, _ = pd.factorize(target_classes(target)[0])
    joint = pd.crosstab(x, y).to_numpy(dtype=float)
    p = joint / joint.sum()
    px, py = p.sum(axis=1, keepdims=True), p.sum(axis=0, keepdims=True)
    nonzero = p > 0
    return float((p[nonzero] * np.log2(p[nonzero] / (px @ py)[nonzero])).sum())
