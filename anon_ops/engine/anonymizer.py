"""The engine's entry points: anonymize a table, apply a stored transformation, measure risk.

Everything here works on a pandas DataFrame plus a ``JobConfig``; reading and writing data stores
is the caller's business (``anon_ops.io``), so the same engine serves the CLI, the job runtime,
the SDK and the plugins.
"""

from __future__ import annotations

import logging
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from anon_ops.config import AttributeType, DeltaPresence, JobConfig
from anon_ops.engine.criteria import ClassTable, build_criteria
from anon_ops.engine.encoding import EncodedData, QuasiIdentifier, encode
from anon_ops.engine.frequency import aggregate
from anon_ops.engine.hierarchy import values_as_text
from anon_ops.engine.metrics import Evaluation, build_metric
from anon_ops.engine.risk import risk_statistics
from anon_ops.engine.search import Checker, RollupCache, SearchResult, greedy_search, optimal_search
from anon_ops.engine.utility import distribution, utility_statistics
from anon_ops.errors import ConfigError, DataError

log = logging.getLogger(__name__)

Progress = Callable[[float], None]
AbortCheck = Callable[[], bool]


class NoSolutionError(DataError):
    """No transformation satisfies the privacy models within the suppression limit."""


@dataclass
class AnonymizationResult:
    """The anonymized table, its statistics document and the configuration that produced it."""

    data: pd.DataFrame
    statistics: dict[str, Any]
    config: JobConfig
    transformation: dict[str, int] = field(default_factory=dict)


@dataclass
class _Outcome:
    """A transformation applied to the encoded input: classes and which records are suppressed."""

    levels: tuple[int, ...]
    table: ClassTable
    outlier: np.ndarray  # per class: violates the models → suppressed
    uninformative: np.ndarray  # per class: generalized to the top in every QI → reported as suppressed
    base_class: np.ndarray  # class of each base frequency-set row


def _validate_for_anonymization(config: JobConfig) -> None:
    if not config.quasi_identifiers:
        raise ConfigError("attributes: at least one attribute must have type 'quasi_identifier'")
    if not config.privacy_models:
        raise ConfigError("privacy_models: give at least one privacy model (e.g. k-anonymity)")


def _read_subset(config: JobConfig, subset: pd.DataFrame | None) -> pd.DataFrame | None:
    model = next((m for m in config.privacy_models if isinstance(m, DeltaPresence)), None)
    if model is None or subset is not None:
        return subset
    from anon_ops.io import read_table  # local: the engine itself needs no I/O

    return read_table(model.params.subset, config.resolve_path)


def _outcome(checker: Checker, encoded: EncodedData, levels: tuple[int, ...]) -> _Outcome:
    """Group the base frequency set at ``levels`` directly, so every base row knows its class."""
    base = encoded.base
    qi = np.stack([qi.maps[lv][base.qi[:, i]] for i, (qi, lv) in enumerate(zip(encoded.qis, levels, strict=True))],
                  axis=1) if encoded.qis else base.qi
    freq, base_row = aggregate(levels, qi, base.extra, base.counts, base.pcounts, encoded.radices(levels),
                               encoded.extra_radices)
    table = ClassTable.from_frequency_set(freq, encoded.radices(levels))
    outlier = np.zeros(table.n_classes, dtype=bool)
    for criterion in checker.monotone + checker.others:
        outlier |= criterion.failing(table)
    # metrics.md: a class generalized to the top value in every QI carries no information
    at_top = all(lv == q.height for q, lv in zip(encoded.qis, levels, strict=True))
    uninformative = np.full(table.n_classes, at_top, dtype=bool)
    return _Outcome(levels, table, outlier, uninformative & ~outlier, table.class_of_row[base_row])


