"""Inference of a job configuration: domains, classifications, hierarchies, the target variable.

The main table is a realistic synthetic customer table (names, e-mails, phones in several formats,
SSNs, birth dates, zips, gender, income, a free-text note, a segment and a churn flag that depends
on age), generated here with a fixed seed.
"""

from __future__ import annotations

import io
import itertools
import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anon_ops.config import AttributeType, JobConfig
from anon_ops.engine.anonymizer import AnonymizationResult, anonymize
from anon_ops.engine.hierarchy import build_hierarchy
from anon_ops.errors import ConfigError, DataError
from anon_ops.infer import Domain, InferenceResult, detect_column, infer_config, name_hint, target_accuracy
from anon_ops.infer.domains import looks_like_email
from anon_ops.infer.hierarchies import frequency_tree, interval_spec, masking_tree
from anon_ops.infer.target import majority_accuracy

FIRST = ["James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth",
         "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Carlos", "Aisha"]
LAST = ["Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
        "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "O'Brien"]
TOPICS = ["billing", "a late delivery", "the mobile app", "a refund", "upgrading the plan", "a password reset"]
IDENTIFIERS = ["customer_id", "name", "email", "phone", "ssn", "note"]
ANALYTIC = ["age", "birth_date", "zip", "gender", "income", "segment", "churn"]
GATE = {"highest_risk": 0.2, "records_at_risk": 0.05, "suppressed": 0.05}


def customer_table(n: int = 1500, seed: int = 1) -> pd.DataFrame:
    """A customer table as a CRM export would hold it."""
    rng = np.random.default_rng(seed)
    first, last = rng.choice(FIRST, n), rng.choice(LAST, n)
    area, exchange, line = rng.integers(201, 990, n), rng.integers(200, 999, n), rng.integers(0, 10000, n)
    formats = ["({a}) {e}-{l:04d}", "{a}-{e}-{l:04d}", "+1 {a} {e} {l:04d}", "{a}.{e}.{l:04d}"]
    phones = [formats[f].format(a=a, e=e, l=x) for a, e, x, f in zip(area, exchange, line, rng.integers(0, 4, n),
                                                                     strict=True)]
    ssns = [f"{a:03d}-{b:02d}-{c:04d}" for a, b, c in zip(rng.integers(1, 899, n), rng.integers(1, 99, n),
                                                           rng.integers(1, 9999, n), strict=True)]
    age = rng.integers(18, 90, n)
    today = pd.Timestamp("2024-06-30")
    birth = [(today - pd.DateOffset(years=int(a)) - pd.Timedelta(days=int(d))).strftime("%Y-%m-%d")
             for a, d in zip(age, rng.integers(0, 365, n), strict=True)]
    zips = [f"{z:05d}" for z in rng.choice(rng.integers(1000, 99999, 40), n)]
    segment = rng.choice(["Consumer", "Small Business", "Enterprise", "Public Sector"], n, p=[0.5, 0.3, 0.15, 0.05])
    notes = [f"Customer called about {rng.choice(TOPICS)} and asked for a call back on {rng.integers(1, 28)} "
             f"{rng.choice(['May', 'June', 'July'])}." for _ in range(n)]
    churn = np.where(rng.random(n) < np.where(age < 35, 0.8, 0.1), "yes", "no")
    return pd.DataFrame({
        "customer_id": np.arange(100001, 100001 + n),
        "name": [f"{f} {x}" for f, x in zip(first, last, strict=True)],
        "email": [f"{f.lower()}.{x.lower().replace(chr(39), '')}{i}@example.com"
                  for i, (f, x) in enumerate(zip(first, last, strict=True))],
        "phone": phones, "ssn": ssns, "birth_date": birth, "age": age, "zip": zips,
        "gender": rng.choice(["F", "M"], n), "income": np.round(rng.lognormal(10.8, 0.5, n), 2),
        "segment": segment, "note": notes, "churn": churn,
    })


@pytest.fixture(scope="module")
def customers() -> pd.DataFrame:
    return customer_table()


@pytest.fixture(scope="module")
def inferred(customers: pd.DataFrame) -> InferenceResult:
    return infer_config(customers)


@pytest.fixture(scope="module")
def published(customers: pd.DataFrame, inferred: InferenceResult) -> AnonymizationResult:
    return anonymize(customers, inferred.config)


def assert_passes_gate(result: AnonymizationResult) -> None:
    prosecutor = result.statistics["risk"]["target"]["prosecutor"]
    rows = result.statistics["rows"]
    assert prosecutor["highest_risk"] <= GATE["highest_risk"]
    assert prosecutor["records_at_risk"] <= GATE["records_at_risk"]
    assert rows["suppressed"] / rows["input"] <= GATE["suppressed"]


# --------------------------------------------------------------------------- classification
def test_every_direct_identifier_is_an_identifier(inferred: InferenceResult) -> None:
    for column in IDENTIFIERS:
        assert inferred.profile(column).classification == AttributeType.IDENTIFIER, inferred.profile(column).reason
        assert inferred.config.attribute(column).type == AttributeType.IDENTIFIER


def test_no_analytic_column_is_an_identifier(inferred: InferenceResult) -> None:
    for column in ANALYTIC:
        assert inferred.profile(column).classification != AttributeType.IDENTIFIER, inferred.profile(column).reason


def test_domains_of_the_customer_table(inferred: InferenceResult) -> None:
    expected = {
        "customer_id": Domain.RECORD_ID, "name": Domain.PERSON_NAME, "email": Domain.EMAIL, "phone": Domain.PHONE,
        "ssn": Domain.NATIONAL_ID, "birth_date": Domain.DATE_OF_BIRTH, "age": Domain.AGE, "zip": Domain.ZIP_CODE,
        "gender": Domain.GENDER, "income": Domain.NUMERIC, "segment": Domain.CATEGORICAL, "note": Domain.FREE_TEXT,
    }
    assert {c: inferred.profile(c).domain for c in expected} == expected
    assert inferred.profile("birth_date").date_format == "%Y-%m-%d"
    assert set(inferred.config.quasi_identifiers) == {"birth_date", "age", "zip", "gender"}
    assert inferred.profile("income").classification == AttributeType.SENSITIVE  # the name says income
    assert all(0 < p.confidence <= 1 for p in inferred.profiles)


def test_free_text_is_removed_with_a_reason(inferred: InferenceResult) -> None:
    reason = inferred.profile("note").reason
    assert "free text may hold" in reason and "identif" in reason


def test_report_explains_without_quoting_values(customers: pd.DataFrame, inferred: InferenceResult) -> None:
    report = inferred.report()
    for column in customers.columns:
        assert f"  {column}: " in report  # one reason per column
    assert "k-anonymity(k=5)" in report and "max_suppression 0.05" in report
    for column in ("name", "email", "phone", "ssn", "note"):
        for value in customers[column].head(20):
            assert value not in report
    assert json.loads(json.dumps(inferred.to_dict()))["config"] == inferred.config.to_dict()


# --------------------------------------------------------------------------- the configuration runs
def test_inferred_config_runs_and_passes_the_default_gate(inferred: InferenceResult,
                                                          published: AnonymizationResult) -> None:
    assert inferred.config.k() == 5 and inferred.config.max_suppression == 0.05
    assert_passes_gate(published)
    assert set(published.transformation) == set(inferred.config.quasi_identifiers)
    assert not set(IDENTIFIERS) & set(published.data.columns)  # identifiers are removed


def test_hierarchies_are_readable_specs(inferred: InferenceResult) -> None:
    age = inferred.config.attribute("age").hierarchy
    assert age is not None and age.type == "interval"
    widths = age.params.intervals
    mantissa = widths[0] / 10 ** math.floor(math.log10(widths[0]))
    assert round(mantissa, 9) in (1, 2, 5)
    assert all(b == 2 * a for a, b in itertools.pairwise(widths))
    birth = inferred.config.attribute("birth_date").hierarchy
    assert birth is not None and birth.type == "date" and birth.params.format == "%Y-%m-%d"
    zip_ = inferred.config.attribute("zip").hierarchy
    assert zip_ is not None and zip_.type in ("masking", "tree")  # tree: masking written out, same levels
    gender = inferred.config.attribute("gender").hierarchy
    assert gender is not None and gender.type == "tree"
    assert inferred.config.attribute("income").hierarchy is None


def test_config_round_trips_through_yaml(inferred: InferenceResult) -> None:
    loaded = JobConfig.load(inferred.config.to_yaml())
    assert loaded == inferred.config
    assert loaded.to_yaml() == inferred.config.to_yaml()


# --------------------------------------------------------------------------- user-set parts
def test_user_set_parts_are_never_overridden(customers: pd.DataFrame) -> None:
    age_hierarchy = {"type": "interval", "params": {"intervals": [10, 30]}}
    base = {
        "attributes": [{"name": "zip", "type": "insensitive"},
                       {"name": "age", "type": "quasi_identifier", "hierarchy": age_hierarchy, "weight": 2.0},
                       {"name": "segment", "type": "quasi_identifier"}],
        "privacy_models": [{"model_type": "k-anonymity", "params": {"k": 10}}],
        "max_suppression": 0.04,
        "metric": {"name": "entropy"},
        "additional_properties": {"seed": 11},
    }
    result = infer_config(customers, base=base)
    config = result.config
    assert config.attribute("zip").type == AttributeType.INSENSITIVE and config.attribute("zip").hierarchy is None
    assert result.profile("zip").source == "user" and result.profile("zip").domain == Domain.ZIP_CODE
    age = config.attribute("age")
    assert age.hierarchy is not None and age.hierarchy.model_dump(mode="json", exclude_none=True) == {
        "type": "interval", "params": {"intervals": [10.0, 30.0], "top": "*"}}
    assert age.weight == 2.0
    segment = config.attribute("segment")  # a QI the user gave without a hierarchy gets one
    assert segment.type == AttributeType.QUASI_IDENTIFIER and segment.hierarchy is not None
    assert config.k() == 10 and len(config.privacy_models) == 1
    assert config.max_suppression == 0.04 and config.metric.name == "entropy"
    assert config.additional_properties.seed == 11
    assert config.attribute("email").type == AttributeType.IDENTIFIER  # the rest is inferred
    out = anonymize(customers, config)
    assert out.statistics["risk"]["target"]["prosecutor"]["highest_risk"] <= 0.1  # k = 10 holds


def test_base_as_a_job_config_counts_only_the_fields_it_sets(customers: pd.DataFrame) -> None:
    base = JobConfig.load({"attributes": [{"name": "gender", "type": "insensitive"}]})
    config = infer_config(customers, base=base, k=7, max_suppression=0.03).config
    assert config.k() == 7 and config.max_suppression == 0.03  # not set in the base: the arguments apply
    assert config.attribute("gender").type == AttributeType.INSENSITIVE


# --------------------------------------------------------------------------- target variable
def test_target_variable_is_kept_and_its_accuracy_reported(customers: pd.DataFrame) -> None:
    result = infer_config(customers, base={"additional_properties": {"shuffle": False}}, target_variable="churn")
    churn = result.config.attribute("churn")
    assert churn.type == AttributeType.INSENSITIVE and churn.hierarchy is None
    assert result.profile("churn").source == "target"
    for accuracy in (result.accuracy_input, result.accuracy_output, result.accuracy_baseline):
        assert accuracy is not None and 0 <= accuracy <= 1
    assert result.accuracy_output is not None and result.accuracy_baseline is not None
    assert result.accuracy_output > result.accuracy_baseline + 0.05  # churn follows age: some of it survives
    chosen = [c for c in result.candidates if c.chosen]
    assert len(chosen) == 1 and chosen[0].accuracy_output == result.accuracy_output
    within = [c.accuracy_output for c in result.candidates
              if c.accuracy_output is not None and (c.suppressed_share or 0) <= result.config.max_suppression]
    assert result.accuracy_output == max(within)
    assert "Target variable 'churn'" in result.report()
    out = anonymize(customers, result.config)
    assert out.data["churn"].tolist() == customers["churn"].tolist()  # unchanged, row for row (no shuffle)
    assert_passes_gate(out)


def test_target_that_is_a_direct_identifier_is_refused(customers: pd.DataFrame) -> None:
    with pytest.raises(ConfigError, match="target_variable: 'email'"):
        infer_config(customers.head(200), target_variable="email")
    with pytest.raises(DataError, match="target_variable: 'nope'"):
        infer_config(customers.head(200), target_variable="nope")


def test_target_accuracy_tells_signal_from_noise() -> None:
    rng = np.random.default_rng(5)
    n = 1000
    signal = rng.choice(["a", "b", "c"], n)
    df = pd.DataFrame({"signal": signal, "noise": rng.choice(["x", "y"], n),
                       "target": np.where(signal == "a", "yes", "no"), "amount": rng.normal(100, 10, n)})
    assert target_accuracy(df, ["signal"], "target") == 1.0
    baseline = majority_accuracy(df, "target")
    assert abs(target_accuracy(df, ["noise"], "target") - baseline) < 0.06
    # a numeric target with many values is measured in quartile classes: about 1/4 by chance
    assert 0.1 < target_accuracy(df, ["noise"], "amount") < 0.4
    test = df.iloc[:100]
    assert target_accuracy(df.iloc[100:], ["signal"], "target", test_df=test) == 1.0


# --------------------------------------------------------------------------- other tables
def test_csv_types_missing_values_and_datetimes_still_run() -> None:
    table = customer_table(600, seed=3)
    text = io.StringIO()
    table.to_csv(text, index=False)
    df = pd.read_csv(io.StringIO(text.getvalue()))  # zips become integers, leading zeros lost
    df["age"] = df["age"].astype(float)
    df.loc[::17, "age"] = np.nan
    df["birth_date"] = pd.to_datetime(df["birth_date"])
    df["country"] = np.random.default_rng(0).choice(
        ["United States", "Canada", "Mexico", "Germany", "France", "Japan", "Kenya"], len(df),
        p=[0.6, 0.12, 0.1, 0.08, 0.05, 0.03, 0.02])
    result = infer_config(df)
    assert result.profile("zip").domain == Domain.ZIP_CODE
    assert result.profile("country").domain == Domain.COUNTRY
    country = result.config.attribute("country").hierarchy
    assert country is not None and country.type == "tree"
    assert country.params.mapping["Kenya"][-2] == "Africa"  # rare countries grouped by continent
    age = result.config.attribute("age").hierarchy
    assert age is not None and age.type == "tree" and "" in age.params.mapping  # missing ages placed
    assert any(note.startswith("'age': hierarchy written out as an inline tree") for note in result.notes)
    birth = result.config.attribute("birth_date").hierarchy
    assert birth is not None and birth.type == "date" and birth.params.format is None  # datetime column
    assert_passes_gate(anonymize(df, result.config))


def test_ids_without_a_telling_name_are_identifiers_and_labels_are_not() -> None:
    rng = np.random.default_rng(2)
    n = 300
    df = pd.DataFrame({
        "ref": ["".join(rng.choice(list("ABCDEFGHJKLMNPQRSTUVWXYZ23456789"), 10)) for _ in range(n)],
        "row": np.arange(1, n + 1),
        "score": rng.integers(1, 6, n),
        "amount": rng.normal(50, 5, n),
    })
    df["status_text"] = rng.choice(["ok", "late"], n)  # a telling name, but two short labels: not free text
    kinds = {p.name: (p.domain, p.classification) for p in infer_config(df).profiles}
    assert kinds["status_text"] == (Domain.CATEGORICAL, AttributeType.INSENSITIVE)
    assert kinds["ref"] == (Domain.RECORD_ID, AttributeType.IDENTIFIER)
    assert kinds["row"] == (Domain.RECORD_ID, AttributeType.IDENTIFIER)
    assert kinds["score"][1] != AttributeType.IDENTIFIER
    assert kinds["amount"] == (Domain.NUMERIC, AttributeType.INSENSITIVE)


@pytest.mark.parametrize(("name", "domain"), [
    ("customerEmail", Domain.EMAIL), ("DOB", Domain.DATE_OF_BIRTH), ("postal_code", Domain.ZIP_CODE),
    ("Sex", Domain.GENDER), ("first_name", Domain.PERSON_NAME), ("SSN", Domain.NATIONAL_ID),
    ("mobile-phone", Domain.PHONE), ("comments", Domain.FREE_TEXT), ("client_ip", Domain.IP_ADDRESS),
    ("account_id", Domain.RECORD_ID), ("usage", None), ("product_name", None), ("page", None),
])
def test_name_hints(name: str, domain: Domain | None) -> None:
    assert name_hint(name) == domain


# --------------------------------------------------------------------------- properties
_EMAILS = st.from_regex(r"[a-z][a-z0-9._+]{0,12}[a-z0-9]@[a-z][a-z0-9]{0,9}(\.[a-z]{2,8}){1,2}", fullmatch=True)


@settings(max_examples=40, deadline=None)
@given(st.lists(_EMAILS, min_size=5, max_size=30, unique=True))
def test_generated_emails_are_detected_as_emails(emails: list[str]) -> None:
    assert all(looks_like_email(e) for e in emails)
    profile = detect_column(pd.Series(emails), "c1")  # a name that tells nothing: values decide
    assert profile.domain == Domain.EMAIL and profile.classification == AttributeType.IDENTIFIER


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.integers(201, 989), st.integers(200, 999), st.integers(0, 9999), st.integers(0, 3)),
                min_size=5, max_size=30))
