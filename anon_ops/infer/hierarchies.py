"""Hierarchy specifications for a column, chosen by its domain — as the configuration's own models.

The specs are the ones a person would write (``interval`` with nice widths, ``date`` with the
detected format, ``masking``, an inline ``tree``), so the inferred configuration stays readable and
editable. Every spec is built once against the data (`build_hierarchy`) before it is returned: a
spec that cannot cover the data (an unparseable date, a value an interval cannot place) falls back
to frequency grouping, so the configuration runs without edits.

* numbers (age, measures) → ``interval``: the finest width is a "nice" 1, 2 or 5 × 10^n so the
  central 98 % of the values fall into about 15 bins (30 fine, 8 coarse), doubling per level while
  more than one bin is left; the bins start at a multiple of the widest width;
* dates, dates of birth → ``date`` (month, year, decade; year, decade when coarse) with the format;
* zip codes, codes, phone-like values → ``masking`` of the rightmost characters;
* categoricals, gender, places → ``tree`` by frequency: values seen fewer than max(k, 1 % of the
  rows) times become ``Other``, then those under 5 % (levels that change nothing are left out);
* countries → ``tree``: frequent countries, the rest by continent; then the continent; then ``*``.

A column with missing values gets its interval or date hierarchy written out as a ``tree`` with a
leaf ``''`` (those hierarchy types cannot place a missing value).
"""

from __future__ import annotations

import logging
import math
from typing import Literal

import numpy as np
import pandas as pd

from anon_ops.config import (
    DateHierarchy,
    DateParams,
    HierarchySpec,
    IntervalHierarchy,
    IntervalParams,
    MaskingHierarchy,
    MaskingParams,
    TreeHierarchy,
    TreeParams,
)
from anon_ops.engine.hierarchy import TOP, Hierarchy, build_hierarchy, values_as_text
from anon_ops.errors import AnonOpsError
from anon_ops.infer.domains import ColumnProfile, Domain, continent_of

__all__ = [
    "OTHER",
    "Granularity",
    "country_tree",
    "date_spec",
    "frequency_tree",
    "hierarchy_for",
    "interval_spec",
    "masking_spec",
    "masking_tree",
    "nice_number",
]

log = logging.getLogger(__name__)

Granularity = Literal["fine", "default", "coarse"]
OTHER = "Other"
"""The label rare values are grouped into."""

_TARGET_BINS: dict[str, int] = {"fine": 30, "default": 15, "coarse": 8}
_RARE_SHARES: dict[str, tuple[float, ...]] = {"fine": (0.005, 0.02), "default": (0.01, 0.05), "coarse": (0.05,)}
_DATE_LEVELS: dict[str, list[Literal["month", "year", "decade"]]] = {
    "fine": ["month", "year", "decade"], "default": ["month", "year", "decade"], "coarse": ["year", "decade"],
}
_MAX_INTERVAL_LEVELS = 6


def nice_number(x: float) -> float:
    """x rounded to 1, 2 or 5 × 10^n: bin widths a reader takes in at a glance."""
    exponent = math.floor(math.log10(x))
    fraction = x / 10.0**exponent
    step = 1 if fraction < 1.5 else 2 if fraction < 3.5 else 5 if fraction < 7.5 else 10
    return float(step * 10.0**exponent)


