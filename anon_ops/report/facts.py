"""What the report states, extracted from the statistics document and the job configuration.

Kept apart from the HTML so that the privacy rules live in one place:

* identifiers are never described (their names are listed, never their values);
* configuration parts that may hold data are summarised, never printed: tree-hierarchy mappings
  (leaf values), inline sources, targets and δ-presence subsets (records), file and SQL locations
  (paths, URLs with credentials), and the shuffle seed (it would undo the row shuffle);
* value distributions list only values seen at least ``max(k, 2)`` times — the engine folds rare
  *source* values into 'other' but not target ones, and an insensitive column can be unique per
  record — and numeric summaries omit min and max (each is one record's value).
"""

from __future__ import annotations

import csv
import logging
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from anon_ops.config import (
    Attribute,
    AttributeType,
    AutoHierarchy,
    DateHierarchy,
    FileHierarchy,
    HierarchySpec,
    IntervalHierarchy,
    JobConfig,
    MaskingHierarchy,
    TreeHierarchy,
)
from anon_ops.engine.anonymizer import SIZE_BUCKETS as _ENGINE_BUCKETS
from anon_ops.report.svg import Bar

log = logging.getLogger(__name__)

TOP_VALUES = 12
"""Bars per distribution panel before the rest is folded into 'other': a readable chart."""

SIZE_BUCKETS = tuple(int(b) for b in _ENGINE_BUCKETS)  # the engine's class_size_histogram buckets
"""Class-size bucket starts of the records-at-risk histogram the engine is asked to add."""


# --------------------------------------------------------------------------- numbers
def number(value: Any) -> float | None:
    """A finite float, or None: statistics may be partial (apply jobs, older documents)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    v = float(value)
    return v if math.isfinite(v) else None


def fmt_count(value: Any) -> str:
    v = number(value)
    return "—" if v is None else f"{v:,.0f}"


def fmt_share(value: Any) -> str:
    v = number(value)
    return "—" if v is None else f"{100.0 * v:.2f}%"


def fmt_value(value: Any) -> str:
    """A metric value: enough digits for the Loss reference (0.5731509656) and readable when huge."""
    v = number(value)
    if v is None:
        return "—"
    if abs(v) >= 1e6:
        return f"{v:,.0f}"
    return f"{v:.6g}" if abs(v) >= 1 else f"{v:.6f}".rstrip("0").rstrip(".") or "0"


def fmt_param(value: Any) -> str:
    """A numeric model parameter (k, l, c, t, δ); anything else is not printed."""
    v = number(value)
    if v is None:
        return "?"
    return str(int(v)) if v.is_integer() else f"{v:g}"


def get(mapping: Any, *path: str) -> Any:
    """Nested lookup that tolerates missing parts of a partial statistics document."""
    for key in path:
        if not isinstance(mapping, Mapping):
            return None
        mapping = mapping.get(key)
    return mapping


# --------------------------------------------------------------------------- configuration
def load_config(config: JobConfig | Mapping[str, Any] | None) -> JobConfig | None:
    if config is None or isinstance(config, JobConfig):
        return config
    return JobConfig.parse(dict(config))


def k_of(statistics: Mapping[str, Any], config: JobConfig | None) -> int:
    """The k of k-anonymity, from the configuration or else the statistics' privacy models."""
    if config is not None:
        return config.k()
    for model in statistics.get("privacy_models") or []:
        if isinstance(model, Mapping) and model.get("model_type") == "k-anonymity":
            k = number(get(model, "params", "k"))
            if k is not None:
                return max(int(k), 1)
    return 1


def model_text(model: Mapping[str, Any]) -> str:
    """One privacy model in words; only numeric parameters and attribute names are shown."""
    kind = str(model.get("model_type", "unknown model"))
    p = model.get("params") if isinstance(model.get("params"), Mapping) else {}
    on = f" on {p['attribute']}" if isinstance(p.get("attribute"), str) else ""
    if kind == "k-anonymity":
        return f"k-anonymity (k = {fmt_param(p.get('k'))})"
    if kind == "l-diversity":
        variant = p.get("diversity_type") if p.get("diversity_type") in ("distinct", "entropy", "recursive") else ""
        c = f", c = {fmt_param(p.get('c'))}" if p.get("c") is not None else ""
        return f"{variant} l-diversity (l = {fmt_param(p.get('l'))}{c}){on}".strip()
    if kind == "t-closeness":
        metric = p.get("distance_metric")
        distance = f"{metric} distance, " if metric in ("equal", "ordered", "hierarchical") else ""
        return f"t-closeness ({distance}t = {fmt_param(p.get('t'))}){on}"
    if kind == "delta-presence":
        subset = get(p, "subset", "type")
        where = f"; research subset: {subset}" if subset in ("file", "sql", "inline") else ""
        return f"δ-presence ({fmt_param(p.get('delta_min'))} ≤ δ ≤ {fmt_param(p.get('delta_max'))}{where})"
    return kind


