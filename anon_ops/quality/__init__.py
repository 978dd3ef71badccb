"""The quality gate: decide publish / resubmit / fail for an anonymization release.

A ``GatePolicy`` (YAML/JSON/dict) holds the thresholds and the escalation ladder; ``evaluate_gate``
checks a statistics document — and optionally the anonymized table and, for incremental releases,
the union of everything published so far — with Great Expectations and returns a ``GateVerdict``.

Importing this package is cheap: ``great_expectations`` (seconds to import) is loaded by the first
gate that runs, not here.
"""

from anon_ops.quality.gate import THRESHOLDS, GateVerdict, evaluate_gate, union_risk
from anon_ops.quality.ladder import REMEDIES, LadderMove, apply_ladder, next_move
from anon_ops.quality.policy import DEFAULT_LADDER, GatePolicy, LadderStep, load_policy

__all__ = [
    "DEFAULT_LADDER",
    "REMEDIES",
    "THRESHOLDS",
    "GatePolicy",
    "GateVerdict",
    "LadderMove",
    "LadderStep",
    "apply_ladder",
    "evaluate_gate",
    "load_policy",
    "next_move",
    "union_risk",
]
