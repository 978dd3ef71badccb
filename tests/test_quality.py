"""The quality gate (anon_ops.quality): policy, GX checks, verdicts, escalation ladder, union risk.

GX is imported once (seconds) and its context is shared by every test through the module cache of
anon_ops.quality.gate; the ladder's properties are pure and run without GX.
"""

from __future__ import annotations

import argparse
import copy
import json
import subprocess
import sys
from collections import Counter
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anon_ops.config import JobConfig
from anon_ops.errors import ConfigError, DataError
from anon_ops.quality import (
    DEFAULT_LADDER,
    GatePolicy,
    GateVerdict,
    apply_ladder,
    evaluate_gate,
    load_policy,
    next_move,
    union_risk,
)
from anon_ops.quality.cli import add_gate_parser, gate_command

QIS = ["age", "zip", "sex"]
CONFIG: dict[str, Any] = {
    "attributes": [
        {"name": "ssn", "type": "identifier"},
        {"name": "age", "type": "quasi_identifier",
         "hierarchy": {"type": "interval", "params": {"intervals": [5, 10, 20]}}},
        {"name": "zip", "type": "quasi_identifier", "hierarchy": {"type": "masking", "params": {"max_level": 3}}},
        {"name": "sex", "type": "quasi_identifier",
         "hierarchy": {"type": "tree", "params": {"mapping": {"F": ["*"], "M": ["*"]}}}},
        {"name": "disease", "type": "sensitive"},
    ],
    "privacy_models": [{"model_type": "k-anonymity", "params": {"k": 5}}],
    "max_suppression": 0.0,
}


def config(k: int = 5, max_suppression: float = 0.0) -> dict[str, Any]:
    data = copy.deepcopy(CONFIG)
    data["privacy_models"][0]["params"]["k"] = k
    data["max_suppression"] = max_suppression
    return data


def make_stats(
    *, highest: float = 0.2, at_risk: float = 0.0, marketer: float = 0.05, suppressed: int = 10,
    rows: int = 1000, granularity: float = 0.7, k: int = 5, max_suppression: float = 0.0,
) -> dict[str, Any]:
    """A statistics document of the engine's shape with the measured values under test."""
    risk = {"highest_risk": highest, "records_at_risk": at_risk, "success_rate": marketer}
    return {
        "transformation": {"age": 1, "zip": 2, "sex": 0},
        "rows": {"input": rows, "output": rows, "suppressed": suppressed},
        "equivalence_classes": 42,
        "risk": {"target": {"threshold": 0.2, "records": rows - suppressed, "classes": 42,
                            "prosecutor": dict(risk), "journalist": dict(risk),
                            "marketer": {"success_rate": marketer},
                            "sample_uniqueness": 0.0, "population_uniqueness": 0.0}},
        "utility": {"granularity": granularity, "generalization_intensity": 0.6, "non_uniform_entropy": 0.4,
                    "discernibility": 0.9, "aecs": 0.99, "ambiguity": 0.95},
        "privacy_models": [{"model_type": "k-anonymity", "params": {"k": k}}],
        "max_suppression": max_suppression,
        "information_loss": {"metric": "loss", "value": 0.3},
    }


def k_of(next_config: dict[str, Any]) -> int:
    return JobConfig.parse(next_config).k()


def assert_gx(verdict: GateVerdict, suites: set[str] | None = None) -> None:
    """Every verdict carries GX results: suites of expectations with type, kwargs, success."""
    assert verdict.gx_results, "a verdict without GX results"
    names = {s["suite"].removeprefix("anon_ops_gate.") for s in verdict.gx_results}
    if suites is not None:
        assert suites <= names
    for suite in verdict.gx_results:
        assert suite["great_expectations_version"].startswith("1.")
        assert suite["results"]
        for result in suite["results"]:
            assert result["expectation_type"].startswith("expect_")
            assert isinstance(result["kwargs"], dict) and "batch_id" not in result["kwargs"]
            assert isinstance(result["success"], bool)
            assert "observed_value" in result
    failed_checks = {c["name"] for c in verdict.checks if not c["success"]}
    failed_gx = {r["check"] for s in verdict.gx_results for r in s["results"] if not r["success"]}
    assert failed_checks == failed_gx  # the verdict follows the GX results
    json.dumps(verdict.to_dict())  # the verdict document is plain JSON