def test_generated_phones_and_ssns_are_detected(parts: list[tuple[int, int, int, int]]) -> None:
    formats = ["({a}) {e}-{l:04d}", "{a}-{e}-{l:04d}", "+1 {a} {e} {l:04d}", "{a}.{e}.{l:04d}"]
    phones = [formats[f].format(a=a, e=e, l=x) for a, e, x, f in parts]
    assert detect_column(pd.Series(phones), "contact").domain == Domain.PHONE
    ssns = [f"{a:03d}-{e % 100:02d}-{x:04d}" for a, e, x, _ in parts]
    assert detect_column(pd.Series(ssns), "c2").domain == Domain.NATIONAL_ID


@settings(max_examples=40, deadline=None)
@given(st.lists(st.one_of(st.integers(-10**6, 10**6), st.floats(-1e6, 1e6, allow_nan=False)), min_size=1,
                max_size=60))
def test_interval_specs_cover_any_numbers(numbers: list[float]) -> None:
    values = pd.Series(numbers, dtype=float)
    spec = interval_spec(values)
    assert spec is not None
    h = build_hierarchy("x", spec, values)  # every value placed: no DataError
    assert h.domain_size == values.nunique()
    widths = spec.params.intervals
    assert all(math.isclose(b, 2 * a) for a, b in itertools.pairwise(widths))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(["a", "b", "c", "d", "e", "f", ""]), min_size=1, max_size=200), st.integers(1, 10))
def test_frequency_trees_group_rare_values(values: list[str], k: int) -> None:
    series = pd.Series(values, dtype=object)
    spec = frequency_tree(series, k)
    build_hierarchy("c", spec, series)  # covers every value, missing ones too
    counts = series.value_counts()
    for value, generalizations in spec.params.mapping.items():
        assert generalizations[-1] == "*"
        if len(generalizations) > 1 and counts[value] < k:
            assert generalizations[0] == "Other"


def test_masking_tree_has_the_masking_levels() -> None:
    spec = masking_tree(pd.Series(["12345", "12399", "1234"]))
    assert spec.params.mapping["12345"] == ["1234*", "123**", "12***", "1****", "*****", "*"]
    assert spec.params.mapping["1234"] == ["123*", "12**", "1***", "****", "****", "*"]  # shorter: fully masked
    assert masking_tree(pd.Series(["123", "456"])).params.mapping["123"] == ["12*", "1**", "*"]  # '***' is the top
