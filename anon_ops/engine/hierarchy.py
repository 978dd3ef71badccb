"""Generalization hierarchies: what each value of a quasi-identifier becomes at each level.

A hierarchy is a table with one row per leaf (an original value): column 0 holds the leaf, column
``l`` its generalization at level ``l``, the last column the top (usually ``*``). That is ARX's CSV
layout, the layout of metrics.md, and the only form the engine sees: ``file`` hierarchies are read
as they are, ``tree`` mappings are written out, and ``interval``, ``masking``, ``date`` and ``auto``
hierarchies are generated from the distinct values of the data (as text, see `values_as_text`),
so their domain size is the number of distinct values that occur.

Every `Hierarchy` is validated on construction (distinct leaves, a tree with a single top, height
≥ 1): an invalid one cannot reach the engine. Structural problems are `ConfigError` (the
configuration or the file it names is wrong); problems with data values — non-numeric values for an
interval, unparseable dates, missing values, values a hierarchy does not cover — are `DataError`.
The engine encodes data as integers with `leaf_codes`, `lookup_tables` and `level_labels`.
"""

from __future__ import annotations

import csv
import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from anon_ops.config import (
    AutoHierarchy,
    DateHierarchy,
    DateParams,
    FileHierarchy,
    HierarchySpec,
    IntervalHierarchy,
    IntervalParams,
    MaskingHierarchy,
    MaskingParams,
    TreeHierarchy,
)
from anon_ops.errors import ConfigError, DataError

__all__ = [
    "TOP",
    "Hierarchy",
    "build_hierarchy",
    "leaf_codes",
    "level_labels",
    "lookup_tables",
    "read_hierarchy_file",
    "values_as_text",
]

TOP = "*"
"""The default top value of generated hierarchies."""

_SHOWN = 5  # how many offending values an error message lists
_AUTO_TARGET_BINS = 20  # auto: the finest interval level aims at about this many bins over the range
_AUTO_MAX_MASK_LENGTH = 12  # auto: longest code that is still masked rather than flattened


# --------------------------------------------------------------------------- the table
@dataclass(frozen=True, eq=False)
class Hierarchy:
    """One row per leaf value; column l holds the value at generalization level l; last column the top.

    ``levels`` is copied into a read-only 2-D object array of str, so a hierarchy cannot change
    after it was validated. Equality is identity (``eq=False``): comparing arrays element-wise
    would make ``==`` ambiguous; compare ``levels`` explicitly when needed.
    """

    column: str
    levels: np.ndarray

    def __post_init__(self) -> None:
        try:
            levels = np.array(self.levels, dtype=object)  # a copy: the caller's array stays theirs
        except ValueError as exc:
            raise ConfigError(f"hierarchy of {self.column!r}: not a table ({exc})") from None
        _check_shape(self.column, levels)
        levels.setflags(write=False)
        object.__setattr__(self, "levels", levels)
        _check_tree(self.column, levels)

    @property
    def height(self) -> int:
        """Number of levels above the leaves (number of columns - 1)."""
        return int(self.levels.shape[1]) - 1

    @property
    def leaves(self) -> np.ndarray:
        """The leaf values (column 0), in table order."""
        return self.levels[:, 0]

    @property
    def domain_size(self) -> int:
        """Number of leaves (rows), NOT the number of values occurring in data — as ARX counts #D."""
        return int(self.levels.shape[0])

    def __repr__(self) -> str:
        return f"Hierarchy(column={self.column!r}, leaves={self.domain_size}, height={self.height})"


def _check_shape(column: str, levels: np.ndarray) -> None:
    where = f"hierarchy of {column!r}"
    if levels.ndim != 2:
        raise ConfigError(f"{where}: expected a table of rows of equal length, got {levels.ndim} dimension(s)")
    if levels.shape[0] == 0:
        raise ConfigError(f"{where}: no leaves")
    if levels.shape[1] < 2:
        raise ConfigError(f"{where}: height 0 (only the leaves); a hierarchy needs at least one level above them")
    if pd.api.types.infer_dtype(levels.ravel(), skipna=False) != "string":
        row, col = next((r, c) for (r, c), v in np.ndenumerate(levels) if not isinstance(v, str))
        raise ConfigError(f"{where}: row {row + 1}, level {col}: {levels[row, col]!r} is not a string")


