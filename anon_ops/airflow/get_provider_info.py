"""The ``apache_airflow_provider`` entry point: what Airflow's ProvidersManager learns about anon-ops.

It must stay importable without the SDK's dependencies (the providers manager calls it in every
Airflow process), so it holds plain data only.
"""

from __future__ import annotations

from typing import Any

from anon_ops import __version__

_INTEGRATION = "anon-ops"


def get_provider_info() -> dict[str, Any]:
    """The provider document (validated by Airflow against ``provider_info.schema.json``)."""
    return {
        "package-name": "anon-ops",
        "name": "anon-ops",
        "description": "Data anonymization jobs (k-anonymity, l-diversity, t-closeness) with measured risk "
        "and utility, and a quality gate that decides publish or resubmit.",
        "versions": [__version__],
        "integrations": [
            {"integration-name": _INTEGRATION, "tags": ["software"]}
        ],
        "hooks": [{"integration-name": _INTEGRATION, "python-modules": ["anon_ops.airflow.hooks.anon_ops"]}],
        "operators": [
            {
                "integration-name": _INTEGRATION,
                "python-modules": [
                    "anon_ops.airflow.operators.job",
                    "anon_ops.airflow.operators.gate",
                    "anon_ops.airflow.operators.explore",
                ],
            }
        ],
        "sensors": [{"integration-name": _INTEGRATION, "python-modules": ["anon_ops.airflow.sensors.anon_job"]}],
        "triggers": [{"integration-name": _INTEGRATION, "python-modules": ["anon_ops.airflow.triggers.anon_job"]}],
        "connection-types": [
            {
                "connection-type": "anon_ops",
                "hook-class-name": "anon_ops.airflow.hooks.anon_ops.AnonOpsHook",
                "hook-name": "anon-ops",
            }
        ],
        "extra-links": ["anon_ops.airflow.links.AnonJobLink"],
    }
