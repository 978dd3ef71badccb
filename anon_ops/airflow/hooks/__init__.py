"""Hooks of the anon-ops provider."""

from anon_ops.airflow.hooks.anon_ops import AnonOpsHook

__all__ = ["AnonOpsHook"]