def _check_tree(column: str, levels: np.ndarray) -> None:
    """Distinct leaves, each value with one parent, one top: what share, codes and suppression rely on."""
    where = f"hierarchy of {column!r}"
    coded = [_factorize(levels[:, level]) for level in range(levels.shape[1])]
    leaf_codes_, leaves = coded[0]
    if len(leaves) < len(leaf_codes_):
        first_row = np.unique(leaf_codes_, return_index=True)[1]  # per code, the row it first occurs in
        row = int(np.flatnonzero(first_row[leaf_codes_] != np.arange(len(leaf_codes_)))[0])
        first, value = int(first_row[leaf_codes_[row]]), leaves[leaf_codes_[row]]
        raise ConfigError(f"{where}: leaf {value!r} occurs more than once (rows {first + 1} and {row + 1})")
    for level in range(levels.shape[1] - 1):
        (child, children), (parent, parents) = coded[level], coded[level + 1]
        pairs = np.unique(child.astype(np.int64) * len(parents) + parent)
        clash = np.flatnonzero(np.bincount(pairs // len(parents), minlength=len(children)) > 1)
        if len(clash):
            value = children[clash[0]]
            first, second = (parents[p] for p in pairs[pairs // len(parents) == clash[0]][:2] % len(parents))
            raise ConfigError(
                f"{where}: value {value!r} at level {level} generalizes to both {first!r} and {second!r} "
                f"at level {level + 1}; a hierarchy must be a tree"
            )
    tops = coded[-1][1]
    if len(tops) > 1:
        raise ConfigError(
            f"{where}: the top level {levels.shape[1] - 1} holds {len(tops)} values ({_show(tops)}); "
            "it must be one value such as '*'"
        )


# --------------------------------------------------------------------------- integer encoding
def lookup_tables(h: Hierarchy) -> list[np.ndarray]:
    """Per level l, an int32 array: leaf index -> code of its level-l value.

    Codes run 0..m_l-1 in order of first appearance, so level 0 is the identity (leaves are distinct).
    """
    return [_factorize(h.levels[:, level])[0].astype(np.int32) for level in range(h.height + 1)]


def level_labels(h: Hierarchy) -> list[np.ndarray]:
    """Per level l, the object array of value labels; entry c is the label of code c of `lookup_tables`."""
    return [_factorize(h.levels[:, level])[1] for level in range(h.height + 1)]


def leaf_codes(h: Hierarchy, values: pd.Series) -> np.ndarray:
    """The leaf index (int32) of every data value; DataError naming the column and values it does not cover.

    Works on the distinct values only, so it stays fast on long columns.
    """
    codes, texts = _factorized_text(_as_series(values))
    index_of = pd.Index(h.leaves).get_indexer(np.append(texts, ""))  # the last slot: missing values
    uncovered = index_of < 0
    if not (codes < 0).any():
        uncovered[-1] = False
    if uncovered.any():
        raise _uncovered(h.column, np.append(texts, "")[uncovered], "its hierarchy")
    return index_of.astype(np.int32)[codes]


def _uncovered(column: str, texts: Sequence[str] | np.ndarray, origin: str) -> DataError:
    texts = list(texts)
    hint = " (missing values are ''; fill them or add a leaf '')" if "" in texts else ""
    return DataError(f"column {column!r}: {len(texts)} value(s) not covered by {origin}: {_show(texts)}{hint}")


def _show(values: Sequence[Any] | np.ndarray) -> str:
    values = list(values)
    shown = ", ".join(repr(v) for v in values[:_SHOWN])
    return shown + (f", … ({len(values) - _SHOWN} more)" if len(values) > _SHOWN else "")


# --------------------------------------------------------------------------- values as text
def values_as_text(values: pd.Series) -> pd.Series:
    """Canonical text of data values, so that data read with any dtype matches hierarchy leaves.

    str stays as it is; ints -> '39'; bools -> 'True'/'False'; whole floats -> '39', other floats
    their shortest repr ('0.5', '1e-07'); datetimes/dates -> ISO 'YYYY-MM-DD', with ' HH:MM:SS[.ffffff]'
    (and the UTC offset of aware values) only when the time is not midnight; missing values
    (NaN/None/NaT/NA) -> ''. Each distinct value is converted once. In an object column, values
    Python considers equal (1, 1.0, True) are one value and take the text of the first seen.
    """
    values = _as_series(values)
    codes, texts = _factorized_text(values)
    out = np.append(texts, "")[codes]  # code -1 (missing) picks the trailing ''
    return pd.Series(out, index=values.index, name=values.name, dtype=object)


def _as_series(values: Any) -> pd.Series:
    return values if isinstance(values, pd.Series) else pd.Series(values, dtype=object)


def _factorized_text(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(codes, text of each unique value); code -1 marks a missing value."""
    codes, uniques = _factorize(values)
    return codes, _texts_of(uniques)


def _factorize(values: pd.Series | np.ndarray) -> tuple[np.ndarray, Any]:
    """pd.factorize (code -1 = missing), but exact for strings holding NUL characters.

    pandas < 3.1 hashes all-str columns as C strings, so 'a' and 'a\\x00b' become one value
    (pandas-dev/pandas#34551). Such a merge needs a NUL in the unique, or a value longer than its
    unique; both are checked (one pass of len(), far cheaper than comparing every value), and only
    then do we factorize again with a Python dict.
    """
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    distinct = np.asarray(uniques)
    if distinct.dtype != object or pd.api.types.infer_dtype(distinct, skipna=False) != "string":
        return codes, uniques  # numbers, dates, mixed objects: hashed exactly
    raw = np.asarray(values, dtype=object)
    present = codes >= 0
    if not any("\x00" in text for text in distinct):
        shown = raw if present.all() else raw[present]
        lengths = np.fromiter(map(len, shown), dtype=np.int64, count=len(shown))
        unique_lengths = np.fromiter(map(len, distinct), dtype=np.int64, count=len(distinct))
        if (lengths == unique_lengths[codes[present]]).all():
            return codes, uniques
    index: dict[Any, int] = {}
    codes = np.full(len(raw), -1, dtype=np.intp)
    for i in np.flatnonzero(present):
        codes[i] = index.setdefault(raw[i], len(index))
    exact = np.empty(len(index), dtype=object)
    exact[:] = list(index)
    return codes, exact


def _texts_of(uniques: Any) -> np.ndarray:
    """Canonical text of non-missing unique values, vectorized for the common dtypes."""
    arr = np.asarray(uniques)
    kind = arr.dtype.kind
    if kind in "US":
        return arr.astype(str).astype(object)
    if kind in "iu":
        return arr.astype(str).astype(object)
    if kind == "b":
        return np.where(arr, "True", "False").astype(object)
    if kind == "f":
        out = arr.astype(str).astype(object)  # numpy prints the shortest repr, as Python does
        whole = np.isfinite(arr) & (np.floor(arr) == arr) & (np.abs(arr) < 2.0**63)
        out[whole] = arr[whole].astype(np.int64).astype(str).astype(object)
        return out
    if kind == "O" and pd.api.types.infer_dtype(arr, skipna=False) == "string":
        return arr
    if kind == "M":
        arr = np.asarray(pd.DatetimeIndex(arr), dtype=object)  # Timestamps
    elif kind == "m":
        arr = np.asarray(pd.TimedeltaIndex(arr), dtype=object)  # Timedeltas, not integer nanoseconds
    return np.array([_scalar_text(v) for v in arr], dtype=object)


def _scalar_text(v: Any) -> str:
    """The canonical text of one value (see `values_as_text`)."""
    if isinstance(v, str):
        return v
    if v is None or v is pd.NaT or v is pd.NA:
        return ""
    if isinstance(v, bool | np.bool_):
        return "True" if v else "False"
    if isinstance(v, numbers.Integral):
        return str(int(v))
    if isinstance(v, float | np.floating):
        if math.isnan(v):
            return ""
        f = float(v)
        return str(int(f)) if f.is_integer() and abs(f) < 2.0**63 else str(v)  # as the vectorized path
    if isinstance(v, Decimal):
        if v.is_nan():
            return ""
        if v.is_finite() and v == v.to_integral_value():
            return str(int(v))
        return format(v.normalize(), "f") if v.is_finite() else str(v)
    if isinstance(v, np.datetime64):
        v = pd.Timestamp(v)
        if v is pd.NaT:
            return ""
    if isinstance(v, datetime):
        midnight = (v.hour, v.minute, v.second, v.microsecond, getattr(v, "nanosecond", 0)) == (0, 0, 0, 0, 0)
        return f"{v.year:04d}-{v.month:02d}-{v.day:02d}" if midnight else v.isoformat(sep=" ")
    if isinstance(v, date):
        return v.isoformat()
    return str(v)


def _distinct_texts(values: pd.Series) -> tuple[np.ndarray, str]:
    """Distinct canonical texts ('' for missing values, if any) and pandas' inferred kind of the values."""
    codes, uniques = _factorize(values)
    texts = _texts_of(uniques)
    if (codes < 0).any():
        texts = np.append(texts, "")
    kind = pd.api.types.infer_dtype(np.asarray(uniques), skipna=True) if len(uniques) else "empty"
    return np.asarray(_factorize(texts)[1], dtype=object), kind  # 1 and '1' have one text


# --------------------------------------------------------------------------- building
def build_hierarchy(
    column: str,
    spec: HierarchySpec,
    values: pd.Series | None,
    resolve_path: Callable[[str], str] = str,
) -> Hierarchy:
    """Build (or load) the hierarchy of one attribute.

    `values` is the column's data (any dtype). Generated hierarchies (interval, masking, date, auto)
    take their leaves from its distinct values, as text (`values_as_text`); a file or tree hierarchy
    must cover every value, or a DataError names the ones it misses. Only the distinct values
    matter: the column is read once, the rest of the work is per distinct value. For file and tree
    hierarchies `values` may be None, which skips the coverage check. `resolve_path` maps a file
    name of the configuration to a path (``JobConfig.resolve_path``).
    """
    if isinstance(spec, FileHierarchy):
        path = resolve_path(spec.name)
        h = read_hierarchy_file(column, path, spec.props.sep, spec.props.encoding)
        _check_covers(h, values, f"hierarchy file {path}")
        return h
    if isinstance(spec, TreeHierarchy):
        h = _tree_hierarchy(column, spec.params.mapping)
        _check_covers(h, values, "its tree mapping (params.mapping)")
        return h
    if values is None:
        raise DataError(f"column {column!r}: a {spec.type} hierarchy is built from the data, but none was given")
    values = _as_series(values)
    texts, kind = _distinct_texts(values)
    if len(texts) == 0:
        raise DataError(f"column {column!r}: no values to build a {spec.type} hierarchy from")
    if isinstance(spec, IntervalHierarchy):
        return _interval_hierarchy(column, texts, spec.params)
    if isinstance(spec, MaskingHierarchy):
        return _masking_hierarchy(column, texts, spec.params)
    if isinstance(spec, DateHierarchy):
        return _date_hierarchy(column, texts, spec.params, iso=_is_datetime_kind(values, kind))
    if isinstance(spec, AutoHierarchy):
        return _auto_hierarchy(column, texts, kind, values, spec.params.max_levels)
    raise ConfigError(f"hierarchy of {column!r}: unknown hierarchy type {getattr(spec, 'type', spec)!r}")


def _check_covers(h: Hierarchy, values: pd.Series | None, origin: str) -> None:
    if values is None:
        return
    texts, _ = _distinct_texts(_as_series(values))
    missing = texts[pd.Index(h.leaves).get_indexer(texts) < 0]
    if len(missing):
        raise _uncovered(h.column, missing, origin)


def _from_columns(column: str, columns: list[np.ndarray]) -> Hierarchy:
    return Hierarchy(column, np.column_stack([np.asarray(c, dtype=object) for c in columns]))


def _refuse_missing(column: str, texts: np.ndarray, kind: str) -> None:
    if (texts == "").any():
        raise DataError(
            f"column {column!r} has missing values, which a(n) {kind} hierarchy cannot place; "
            "fill them, or use a file or tree hierarchy that covers '' (the missing value)"
        )


# --------------------------------------------------------------------------- file
def read_hierarchy_file(column: str, path: str, sep: str = ";", encoding: str = "utf-8") -> Hierarchy:
    """Read an ARX hierarchy CSV: no header, one row per leaf ``leaf;level1;…;top``, rows in file order.

    Line ends are stripped of CR and whitespace, blank lines are skipped, a leading BOM is dropped,
    and fields may be quoted with ``"`` (when `sep` is one character). Every row must have the same
    number of fields; errors name the file and line. URLs (``s3://…``) are opened with fsspec.
    """
    where = f"hierarchy file {path} (column {column!r})"
    text = _read_text(path, encoding, where).removeprefix("\ufeff")
    trailing = "".join(c for c in " \t\r\f\v" if c != sep)
    numbered = [(n, line.rstrip(trailing)) for n, line in enumerate(text.split("\n"), start=1)]
    numbered = [(n, line) for n, line in numbered if line.strip()]
    if not numbered:
        raise ConfigError(f"{where}: the file is empty")
    lines = [line for _, line in numbered]
    if len(sep) == 1:
        try:
            rows = list(csv.reader(lines, delimiter=sep, quotechar='"'))
        except csv.Error as exc:
            raise ConfigError(f"{where}: not readable as CSV ({exc})") from None
        if len(rows) != len(lines):
            raise ConfigError(f"{where}: a quoted field is not closed on its line")
    else:
        rows = [line.split(sep) for line in lines]
    width = len(rows[0])
    for (n, _), row in zip(numbered, rows, strict=True):
        if len(row) != width:
            raise ConfigError(
                f"{where}, line {n}: {len(row)} field(s), expected {width} as on line {numbered[0][0]} "
                f"(separator {sep!r})"
            )
    if width < 2:
        raise ConfigError(
            f"{where}: one field per line (separator {sep!r}); rows must be leaf{sep}level1{sep}…{sep}top"
        )
    try:
        return Hierarchy(column, np.array(rows, dtype=object))
    except ConfigError as exc:
        raise ConfigError(f"{where}: {str(exc).removeprefix(f'hierarchy of {column!r}: ')}") from None


def _read_text(path: str, encoding: str, where: str) -> str:
    try:
        if "://" in path:
            import fsspec  # imported here: local files, the common case, do not need it

            with fsspec.open(path, "r", encoding=encoding) as f:
                return f.read()
        with open(path, encoding=encoding) as f:
            return f.read()
    except FileNotFoundError:
        raise ConfigError(f"{where}: file not found") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{where}: not {encoding} text ({exc.reason}); set props.encoding") from None
    except LookupError:
        raise ConfigError(f"{where}: unknown encoding {encoding!r} (props.encoding)") from None
    except ImportError:
        raise ConfigError(f"{where}: reading a URL needs the fsspec package") from None
    except OSError as exc:
        raise ConfigError(f"{where}: cannot be read ({exc.strerror or exc})") from None


# --------------------------------------------------------------------------- tree
def _tree_hierarchy(column: str, mapping: dict[str, list[str]]) -> Hierarchy:
    where = f"hierarchy of {column!r}: params.mapping"
    items = list(mapping.items())
    first_leaf, first = items[0]
    for leaf, generalizations in items:
        if not generalizations:
            raise ConfigError(f"{where}: leaf {leaf!r} has no generalizations; list them, top last")
        if len(generalizations) != len(first):
            raise ConfigError(
                f"{where}: leaf {leaf!r} has {len(generalizations)} level(s), "
                f"but leaf {first_leaf!r} has {len(first)}; all must have the same number"
            )
    try:
        return Hierarchy(column, np.array([[leaf, *gens] for leaf, gens in items], dtype=object))
    except ConfigError as exc:
        raise ConfigError(f"{exc} (params.mapping)") from None


# --------------------------------------------------------------------------- interval
def _interval_hierarchy(column: str, texts: np.ndarray, params: IntervalParams) -> Hierarchy:
    """Leaves sorted numerically; level l = the bin of width intervals[l-1]; then the top.

    Coarser bins are derived from the finest bin index (floor(b0 / ratio)), not from x / width,
    so float rounding can never place a value in a coarse bin that does not contain its fine bin.
    """
    _refuse_missing(column, texts, "interval")
    numbers_ = _parse_numbers(column, texts)
    order = np.lexsort((texts.astype(str), numbers_))
    texts, numbers_ = texts[order], numbers_[order]
    start = float(params.start or 0.0)
    quotient = (numbers_ - start) / params.intervals[0]
    nearest = np.round(quotient)
    # 0.3 / 0.1 = 2.9999999999999996: a value on a bin bound (within float noise) opens that bin
    finest = np.where(np.isclose(quotient, nearest, rtol=1e-9, atol=1e-9), nearest, np.floor(quotient))
    columns = [texts]
    for width in params.intervals:
        ratio = round(width / params.intervals[0])
        codes, unique_bins = pd.factorize(np.floor(finest / ratio))
        columns.append(_bin_labels(start + unique_bins * width, start + (unique_bins + 1) * width)[codes])
    columns.append(np.full(len(texts), params.top, dtype=object))
    return _from_columns(column, columns)


def _parse_numbers(column: str, texts: np.ndarray) -> np.ndarray:
    parsed = pd.to_numeric(pd.Series(texts, dtype=object), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = ~np.isfinite(parsed)
    if bad.any():
        raise DataError(
            f"column {column!r}: value {texts[bad][0]!r} is not a (finite) number; "
            "an interval hierarchy needs numeric values"
        )
    return parsed


def _bin_labels(lows: np.ndarray, highs: np.ndarray) -> np.ndarray:
    """'[lo, hi)' per bin; 12 significant digits hide float noise (0.30000000000000004), unless
    that would give two bins one label (bins tiny against their values) — then full precision."""
    for digits in (12, 17):
        labels = np.array(
            [f"[{_number_text(lo, digits)}, {_number_text(hi, digits)})" for lo, hi in zip(lows, highs, strict=True)],
            dtype=object,
        )
        if len(set(labels)) == len(labels):
            break
    return labels


def _number_text(x: float, digits: int = 12) -> str:
    """A number rounded to `digits` significant digits, without a trailing .0 when whole."""
    v = float(f"{x:.{digits}g}")
    return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)


# --------------------------------------------------------------------------- masking
def _masking_hierarchy(column: str, texts: np.ndarray, params: MaskingParams) -> Hierarchy:
    """Level j masks the j rightmost characters (shorter values fully); top '*' only if still needed."""
    leaves = np.array(sorted(texts), dtype=object)
    lengths = np.fromiter((len(t) for t in leaves), dtype=np.int64, count=len(leaves))
    max_level = params.max_level or max(1, int(lengths.max()))
    masks = np.array([params.mask_char * n for n in range(max_level + 1)], dtype=object)
    columns = [leaves]
    for j in range(1, max_level + 1):
        kept = pd.Series(leaves, dtype=object).str.slice(stop=-j).to_numpy(dtype=object, copy=True)
        kept[lengths <= j] = ""
        columns.append(kept + masks[np.minimum(lengths, j)])
    if len(set(columns[-1])) > 1:
        columns.append(np.full(len(leaves), TOP, dtype=object))
    return _from_columns(column, columns)


# --------------------------------------------------------------------------- date
def _date_hierarchy(column: str, texts: np.ndarray, params: DateParams, *, iso: bool) -> Hierarchy:
    """Leaves in time order; levels month 'YYYY-MM', year 'YYYY', decade '1980-1989' as asked; then '*'.

    Values are parsed with params.format (strptime), or as ISO when no format is given or when the
    column already holds dates (their text is ISO whatever the format says).
    """
    _refuse_missing(column, texts, "date")
    fmt = None if iso else params.format
    parsed = [_parse_date(column, t, fmt) for t in texts]
    order = sorted(range(len(texts)), key=lambda i: (parsed[i].replace(tzinfo=None), texts[i]))
    texts = texts[order]
    years = np.array([parsed[i].year for i in order], dtype=np.int64)
    months = np.array([parsed[i].month for i in order], dtype=np.int64)
    formats: dict[str, Callable[[int], str]] = {
        "month": lambda key: f"{key // 100:04d}-{key % 100:02d}",
        "year": lambda key: f"{key // 100:04d}",
        "decade": lambda key: f"{key // 100 - key // 100 % 10:04d}-{key // 100 - key // 100 % 10 + 9:04d}",
    }
    keys = years * 100 + months
    columns = [texts]
    for level in params.levels:
        codes, unique_keys = pd.factorize(keys)
        labels = np.array([formats[level](int(k)) for k in unique_keys], dtype=object)
        columns.append(labels[codes])
    columns.append(np.full(len(texts), TOP, dtype=object))
    return _from_columns(column, columns)


def _parse_date(column: str, text: str, fmt: str | None) -> datetime:
    try:
        return datetime.strptime(text, fmt) if fmt else datetime.fromisoformat(text)
    except ValueError:
        expected = f"format {fmt!r} (params.format)" if fmt else "an ISO date such as 2024-01-31 (or set params.format)"
        raise DataError(f"column {column!r}: value {text!r} is not a date in {expected}") from None


def _is_datetime_kind(values: pd.Series, kind: str) -> bool:
    return pd.api.types.is_datetime64_any_dtype(values.dtype) or kind in ("datetime64", "datetime", "date")


# --------------------------------------------------------------------------- auto
def _auto_hierarchy(column: str, texts: np.ndarray, kind: str, values: pd.Series, max_levels: int) -> Hierarchy:
    """The rule of ``type: auto``, by what the column holds:

    1. dates/datetimes (datetime dtype or date objects) -> a date hierarchy with month, year, decade
       (missing values are a DataError, as for date);
    2. numbers (numeric dtype or numeric objects; not bools) -> an interval hierarchy: the finest
       width is range/20 rounded to a "nice" 1, 2 or 5 × 10^n (at least 1 for whole numbers; 1 when
       all values are equal), doubling per level, at most params.max_levels levels and no more once
       one bin holds every value; bins start at 0. Missing values are a DataError, as for interval;
    3. codes (zips, ids): all non-missing values alphanumeric and of one length ≤ 12 -> masking
       with the default parameters (a missing value stays '' up to the top);
    4. anything else -> flat: every value -> '*'.
    """
    if _is_datetime_kind(values, kind):
        return _date_hierarchy(column, texts, DateParams(), iso=True)
    numeric_dtype = pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype)
    if numeric_dtype or kind in ("integer", "floating", "mixed-integer-float", "decimal"):
        _refuse_missing(column, texts, "interval (auto)")
        widths = _auto_widths(_parse_numbers(column, texts), max_levels)
        return _interval_hierarchy(column, texts, IntervalParams(intervals=widths))
    present = [t for t in texts if t]
    if (
        present
        and len({len(t) for t in present}) == 1
        and len(present[0]) <= _AUTO_MAX_MASK_LENGTH
        and all(t.isalnum() for t in present)
    ):
        return _masking_hierarchy(column, texts, MaskingParams())
    leaves = np.array(sorted(texts), dtype=object)
    return _from_columns(column, [leaves, np.full(len(leaves), TOP, dtype=object)])


def _auto_widths(numbers_: np.ndarray, max_levels: int) -> list[float]:
    lo, hi = float(numbers_.min()), float(numbers_.max())
    # at least 1e-9 of the magnitude, so bin bounds stay readable with 12 significant digits
    raw = max(hi / _AUTO_TARGET_BINS - lo / _AUTO_TARGET_BINS, max(abs(lo), abs(hi)) * 1e-9)
    base = _nice(raw) if hi > lo and 1e-300 < raw < 1e300 else 1.0
    if np.all(np.floor(numbers_) == numbers_):
        base = max(base, 1.0)
    widths = [base]
    while len(widths) < max_levels and math.floor(lo / widths[-1]) != math.floor(hi / widths[-1]):
        widths.append(widths[-1] * 2)
    return widths


def _nice(x: float) -> float:
    """x rounded to 1, 2 or 5 × 10^n."""
    exponent = math.floor(math.log10(x))
    fraction = x / 10.0**exponent
    step = 1 if fraction < 1.5 else 2 if fraction < 3.5 else 5 if fraction < 7.5 else 10
    return step * 10.0**exponent