def batch_table(classes: dict[tuple[str, str, str], int], suppressed: int = 0) -> pd.DataFrame:
    """An anonymized-looking table: ``classes`` maps a generalized QI tuple to its size."""
    rows = [dict(zip(QIS, key, strict=True)) for key, n in classes.items() for _ in range(n)]
    rows += [dict.fromkeys(QIS, "*")] * suppressed
    table = pd.DataFrame(rows, columns=QIS)
    table["disease"] = "flu"
    return table


BIG = {("20-24", "123**", "F"): 6, ("25-29", "124**", "M"): 5}


# --------------------------------------------------------------------------- import cost
def test_importing_the_package_does_not_import_great_expectations() -> None:
    code = "import sys, anon_ops.quality, anon_ops.quality.cli; assert 'great_expectations' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


# --------------------------------------------------------------------------- the three verdicts
def test_publish_when_every_threshold_holds() -> None:
    verdict = evaluate_gate(make_stats(), config=config())
    assert verdict.verdict == "publish"
    assert verdict.next_config is None and verdict.next_attempt is None
    assert all(r.startswith("ok: ") for r in verdict.reasons)
    assert any("prosecutor_highest_risk 0.2 ≤ 0.2" in r for r in verdict.reasons)
    assert_gx(verdict, {"statistics"})
    stats_suite = verdict.gx_results[0]
    types = {r["kwargs"]["column"]: r["expectation_type"] for r in stats_suite["results"]}
    assert types == {"prosecutor_highest_risk": "expect_column_max_to_be_between",
                     "prosecutor_records_at_risk": "expect_column_max_to_be_between",
                     "marketer_success_rate": "expect_column_max_to_be_between",
                     "suppressed": "expect_column_max_to_be_between",
                     "granularity": "expect_column_min_to_be_between"}
    observed = {r["kwargs"]["column"]: r["observed_value"] for r in stats_suite["results"]}
    assert observed["suppressed"] == pytest.approx(0.01) and observed["granularity"] == pytest.approx(0.7)


def test_resubmit_raises_k_and_keeps_the_rest_of_the_configuration() -> None:
    verdict = evaluate_gate(make_stats(highest=0.5, at_risk=0.2), config=config(k=5))
    assert verdict.verdict == "resubmit"
    assert verdict.next_attempt == 1 and verdict.step == {"raise_k": {"factor": 2.0}}
    assert verdict.next_config == JobConfig.parse(config(k=10)).to_dict()
    assert any("prosecutor_highest_risk 0.5 exceeds prosecutor_highest_risk_max 0.2" in r for r in verdict.reasons)
    assert any("prosecutor_records_at_risk 0.2 exceeds records_at_risk_max 0.05" in r for r in verdict.reasons)
    assert any(r.startswith("resubmit: ladder step 1 (raise_k): k 5 → 10") for r in verdict.reasons)
    assert_gx(verdict)


def test_raised_k_reaches_at_least_what_the_prosecutor_bound_needs() -> None:
    verdict = evaluate_gate(make_stats(highest=0.5), config=config(k=2))
    assert verdict.verdict == "resubmit" and k_of(verdict.next_config) == 5  # ×2 gives 4 < 1/0.2


def test_risk_failures_climb_the_ladder_then_fail() -> None:
    """Default ladder on a release that stays too risky: k 5 → 10 → 20, then no step addresses risk."""
    cfg: dict[str, Any] = config(k=5)
    attempt, ks = 0, []
    for _ in range(10):
        verdict = evaluate_gate(make_stats(highest=0.5), config=cfg, attempt=attempt)
        if verdict.verdict != "resubmit":
            break
        cfg, attempt = verdict.next_config, verdict.next_attempt
        ks.append(k_of(cfg))
    assert ks == [10, 20]
    assert verdict.verdict == "fail" and verdict.next_config is None
    assert any("no remaining ladder step" in r and "risk" in r for r in verdict.reasons)
    assert_gx(verdict)


def test_fail_when_the_ladder_is_exhausted() -> None:
    policy = GatePolicy()
    verdict = evaluate_gate(make_stats(highest=0.5), policy, config=config(), attempt=policy.ladder_bound)
    assert verdict.verdict == "fail" and verdict.next_config is None
    assert any("ladder is exhausted" in r for r in verdict.reasons)
    assert_gx(verdict)
    no_ladder = evaluate_gate(make_stats(highest=0.5), {"ladder": []}, config=config())
    assert no_ladder.verdict == "fail"


