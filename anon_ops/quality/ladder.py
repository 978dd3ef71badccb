"""The escalation ladder: the next job configuration to try when a release fails the gate.

The ladder is walked by position. ``attempt`` is the position reached so far (0 at the first
gate); the gate looks at the steps from there on, skips those that cannot help (a step that would
not change the configuration, or one that does not address any failing kind of check) and uses the
first one left. The verdict reports ``next_attempt`` = that step's position + 1, to pass back at
the next gate. Positions only grow and stop at ``policy.ladder_bound`` (= min(len(ladder),
max_attempts)), so a gate loop ends after at most that many resubmissions, whatever the data.

Which kinds of failure each step addresses (a step is only used for failures it can remedy):

* raise_k — ``risk`` (the release's risk, or classes smaller than k) and ``union``
* stricter_model — ``risk`` and ``union``
* widen_hierarchies — ``suppression`` and ``utility`` (coarser levels let the search generalize
  instead of suppressing, and a larger lattice never has a worse optimum)
* widen_suppression — ``utility`` (suppressing a few outliers instead of generalizing everyone)
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from anon_ops.config import JobConfig
from anon_ops.errors import ConfigError
from anon_ops.quality.policy import GatePolicy, LadderStep, RaiseK, StricterModel, WidenHierarchies, WidenSuppression

log = logging.getLogger(__name__)

REMEDIES: dict[str, frozenset[str]] = {
    "raise_k": frozenset({"risk", "union"}),
    "stricter_model": frozenset({"risk", "union"}),
    "widen_hierarchies": frozenset({"suppression", "utility"}),
    "widen_suppression": frozenset({"utility"}),
}
"""Kinds of failed check each step can remedy (see the module docstring)."""

_DATE_ORDER = ("month", "year", "decade")
_EPS = 1e-9


@dataclass(frozen=True)
class LadderMove:
    """One step taken: the adjusted configuration and where the ladder now stands."""

    config: JobConfig
    step: LadderStep
    index: int
    description: str
    skipped: list[str] = field(default_factory=list)

    @property
    def next_attempt(self) -> int:
        """The ``attempt`` to pass to the next gate."""
        return self.index + 1


def next_move(
    config: JobConfig | dict[str, Any],
    policy: GatePolicy,
    attempt: int,
    failures: Iterable[str] | None = None,
) -> LadderMove | None:
    """The first usable ladder step at or after position ``attempt``; None when the ladder is exhausted.

    ``failures`` are the kinds of failed check (risk, union, suppression, utility); None means any
    step may be used.
    """
    return walk_ladder(config, policy, attempt, failures)[0]


def walk_ladder(
    config: JobConfig | dict[str, Any],
    policy: GatePolicy,
    attempt: int,
    failures: Iterable[str] | None = None,
) -> tuple[LadderMove | None, list[str]]:
    """``next_move`` plus why each step before it (or every remaining step, when none fits) was skipped."""
    if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 0:
        raise ConfigError(f"attempt: must be a whole number >= 0, got {attempt!r}")
    config = JobConfig.load(config)
    kinds = None if failures is None else frozenset(failures)
    skipped: list[str] = []
    for index in range(attempt, policy.ladder_bound):
        step = policy.ladder[index]
        label = f"ladder step {index + 1} ({step.kind})"
        if kinds is not None and not (REMEDIES[step.kind] & kinds):
            skipped.append(f"{label} skipped: it does not address {', '.join(sorted(kinds))}")
            continue
        adjusted, description = _apply(config, policy, step)
        if adjusted is None:
            skipped.append(f"{label} skipped: {description}")
            continue
        log.info("gate ladder: %s → %s", label, description)
        return LadderMove(adjusted, step, index, f"{label}: {description}", skipped), skipped
    return None, skipped


def apply_ladder(
    config: JobConfig | dict[str, Any],
    policy: GatePolicy,
    attempt: int,
    failures: Iterable[str] | None = None,
) -> JobConfig | None:
    """The configuration to resubmit after gate ``attempt`` (see ``next_move``); None when exhausted."""
    move = next_move(config, policy, attempt, failures)
    return move.config if move is not None else None


# --------------------------------------------------------------------------- the steps
def _apply(config: JobConfig, policy: GatePolicy, step: LadderStep) -> tuple[JobConfig | None, str]:
    """(adjusted configuration, what changed) or (None, why the step does not apply)."""
    if step.raise_k is not None:
        return _raise_k(config, policy, step.raise_k)
    if step.widen_suppression is not None:
        return _widen_suppression(config, policy, step.widen_suppression)
    if step.widen_hierarchies is not None:
        return _widen_hierarchies(config, step.widen_hierarchies)
    assert step.stricter_model is not None
    return _stricter_model(config, step.stricter_model)


def _rebuilt(config: JobConfig, data: dict[str, Any]) -> JobConfig:
    return JobConfig.parse(data, config.base_dir)


def _raise_k(config: JobConfig, policy: GatePolicy, params: RaiseK) -> tuple[JobConfig | None, str]:
    k = config.k()
    target = math.ceil(k * params.factor - _EPS) if params.factor is not None else int(params.to or 0)
    # never propose a k the policy's prosecutor bound would reject again (risk = 1 / class size)
    bound = policy.prosecutor_highest_risk_max
    needed = math.ceil(1.0 / bound - _EPS) if bound else 1
    new_k = max(target, needed)
    if new_k <= k:
        return None, f"k is already {k}"
    data = config.to_dict()
    models = data.get("privacy_models", [])
    for model in models:
        if model["model_type"] == "k-anonymity":
            model["params"]["k"] = new_k
            break
    else:
        models.insert(0, {"model_type": "k-anonymity", "params": {"k": new_k}})
    data["privacy_models"] = models
    return _rebuilt(config, data), f"k {k} → {new_k}"


def _widen_suppression(
    config: JobConfig, policy: GatePolicy, params: WidenSuppression
) -> tuple[JobConfig | None, str]:
    cap = policy.suppressed_max
    target = params.to if params.to is not None else (cap if cap is not None else 0.1)
    if cap is not None:
        target = min(target, cap)
    if target <= config.max_suppression + _EPS:
        return None, f"max_suppression is already {config.max_suppression:g} (the policy allows {target:g})"
    data = config.to_dict()
    data["max_suppression"] = target
    return _rebuilt(config, data), f"max_suppression {config.max_suppression:g} → {target:g}"


def _widen_hierarchies(config: JobConfig, params: WidenHierarchies) -> tuple[JobConfig | None, str]:
    data = config.to_dict()
    wanted = set(params.attributes) if params.attributes is not None else None
    changed: list[str] = []
    for attribute in data.get("attributes", []):
        hierarchy = attribute.get("hierarchy")
        if attribute["type"] != "quasi_identifier" or hierarchy is None:
            continue
        if wanted is not None and attribute["name"] not in wanted:
            continue
        if _widen(hierarchy, params.levels):
            changed.append(attribute["name"])
    if not changed:
        return None, "no generated hierarchy (interval, masking, date, auto) left to widen"
    return _rebuilt(config, data), f"{params.levels} coarser level(s) for {', '.join(changed)}"


def _widen(hierarchy: dict[str, Any], levels: int) -> bool:
    """Add ``levels`` coarser levels to a hierarchy specification in place; False when it cannot grow."""
    kind = hierarchy["type"]
    params = hierarchy.setdefault("params", {})
    if kind == "interval":
        widths = params["intervals"]
        params["intervals"] = widths + [widths[-1] * 2 ** (i + 1) for i in range(levels)]
        return True
    if kind == "masking":
        if params.get("max_level") is None:  # already masks every character
            return False
        params["max_level"] += levels
        return True
    if kind == "date":
        present = params.get("levels") or list(_DATE_ORDER)
        coarser = list(_DATE_ORDER[_DATE_ORDER.index(present[-1]) + 1:])[:levels]
        if not coarser:
            return False
        params["levels"] = present + coarser
        return True
    if kind == "auto":
        current = params.get("max_levels", 4)
        if current >= 10:
            return False
        params["max_levels"] = min(10, current + levels)
        return True
    return False  # file and tree hierarchies are fixed tables


def _model_key(model: dict[str, Any]) -> tuple[str, Any]:
    return model["model_type"], model.get("params", {}).get("attribute")


def _stricter_model(config: JobConfig, params: StricterModel) -> tuple[JobConfig | None, str]:
    data = config.to_dict()
    models: list[dict[str, Any]] = data.get("privacy_models", [])
    before = [dict(m) for m in models]
    names = []
    for new in params.privacy_models:
        new_dict = new.model_dump(mode="json", exclude_none=True)
        key = _model_key(new_dict)
        names.append(key[0] if key[1] is None else f"{key[0]} on {key[1]}")
        for i, model in enumerate(models):
            if _model_key(model) == key:
                models[i] = new_dict
                break
        else:
            models.append(new_dict)
    if models == before:
        return None, "the configuration already has these privacy models"
    data["privacy_models"] = models
    try:
        adjusted = _rebuilt(config, data)
    except ConfigError as exc:
        detail = " ".join(str(exc).removeprefix("invalid configuration:").split())
        return None, f"its models do not fit the configuration ({detail})"
    return adjusted, f"privacy models set: {', '.join(names)}"
