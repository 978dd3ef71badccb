"""Operators of the anon-ops provider."""

from anon_ops.airflow.operators.explore import AnonInferOperator, AnonMeasureOperator
from anon_ops.airflow.operators.gate import AnonQualityGateOperator
from anon_ops.airflow.operators.job import (
    AnonJobOperator,
    AnonStatisticsOperator,
    AnonymizeOperator,
    ApplyAnonymizeOperator,
)

__all__ = [
    "AnonInferOperator",
    "AnonJobOperator",
    "AnonMeasureOperator",
    "AnonQualityGateOperator",
    "AnonStatisticsOperator",
    "AnonymizeOperator",
    "ApplyAnonymizeOperator",
]
