"""The engine's passes over partitions, on Dask (entry point: `anon_ops.engine.distributed`).

1. **Scan** (map, then combine): per partition its row count, the value counts of every published
   column (the source distributions of the exploratory statistics) and the distinct values of the
   columns whose hierarchy or labels are built from the data (generated hierarchies, sensitive
   attributes) — in order of first appearance, as rows of the column itself, so that
   `build_hierarchy` on them builds what it builds from the whole column.
2. **Count** (group-by over partitions): each row's QI leaf codes and sensitive codes, counted per
   distinct combination; the partitions' counts combine into the frequency set `encode` builds
   in-process — the same rows in the same order (first appearance, or key order where
   `group_codes` counts with bincount), so the search, its tie rules and every floating-point sum of
   the statistics are the same. When no hierarchy or label depends on the data, 1 and 2 are one pass.
3. **Search** on the client: `find_optimum` on that small set, unchanged (progress and abort inside).
4. **Apply** (map): `output_frame` — the in-process code — on each partition; whether a row is an
   outlier follows from its class key at the chosen levels. Then the seeded shuffle: each row draws
   a random 63-bit key from ``default_rng([seed, partition])``, a Dask shuffle on the key spreads the
   rows over the output partitions, and each partition is sorted by it — a uniformly random order
   that depends only on the seed and the input partitioning. It is not the order of the in-process
   run (which permutes the whole table at once): the outputs are equal up to row order. Rows carry
   their input position through the shuffle, so the target distributions are counted in input
   order, as in-process.
5. **Write**: each output partition is written by a worker — a part file of a partitioned target
   (``part-00000.<fmt>`` in a temporary folder renamed into place, as `anon_ops.io` does), or a staged
   part that the client then streams into one Parquet or CSV file — or collected into pandas.

``should_abort`` is polled while any stage runs: the stage's futures are cancelled and temporaries
removed, so nothing partial is left. Logs give counts and stages, never a data value.
"""

from __future__ import annotations

import logging
import math
import os
import pickle
import posixpath
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd
from dask import delayed
from distributed import Client, Future

from anon_ops import io
from anon_ops.config import AttributeType, DataStore, JobConfig
from anon_ops.engine.anonymizer import (
    AbortCheck,
    Progress,
    _Outcome,
    _outcome,
    _search_facts,
    find_optimum,
    output_frame,
    publication_statistics,
)
from anon_ops.engine.criteria import build_criteria
from anon_ops.engine.distributed import DistributedResult
from anon_ops.engine.encoding import (
    EncodedData,
    QuasiIdentifier,
    SensitiveAttribute,
    _sensitive_names_used,
    check_columns,
    encode_qi_column,
    sensitive_codes,
    sensitive_labels,
)
from anon_ops.engine.frequency import (
    _BINCOUNT_LIMIT,
    _INT64_SAFE,
    FrequencySet,
    _mixed_radix_key,
    aggregate,
    group_codes,
)
from anon_ops.engine.hierarchy import _factorize, build_hierarchy, values_as_text
from anon_ops.engine.metrics import Evaluation, build_metric
from anon_ops.engine.search import Checker
from anon_ops.engine.utility import _TOP_VALUES, _weighted_summary
from anon_ops.errors import AbortedError, AnonOpsError, ConfigError, DataError

log = logging.getLogger(__name__)

SHUFFLE_METHOD = "p2p"
"""Dask's disk-backed all-to-all shuffle: memory stays bounded however large the output."""

_POSITION = "__anon_ops_position__"  # a row's input position, carried through the shuffle
_KEY = "__anon_ops_shuffle_key__"  # a row's random shuffle key
_POSITION_BITS = 40  # position = partition << 40 | row within the partition
_LAST = np.iinfo(np.int64).max
_POLL_SECONDS = 0.1
# progress: where each stage ends (the search takes the part between counting and applying)
_SCANNED, _COUNTED, _SEARCHED = 0.15, 0.35, 0.6


# =========================================================================== the run
def run(
    source: pd.DataFrame | dd.DataFrame | DataStore,
    config: JobConfig,
    client: Client,
    *,
    transformation: dict[str, int] | None,
    target: DataStore | None,
    result_file: str | Path | None,
    progress: Progress | None,
    should_abort: AbortCheck | None,
) -> DistributedResult:
    """The passes of the module docstring; see `anonymize_distributed` for the arguments."""
    started = time.perf_counter()
    watch = _Watch(progress, should_abort)
    with dask.config.set({"dataframe.convert-string": False}):
        frame, scattered = as_dask(source, config, client)
        try:
            check_columns(frame._meta, config)
            clash = [c for c in (_POSITION, _KEY) if c in frame.columns]
            if clash:
                raise ConfigError(f"source: column name(s) {clash} are reserved by the Dask backend")
            encoded, rows_in, source_tables, sample = _frequency_set(client, frame, config, watch)
            watch.check()
            outcome, loss, search = _decide(encoded, config, transformation, watch)
            watch.check()
            props = config.additional_properties
            seed = props.seed if props.seed is not None else secrets.randbits(32)
            missing = {c for c, table in source_tables.items() if table.index.isna().any()}
            published = _publish(client, frame, sample, missing, config, encoded, outcome,
                                 seed if props.shuffle else None, target, result_file, watch)
        finally:
            if scattered:
                client.cancel(scattered)  # the input's parts are not needed any more
    k = config.k()
    meta, out_meta = frame._meta, published.meta
    exploratory = {
        "source": {c: _describe(source_tables[c], rows_in, k, pd.api.types.is_bool_dtype(meta[c].dtype))
                   for c in out_meta.columns},
        "target": {c: _describe(published.tables[c], published.rows, 1, pd.api.types.is_bool_dtype(out_meta[c].dtype))
                   for c in out_meta.columns},
    }
    statistics = publication_statistics(encoded, config, outcome, rows_input=rows_in, rows_output=published.rows,
                                        exploratory=exploratory, seed=seed)
    statistics.update(
        information_loss={"metric": config.metric.name, "value": loss},
        search=search if isinstance(search, dict) else _search_facts(search, time.perf_counter() - started),
        execution={"backend": "dask", "partitions": frame.npartitions, "output_partitions": published.partitions},
    )
    watch.report(1.0)
    log.info("anonymized %d rows on Dask (%d partitions): transformation %s, %s=%.10f, %.3f s",
             rows_in, frame.npartitions, statistics["transformation"], config.metric.name, loss,
             time.perf_counter() - started)
    return DistributedResult(statistics, dict(statistics["transformation"]), published.data, published.location)