def interval_spec(values: pd.Series, target_bins: int = 15) -> IntervalHierarchy | None:
    """Interval widths from the distribution: ~target_bins bins over the 1st–99th percentile at level 1.

    Percentiles rather than min/max, so one outlier (an income of 10^7) does not make every bin
    hold nearly everyone. None when the column holds no numbers.
    """
    numbers = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    numbers = numbers[np.isfinite(numbers)]
    if len(numbers) == 0:
        return None
    lo, hi = float(numbers.min()), float(numbers.max())
    q_lo, q_hi = (float(q) for q in np.quantile(numbers, [0.01, 0.99]))
    if q_hi <= q_lo:
        q_lo, q_hi = lo, hi
    raw = (q_hi - q_lo) / target_bins
    width = nice_number(raw) if raw > max(abs(q_lo), abs(q_hi), 1e-300) * 1e-9 else 1.0
    if np.all(np.floor(numbers) == numbers):
        width = max(width, 1.0)
    widths = [width]
    while len(widths) < _MAX_INTERVAL_LEVELS:  # a level with one bin for all values would only repeat the top
        wider = widths[-1] * 2
        if math.floor(lo / wider) == math.floor(hi / wider):
            break
        widths.append(wider)
    widest = widths[-1]
    start = math.floor(lo / widest) * widest
    params = IntervalParams(intervals=[_tidy(w) for w in widths], start=_tidy(start) if start else None)
    return IntervalHierarchy(type="interval", params=params)


def _tidy(x: float) -> float:
    """Drop float noise (0.30000000000000004 → 0.3) so the YAML reads as written by hand."""
    return float(f"{x:.12g}")


def date_spec(date_format: str | None, granularity: Granularity = "default") -> DateHierarchy:
    """Month, year, decade (year, decade when coarse); `date_format` None for datetime columns."""
    return DateHierarchy(type="date", params=DateParams(format=date_format, levels=list(_DATE_LEVELS[granularity])))


def masking_spec() -> MaskingHierarchy:
    """Mask from the right, one character per level: 12345 → 1234* → … → *****."""
    return MaskingHierarchy(type="masking", params=MaskingParams())


def frequency_tree(values: pd.Series, k: int = 5, shares: tuple[float, ...] = (0.01, 0.05)) -> TreeHierarchy:
    """Frequent values kept, rare ones grouped into 'Other', level by level; then '*'.

    A value is rare at a level when it occurs fewer than max(k, share · rows) times: such a value
    would force its records into suppression or force the whole column to the top. Thresholds grow
    level by level, so the levels nest (a tree).
    """
    texts = values_as_text(pd.Series(values))
    counts = texts.value_counts(sort=True)
    leaves = counts.index.to_numpy(dtype=object)
    n = len(texts)
    columns: list[np.ndarray] = [leaves]
    for share in shares:
        threshold = max(k, math.ceil(share * n))
        level = np.where(counts.to_numpy() >= threshold, leaves, OTHER).astype(object)
        level[columns[-1] == OTHER] = OTHER
        if len(set(level)) > 1 and not np.array_equal(level, columns[-1]):
            columns.append(level)
    return _tree_from_columns(columns)


def country_tree(values: pd.Series, k: int = 5, share: float = 0.01) -> TreeHierarchy:
    """Frequent countries kept, rare ones replaced by their continent; then continents; then '*'.

    Unknown names go to 'Other' at the continent level, so the mapping covers every value."""
    texts = values_as_text(pd.Series(values))
    counts = texts.value_counts(sort=True)
    leaves = counts.index.to_numpy(dtype=object)
    continents = np.array([continent_of(v) or OTHER for v in leaves], dtype=object)
    threshold = max(k, math.ceil(share * len(texts)))
    mixed = np.where(counts.to_numpy() >= threshold, leaves, continents).astype(object)
    columns: list[np.ndarray] = [leaves]
    for level in (mixed, continents):
        if len(set(level)) > 1 and not np.array_equal(level, columns[-1]):
            columns.append(level)
    return _tree_from_columns(columns)


def _tree_from_columns(columns: list[np.ndarray]) -> TreeHierarchy:
    leaves = columns[0]
    mapping = {str(leaf): [*(str(c[i]) for c in columns[1:]), TOP] for i, leaf in enumerate(leaves)}
    return TreeHierarchy(type="tree", params=TreeParams(mapping=mapping))


def _tree_from_hierarchy(h: Hierarchy, missing: bool) -> TreeHierarchy:
    """A built hierarchy written out as an inline tree, with a leaf '' for missing values if asked."""
    mapping = {str(row[0]): [str(v) for v in row[1:]] for row in h.levels}
    if missing:
        mapping[""] = [""] * (h.height - 1) + [str(h.levels[0, -1])]
    return TreeHierarchy(type="tree", params=TreeParams(mapping=mapping))


