"""measure: candidate configurations compared before any job runs, equal to separate jobs."""

from __future__ import annotations

import pytest

from anon_ops.engine.anonymizer import anonymize
from anon_ops.engine.measure import measure
from anon_ops.errors import ConfigError
from tests.conftest import adult_config

GRID = {"k": [2, 5, 10], "max_suppression": [0.0, 0.05], "metric": ["loss", "entropy"]}


@pytest.fixture(scope="module")
def measured(adult):
    return measure(adult, adult_config(), GRID)


def test_one_row_per_candidate_with_the_contract_columns(measured):
    assert len(measured) == 12
    for column in ("k", "max_suppression", "metric", "information_loss", "suppressed", "prosecutor_highest_risk",
                   "prosecutor_records_at_risk", "marketer_success_rate", "granularity"):
        assert column in measured.columns
    assert measured["valid"].all()
    # more suppression allowed never costs more information (same k and metric)
    for (k, metric), group in measured.groupby(["k", "metric"]):
        losses = group.sort_values("max_suppression")["information_loss"].to_list()
        assert losses[1] <= losses[0] + 1e-9, (k, metric)


@pytest.mark.parametrize("index", range(12))
def test_each_candidate_equals_its_separate_job(adult, measured, index):
    row = measured.iloc[index]
    config = adult_config(k=int(row["k"]), suppression=float(row["max_suppression"]), metric=row["metric"])
    stats = anonymize(adult, config).statistics
    assert row["information_loss"] == pytest.approx(stats["information_loss"]["value"], abs=1e-9)
    assert row["suppressed"] == stats["rows"]["suppressed"]
    assert row["transformation"] == stats["transformation"]
    assert row["prosecutor_highest_risk"] == stats["risk"]["target"]["prosecutor"]["highest_risk"]
    assert row["prosecutor_records_at_risk"] == stats["risk"]["target"]["prosecutor"]["records_at_risk"]
    assert row["granularity"] == pytest.approx(stats["utility"]["granularity"], abs=1e-12)


def test_impossible_candidates_are_reported_not_raised(adult):
    small = adult.head(8)
    result = measure(small, adult_config(), {"k": [2, 50]})
    assert list(result["valid"]) == [True, False]


def test_grid_errors_name_the_field(adult):
    with pytest.raises(ConfigError, match="measure: unknown grid field"):
        measure(adult, adult_config(), {"colour": [1]})
    with pytest.raises(ConfigError, match=r"measure\.k"):
        measure(adult, adult_config(), {"k": []})
    with pytest.raises(ConfigError, match=r"privacy_models\.0\.params\.k"):
        measure(adult, adult_config(), {"k": [0]})