class _Watch:
    """Progress (never going back) and abort polling of one run."""

    def __init__(self, progress: Progress | None, should_abort: AbortCheck | None) -> None:
        self._progress, self._should_abort = progress, should_abort
        self._last = 0.0

    def report(self, fraction: float) -> None:
        if self._progress is not None and fraction > self._last:
            self._last = fraction
            self._progress(min(1.0, fraction))

    def aborted(self) -> bool:
        return bool(self._should_abort is not None and self._should_abort())

    def check(self) -> None:
        if self.aborted():
            raise AbortedError("aborted on request")

    def between(self, low: float, high: float) -> Callable[[float], None]:
        return lambda fraction: self.report(low + (high - low) * fraction)


def _compute(client: Client, tasks: Sequence[Any], watch: _Watch, low: float, high: float) -> list[Any]:
    """Run one stage's tasks; progress is the share of finished tasks. An abort (or any error,
    including the worker's SIGTERM) cancels the stage's futures before it propagates."""
    if not tasks:
        return []
    futures: list[Future] = client.compute(list(tasks))
    try:
        while True:
            done = [f for f in futures if f.done()]
            failed = next((f for f in done if f.status == "error"), None)
            if failed is not None:
                failed.result()  # raises the task's own error (a DataError keeps its type and message)
            watch.report(low + (high - low) * len(done) / len(futures))
            if len(done) == len(futures):
                results = client.gather(futures)
                failure = next((r for r in results if isinstance(r, _Failure)), None)
                if failure is not None:
                    raise failure.error
                return results
            watch.check()
            time.sleep(_POLL_SECONDS)
    except BaseException:
        client.cancel(futures)
        raise


# =========================================================================== reading
def as_dask(
    source: pd.DataFrame | dd.DataFrame | DataStore, config: JobConfig, client: Client
) -> tuple[dd.DataFrame, list[Future]]:
    """The source as a Dask DataFrame. An in-memory table is split into ``execution.partition_rows``
    rows and scattered to the workers once (not embedded in the graph of every pass); the caller
    keeps the returned futures as long as it uses the frame (the cluster forgets unreferenced data)."""
    if isinstance(source, DataStore):
        source = read_source(source, config.resolve_path, partition_rows=config.execution.partition_rows)
        if not isinstance(source, pd.DataFrame):
            return source, []
    if isinstance(source, pd.DataFrame):
        step = config.execution.partition_rows
        chunks = [source.iloc[i:i + step] for i in range(0, len(source), step)] or [source]
        scattered = client.scatter(chunks)
        return dd.from_delayed(scattered, meta=source.iloc[:0], verify_meta=False), scattered
    if isinstance(source, dd.DataFrame):
        return source, []
    raise TypeError(f"source: expected a DataFrame or a DataStore, got {type(source).__name__}")


