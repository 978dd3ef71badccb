"""Infer a complete job configuration from a table: what ``infer(targetVariable=…)`` and
``anonymize(…, mode="auto")`` run.

The result is an ordinary `JobConfig` — the one model the SDK, CLI, REST API and plugins share —
so a person can read it, edit it, save it (``to_yaml``) and submit it. Inference only fills what
the user left open: attributes present in the base configuration keep their type, hierarchy and
weight (a quasi-identifier given without a hierarchy gets one); privacy models, max_suppression,
metric and every other field the base sets stay as they are.

With a target variable, the target is kept unchanged (insensitive) and a handful of candidate
hierarchy sets (default, finer, coarser, weighted towards the QIs that tell most about the target)
are anonymized on a sample; the candidate whose output keeps the highest accuracy of a simple
classifier (`target_accuracy`) wins, and the accuracies on input and output are reported.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from anon_ops.config import Attribute, AttributeType, HierarchySpec, JobConfig, KAnonymity
from anon_ops.engine.hierarchy import build_hierarchy, leaf_codes
from anon_ops.errors import AnonOpsError, ConfigError, DataError
from anon_ops.infer.domains import ColumnProfile, Domain, detect_column
from anon_ops.infer.hierarchies import Granularity, hierarchy_for
from anon_ops.infer.target import majority_accuracy, mutual_information, target_accuracy

__all__ = ["CandidateScore", "InferenceResult", "infer_config"]

log = logging.getLogger(__name__)

SAMPLE_ROWS = 20_000
"""Candidates are compared on at most this many rows (a fixed-seed sample)."""

_NATURAL_TYPE = {
    Domain.AGE: "interval", Domain.NUMERIC: "interval", Domain.DATE: "date", Domain.DATE_OF_BIRTH: "date",
    Domain.ZIP_CODE: "masking", Domain.CATEGORICAL_CODE: "masking",
}
_CANDIDATES: tuple[tuple[str, Granularity, bool], ...] = (
    ("default", "default", False),
    ("fine", "fine", False),
    ("coarse", "coarse", False),
    ("target-weighted", "default", True),
)


@dataclass
class CandidateScore:
    """One candidate hierarchy set, as measured on the sample."""

    name: str
    accuracy_output: float | None = None
    suppressed_share: float | None = None
    seconds: float = 0.0
    chosen: bool = False
    error: str | None = None


@dataclass
class InferenceResult:
    """The inferred configuration, the per-column evidence and (with a target) the accuracies."""

    config: JobConfig
    profiles: list[ColumnProfile]
    target_variable: str | None = None
    accuracy_input: float | None = None
    accuracy_output: float | None = None
    accuracy_baseline: float | None = None
    candidates: list[CandidateScore] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def profile(self, name: str) -> ColumnProfile:
        """The profile of one column (KeyError when the table has no such column)."""
        for p in self.profiles:
            if p.name == name:
                return p
        raise KeyError(name)

    def classification(self) -> dict[str, str]:
        """Column → type, as in the configuration."""
        return {p.name: p.classification.value for p in self.profiles}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: what the REST route ``POST /api/v1/infer`` returns."""
        return {
            "config": self.config.to_dict(),
            "profiles": [p.model_dump(mode="json") for p in self.profiles],
            "target_variable": self.target_variable,
            "accuracy_input": self.accuracy_input,
            "accuracy_output": self.accuracy_output,
            "accuracy_baseline": self.accuracy_baseline,
            "candidates": [vars(c).copy() for c in self.candidates],
            "notes": list(self.notes),
        }

    def report(self) -> str:
        """A readable summary: one line per column, the reasons, the privacy settings, the target."""
        rows = [("column", "domain", "type", "conf", "source", "hierarchy")]
        for p in self.profiles:
            rows.append((p.name, p.domain.value, p.classification.value, f"{p.confidence:.2f}", p.source,
                         _describe_hierarchy(self.config, p.name)))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = [f"Inferred configuration for {len(self.profiles)} column(s)"]
        lines += ["  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
                  for row in rows]
        lines.append("Why:")
        lines += [f"  {p.name}: {p.reason}" for p in self.profiles]
        models = ", ".join(_describe_model(m) for m in self.config.privacy_models) or "none"
        lines.append(f"Privacy: {models}; max_suppression {self.config.max_suppression:g}; "
                     f"metric {self.config.metric.name}")
        if self.target_variable is not None:
            lines.append(f"Target variable {self.target_variable!r} (kept unchanged): classifier accuracy "
                         f"on the input {_fmt(self.accuracy_input)}, on the output {_fmt(self.accuracy_output)} "
                         f"(always the majority class: {_fmt(self.accuracy_baseline)})")
            for c in self.candidates:
                outcome = (f"error: {c.error}" if c.error else
                           f"accuracy {_fmt(c.accuracy_output)}, suppressed {_fmt(c.suppressed_share)}")
                chosen = "  <- chosen" if c.chosen else ""
                lines.append(f"  candidate {c.name}: {outcome}, {c.seconds:.2f} s{chosen}")
        if self.notes:
            lines.append("Notes:")
            lines += [f"  - {note}" for note in self.notes]
        return "\n".join(lines)


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def _describe_model(model: Any) -> str:
    params = model.params.model_dump(mode="json", exclude_none=True)
    params.pop("subset", None)
    return f"{model.model_type}({', '.join(f'{k}={v}' for k, v in params.items())})"