def anonymize(
    df: pd.DataFrame,
    config: JobConfig | dict[str, Any],
    *,
    subset: pd.DataFrame | None = None,
    progress: Progress | None = None,
    should_abort: AbortCheck | None = None,
) -> AnonymizationResult:
    """Find the optimal transformation for ``config`` and produce the anonymized table."""
    started = time.perf_counter()
    config = JobConfig.load(config)
    _validate_for_anonymization(config)
    if subset is None:
        from anon_ops.engine.distributed import anonymize_distributed, use_dask  # local: Dask is optional

        if use_dask(config, len(df)):
            found = anonymize_distributed(df, config, progress=progress, should_abort=should_abort)
            assert found.data is not None  # no target: the output is collected
            return AnonymizationResult(found.data, found.statistics, config, found.transformation)
    subset = _read_subset(config, subset)
    encoded = encode(df, config, subset=subset)
    found = find_optimum(encoded, config, progress=progress, should_abort=should_abort)
    result = _publish(df, config, encoded, found.outcome)
    result.statistics.update(
        information_loss={"metric": config.metric.name, "value": found.loss},
        search=_search_facts(found.search, time.perf_counter() - started),
    )
    log.info("anonymized %d rows: transformation %s, %s=%.10f, %d nodes checked in %.3f s",
             len(df), result.transformation, config.metric.name, found.loss, found.search.checked,
             found.search.seconds)
    return result


@dataclass
class Optimum:
    """The search's answer for one configuration: the transformation's classes and its loss."""

    search: SearchResult
    outcome: _Outcome
    loss: float


def find_optimum(
    encoded: EncodedData,
    config: JobConfig,
    *,
    cache: RollupCache | None = None,
    validity: dict[tuple[object, ...], dict[tuple[int, ...], bool]] | None = None,
    progress: Progress | None = None,
    should_abort: AbortCheck | None = None,
) -> Optimum:
    """Search the lattice of ``encoded`` for ``config``'s models, suppression limit and metric.
    Raises NoSolutionError when no transformation is valid. A shared ``cache`` lets several
    configurations over the same data reuse each other's rolled-up frequency sets."""
    criteria = build_criteria(config, encoded)
    metric = build_metric(encoded, config.metric)
    max_outliers = math.floor(config.max_suppression * encoded.n_records)
    checker = Checker(encoded, criteria, metric, max_outliers, cache=cache, validity=validity)
    heights = [qi.height for qi in encoded.qis]
    lattice_size = math.prod(h + 1 for h in heights)
    algorithm = config.search.algorithm
    if algorithm == "auto":
        algorithm = "optimal" if lattice_size <= config.search.max_optimal_nodes else "heuristic"
    if algorithm == "optimal":
        search = optimal_search(checker, heights, progress, should_abort)
    else:
        search = greedy_search(checker, heights, config.search.time_budget_seconds, progress, should_abort)
    if search.levels is None:
        raise NoSolutionError(
            f"no transformation satisfies the privacy models with max_suppression={config.max_suppression} "
            f"({max_outliers} of {encoded.n_records} records may be suppressed)"
        )
    outcome = _outcome(checker, encoded, search.levels)
    loss = metric.evaluate(Evaluation(search.levels, outcome.table, outcome.outlier))
    return Optimum(search, outcome, loss)


def apply_transformation(
    df: pd.DataFrame,
    config: JobConfig | dict[str, Any],
    transformation: dict[str, int],
    *,
    subset: pd.DataFrame | None = None,
) -> AnonymizationResult:
    """Apply a stored transformation to new rows: no search; the privacy models are enforced by
    suppressing the classes of this batch that violate them, and the batch's risk is measured."""
    config = JobConfig.load(config)
    _validate_for_anonymization(config)
    missing = [q for q in config.quasi_identifiers if q not in transformation]
    if missing:
        raise ConfigError(f"transformation: no level for quasi-identifier(s) {missing}")
    subset = _read_subset(config, subset)
    encoded = encode(df, config, subset=subset)
    levels = tuple(int(transformation[q.name]) for q in encoded.qis)
    for q, lv in zip(encoded.qis, levels, strict=True):
        if not 0 <= lv <= q.height:
            raise ConfigError(f"transformation.{q.name}: level {lv} outside 0..{q.height}")
    criteria = build_criteria(config, encoded)
    metric = build_metric(encoded, config.metric)
    checker = Checker(encoded, criteria, metric, max_outliers=encoded.n_records)
    outcome = _outcome(checker, encoded, levels)
    result = _publish(df, config, encoded, outcome)
    result.statistics.update(
        information_loss={"metric": config.metric.name,
                          "value": metric.evaluate(Evaluation(levels, outcome.table, outcome.outlier))},
        search={"algorithm": "applied", "lattice_size": 1, "checked": 1, "seconds": 0.0},
    )
    return result