def test_utility_failure_widens_suppression_then_hierarchies() -> None:
    stats = make_stats(granularity=0.3)
    first = evaluate_gate(stats, config=config(max_suppression=0.0))
    assert first.verdict == "resubmit" and first.next_attempt == 3  # raise_k does not help utility
    assert first.next_config["max_suppression"] == pytest.approx(0.05)  # 0.1 capped at suppressed_max
    assert any("granularity 0.3 is below granularity_min 0.5" in r for r in first.reasons)
    assert any("ladder step 1 (raise_k) skipped" in r for r in first.reasons)

    second = evaluate_gate(stats, config=first.next_config, attempt=first.next_attempt)
    assert second.verdict == "resubmit" and second.next_attempt == 4
    hierarchies = {a["name"]: a.get("hierarchy") for a in second.next_config["attributes"]}
    assert hierarchies["age"]["params"]["intervals"] == [5, 10, 20, 40]
    assert hierarchies["zip"]["params"]["max_level"] == 4
    assert hierarchies["sex"] == CONFIG["attributes"][3]["hierarchy"]  # a tree is a fixed table

    third = evaluate_gate(stats, config=second.next_config, attempt=second.next_attempt)
    assert third.verdict == "fail"
    assert_gx(third)


def test_too_much_suppression_widens_hierarchies() -> None:
    verdict = evaluate_gate(make_stats(suppressed=100), config=config())
    assert verdict.verdict == "resubmit" and verdict.step == {"widen_hierarchies": {"levels": 1}}
    assert any("suppressed 0.1 exceeds suppressed_max 0.05" in r for r in verdict.reasons)


def test_a_missing_metric_fails_the_gate() -> None:
    stats = make_stats(highest=0.5)
    del stats["utility"]
    verdict = evaluate_gate(stats, config=config())
    assert verdict.verdict == "fail"
    assert any("statistics lack utility.granularity" in r for r in verdict.reasons)
    granularity = next(r for r in verdict.gx_results[0]["results"] if r["check"] == "granularity_min")
    assert granularity["success"] is False and granularity["observed_value"] is None
    assert_gx(verdict)


def test_without_a_configuration_next_config_is_derived_from_the_statistics() -> None:
    verdict = evaluate_gate(make_stats(highest=0.5, max_suppression=0.02))
    assert verdict.verdict == "resubmit"
    derived = JobConfig.parse(verdict.next_config)
    assert derived.k() == 10 and derived.max_suppression == pytest.approx(0.02)
    assert derived.quasi_identifiers == ["age", "zip", "sex"]
    assert any("derived from the statistics" in r for r in verdict.reasons)


def test_disabled_thresholds_are_not_checked() -> None:
    policy = {name: None for name in ("prosecutor_highest_risk_max", "records_at_risk_max",
                                      "marketer_success_rate_max", "suppressed_max", "granularity_min")}
    verdict = evaluate_gate(make_stats(highest=1.0, granularity=0.0), policy)
    assert verdict.verdict == "publish"
    assert_gx(verdict)  # still a GX result: the document is there


# --------------------------------------------------------------------------- the table
def test_an_identifier_column_in_the_table_fails() -> None:
    table = batch_table(BIG)
    table["ssn"] = "000"  # the column name is what counts; its values never reach GX
    verdict = evaluate_gate(make_stats(), config=config(), table=table)
    assert verdict.verdict == "fail"
    assert any("identifier column(s) ['ssn'] present" in r for r in verdict.reasons)
    columns = next(s for s in verdict.gx_results if s["suite"].endswith("table_columns"))
    result = next(r for r in columns["results"] if r["check"] == "no_identifier_columns")
    assert result["expectation_type"] == "expect_table_columns_to_match_set" and not result["success"]
    assert result["details"]["mismatched"]["unexpected"] == ["ssn"]
    assert_gx(verdict, {"statistics", "table_columns", "table_classes"})


def test_the_policy_names_identifiers_the_configuration_does_not() -> None:
    table = batch_table(BIG)
    table["email"] = "x"
    policy = {"identifier_columns": ["email"]}
    assert evaluate_gate(make_stats(), policy, config=config(), table=table).verdict == "fail"
    assert evaluate_gate(make_stats(), config=config(), table=table).verdict == "publish"


