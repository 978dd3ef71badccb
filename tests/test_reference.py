"""The engine against the reference values of spec/metrics.md (ARX's numbers on Adult)."""

from __future__ import annotations

import pytest

from anon_ops.data import ADULT_QIS
from anon_ops.engine.anonymizer import anonymize, measure_risk
from tests.conftest import adult_config


def test_adult_nine_qis_k5_loss_matches_arx(adult):
    result = anonymize(adult, adult_config(k=5, suppression=0.0, metric="loss"))
    stats = result.statistics
    assert stats["information_loss"]["metric"] == "loss"
    assert stats["information_loss"]["value"] == pytest.approx(0.5731509656, abs=1e-9)
    assert stats["equivalence_classes"] == 24
    assert stats["rows"] == {"input": 30162, "output": 30162, "suppressed": 0}
    assert list(stats["transformation"]) == ADULT_QIS
    assert stats["search"]["lattice_size"] == 12960


def test_adult_eight_qis_monotone_entropy_matches_arx(adult):
    qis = [q for q in ADULT_QIS if q != "occupation"]
    config = adult_config(qis=qis, k=5, metric="entropy")
    config["metric"] = {"name": "entropy", "params": {"monotonic": True}}
    stats = anonymize(adult, config).statistics
    assert stats["information_loss"]["value"] == pytest.approx(324620.5269918692, abs=1e-9)
    assert stats["search"]["lattice_size"] == 4320


def test_raw_adult_risk_matches_reference(adult):
    risk = measure_risk(adult, ADULT_QIS, threshold=0.2)
    assert risk["classes"] == 19502
    assert risk["prosecutor"]["highest_risk"] == 1.0
    assert risk["prosecutor"]["records_at_risk"] == pytest.approx(0.778131, abs=1e-6)
    assert risk["prosecutor"]["success_rate"] == pytest.approx(0.646575, abs=1e-6)
    assert risk["sample_uniqueness"] == pytest.approx(0.514290, abs=1e-6)


def test_source_risk_in_statistics_is_the_raw_risk(adult):
    stats = anonymize(adult, adult_config(k=5, suppression=0.05)).statistics
    source = stats["risk"]["source"]
    assert source["prosecutor"]["records_at_risk"] == pytest.approx(0.778131, abs=1e-6)
    target = stats["risk"]["target"]
    # 5-anonymous output: no class below 5 records, so no record above risk 0.2
    assert target["prosecutor"]["highest_risk"] <= 0.2 + 1e-12
    assert target["prosecutor"]["records_at_risk"] == 0.0
    assert target["prosecutor"]["highest_risk"] >= target["journalist"]["highest_risk"]
    assert stats["rows"]["suppressed"] <= int(0.05 * 30162)


def test_suppression_lowers_loss_and_respects_the_limit(adult):
    strict = anonymize(adult, adult_config(k=5, suppression=0.0)).statistics
    loose = anonymize(adult, adult_config(k=5, suppression=0.05)).statistics
    assert loose["information_loss"]["value"] < strict["information_loss"]["value"]
    assert 0 < loose["rows"]["suppressed"] <= 1508