@dataclass(frozen=True)
class HierarchyFacts:
    kind: str
    summary: str
    height: int | None


def hierarchy_facts(spec: HierarchySpec | None, config: JobConfig) -> HierarchyFacts:
    """A hierarchy summarised by its type and shape; its values (data) are never listed."""
    if spec is None:
        return HierarchyFacts("—", "no hierarchy", None)
    if isinstance(spec, FileHierarchy):
        return HierarchyFacts("file", f"ARX CSV file {Path(spec.name).name}", _file_height(spec, config))
    if isinstance(spec, IntervalHierarchy):
        widths = ", ".join(fmt_param(w) for w in spec.params.intervals)
        return HierarchyFacts("interval", f"intervals of width {widths}, then the top", len(spec.params.intervals) + 1)
    if isinstance(spec, MaskingHierarchy):
        most = spec.params.max_level
        return HierarchyFacts("masking", f"masks up to {most} rightmost characters" if most
                              else "masks the rightmost characters, one more per level", None)
    if isinstance(spec, DateHierarchy):
        return HierarchyFacts("date", " → ".join([*spec.params.levels, "top"]), len(spec.params.levels) + 1)
    if isinstance(spec, TreeHierarchy):
        mapping = spec.params.mapping
        height = max((len(v) for v in mapping.values()), default=0) or None
        return HierarchyFacts("tree", f"inline mapping of {len(mapping):,} values, {height} level(s)", height)
    if isinstance(spec, AutoHierarchy):
        return HierarchyFacts("auto", f"built from the data (up to {spec.params.max_levels} levels)", None)
    return HierarchyFacts("unknown", "unknown hierarchy type", None)


def _file_height(spec: FileHierarchy, config: JobConfig) -> int | None:
    """Height of an ARX CSV hierarchy = columns − 1, from its first line only (never shown)."""
    path = Path(config.resolve_path(spec.name))
    if "://" in spec.name or not path.is_file():
        return None
    try:
        with path.open(encoding=spec.props.encoding, newline="") as fh:
            first = fh.readline(1 << 20)
        row = next(csv.reader([first], delimiter=spec.props.sep), [])
    except (OSError, UnicodeError, csv.Error):
        log.debug("hierarchy file unreadable for the report's height column", exc_info=True)
        return None
    return len(row) - 1 if len(row) > 1 else None


def store_text(store: Any) -> str:
    """Where data comes from or goes to, by kind only: paths and URLs may reveal names or secrets."""
    if store is None:
        return "given with the job"
    if store.type == "file" and store.file is not None:
        return f"file ({store.file.resolved_format()})"
    return {"sql": "SQL table or query", "inline": "inline records"}.get(store.type, str(store.type))


def attributes_by_type(config: JobConfig) -> dict[AttributeType, list[Attribute]]:
    return {kind: config.attributes_of(kind) for kind in AttributeType}


def heights(statistics: Mapping[str, Any], config: JobConfig | None) -> dict[str, int]:
    """Known hierarchy heights: from the statistics (``hierarchy_heights``, if the engine reports
    them) else from what the configuration fixes (file, interval, date, tree)."""
    known: dict[str, int] = {}
    if config is not None:
        for attribute in config.attributes_of(AttributeType.QUASI_IDENTIFIER):
            h = hierarchy_facts(attribute.hierarchy, config).height
            if h is not None:
                known[attribute.name] = h
    reported = statistics.get("hierarchy_heights")
    if isinstance(reported, Mapping):
        for name, h in reported.items():
            if number(h) is not None:
                known[str(name)] = int(h)
    return known


# --------------------------------------------------------------------------- risk distribution
@dataclass(frozen=True)
class RiskBuckets:
    """Shares of the non-suppressed records per risk bucket, for the source and the target."""

    labels: list[tuple[str, str]]
    source: list[float]
    target: list[float]
    exact: bool  # True: a class-size histogram; False: derived from uniqueness and records at risk


def _histogram_shares(hist: Any) -> tuple[list[int], list[float]] | None:
    """Validate ``{"class_size": [1, 2, …], "records": […]}``; shares of records per bucket."""
    if not isinstance(hist, Mapping):
        return None
    starts, records = hist.get("class_size"), hist.get("records")
    if not isinstance(starts, Sequence) or not isinstance(records, Sequence) or len(starts) != len(records):
        return None
    if not starts or any(number(s) is None or number(s) < 1 for s in starts):
        return None
    values = [number(r) for r in records]
    if any(v is None or v < 0 for v in values):
        return None
    sizes = [int(s) for s in starts]
    if sizes != sorted(set(sizes)):
        return None
    total = sum(v for v in values if v is not None)
    return sizes, [(v or 0.0) / total if total > 0 else 0.0 for v in values]