def test_a_class_smaller_than_k_in_the_table_resubmits() -> None:
    table = batch_table({**BIG, ("30-34", "125**", "F"): 2}, suppressed=1)
    verdict = evaluate_gate(make_stats(), config=config(k=5), table=table)
    assert verdict.verdict == "resubmit" and k_of(verdict.next_config) == 10
    assert any("1 class(es) of non-suppressed rows in the anonymized table are smaller than k=5 (smallest: 2)" in r
               for r in verdict.reasons)
    classes = next(s for s in verdict.gx_results if s["suite"].endswith("table_classes"))
    assert classes["results"][0]["expectation_type"] == "expect_column_values_to_be_between"
    assert classes["results"][0]["observed_value"] == {"classes": 3, "smallest_class": 2, "classes_below_k": 1,
                                                       "suppressed_rows": 1}
    assert_gx(verdict)


def test_suppressed_rows_do_not_count_as_a_class() -> None:
    verdict = evaluate_gate(make_stats(), config=config(), table=batch_table(BIG, suppressed=2))
    assert verdict.verdict == "publish"
    assert_gx(verdict, {"statistics", "table_columns", "table_classes"})


def test_a_missing_quasi_identifier_column_fails() -> None:
    verdict = evaluate_gate(make_stats(), config=config(), table=batch_table(BIG).drop(columns=["zip"]))
    assert verdict.verdict == "fail"
    assert any("quasi-identifier column(s) ['zip'] missing" in r for r in verdict.reasons)


# --------------------------------------------------------------------------- incremental releases
def test_union_risk_excludes_suppressed_rows() -> None:
    first, second = batch_table(BIG, suppressed=3), batch_table({("20-24", "123**", "F"): 5}, suppressed=1)
    risk = union_risk([first, second], QIS)
    assert risk["batches"] == 2 and risk["rows"] == 11 + 3 + 5 + 1 and risk["suppressed_rows"] == 4
    assert risk["records"] == 16 and risk["classes"] == 2 and risk["min_class_size"] == 5
    assert risk["prosecutor"]["highest_risk"] == pytest.approx(0.2)
    with pytest.raises(DataError, match=r"published_batches\.1"):
        union_risk([first, second.drop(columns=["sex"])], QIS)


def test_the_union_fails_while_each_batch_alone_is_fine() -> None:
    """An earlier release, fine under its own k=2 policy, leaves classes of 2 and 3 in the union;
    today's batch meets today's policy alone, but the union of everything published does not."""
    earlier_policy = {"prosecutor_highest_risk_max": 0.5, "records_at_risk_max": 1.0, "marketer_success_rate_max": 0.5}
    earlier = batch_table({("40-44", "130**", "M"): 2, ("45-49", "131**", "F"): 3})
    earlier_stats = make_stats(highest=0.5, at_risk=1.0, marketer=0.4, k=2, suppressed=0)
    assert evaluate_gate(earlier_stats, earlier_policy, config=config(k=2), table=earlier).verdict == "publish"

    today = batch_table(BIG)
    alone = evaluate_gate(make_stats(), config=config(k=5), table=today)
    assert alone.verdict == "publish"

    verdict = evaluate_gate(make_stats(), config=config(k=5), table=today, published_history=[earlier])
    assert verdict.verdict == "fail"
    union_reasons = [r for r in verdict.reasons if r.startswith("union of the 1 published batch(es) and this batch")]
    assert union_reasons and all("not this batch" in r for r in union_reasons)
    assert any("prosecutor_highest_risk 0.5 exceeds prosecutor_highest_risk_max 0.2" in r for r in union_reasons)
    assert any("2 class(es) of non-suppressed rows in the union are smaller than k=5" in r for r in union_reasons)
    assert verdict.union is not None and verdict.union["min_class_size"] == 2
    assert verdict.union["rows_of_this_batch_in_small_classes"] == 0
    assert {c["kind"] for c in verdict.checks if not c["success"]} == {"history"}
    assert_gx(verdict, {"statistics", "table_columns", "table_classes", "union_risk", "union_classes"})


def test_a_failing_batch_and_union_climb_the_ladder() -> None:
    small = batch_table({**BIG, ("30-34", "125**", "F"): 2})
    verdict = evaluate_gate(make_stats(), config=config(k=5), table=small, published_history=[batch_table(BIG)])
    assert verdict.verdict == "resubmit" and k_of(verdict.next_config) == 10
    assert {c["kind"] for c in verdict.checks if not c["success"]} == {"risk", "union"}
    assert verdict.union["rows_of_this_batch_in_small_classes"] == 2
    assert any("2 row(s) of this batch fall in those small classes" in r for r in verdict.reasons)