def _search_facts(search: SearchResult, total_seconds: float) -> dict[str, Any]:
    return {"algorithm": search.algorithm, "lattice_size": search.lattice_size, "checked": search.checked,
            "seconds": round(search.seconds, 6), "total_seconds": round(total_seconds, 6)}


def _publish(df: pd.DataFrame, config: JobConfig, encoded: EncodedData, outcome: _Outcome) -> AnonymizationResult:
    """Build the output table and the statistics document of one transformation."""
    props = config.additional_properties
    row_class = outcome.base_class[encoded.row_to_base]
    row_outlier = outcome.outlier[row_class]
    row_hidden = row_outlier | outcome.uninformative[row_class]
    keep = encoded.in_subset if encoded.in_subset is not None else np.ones(len(df), dtype=bool)
    if props.drop_suppressed:
        keep = keep & ~row_hidden
    base = encoded.base
    data = output_frame(df, config, encoded.qis, outcome.levels,
                        lambda i: base.qi[encoded.row_to_base, i], row_outlier, keep)
    # described before the shuffle: the distributions (and the order of equally frequent values)
    # then do not depend on the seed, and a partitioned run can reproduce them
    exploratory = exploratory_statistics(df, data, config)
    seed = props.seed if props.seed is not None else secrets.randbits(32)
    if props.shuffle:
        data = data.iloc[np.random.default_rng(seed).permutation(len(data))]
    data = data.reset_index(drop=True)
    statistics = publication_statistics(encoded, config, outcome, rows_input=len(df), rows_output=len(data),
                                        exploratory=exploratory, seed=seed)
    return AnonymizationResult(data, statistics, config, dict(statistics["transformation"]))


def output_frame(
    df: pd.DataFrame,
    config: JobConfig,
    qis: list[QuasiIdentifier],
    levels: tuple[int, ...],
    leaf_codes_of: Callable[[int], np.ndarray],
    row_outlier: np.ndarray,
    keep: np.ndarray,
) -> pd.DataFrame:
    """The published rows ``keep`` of ``df``: identifiers removed, QIs generalized to ``levels``
    (``leaf_codes_of(i)``: the rows' leaf codes of QI i), outliers masked. One function for the
    whole table in-process and for each partition on Dask, so both publish the same values."""
    props = config.additional_properties
    identifiers = {a.name for a in config.attributes_of(AttributeType.IDENTIFIER)}
    qi_index = {q.name: i for i, q in enumerate(qis)}
    out: dict[str, Any] = {}
    for column in df.columns:
        if column in identifiers:
            continue
        if column in qi_index:
            i = qi_index[column]
            q, lv = qis[i], levels[i]
            labels = np.append(q.labels[lv].astype(object), props.suppression_char)
            codes = q.maps[lv][leaf_codes_of(i)].astype(np.int64)
            codes[row_outlier] = len(labels) - 1
            out[column] = labels[codes[keep]]
        else:
            out[column] = df[column].to_numpy()[keep]
    return pd.DataFrame(out, columns=[c for c in df.columns if c not in identifiers])


def publication_statistics(
    encoded: EncodedData,
    config: JobConfig,
    outcome: _Outcome,
    *,
    rows_input: int,
    rows_output: int,
    exploratory: dict[str, Any],
    seed: int,
) -> dict[str, Any]:
    """The statistics document of a published table (without information loss and search facts),
    assembled in one place for the in-process and the Dask path."""
    props = config.additional_properties
    statistics = outcome_statistics(encoded, config, outcome)
    statistics["rows"].update(input=rows_input, output=rows_output)
    statistics["risk"]["source"] = source_risk(encoded, config)
    statistics.update(
        exploratory=exploratory,
        privacy_models=[m.model_dump(mode="json", exclude_none=True) for m in config.privacy_models],
        max_suppression=config.max_suppression,
        output={"shuffled": props.shuffle, "seed": seed if props.shuffle else None,
                "suppressed_rows": "dropped" if props.drop_suppressed else "masked"},
    )
    return statistics


