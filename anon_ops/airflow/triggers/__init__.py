"""Triggers of the anon-ops provider."""

from anon_ops.airflow.triggers.anon_job import AnonJobTrigger

__all__ = ["AnonJobTrigger"]
