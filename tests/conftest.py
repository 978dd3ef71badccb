"""Shared fixtures: the shipped Adult sample and configurations built from it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from anon_ops.data import ADULT_CSV, ADULT_QIS, adult_hierarchy
from anon_ops.io import read_csv_text

# the shared folder (spec and benchmark data) lies beside the repository: read from it, never write
SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture(scope="session")
def adult() -> pd.DataFrame:
    return read_csv_text(ADULT_CSV, sep=";")


def adult_config(
    qis: list[str] | None = None,
    k: int = 5,
    suppression: float = 0.0,
    metric: str = "loss",
    sensitive: list[str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A job configuration over the Adult sample with ARX's hierarchies."""
    qis = list(ADULT_QIS) if qis is None else qis
    sensitive = sensitive or []
    attributes = [
        {"name": q, "type": "quasi_identifier", "hierarchy": {"type": "file", "name": str(adult_hierarchy(q))}}
        for q in qis
    ]
    attributes += [{"name": s, "type": "sensitive"} for s in sensitive]
    attributes += [{"name": c, "type": "insensitive"} for c in ADULT_QIS if c not in qis and c not in sensitive]
    config: dict[str, Any] = {
        "attributes": attributes,
        "privacy_models": [{"model_type": "k-anonymity", "params": {"k": k}}],
        "max_suppression": suppression,
        "metric": {"name": metric},
        "additional_properties": {"seed": 7},
    }
    config.update(extra)
    return config