SIZE_BUCKETS = np.array([1, 2, 3, 4, 5, 10, 20, 50, 100])


def class_size_histogram(sizes: np.ndarray) -> dict[str, list[int]]:
    """Records and classes per class-size bucket (lower bounds in ``class_size``): the shape of the
    re-identification risk, for the privacy report's records-at-risk chart."""
    f = np.asarray(sizes, dtype=np.int64)
    f = f[f > 0]
    bucket = np.searchsorted(SIZE_BUCKETS, f, side="right") - 1
    return {
        "class_size": SIZE_BUCKETS.tolist(),
        "records": np.bincount(bucket, weights=f, minlength=len(SIZE_BUCKETS)).astype(np.int64).tolist(),
        "classes": np.bincount(bucket, minlength=len(SIZE_BUCKETS)).astype(np.int64).tolist(),
    }


def outcome_statistics(encoded: EncodedData, config: JobConfig, outcome: _Outcome) -> dict[str, Any]:
    """Transformation, suppression, classes, target risk and utility of one outcome — what a
    published table's statistics say, computed from its classes without building the table."""
    sizes = outcome.table.sizes
    hidden = outcome.outlier | outcome.uninformative
    kept = ~hidden & (sizes > 0)
    psizes = outcome.table.psizes
    target = risk_statistics(sizes[kept], psizes[kept] if psizes is not None else None,
                             config.risk.threshold, config.risk.population_size)
    target["distribution"] = class_size_histogram(sizes[kept])
    return {
        "transformation": {q.name: int(lv) for q, lv in zip(encoded.qis, outcome.levels, strict=True)},
        "rows": {"input": encoded.n_records, "output": encoded.n_records, "suppressed": int(sizes[hidden].sum())},
        "equivalence_classes": int(kept.sum()),
        "risk": {"target": target},
        "utility": utility_statistics(encoded, outcome.levels, outcome.table, hidden, outcome.base_class),
    }


def source_risk(encoded: EncodedData, config: JobConfig) -> dict[str, Any]:
    """Risk of the input as it is (all QIs at level 0)."""
    table = ClassTable.from_frequency_set(encoded.base, encoded.radices(encoded.base.levels))
    present = table.sizes > 0
    psizes = table.psizes[present] if table.psizes is not None else None
    stats = risk_statistics(table.sizes[present], psizes, config.risk.threshold, config.risk.population_size)
    stats["distribution"] = class_size_histogram(table.sizes[present])
    return stats


def exploratory_statistics(source: pd.DataFrame, target: pd.DataFrame, config: JobConfig) -> dict[str, Any]:
    """Per-attribute distributions of source and target; identifiers are never described, and source
    values seen fewer than k times are folded into 'other'."""
    identifiers = {a.name for a in config.attributes_of(AttributeType.IDENTIFIER)}
    k = config.k()
    return {
        "source": {c: distribution(source[c], min_count=k) for c in source.columns if c not in identifiers},
        "target": {c: distribution(target[c]) for c in target.columns},
    }


def measure_risk(
    df: pd.DataFrame,
    quasi_identifiers: list[str],
    threshold: float = 0.2,
    population_size: int = 317_238_626,
) -> dict[str, Any]:
    """Risk of an existing table on the given QIs, without anonymizing it."""
    missing = [q for q in quasi_identifiers if q not in df.columns]
    if missing:
        raise DataError(f"qi: column(s) {missing} not found in the data (columns: {list(df.columns)})")
    if not quasi_identifiers:
        raise ConfigError("qi: give at least one quasi-identifier column")
    text = pd.DataFrame({q: values_as_text(df[q]) for q in quasi_identifiers})
    sizes = text.groupby(quasi_identifiers, sort=False).size().to_numpy()
    stats = risk_statistics(sizes, None, threshold, population_size)
    stats["quasi_identifiers"] = list(quasi_identifiers)
    return stats