@settings(max_examples=60, deadline=None)
@given(k=st.integers(1, 6),
       batches=st.lists(st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.sampled_from(["x", "y"])),
                                 max_size=25), min_size=1, max_size=4))
def test_disjoint_k_anonymous_batches_have_a_k_anonymous_union(k: int, batches: list[list[tuple[str, str]]]) -> None:
    """Why the union check finds earlier releases: with one transformation, union classes are sums."""
    frames = []
    for rows in batches:
        counts = Counter(rows)  # each batch alone: classes smaller than k are suppressed
        published = [row if counts[row] >= k else ("*", "*") for row in rows]
        frames.append(pd.DataFrame(published, columns=["q1", "q2"], dtype=object))
    risk = union_risk(frames, ["q1", "q2"])
    assert risk["min_class_size"] is None or risk["min_class_size"] >= k


# --------------------------------------------------------------------------- the ladder
step_strategy = st.one_of(
    st.builds(lambda f: {"raise_k": {"factor": f}}, st.floats(1.01, 4)),
    st.builds(lambda t: {"raise_k": {"to": t}}, st.integers(2, 60)),
    st.builds(lambda t: {"widen_suppression": {"to": t}}, st.none() | st.floats(0.01, 1)),
    st.builds(lambda n: {"widen_hierarchies": {"levels": n}}, st.integers(1, 5)),
    st.builds(lambda k: {"stricter_model": {"privacy_models": [{"model_type": "k-anonymity", "params": {"k": k}}]}},
              st.integers(1, 60)),
    st.just({"stricter_model": {"privacy_models": [
        {"model_type": "l-diversity", "params": {"l": 2, "attribute": "disease"}}]}}),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ladder=st.lists(step_strategy, max_size=8), max_attempts=st.integers(0, 10), k=st.integers(1, 30),
       suppression=st.floats(0, 1), start=st.integers(0, 12),
       kinds=st.none() | st.sets(st.sampled_from(["risk", "union", "suppression", "utility"]), min_size=1),
       suppressed_max=st.none() | st.floats(0, 1))
def test_the_ladder_terminates(
    ladder: list[dict[str, Any]], max_attempts: int, k: int, suppression: float, start: int,
    kinds: set[str] | None, suppressed_max: float | None,
) -> None:
    policy = load_policy({"ladder": ladder, "max_attempts": max_attempts, "suppressed_max": suppressed_max})
    cfg: JobConfig | None = JobConfig.parse(config(k=k, max_suppression=suppression))
    attempt, moves = start, 0
    while True:
        move = next_move(cfg, policy, attempt, kinds)
        if move is None:
            break
        assert attempt <= move.index < policy.ladder_bound and move.next_attempt > attempt
        cfg, attempt, moves = move.config, move.next_attempt, moves + 1
    assert moves <= max(0, policy.ladder_bound - start)
    # a caller that just counts attempts stops too: nothing once the bound is reached
    for extra in range(3):
        assert apply_ladder(cfg, policy, policy.ladder_bound + extra) is None


def test_the_default_ladder_is_documented_and_bounded() -> None:
    policy = GatePolicy()
    assert [s.to_dict() for s in policy.ladder] == [
        {"raise_k": {"factor": 2.0}}, {"raise_k": {"factor": 2.0}},
        {"widen_suppression": {"to": 0.1}}, {"widen_hierarchies": {"levels": 1}},
    ] == [GatePolicy.model_validate({"ladder": DEFAULT_LADDER}).ladder[i].to_dict() for i in range(4)]
    assert policy.max_attempts == 4 and policy.ladder_bound == 4
    assert (policy.prosecutor_highest_risk_max, policy.records_at_risk_max, policy.marketer_success_rate_max,
            policy.suppressed_max, policy.granularity_min) == (0.2, 0.05, 0.2, 0.05, 0.5)


def test_stricter_model_step_adds_or_replaces_models() -> None:
    ldiv = {"model_type": "l-diversity", "params": {"l": 2, "attribute": "disease"}}
    policy = load_policy({"ladder": [{"stricter_model": {"privacy_models": [ldiv]}}]})
    adjusted = apply_ladder(config(), policy, 0, ["risk"])
    assert adjusted is not None and [m.model_type for m in adjusted.privacy_models] == ["k-anonymity", "l-diversity"]
    assert apply_ladder(adjusted, policy, 0, ["risk"]) is None  # already there: nothing to do
    unknown = load_policy({"ladder": [{"stricter_model": {"privacy_models": [
        {"model_type": "l-diversity", "params": {"l": 2, "attribute": "salary"}}]}}]})
    move = next_move(config(), unknown, 0)
    assert move is None