def _describe_hierarchy(config: JobConfig, name: str) -> str:
    try:
        spec = config.attribute(name).hierarchy
    except KeyError:
        return "-"
    if spec is None:
        return "-"
    if spec.type == "interval":
        return f"interval {[_number(w) for w in spec.params.intervals]}"
    if spec.type == "date":
        return f"date {spec.params.format or 'ISO'} {'/'.join(spec.params.levels)}"
    if spec.type == "tree":
        mapping = spec.params.mapping
        return f"tree ({len(mapping)} leaves, {len(next(iter(mapping.values())))} level(s))"
    if spec.type == "file":
        return f"file {spec.name}"
    return spec.type


def _number(x: float) -> float | int:
    return int(x) if float(x).is_integer() else x


# --------------------------------------------------------------------------- inference
def infer_config(
    df: pd.DataFrame,
    base: JobConfig | Mapping[str, Any] | str | Path | None = None,
    target_variable: str | None = None,
    k: int = 5,
    max_suppression: float = 0.05,
    *,
    sample_rows: int = SAMPLE_ROWS,
    time_budget_seconds: float = 60.0,
) -> InferenceResult:
    """Detect every column's domain and classification and build a configuration that runs as is.

    `base`: what the user already decided (a JobConfig, a dict of its fields, or a JSON/YAML file or
    text). A field counts as set when the document has the key (for a JobConfig: when it is in
    ``model_fields_set``). `k` and `max_suppression` apply only when the base sets no privacy model
    / no max_suppression. `target_variable`: the column whose predictive value the output should
    keep; candidates are compared on at most `sample_rows` rows, and no new candidate is started
    after `time_budget_seconds`.
    """
    started = time.perf_counter()
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"df: expected a pandas DataFrame, got {type(df).__name__}")
    if df.shape[1] == 0 or len(df) == 0:
        raise DataError("df: the table has no columns or no rows; nothing to infer")
    if not all(isinstance(c, str) for c in df.columns) or not df.columns.is_unique:
        raise DataError("df: column names must be distinct texts, since the configuration names columns; "
                        "rename the columns first")
    base_config = JobConfig() if base is None else JobConfig.load(dict(base) if isinstance(base, Mapping) else base)
    if target_variable is not None and target_variable not in df.columns:
        raise DataError(f"target_variable: {target_variable!r} is not a column of the data "
                        f"(columns: {[str(c) for c in df.columns]})")
    user = {a.name: a for a in base_config.attributes}
    user_models = "privacy_models" in base_config.model_fields_set and bool(base_config.privacy_models)
    k_eff = base_config.k() if any(isinstance(m, KAnonymity) for m in base_config.privacy_models) else k
    notes: list[str] = []

    profiles = [_profile(df[c], str(c), user, target_variable, notes) for c in df.columns]
    builder = _Builder(df, profiles, user, k_eff)
    document = base_config.model_dump(mode="json", exclude_none=True, exclude_unset=True)
    document.pop("attributes", None)
    if not user_models:
        document["privacy_models"] = [{"model_type": "k-anonymity", "params": {"k": k}}]
    if "max_suppression" not in base_config.model_fields_set:
        document["max_suppression"] = max_suppression

    def config_of(granularity: Granularity, weights: dict[str, float] | None) -> JobConfig:
        attributes = builder.attributes(granularity, weights)
        return JobConfig.parse({**document, "attributes": attributes}, base_config.base_dir)

    config = config_of("default", None)
    _add_notes(config, df, profiles, user, user_models, target_variable, notes)
    result = InferenceResult(config, profiles, target_variable, notes=notes)
    if target_variable is not None:
        _choose_for_target(result, df, target_variable, builder, config_of, sample_rows,
                           started + time_budget_seconds)
    notes += builder.notes()
    counts = {t.value: sum(p.classification == t for p in profiles) for t in AttributeType}
    log.info("inferred a configuration for %d column(s): %s, in %.2f s", len(profiles), counts,
             time.perf_counter() - started)
    return result


