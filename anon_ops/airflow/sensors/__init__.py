"""Sensors of the anon-ops provider."""

from anon_ops.airflow.sensors.anon_job import AnonJobSensor

__all__ = ["AnonJobSensor"]