def read_source(
    store: DataStore, resolve_path: Callable[[str], str] = str, *, partition_rows: int = 250_000,
    where: str = "source",
) -> dd.DataFrame | pd.DataFrame:
    """A data store as partitions of about ``partition_rows`` rows: Parquet and CSV files — one
    file, a folder of part files or a pattern, as `anon_ops.io` lists them — are read by the
    workers (Parquet by row groups, larger ones split; CSV by blocks, every column as text as
    `anon_ops.io` reads CSV). JSON, SQL and inline rows are read here by `anon_ops.io.read_table`
    (a pandas DataFrame comes back)."""
    file = store.file if store.type == "file" else None
    fmt = None
    if file is not None:
        props = dict(file.props)
        props.pop("rows_per_part", None)
        storage_options = io._storage_options(props, where)
        fs, path = io._locate(file.name, resolve_path, storage_options, where)
        parts = io._list_parts(fs, path, where)
        fmt = file.format or io._format_of(path, parts[0])
    if file is None or fmt not in ("parquet", "csv"):
        return io.read_table(store, resolve_path, where=where)
    urls = parts if fs is None else [str(fs.unstrip_protocol(p)) for p in parts]
    log.info("reading %d %s part(s) on Dask", len(urls), fmt)
    with dask.config.set({"dataframe.convert-string": False}):
        if fmt == "parquet":
            # a partition per row group, or per few small ones; a row group is the smallest unit
            # Parquet is read in, so larger ones are split after reading
            rows, groups = _parquet_layout(fs, parts)
            per_group = rows / max(groups, 1)
            props.setdefault("split_row_groups", max(1, round(partition_rows / max(per_group, 1))))
            frame = dd.read_parquet(urls, storage_options=storage_options or None, **props)
            wanted = math.ceil(rows / partition_rows)
            return frame.repartition(npartitions=wanted) if wanted > 1.5 * frame.npartitions else frame
        options: dict[str, Any] = {"dtype": str, "keep_default_na": False, **props}
        sep = options.pop("sep", None)
        if sep is None and options.get("delimiter") is None:
            _, header = io._peek_header(urls[0], {**options, "storage_options": storage_options})
            sep = io._sniff_separator(header, options.get("quotechar") or '"')
        if sep is not None:
            options["sep"] = sep
        options.setdefault("blocksize", max(1 << 20, partition_rows * _bytes_per_line(fs, parts[0])))
        return dd.read_csv(urls, storage_options=storage_options or None, **options)


def _parquet_layout(fs: Any, parts: Sequence[str]) -> tuple[int, int]:
    """Rows and row groups of the Parquet files, from their footers."""
    import pyarrow.parquet as pq

    rows = groups = 0
    for part in parts:
        with open(part, "rb") if fs is None else fs.open(part, "rb") as handle:
            metadata = pq.read_metadata(handle)
        rows, groups = rows + metadata.num_rows, groups + metadata.num_row_groups
    return rows, groups