# --------------------------------------------------------------------------- the policy
@pytest.mark.parametrize(("policy", "field"), [
    ({"prosecutor_highest_risk_max": 2}, "prosecutor_highest_risk_max: Input should be less than or equal to 1"),
    ({"granularity_minimum": 0.5}, "granularity_minimum: unknown field"),
    ({"max_attempts": -1}, "max_attempts:"),
    ({"ladder": [{"raise_k": {"factor": 0.5}}]}, "ladder.0.raise_k.factor:"),
    ({"ladder": [{"raise_k": {}}]}, "ladder.0.raise_k: give exactly one of factor or to"),
    ({"ladder": [{"raise_k": {"to": 10}, "widen_suppression": {}}]}, "ladder.0: give exactly one of"),
    ({"ladder": [{"raise_k": {"to": 10}}, {"widen": {}}]}, "ladder.1.widen: unknown field"),
    ({"ladder": [{"stricter_model": {"privacy_models": [{"model_type": "k-anonymity", "params": {"k": 0}}]}}]},
     "ladder.0.stricter_model.privacy_models.0.params.k:"),
])
def test_policy_errors_name_the_field(policy: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError, match="invalid gate policy") as error:
        load_policy(policy)
    assert field in str(error.value)


def test_policy_loads_from_yaml_file_and_text(tmp_path: Any) -> None:
    text = "marketer_success_rate_max: 0.05\nladder:\n  - raise_k: {to: 10}\nmax_attempts: 1\n"
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    for source in (str(path), path, text, json.dumps({"marketer_success_rate_max": 0.05,
                                                       "ladder": [{"raise_k": {"to": 10}}], "max_attempts": 1})):
        policy = load_policy(source)
        assert policy.marketer_success_rate_max == 0.05 and policy.ladder_bound == 1
    assert load_policy(None) == GatePolicy() == load_policy("")
    with pytest.raises(ConfigError, match="policy file not found"):
        load_policy(str(tmp_path / "missing.yaml"))
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_policy("- a list")


def test_bad_inputs_raise() -> None:
    with pytest.raises(DataError, match="statistics"):
        evaluate_gate([], config=config())  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="attempt"):
        evaluate_gate(make_stats(), config=config(), attempt=-1)


# --------------------------------------------------------------------------- CLI and end to end
def test_gate_command(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    stats_path, policy_path = tmp_path / "stats.json", tmp_path / "policy.yaml"
    stats_path.write_text(json.dumps(make_stats(highest=0.5)))
    policy_path.write_text("ladder: [{raise_k: {to: 7}}]\n")
    config_path = tmp_path / "job.json"
    config_path.write_text(json.dumps(config()))
    document = gate_command(str(stats_path), str(policy_path), str(config_path), None)
    assert document["verdict"] == "resubmit" and k_of(document["next_config"]) == 7
    assert set(document) >= {"verdict", "reasons", "next_config", "gx_results"}

    table_path = tmp_path / "table.csv"
    batch_table(BIG).to_csv(table_path, index=False)
    parser = argparse.ArgumentParser()
    add_gate_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["gate", str(stats_path), "--table", str(table_path), "--exit-code"])
    assert args.handler(args) == 3  # resubmit
    printed = json.loads(capsys.readouterr().out)
    assert printed["verdict"] == "resubmit" and "table_columns" in json.dumps(printed["gx_results"])
    with pytest.raises(DataError, match="STATS"):
        gate_command(str(tmp_path / "nope.json"), None, None, None)


def test_adult_anonymized_with_the_shipped_job_is_published(adult: pd.DataFrame) -> None:
    from anon_ops.data import ADULT_JOB
    from anon_ops.engine.anonymizer import anonymize

    job = JobConfig.load(str(ADULT_JOB))
    result = anonymize(adult, job)
    verdict = evaluate_gate(result.statistics, config=job, table=result.data)
    assert verdict.verdict == "publish", verdict.reasons
    assert_gx(verdict, {"statistics", "table_columns", "table_classes"})
    stricter = evaluate_gate(result.statistics, {"prosecutor_highest_risk_max": 0.1}, config=job)
    assert stricter.verdict == "resubmit" and stricter.next_job_config is not None
    assert stricter.next_job_config.k() == 10 and stricter.next_job_config.base_dir == job.base_dir