def _profile(values: pd.Series, name: str, user: dict[str, Attribute], target: str | None,
             notes: list[str]) -> ColumnProfile:
    """Detection, then what the user set (kept) or the target rule (insensitive, unchanged)."""
    detected = detect_column(values, name)
    if name in user:
        kind = user[name].type
        reason = (f"kept as set in the base configuration ({kind.value}); detection alone would say "
                  f"{detected.classification.value}: {detected.reason}")
        return detected.model_copy(update={"classification": kind, "source": "user", "confidence": 1.0,
                                           "reason": reason})
    if name == target:
        if detected.classification == AttributeType.IDENTIFIER:
            raise ConfigError(
                f"target_variable: {name!r} looks like a direct identifier ({detected.reason}); keeping it "
                "unchanged would publish it. Set its type in the base configuration to decide otherwise"
            )
        if detected.classification != AttributeType.INSENSITIVE:
            notes.append(f"target {name!r} would be {detected.classification.value} by detection; it is kept "
                         "unchanged as the target variable")
        reason = (f"target variable: kept unchanged (insensitive, never generalized) to keep its predictive "
                  f"value; detected as {detected.domain.value}")
        return detected.model_copy(update={"classification": AttributeType.INSENSITIVE, "source": "target",
                                           "reason": reason})
    return detected


class _Builder:
    """Builds the attribute list for a granularity and weights; hierarchies are cached per column."""

    def __init__(self, df: pd.DataFrame, profiles: list[ColumnProfile], user: dict[str, Attribute], k: int) -> None:
        self.df, self.profiles, self.user, self.k = df, profiles, user, k
        self._cache: dict[tuple[str, Granularity], HierarchySpec] = {}
        self._written_out: dict[str, str] = {}

    def hierarchy(self, profile: ColumnProfile, granularity: Granularity) -> HierarchySpec:
        key = (profile.name, granularity)
        if key not in self._cache:
            spec = hierarchy_for(profile, self.df[profile.name], self.k, granularity)
            natural = _NATURAL_TYPE.get(profile.domain)
            if natural is not None and spec.type != natural:
                self._written_out[profile.name] = natural
            self._cache[key] = spec
        return self._cache[key]

    def notes(self) -> list[str]:
        """Columns whose natural hierarchy could not be used as a spec (missing or unplaceable values)."""
        return [f"{name!r}: hierarchy written out as an inline tree instead of a(n) {natural} spec (missing values, "
                "or values such a spec cannot place)" for name, natural in self._written_out.items()]

    def inferred_qis(self) -> list[ColumnProfile]:
        """QIs whose hierarchy inference decides (not a user's hierarchy)."""
        return [p for p in self.profiles if p.classification == AttributeType.QUASI_IDENTIFIER
                and (p.name not in self.user or self.user[p.name].hierarchy is None)]

    def attributes(self, granularity: Granularity, weights: dict[str, float] | None) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for p in self.profiles:
            if p.name in self.user:
                attribute = self.user[p.name]
                if attribute.type == AttributeType.QUASI_IDENTIFIER and attribute.hierarchy is None:
                    attribute = attribute.model_copy(update={"hierarchy": self.hierarchy(p, granularity)})
                out.append(attribute.model_dump(mode="json", exclude_none=True))
                continue
            entry: dict[str, Any] = {"name": p.name, "type": p.classification.value}
            if p.classification == AttributeType.QUASI_IDENTIFIER:
                entry["hierarchy"] = self.hierarchy(p, granularity).model_dump(mode="json", exclude_none=True)
                if weights and p.name in weights:
                    entry["weight"] = weights[p.name]
            out.append(entry)
        names = {p.name for p in self.profiles}
        out += [a.model_dump(mode="json", exclude_none=True) for n, a in self.user.items() if n not in names]
        return out


def _add_notes(config: JobConfig, df: pd.DataFrame, profiles: list[ColumnProfile], user: dict[str, Attribute],
               user_models: bool, target: str | None, notes: list[str]) -> None:
    columns = {str(c) for c in df.columns}
    absent = [n for n in user if n not in columns]
    if absent:
        notes.append(f"base attribute(s) {absent} are not columns of this table; kept, but a job on it will fail")
    if not config.quasi_identifiers:
        notes.append("no quasi-identifier found: the configuration needs at least one before it can run")
    if user_models:
        notes.append("privacy models kept from the base configuration")
    sensitive = [p.name for p in profiles if p.classification == AttributeType.SENSITIVE and p.source == "inferred"]
    if sensitive:
        notes.append(f"sensitive attribute(s) {sensitive} are kept as they are; add l-diversity or t-closeness "
                     "on them to protect against attribute disclosure")
    if target is not None and target in user:
        kind = user[target].type
        if kind != AttributeType.INSENSITIVE:
            notes.append(f"the base configuration makes the target {target!r} {kind.value}; kept as set, so "
                         "the target is not published unchanged")
    low = [p.name for p in profiles if p.source == "inferred" and p.confidence < 0.6]
    if low:
        notes.append(f"low confidence for {low}: check their types")