def _size_label(start: int, end: int | None) -> tuple[str, str]:
    if end is None:
        return f"≥{start}", f"risk ≤ {100 / start:.0f}%"
    if end == start + 1:
        return f"{start}", f"risk {100 / start:.0f}%"
    return f"{start}–{end - 1}", f"{100 / (end - 1):.0f}–{100 / start:.0f}%"


def risk_buckets(statistics: Mapping[str, Any], explicit: Mapping[str, Any] | None) -> RiskBuckets | None:
    """Records by re-identification risk 1/f before and after.

    Exact when a class-size histogram is available for both sides (``risk_distribution`` argument,
    or ``risk.<side>.distribution`` in the statistics); else three buckets derived from what every
    statistics document holds: uniques (risk 1), other records at risk (t < 1/f < 1), the rest.
    """
    hists = []
    for side in ("source", "target"):
        hist = get(explicit, side) if explicit is not None else None
        hists.append(_histogram_shares(hist if hist is not None else get(statistics, "risk", side, "distribution")))
    if hists[0] and hists[1] and hists[0][0] == hists[1][0]:
        starts = hists[0][0]
        ends: list[int | None] = [*starts[1:], None]
        return RiskBuckets([_size_label(s, e) for s, e in zip(starts, ends, strict=True)],
                           hists[0][1], hists[1][1], exact=True)
    given = [get(statistics, "risk", side, "distribution") for side in ("source", "target")]
    if explicit is not None or any(h is not None for h in given):
        log.warning("risk distribution ignored: expected {'class_size': [...], 'records': [...]} for both sides")
    sides = []
    threshold = None
    for side in ("source", "target"):
        unique = number(get(statistics, "risk", side, "sample_uniqueness"))
        at_risk = number(get(statistics, "risk", side, "prosecutor", "records_at_risk"))
        t = number(get(statistics, "risk", side, "threshold"))
        if unique is None or at_risk is None or t is None:
            return None
        threshold = t
        middle = max(at_risk - unique, 0.0)
        sides.append([unique, middle, max(1.0 - unique - middle, 0.0)])
    labels = [("unique", "risk 100%"), ("at risk", f"{fmt_share(threshold)} < risk < 100%"),
              ("not at risk", f"risk ≤ {fmt_share(threshold)}")]
    return RiskBuckets(labels, sides[0], sides[1], exact=False)


# --------------------------------------------------------------------------- exploratory
@dataclass(frozen=True)
class Panel:
    total: int
    bars: list[Bar]
    distinct: int | None


def panel(dist: Any, min_count: int, suppression_char: str) -> Panel | None:
    """The bars of one side of an attribute: frequent values, then 'other' (rare and unlisted)."""
    if not isinstance(dist, Mapping) or not isinstance(dist.get("values"), Mapping):
        return None
    total = number(dist.get("count"))
    values = [(str(label), int(n)) for label, n in dist["values"].items() if number(n) is not None]
    listed = [(label, n) for label, n in values if n >= min_count][:TOP_VALUES]
    total_i = int(total) if total is not None else sum(n for _, n in values) + int(number(dist.get("other")) or 0)
    other = max(total_i - sum(n for _, n in listed), 0)
    bars = [Bar(label if label else "(missing)", n, "suppressed" if label == suppression_char else "value")
            for label, n in _numeric_order(listed, suppression_char)]
    if other:
        bars.append(Bar("other values", other, "other"))
    distinct = number(dist.get("distinct"))
    return Panel(total_i, bars, int(distinct) if distinct is not None else None)


_LEADING_NUMBER = re.compile(r"^\s*[\[(]?\s*(-?\d+(?:\.\d+)?)")


def _numeric_order(listed: list[tuple[str, int]], suppression_char: str) -> list[tuple[str, int]]:
    """Numbers and ranges ('20-39', '[0, 5)') read best in value order; others stay by frequency.
    The suppression character goes last."""
    values = [(label, n) for label, n in listed if label != suppression_char]
    starts = [_LEADING_NUMBER.match(label) for label, _ in values]
    if not values or not all(starts):
        return listed
    keyed = sorted(zip(values, starts, strict=True), key=lambda vs: float(vs[1].group(1)) if vs[1] else 0.0)
    return [v for v, _ in keyed] + [(label, n) for label, n in listed if label == suppression_char]


def numeric_summary(dist: Any) -> str | None:
    """Mean, median and quartiles only: min and max are single records' values."""
    summary = dist.get("numeric") if isinstance(dist, Mapping) else None
    if not isinstance(summary, Mapping):
        return None
    parts = [(name, number(summary.get(key))) for name, key in
             (("mean", "mean"), ("median", "50%"), ("Q1", "25%"), ("Q3", "75%"))]
    shown = [f"{name} {v:,.4g}" for name, v in parts if v is not None]
    return ", ".join(shown) or None