def _domain_spec(profile: ColumnProfile, values: pd.Series, k: int, granularity: Granularity) -> HierarchySpec | None:
    domain = profile.domain
    if domain in (Domain.AGE, Domain.NUMERIC):
        return interval_spec(values, _TARGET_BINS[granularity])
    if domain in (Domain.DATE, Domain.DATE_OF_BIRTH):
        datetime_dtype = pd.api.types.is_datetime64_any_dtype(values.dtype)
        return date_spec(None if datetime_dtype else profile.date_format, granularity)
    if domain in (Domain.ZIP_CODE, Domain.CATEGORICAL_CODE, Domain.PHONE, Domain.NATIONAL_ID, Domain.IP_ADDRESS,
                  Domain.RECORD_ID):
        return masking_spec()
    if domain == Domain.COUNTRY:
        return country_tree(values, k, _RARE_SHARES[granularity][0])
    return frequency_tree(values, k, _RARE_SHARES[granularity])


def hierarchy_for(
    profile: ColumnProfile,
    values: pd.Series,
    k: int = 5,
    granularity: Granularity = "default",
) -> HierarchySpec:
    """The hierarchy spec of a quasi-identifier (or a sensitive attribute that needs one), checked
    against the data; frequency grouping when the domain's spec does not fit the values."""
    column = profile.name
    spec = _domain_spec(profile, values, k, granularity)
    if spec is not None and spec.type in ("interval", "date"):
        texts = values_as_text(values)
        missing = bool((texts == "").any())
        present = values[(texts != "").to_numpy()]
        try:
            h = build_hierarchy(column, spec, present)
        except (AnonOpsError, ValueError) as exc:
            log.info("column %r: the %s hierarchy does not fit its values (%s); grouping by frequency instead",
                     column, spec.type, type(exc).__name__)
            spec = None
        else:
            return _tree_from_hierarchy(h, missing) if missing else spec
    if spec is not None:
        try:
            build_hierarchy(column, spec, values)
            return spec
        except (AnonOpsError, ValueError) as exc:
            log.info("column %r: the %s hierarchy could not be built (%s); writing an equivalent tree instead",
                     column, spec.type, type(exc).__name__)
            if spec.type == "masking":
                spec = masking_tree(values)
                return _checked(column, spec, values) or _fallback(column, values, k, granularity)
    return _fallback(column, values, k, granularity)


def masking_tree(values: pd.Series, mask_char: str = "*") -> TreeHierarchy:
    """The levels of a ``masking`` hierarchy written out as an inline tree (level j masks the j
    rightmost characters; shorter values fully). Used when the engine cannot build the masking
    spec itself, so the configuration still runs and still masks."""
    leaves = sorted(set(values_as_text(pd.Series(values))))
    longest = max((len(v) for v in leaves), default=1) or 1
    columns = [np.array(leaves, dtype=object)]
    for j in range(1, longest + 1):
        columns.append(np.array([v[:-j] + mask_char * j if len(v) > j else mask_char * len(v) for v in leaves],
                                dtype=object))
    if len(set(columns[-1])) == 1:
        columns.pop()  # the fully masked level is the top
    return _tree_from_columns(columns)


def _checked(column: str, spec: HierarchySpec, values: pd.Series) -> HierarchySpec | None:
    try:
        build_hierarchy(column, spec, values)
    except (AnonOpsError, ValueError) as exc:
        log.info("column %r: the %s hierarchy could not be built (%s)", column, spec.type, type(exc).__name__)
        return None
    return spec


def _fallback(column: str, values: pd.Series, k: int, granularity: Granularity) -> TreeHierarchy:
    """Frequency grouping: it covers any value, so the configuration always runs."""
    spec = frequency_tree(values, k, _RARE_SHARES[granularity])
    build_hierarchy(column, spec, values)
    return spec