def _bytes_per_line(fs: Any, part: str) -> int:
    """About how long a line of a CSV file is (from its first 64 KiB), to size its blocks in rows."""
    with open(part, "rb") if fs is None else fs.open(part, "rb") as handle:
        head = handle.read(1 << 16)
    return max(1, len(head) // max(1, head.count(b"\n")))


# =========================================================================== passes 1 and 2
@dataclass(frozen=True)
class _ScanPlan:
    """What one pass computes per partition."""

    distinct: tuple[str, ...] = ()
    described: tuple[str, ...] = ()
    qis: tuple[QuasiIdentifier, ...] | None = None
    sensitive: tuple[SensitiveAttribute, ...] = ()


@dataclass
class _Scan:
    """One partition's share: rows, distinct values, value tables, counted combinations, and its
    first row (what the output's column dtypes are inferred from, as pandas infers them in-process)."""

    rows: int
    distinct: dict[str, pd.Series]
    values: dict[str, pd.DataFrame]
    combos: np.ndarray | None
    counts: np.ndarray | None
    sample: pd.DataFrame | None


@dataclass
class _Failure:
    """An anon-ops error of a task, returned rather than raised: Dask's workers log the message of
    a raised error, and ours may name data values (the values a hierarchy does not cover)."""

    error: AnonOpsError


def _scan_partition(part: pd.DataFrame, plan: _ScanPlan, number: int) -> _Scan | _Failure:
    try:
        return _scan(part, plan, number)
    except AnonOpsError as exc:
        return _Failure(exc)


def _scan(part: pd.DataFrame, plan: _ScanPlan, number: int) -> _Scan:
    distinct = {c: _distinct_values(part[c]) for c in plan.distinct}
    values = {c: _value_counts(part[c], number) for c in plan.described}
    combos = counts = None
    if plan.qis is not None:
        combos, counts = _combinations(part, plan.qis, plan.sensitive)
    # a taken row, not a slice: a slice of an Arrow column would keep the whole partition alive
    sample = part.iloc[[0]] if plan.described and len(part) else None
    return _Scan(len(part), distinct, values, combos, counts, sample)


def _distinct_values(values: pd.Series) -> pd.Series:
    """The distinct values (a missing one included once) in order of first appearance, as rows of
    the column: dtype and objects intact, and compared as `hierarchy._factorize` compares them."""
    codes, _ = _factorize(values)
    n = len(codes)
    first = np.full(int(codes.max()) + 2 if n else 1, -1, dtype=np.int64)
    first[codes[::-1] + 1] = np.arange(n - 1, -1, -1, dtype=np.int64)  # the last write wins: the first row
    return values.iloc[np.sort(first[first >= 0])].reset_index(drop=True)


def _value_counts(values: pd.Series, number: int) -> pd.DataFrame:
    """``value_counts`` of one partition with each value's rank, partition-major: merged over the
    partitions, the ranks give the order pandas lists the values of the whole column in (first
    appearance; categories in their order; masked missing values last)."""
    counts = values.value_counts(sort=False, dropna=False)
    first = (number << _POSITION_BITS) + np.arange(len(counts), dtype=np.int64)
    if _missing_last(values.dtype):
        first[np.asarray(pd.isna(counts.index))] = _LAST
    return pd.DataFrame({"count": counts.to_numpy(dtype=np.int64), "first": first}, index=counts.index)


def _missing_last(dtype: Any) -> bool:
    """Whether pandas counts a dtype's missing values after every other value (not where they occur)."""
    from pandas.core.dtypes.dtypes import BaseMaskedDtype

    return isinstance(dtype, pd.CategoricalDtype | BaseMaskedDtype)


def _positions_table(values: pd.Series, positions: np.ndarray) -> pd.DataFrame:
    """Count and first input position of each value of an output partition (rows in input order)."""
    grouped = pd.DataFrame({"value": values.to_numpy() if values.dtype == object else values.array,
                            "first": positions}).groupby("value", sort=False, dropna=False)["first"]
    table = grouped.agg(["size", "min"]).rename(columns={"size": "count", "min": "first"})
    return table.astype({"count": np.int64, "first": np.int64})


def _merge_tables(tables: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """One column's value table over all partitions, values in the order of the whole column."""
    # in position order, so that of values pandas takes as equal (0.0 and -0.0) the first one names them
    ordered = pd.concat(list(tables)).sort_values("first", kind="stable")
    return ordered.groupby(level=0, sort=False, dropna=False).agg({"count": "sum", "first": "min"})


def _describe(table: pd.DataFrame | Sequence[pd.DataFrame], n: int, min_count: int, is_bool: bool) -> dict[str, Any]:
    """`anon_ops.engine.utility.distribution` from merged value counts instead of the rows."""
    if not isinstance(table, pd.DataFrame):
        table = _merge_tables(table)
    counts = table["count"].sort_values(ascending=False, kind="stable")  # value_counts(sort=True)
    labels = ["" if pd.isna(k) else str(k) for k in counts.index]
    frequencies = counts.to_numpy(dtype=np.int64)
    listed = np.flatnonzero(frequencies >= min_count)[:_TOP_VALUES]
    result: dict[str, Any] = {
        "count": n,
        "distinct": len(counts),
        "values": {labels[i]: int(frequencies[i]) for i in listed},
        "other": int(n - frequencies[listed].sum()),
    }
    if n and not is_bool:
        numbers = pd.to_numeric(pd.Series(labels, dtype=object), errors="coerce").to_numpy(dtype=float)
        numeric = ~np.isnan(numbers)
        if frequencies[numeric].sum() > 0.95 * n:
            result["numeric"] = _weighted_summary(numbers[numeric], frequencies[numeric])
    return result


def _combinations(
    part: pd.DataFrame, qis: Sequence[QuasiIdentifier], sensitive: Sequence[SensitiveAttribute]
) -> tuple[np.ndarray, np.ndarray]:
    """The partition's distinct (QI leaf codes, sensitive codes) rows in order of first appearance,
    with their counts."""
    columns = [_leaf_codes(q, part[q.name]) for q in qis]
    columns += [sensitive_codes(s, part[s.name]) for s in sensitive]
    matrix = np.stack(columns, axis=1).astype(np.int32, copy=False)
    if not len(part):
        return matrix, np.zeros(0, dtype=np.int64)
    grouping = group_codes(matrix, _radices(qis, sensitive))
    first = _first_rows(grouping.inverse, grouping.n_groups)
    counts = np.bincount(grouping.inverse, minlength=grouping.n_groups).astype(np.int64)
    order = np.argsort(first, kind="stable")
    return matrix[first[order]], counts[order]


def _leaf_codes(qi: QuasiIdentifier, values: pd.Series) -> np.ndarray:
    """`encode_qi_column`, five times faster on Arrow-backed text: Arrow factorizes the column
    (exactly), and only its distinct values go through the hierarchy — same codes, same errors."""
    dtype = values.dtype
    if not (isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow"):
        return encode_qi_column(qi, values)
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    missing = codes < 0
    distinct = pd.Series(uniques, dtype=dtype)
    if missing.any():
        distinct = pd.concat([distinct, values[missing].iloc[:1]], ignore_index=True)
        codes = np.where(missing, len(distinct) - 1, codes)
    return encode_qi_column(qi, distinct)[codes]


def _first_rows(inverse: np.ndarray, n_groups: int) -> np.ndarray:
    """Per group, its first row (assigning in reverse: the last write wins, as `group_codes` relies on)."""
    first = np.empty(n_groups, dtype=np.int64)
    first[inverse[::-1]] = np.arange(len(inverse) - 1, -1, -1, dtype=np.int64)
    return first


def _radices(qis: Sequence[QuasiIdentifier], sensitive: Sequence[SensitiveAttribute]) -> list[int]:
    return [q.sizes[0] for q in qis] + [s.size for s in sensitive]


def _combine(scans: Sequence[_Scan], qis: Sequence[QuasiIdentifier], sensitive: Sequence[SensitiveAttribute],
             n_rows: int) -> FrequencySet:
    """The partitions' counts as the base frequency set `encode` builds from the whole table: rows
    in the order `group_codes` gives them there — first appearance (partitions in order), or key
    order when the key space is small enough for its bincount path."""
    radices = _radices(qis, sensitive)
    q = len(qis)
    matrix = np.concatenate([s.combos for s in scans if s.combos is not None])
    counts = np.concatenate([s.counts for s in scans if s.counts is not None])
    grouping = group_codes(matrix, radices)
    totals = np.bincount(grouping.inverse, weights=counts, minlength=grouping.n_groups).astype(np.int64)
    first = _first_rows(grouping.inverse, grouping.n_groups)
    order = np.argsort(first, kind="stable")
    rows, totals = matrix[first[order]], totals[order]
    key, space = _mixed_radix_key(rows, radices)
    if space <= max(_BINCOUNT_LIMIT, 2 * n_rows):
        by_key = np.argsort(key, kind="stable")
        rows, totals = rows[by_key], totals[by_key]
    base, _ = aggregate(tuple(0 for _ in qis), rows[:, :q], rows[:, q:], totals, None, radices[:q], radices[q:])
    return base


def _frequency_set(
    client: Client, frame: dd.DataFrame, config: JobConfig, watch: _Watch
) -> tuple[EncodedData, int, dict[str, pd.DataFrame], pd.DataFrame]:
    """Passes 1 and 2: the encoded input (without per-row codes), its row count, the source value
    tables of the published columns, and a sample row (the partition's meta when empty)."""
    identifiers = {a.name for a in config.attributes_of(AttributeType.IDENTIFIER)}
    described = tuple(c for c in frame.columns if c not in identifiers)
    sensitive_names = _sensitive_names_used(config)
    from_data = [a.name for a in config.attributes_of(AttributeType.QUASI_IDENTIFIER)
                 if a.hierarchy is not None and a.hierarchy.type not in ("file", "tree")]
    from_data += [n for n in sensitive_names if n not in from_data]
    parts = frame.to_delayed()
    if from_data:
        plan = delayed(_ScanPlan(distinct=tuple(from_data), described=described), pure=False)
        scans = _compute(client, [delayed(_scan_partition)(p, plan, j) for j, p in enumerate(parts)],
                         watch, 0.0, _SCANNED)
        distinct = {c: _distinct_values(pd.concat([s.distinct[c] for s in scans], ignore_index=True))
                    for c in from_data}
        qis, sensitive = _encoders(config, distinct)
        plan = delayed(_ScanPlan(qis=tuple(qis), sensitive=tuple(sensitive)), pure=False)
        counted = _compute(client, [delayed(_scan_partition)(p, plan, j) for j, p in enumerate(parts)],
                           watch, _SCANNED, _COUNTED)
    else:
        qis, sensitive = _encoders(config, {})
        plan = delayed(_ScanPlan(described=described, qis=tuple(qis), sensitive=tuple(sensitive)), pure=False)
        scans = counted = _compute(client, [delayed(_scan_partition)(p, plan, j) for j, p in enumerate(parts)],
                                   watch, 0.0, _COUNTED)
    rows = sum(s.rows for s in scans)
    base = _combine(counted, qis, sensitive, rows)
    log.info("Dask frequency set: %d rows in %d partition(s) -> %d combinations", rows, len(parts), base.n_rows)
    tables = {c: _merge_tables([s.values[c] for s in scans]) for c in described}
    encoded = EncodedData(qis, sensitive, base, np.zeros(0, dtype=np.int64), None)
    sample = next((s.sample for s in scans if s.sample is not None and len(s.sample)), frame._meta)
    return encoded, rows, tables, sample


def _encoders(
    config: JobConfig, distinct: dict[str, pd.Series]
) -> tuple[list[QuasiIdentifier], list[SensitiveAttribute]]:
    """The QIs and sensitive attributes as `encode` builds them, from distinct values instead of columns."""
    qis: list[QuasiIdentifier] = []
    for index, attribute in enumerate(config.attributes):
        if attribute.type != AttributeType.QUASI_IDENTIFIER:
            continue
        if attribute.hierarchy is None:
            raise ConfigError(
                f"attributes.{index}.hierarchy: quasi-identifier {attribute.name!r} needs a hierarchy "
                "(or use {type: auto})"
            )
        hierarchy = build_hierarchy(attribute.name, attribute.hierarchy, distinct.get(attribute.name),
                                    config.resolve_path)
        qis.append(QuasiIdentifier.from_hierarchy(attribute.name, hierarchy, attribute.weight))
    sensitive: list[SensitiveAttribute] = []
    for name in _sensitive_names_used(config):
        spec = config.attribute(name).hierarchy
        values = distinct[name]
        if spec is not None:
            hierarchy = build_hierarchy(name, spec, values, config.resolve_path)
            sensitive.append(SensitiveAttribute(name, hierarchy.leaves, hierarchy))
        else:
            sensitive.append(SensitiveAttribute(name, sensitive_labels(values_as_text(values))))
    return qis, sensitive


# =========================================================================== pass 3: search
def _decide(
    encoded: EncodedData, config: JobConfig, transformation: dict[str, int] | None, watch: _Watch
) -> tuple[_Outcome, float, Any]:
    """The search (or the given transformation, as `apply_transformation` checks it): its outcome,
    its loss, and the search result (a dict of facts for an applied transformation)."""
    if transformation is None:
        found = find_optimum(encoded, config, progress=watch.between(_COUNTED, _SEARCHED), should_abort=watch.aborted)
        return found.outcome, found.loss, found.search
    missing = [q for q in config.quasi_identifiers if q not in transformation]
    if missing:
        raise ConfigError(f"transformation: no level for quasi-identifier(s) {missing}")
    levels = tuple(int(transformation[q.name]) for q in encoded.qis)
    for q, lv in zip(encoded.qis, levels, strict=True):
        if not 0 <= lv <= q.height:
            raise ConfigError(f"transformation.{q.name}: level {lv} outside 0..{q.height}")
    metric = build_metric(encoded, config.metric)
    checker = Checker(encoded, build_criteria(config, encoded), metric, max_outliers=encoded.n_records)
    outcome = _outcome(checker, encoded, levels)
    loss = metric.evaluate(Evaluation(levels, outcome.table, outcome.outlier))
    return outcome, loss, {"algorithm": "applied", "lattice_size": 1, "checked": 1, "seconds": 0.0}


# =========================================================================== passes 4 and 5
@dataclass(frozen=True)
class _ClassLookup:
    """The class of a row from its generalized QI codes: a binary search over the sorted class
    keys, or a MultiIndex when the key space does not fit 62 bits."""

    strides: np.ndarray | None
    keys: np.ndarray | None
    classes: np.ndarray | None
    index: pd.MultiIndex | None

    @classmethod
    def build(cls, codes: np.ndarray, radices: list[int]) -> _ClassLookup:
        if math.prod(radices) < _INT64_SAFE:
            strides = np.array([math.prod(radices[j + 1:]) for j in range(len(radices))], dtype=np.int64)
            keys = codes.astype(np.int64) @ strides
            order = np.argsort(keys, kind="stable")
            return cls(strides, keys[order], order, None)
        return cls(None, None, None, pd.MultiIndex.from_arrays([codes[:, j] for j in range(codes.shape[1])]))

    def lookup(self, codes: np.ndarray) -> np.ndarray:
        if self.strides is not None and self.keys is not None and self.classes is not None:
            key = codes.astype(np.int64) @ self.strides
            at = np.minimum(np.searchsorted(self.keys, key), len(self.keys) - 1)
            found = self.keys[at] == key if len(self.keys) else np.zeros(len(key), dtype=bool)
            result = self.classes[at] if len(self.keys) else np.zeros(len(key), dtype=np.int64)
        else:
            assert self.index is not None
            result = self.index.get_indexer(pd.MultiIndex.from_arrays([codes[:, j] for j in range(codes.shape[1])]))
            found = result >= 0
        if not found.all():
            raise DataError("source: the data changed while it was read (a combination was not counted)")
        return result


@dataclass(frozen=True)
class _ApplyPlan:
    """Everything a partition needs to be published: the transformation and its class flags."""

    config: JobConfig
    qis: tuple[QuasiIdentifier, ...]
    levels: tuple[int, ...]
    lookup: _ClassLookup
    outlier: np.ndarray  # per class
    hidden: np.ndarray  # per class: outlier, or uninformative (dropped with drop_suppressed)
    seed: int | None  # None: no shuffle


def _apply_partition(part: pd.DataFrame, plan: _ApplyPlan, number: int) -> pd.DataFrame:
    """One partition published as `_publish` publishes the whole table (before its shuffle)."""
    try:
        leaves = [_leaf_codes(q, part[q.name]) for q in plan.qis]
    except DataError:  # counted before without error: the source changed (and this message names no value)
        raise DataError("source: the data changed while it was read (a value was not counted)") from None
    if len(part):
        generalized = np.stack([q.maps[lv][leaf] for q, lv, leaf in zip(plan.qis, plan.levels, leaves, strict=True)],
                               axis=1)
        classes = plan.lookup.lookup(generalized)
    else:
        classes = np.zeros(0, dtype=np.int64)
    row_outlier = plan.outlier[classes]
    keep = ~plan.hidden[classes] if plan.config.additional_properties.drop_suppressed else np.ones(len(part), bool)
    frame = output_frame(part, plan.config, list(plan.qis), plan.levels, leaves.__getitem__, row_outlier, keep)
    frame[_POSITION] = (number << _POSITION_BITS) + np.flatnonzero(keep).astype(np.int64)
    if plan.seed is not None:
        frame[_KEY] = np.random.default_rng([plan.seed, number]).integers(0, _LAST, size=len(frame), dtype=np.int64)
    return frame


@dataclass(frozen=True)
class _PartWriter:
    """Writes output partition j as ``<prefix>0000j.<fmt>`` into a folder; format ``pickle`` stages
    a part for a single file (exact dtypes, no schema to agree on)."""

    fs: Any
    folder: str
    prefix: str
    fmt: str
    props: dict[str, Any]
    where: str
    display: str

    def write(self, frame: pd.DataFrame, number: int) -> None:
        suffix = "pkl" if self.fmt == "pickle" else self.fmt
        path = io._join(self.fs, self.folder, f"{self.prefix}{number:05d}.{suffix}")
        if self.fmt == "pickle":
            with open(path, "wb") if self.fs is None else self.fs.open(path, "wb") as out:
                pickle.dump(frame, out, protocol=pickle.HIGHEST_PROTOCOL)
        else:
            io._write_part(frame, self.fs, path, self.fmt, self.props, self.where, self.display)


@dataclass
class _Finished:
    rows: int
    tables: dict[str, pd.DataFrame]
    frame: pd.DataFrame | None


def _output_meta(frame: dd.DataFrame, sample: pd.DataFrame, plan: _ApplyPlan, missing: set[str]) -> pd.DataFrame:
    """The output's columns with the dtypes pandas infers for the whole output in-process: labels
    are text; a typed source column gives what its values give (``missing``: the columns with a
    missing value somewhere — an Int64 column with one becomes float64); an object column what a
    real row gives (the best a partitioned run can tell without the whole column)."""
    meta = _apply_partition(sample, plan, 0).iloc[:0]
    qis = {q.name for q in plan.qis}
    dtypes: dict[str, Any] = {}
    for column in meta.columns:
        if column in (_POSITION, _KEY) or (column not in qis and frame._meta[column].dtype == object):
            continue
        if column in qis:
            values: Any = np.array(["*"], dtype=object)
        else:
            source = frame._meta_nonempty[column].iloc[:1]
            if column in missing:
                source = pd.concat([source, frame._meta[column].reindex([0])], ignore_index=True)
            values = source.to_numpy()
        dtypes[column] = pd.DataFrame({column: values})[column].dtype
    return meta.astype(dtypes)


def _finish_partition(
    part: pd.DataFrame, shuffled: bool, number: int, writers: Sequence[_PartWriter], collect: bool,
    dtypes: dict[str, Any],
) -> _Finished | _Failure:
    """An output partition: the dtypes of the whole output, counted in input order, then rows in
    key order, helpers dropped, written (or returned)."""
    cast = {c: d for c, d in dtypes.items() if part[c].dtype != d}
    if cast:  # a partition infers its own: a text column with only missing values would be object
        part = part.astype(cast)
    columns = [c for c in part.columns if c not in (_POSITION, _KEY)]
    in_order = part.sort_values(_POSITION, kind="stable") if shuffled else part
    positions = in_order[_POSITION].to_numpy(dtype=np.int64)
    tables = {c: _positions_table(in_order[c], positions) for c in columns}
    del in_order
    if shuffled:
        part = part.sort_values(_KEY, kind="stable")
    frame = part[columns].reset_index(drop=True)
    try:
        for writer in writers:
            writer.write(frame, number)
    except AnonOpsError as exc:
        return _Failure(exc)
    return _Finished(len(frame), tables, frame if collect else None)


@dataclass(frozen=True)
class _Output:
    """A file (or folder of part files) the workers write the output to."""

    fs: Any
    path: str
    fmt: str
    props: dict[str, Any]
    single: bool
    rows_per_part: int
    where: str

    @property
    def display(self) -> str:
        return io._display(self.fs, self.path)


@dataclass
class _Published:
    rows: int
    tables: dict[str, pd.DataFrame]
    meta: pd.DataFrame
    partitions: int
    data: pd.DataFrame | None
    location: str | None


def _outputs(target: DataStore | None, result_file: str | Path | None,
             config: JobConfig) -> tuple[list[_Output], bool]:
    """The file outputs the workers write, and whether the target must be collected and written
    by `anon_ops.io.write_table` instead (SQL, one JSON file, inline)."""
    outputs: list[_Output] = []
    collect_target = False
    if target is not None:
        single = io._single_file_flag(config.additional_properties.single_file)
        file = target.file if target.type == "file" else None
        fmt = file.resolved_format() if file is not None else None
        if file is None or (single and fmt not in ("parquet", "csv")):
            collect_target = True
        else:
            props = dict(file.props)
            rows_per_part = io._rows_per_part(props.pop("rows_per_part", None), "target")
            storage_options = io._storage_options(props, "target")
            fs, path = io._locate(file.name, config.resolve_path, storage_options, "target")
            outputs.append(_Output(fs, path.rstrip("/") or path, str(fmt), props, single, rows_per_part, "target"))
    if result_file is not None:
        outputs.append(_Output(None, os.fspath(result_file), "parquet", {}, True, io.DEFAULT_ROWS_PER_PART, "result"))
    return outputs, collect_target


def _publish(
    client: Client,
    frame: dd.DataFrame,
    sample: pd.DataFrame,
    missing: set[str],
    config: JobConfig,
    encoded: EncodedData,
    outcome: _Outcome,
    seed: int | None,
    target: DataStore | None,
    result_file: str | Path | None,
    watch: _Watch,
) -> _Published:
    """Passes 4 and 5: apply, shuffle, count the target distributions, write or collect."""
    outputs, collect_target = _outputs(target, result_file, config)
    collect = collect_target or (target is None and result_file is None)
    table = outcome.table
    plan = _ApplyPlan(config, tuple(encoded.qis), outcome.levels,
                      _ClassLookup.build(table.codes, encoded.radices(outcome.levels)),
                      outcome.outlier, outcome.outlier | outcome.uninformative, seed)
    meta = _output_meta(frame, sample, plan, missing)
    kept = int(table.sizes.sum() - (table.sizes[plan.hidden].sum()
                                     if config.additional_properties.drop_suppressed else 0))
    # output partitions of at most partition_rows rows — and at most rows_per_part per part file
    per_partition = config.execution.partition_rows
    folder = next((o for o in outputs if not o.single), None)
    if folder is not None:
        per_partition = min(per_partition, folder.rows_per_part)
    n_out = max(1, math.ceil(kept / per_partition))
    plan_task = delayed(plan, pure=False)
    applied = [delayed(_apply_partition)(p, plan_task, j) for j, p in enumerate(frame.to_delayed())]
    dtypes = {c: meta[c].dtype for c in meta.columns if c not in (_POSITION, _KEY)}
    out = dd.from_delayed(applied, meta=meta, verify_meta=False)
    shuffled = seed is not None
    if shuffled:
        out = out.shuffle(on=_KEY, npartitions=n_out, ignore_index=True, shuffle_method=SHUFFLE_METHOD)
    parts = out.to_delayed()
    finished: list[_Finished] = []

    def compute(writers: list[_PartWriter]) -> None:
        tasks = [delayed(_finish_partition)(p, shuffled, j, writers, collect, dtypes) for j, p in enumerate(parts)]
        finished.extend(_compute(client, tasks, watch, _SEARCHED, 0.98))
        watch.check()  # the last moment to stop: nothing has been moved into place yet

    _write_outputs(outputs, compute)
    columns = [c for c in meta.columns if c not in (_POSITION, _KEY)]
    out_meta = meta[columns]
    data = None
    location = outputs[0].display if outputs and outputs[0].where == "target" else None
    if collect:
        frames = [f.frame for f in finished if f.frame is not None]
        data = pd.concat(frames, ignore_index=True) if frames else out_meta.copy()
        if collect_target and target is not None:
            location = io.write_table(data, target, config.resolve_path,
                                      single_file=config.additional_properties.single_file)
    tables = {c: _merge_tables([f.tables[c] for f in finished]) for c in columns}
    return _Published(sum(f.rows for f in finished), tables, out_meta, len(parts), data, location)


def _write_outputs(outputs: Sequence[_Output], compute: Callable[[list[_PartWriter]], None]) -> None:
    """Run ``compute`` with one part writer per output, each writing into temporaries beside its
    output; then move each into place — a single file first assembled from its staged parts. The
    temporaries are named ``.<name>.tmp-…`` like those of `anon_ops.io`, and are plain files or
    `anon_ops.io`'s folders, so the clean-ups after a killed worker find them. Any error (an abort
    too) removes them and leaves the outputs as they were."""

    def nest(i: int, writers: list[_PartWriter]) -> None:
        if i == len(outputs):
            compute(writers)
            return
        out = outputs[i]
        if not out.single:
            def build_folder(tmp: str) -> None:
                nest(i + 1, [*writers, _PartWriter(out.fs, tmp, "part-", out.fmt, out.props, out.where, out.display)])

            io._atomic_write(out.fs, out.path, build_folder, is_dir=True, where=out.where)
            log.info("wrote the output as %s part files to %s", out.fmt, out.display)
            return
        parent = _parent(out)
        prefix = f".{_basename(out)}.tmp-{secrets.token_hex(4)}-part-"

        def build_file(tmp: str) -> None:
            try:
                nest(i + 1, [*writers, _PartWriter(out.fs, parent, prefix, "pickle", {}, out.where, out.display)])
                _assemble(out, parent, prefix, tmp)
            finally:
                for name in _staged(out.fs, parent, prefix):
                    io._remove_quietly(out.fs, io._join(out.fs, parent, name))

        io._atomic_write(out.fs, out.path, build_file, is_dir=False, where=out.where)
        log.info("wrote the output as one %s file to %s", out.fmt, out.display)

    nest(0, [])


def _parent(out: _Output) -> str:
    """The folder an output lies in (its temporaries go beside it)."""
    return os.path.dirname(os.path.abspath(out.path)) if out.fs is None else posixpath.dirname(out.path)


def _basename(out: _Output) -> str:
    return os.path.basename(out.path) if out.fs is None else posixpath.basename(out.path)


def _staged(fs: Any, folder: str, prefix: str) -> list[str]:
    """The staged parts of one output, in part order."""
    names = os.listdir(folder) if fs is None else [posixpath.basename(p) for p in fs.ls(folder, detail=False)]
    return sorted(n for n in names if n.startswith(prefix) and n.endswith(".pkl"))


def _assemble(out: _Output, folder: str, prefix: str, tmp: str) -> None:
    """Stream the staged parts, in order, into one Parquet or CSV file (one part in memory at a time)."""

    def load(name: str) -> pd.DataFrame:
        path = io._join(out.fs, folder, name)
        with open(path, "rb") if out.fs is None else out.fs.open(path, "rb") as handle:
            return pickle.load(handle)

    names = _staged(out.fs, folder, prefix)
    if out.fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        with open(tmp, "wb") if out.fs is None else out.fs.open(tmp, "wb") as handle:
            writer = None
            try:
                for name in names:
                    table = pa.Table.from_pandas(load(name), preserve_index=False)
                    if writer is None:
                        writer = pq.ParquetWriter(handle, table.schema,
                                                  compression=out.props.get("compression", "snappy"))
                    elif not table.schema.equals(writer.schema, check_metadata=False):
                        table = table.cast(writer.schema)
                    writer.write_table(table)
            except (pa.ArrowException, ValueError, TypeError) as exc:
                raise DataError(f"{out.where}: cannot write Parquet to {out.display}: {io._first_line(exc)}") from exc
            finally:
                if writer is not None:
                    writer.close()
        return
    props = {k: v for k, v in out.props.items() if k != "encoding"}
    encoding = out.props.get("encoding", "utf-8")
    with (open(tmp, "w", encoding=encoding, newline="") if out.fs is None
          else out.fs.open(tmp, "w", encoding=encoding, newline="")) as handle:
        for j, name in enumerate(names):
            io._write_csv(load(name), handle, {**props, "header": bool(props.get("header", True)) and j == 0},
                          out.where)
