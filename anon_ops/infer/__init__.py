"""Automatic configuration: detect data domains and classifications, build hierarchies, and choose
them so a target variable keeps its predictive value (``infer(targetVariable=…)``, ``mode="auto"``).

``infer_config(df, base=…, target_variable=…)`` returns an `InferenceResult` whose ``.config`` is an
ordinary `JobConfig`: it runs as a job without edits, and what the base configuration set is kept.
"""

from anon_ops.infer.domains import ColumnProfile, Domain, detect_column, name_hint, profile_columns
from anon_ops.infer.hierarchies import hierarchy_for
from anon_ops.infer.infer import CandidateScore, InferenceResult, infer_config
from anon_ops.infer.target import majority_accuracy, target_accuracy

__all__ = [
    "CandidateScore",
    "ColumnProfile",
    "Domain",
    "InferenceResult",
    "detect_column",
    "hierarchy_for",
    "infer_config",
    "majority_accuracy",
    "name_hint",
    "profile_columns",
    "target_accuracy",
]
