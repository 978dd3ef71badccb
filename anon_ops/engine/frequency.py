"""Frequency sets: the distinct combinations of integer-coded columns with their record counts.

The search never touches the rows again once the input is reduced to its frequency set; checking a
transformation means generalizing the codes of that (small) set and merging equal combinations —
which is also what rolling up from a more specific, already-grouped transformation does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

_INT64_SAFE = 2**62
_BINCOUNT_LIMIT = 1 << 16


@dataclass(frozen=True)
class Grouping:
    """Result of grouping rows by a key: group id per row, number of groups, one row per group."""

    inverse: np.ndarray
    n_groups: int
    representative: np.ndarray


def group_codes(columns: np.ndarray, radices: np.ndarray | list[int]) -> Grouping:
    """Group the rows of an int matrix (rows × columns, column j in 0..radices[j]-1).

    Mixed-radix keys make one integer per row; small key spaces are counted with ``bincount``,
    large ones with a hash factorization — both linear in the number of rows.
    """
    n_rows = columns.shape[0]
    if n_rows == 0:
        empty = np.zeros(0, dtype=np.int64)
        return Grouping(empty, 0, empty)
    key, space = _mixed_radix_key(columns, radices)
    if space <= max(_BINCOUNT_LIMIT, 2 * n_rows):
        present = np.zeros(space, dtype=bool)
        present[key] = True
        ids = np.cumsum(present) - 1
        inverse = ids[key]
        n_groups = int(ids[-1]) + 1
    else:
        inverse, uniques = pd.factorize(key, sort=False)
        inverse = inverse.astype(np.int64, copy=False)
        n_groups = len(uniques)
    representative = np.empty(n_groups, dtype=np.int64)
    representative[inverse] = np.arange(n_rows, dtype=np.int64)
    return Grouping(inverse, n_groups, representative)


def _mixed_radix_key(columns: np.ndarray, radices: np.ndarray | list[int]) -> tuple[np.ndarray, int]:
    """One int64 per row; columns are re-coded pairwise when the product of radices would overflow."""
    sizes = [int(r) for r in radices]
    if math.prod(sizes) < _INT64_SAFE:  # the common case: one fused multiply-add over all columns
        strides = np.array([math.prod(sizes[j + 1:]) for j in range(len(sizes))], dtype=np.int64)
        return columns.astype(np.int64, copy=False) @ strides, math.prod(sizes)
    key = columns[:, 0].astype(np.int64)
    space = int(radices[0])
    for j in range(1, columns.shape[1]):
        radix = int(radices[j])
        if space * radix >= _INT64_SAFE:
            key, uniques = pd.factorize(key, sort=False)
            key = key.astype(np.int64, copy=False)
            space = max(len(uniques), 1)
        key = key * radix + columns[:, j]
        space *= radix
    return key, space


@dataclass(frozen=True)
class FrequencySet:
    """Distinct combinations of QI codes (at some generalization) and extra codes, with counts.

    ``qi``: (rows, q) codes of the quasi-identifiers at ``levels``; ``extra``: (rows, e) codes of
    sensitive attributes kept alongside; ``counts``: records per row (records of the research
    subset when δ-presence is used); ``pcounts``: records of the population table (δ-presence only).
    """

    levels: tuple[int, ...]
    qi: np.ndarray
    extra: np.ndarray
    counts: np.ndarray
    pcounts: np.ndarray | None

    @property
    def n_rows(self) -> int:
        return int(self.counts.shape[0])


def aggregate(
    levels: tuple[int, ...],
    qi: np.ndarray,
    extra: np.ndarray,
    counts: np.ndarray,
    pcounts: np.ndarray | None,
    qi_radices: list[int],
    extra_radices: list[int],
) -> tuple[FrequencySet, np.ndarray]:
    """Merge equal rows of (qi, extra), summing counts; returns the set and each input row's group."""
    columns = np.concatenate([qi, extra], axis=1) if extra.shape[1] else qi
    grouping = group_codes(columns, list(qi_radices) + list(extra_radices))
    summed = np.bincount(grouping.inverse, weights=counts, minlength=grouping.n_groups).astype(np.int64)
    psummed = None
    if pcounts is not None:
        psummed = np.bincount(grouping.inverse, weights=pcounts, minlength=grouping.n_groups).astype(np.int64)
    rep = grouping.representative
    merged = FrequencySet(levels, qi[rep], extra[rep], summed, psummed)
    return merged, grouping.inverse