# --------------------------------------------------------------------------- target variable
def _choose_for_target(
    result: InferenceResult,
    df: pd.DataFrame,
    target: str,
    builder: _Builder,
    config_of: Callable[[Granularity, dict[str, float] | None], JobConfig],
    sample_rows: int,
    deadline: float,
) -> None:
    """Anonymize a sample with each candidate hierarchy set; keep the one that predicts the target best."""
    from anon_ops.engine.anonymizer import anonymize  # local: the engine is only needed with a target

    features = [q for q in result.config.quasi_identifiers if q != target and q in df.columns]
    if not features:
        result.notes.append("no quasi-identifier besides the target: nothing to compare candidates on")
        return
    sample = df if len(df) <= sample_rows else df.sample(n=sample_rows, random_state=0)
    sample = sample.reset_index(drop=True)
    result.accuracy_input = target_accuracy(sample, features, target)
    result.accuracy_baseline = majority_accuracy(sample, target)

    weights = _target_weights(builder, sample, target)
    seen: list[list[dict[str, Any]]] = []
    configs: list[tuple[CandidateScore, JobConfig]] = []
    for name, granularity, weighted in _CANDIDATES:
        if weighted and not weights:
            continue
        config = config_of(granularity, weights if weighted else None)
        attributes = config.to_dict()["attributes"]
        if attributes in seen:
            continue  # e.g. no numeric QI: fine and default are the same
        seen.append(attributes)
        if configs and time.perf_counter() > deadline:
            result.notes.append(f"time budget reached: candidate {name} and later ones were not measured")
            break
        score = _measure(anonymize, config, sample, features, target, name)
        configs.append((score, config))

    limit = result.config.max_suppression + 1e-12
    valid = [(s, c) for s, c in configs if s.error is None and s.accuracy_output is not None]
    if not valid:
        result.candidates = [s for s, _ in configs]
        result.notes.append("no candidate could be anonymized on the sample; the default hierarchies are kept")
        return
    best_score, best_config = max(
        enumerate(valid),
        key=lambda item: ((item[1][0].suppressed_share or 0.0) <= limit, item[1][0].accuracy_output, -item[0]),
    )[1]
    best_score.chosen = True
    result.config = best_config
    result.accuracy_output = best_score.accuracy_output
    result.candidates = [s for s, _ in configs]


def _measure(anonymize: Any, config: JobConfig, sample: pd.DataFrame, features: list[str], target: str,
             name: str) -> CandidateScore:
    """Anonymize the sample with rows kept in input order (so the split matches) and score the output."""
    started = time.perf_counter()
    document = config.to_dict()
    document["additional_properties"] = {**document.get("additional_properties", {}),
                                         "shuffle": False, "drop_suppressed": False, "seed": 0}
    try:
        out = anonymize(sample, JobConfig.parse(document, config.base_dir))
    except AnonOpsError as exc:
        log.info("candidate %s: no result (%s)", name, type(exc).__name__)
        # the engine's own message may quote data values; the result only says what kind of failure it was
        return CandidateScore(name, seconds=time.perf_counter() - started, error=type(exc).__name__)
    rows = out.statistics["rows"]
    score = CandidateScore(
        name,
        accuracy_output=target_accuracy(out.data, features, target),
        suppressed_share=rows["suppressed"] / max(1, rows["input"]),
        seconds=time.perf_counter() - started,
    )
    log.info("candidate %s: accuracy %.4f, suppressed share %.4f, %.2f s", name, score.accuracy_output,
             score.suppressed_share, score.seconds)
    return score


def _target_weights(builder: _Builder, sample: pd.DataFrame, target: str) -> dict[str, float]:
    """Loss weights 0.5–2 by how much each inferred QI's first generalization level tells about the target
    (mutual information), so the search prefers to keep those QIs detailed. Empty when nothing tells."""
    information: dict[str, float] = {}
    for p in builder.inferred_qis():
        if p.name == target:
            continue
        spec = builder.hierarchy(p, "default")
        try:
            h = build_hierarchy(p.name, spec, sample[p.name])
            level_one = h.levels[leaf_codes(h, sample[p.name]), min(1, h.height)]
        except AnonOpsError:
            continue
        information[p.name] = mutual_information(pd.Series(level_one), sample[target])
    top = max(information.values(), default=0.0)
    if top <= 1e-12 or len(information) < 2:
        return {}
    return {name: round(0.5 + 1.5 * mi / top, 2) for name, mi in information.items()}
