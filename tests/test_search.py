"""Search behaviour beyond the optimum itself: heuristic fallback, progress, abort, pruning facts."""

from __future__ import annotations

import pytest

from anon_ops.engine.anonymizer import anonymize
from anon_ops.errors import AbortedError
from tests.conftest import adult_config


def test_heuristic_is_valid_and_never_better_than_the_optimum(adult):
    optimal = anonymize(adult, adult_config(k=5, suppression=0.02)).statistics
    config = adult_config(k=5, suppression=0.02, search={"algorithm": "heuristic", "time_budget_seconds": 30})
    result = anonymize(adult, config)
    heuristic = result.statistics
    assert heuristic["search"]["algorithm"] == "greedy-top-down"
    assert heuristic["information_loss"]["value"] >= optimal["information_loss"]["value"] - 1e-9
    assert heuristic["rows"]["suppressed"] <= int(0.02 * len(adult))
    published = result.data[~(result.data == "*").all(axis=1)]
    assert published.groupby(list(published.columns)).size().min() >= 5


def test_auto_switches_to_the_heuristic_above_the_node_limit(adult):
    config = adult_config(k=5, search={"algorithm": "auto", "max_optimal_nodes": 1000})
    assert anonymize(adult, config).statistics["search"]["algorithm"] == "greedy-top-down"
    config = adult_config(k=5, search={"algorithm": "auto", "max_optimal_nodes": 20000})
    assert anonymize(adult, config).statistics["search"]["algorithm"] == "optimal"


def test_progress_is_reported_and_ends_at_one(adult):
    seen: list[float] = []
    anonymize(adult, adult_config(k=5, suppression=0.05), progress=seen.append)
    assert seen[-1] == 1.0
    assert seen == sorted(seen)
    assert len(seen) > 2


def test_abort_stops_the_search(adult):
    calls = {"n": 0}

    def abort_after_a_few() -> bool:
        calls["n"] += 1
        return calls["n"] > 5

    with pytest.raises(AbortedError):
        anonymize(adult, adult_config(k=5, suppression=0.05), should_abort=abort_after_a_few)


def test_pruning_checks_a_small_part_of_the_lattice(adult):
    search = anonymize(adult, adult_config(k=5, suppression=0.0)).statistics["search"]
    # Flash needs 181 checks here; the best-first search with binary phase must not do worse
    assert search["checked"] <= 181
    search = anonymize(adult, adult_config(k=5, suppression=0.05)).statistics["search"]
    assert search["checked"] < search["lattice_size"] / 8
