"""What a published table looks like: identifiers gone, QIs generalized, suppression, shuffling."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from anon_ops.engine.anonymizer import NoSolutionError, anonymize, apply_transformation
from anon_ops.errors import ConfigError, DataError
from tests.conftest import adult_config


@pytest.fixture(scope="module")
def people() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    n = 400
    return pd.DataFrame({
        "ssn": [f"{i:09d}" for i in range(n)],
        "age": rng.integers(18, 90, n),
        "zip": rng.choice(["81667", "81675", "81925", "81931", "80331", "80333"], n),
        "disease": rng.choice(["flu", "cancer", "gastritis", "ulcer"], n),
        "income": rng.normal(50_000, 10_000, n).round(2),
    })


def people_config(k: int = 5, suppression: float = 0.0, **props) -> dict:
    return {
        "attributes": [
            {"name": "ssn", "type": "identifier"},
            {"name": "age", "type": "quasi_identifier",
             "hierarchy": {"type": "interval", "params": {"intervals": [5, 10, 20]}}},
            {"name": "zip", "type": "quasi_identifier", "hierarchy": {"type": "masking", "params": {"max_level": 5}}},
            {"name": "disease", "type": "sensitive"},
            {"name": "income", "type": "insensitive"},
        ],
        "privacy_models": [{"model_type": "k-anonymity", "params": {"k": k}}],
        "max_suppression": suppression,
        "additional_properties": {"seed": 11, **props},
    }


def test_identifiers_removed_other_columns_kept(people):
    result = anonymize(people, people_config())
    assert list(result.data.columns) == ["age", "zip", "disease", "income"]
    assert sorted(result.data["income"]) == sorted(people["income"])
    assert sorted(result.data["disease"]) == sorted(people["disease"])
    assert result.data.index.equals(pd.RangeIndex(len(people)))
    sizes = result.data.groupby(["age", "zip"]).size()
    assert sizes.min() >= 5


def test_rows_are_shuffled_with_the_recorded_seed(people):
    first = anonymize(people, people_config())
    again = anonymize(people, people_config())
    assert first.statistics["output"]["seed"] == 11
    pd.testing.assert_frame_equal(first.data, again.data)
    # row order does not follow the input: incomes are not in input order
    assert not np.array_equal(first.data["income"].to_numpy(), people["income"].to_numpy())
    other = anonymize(people, people_config(seed=12))
    assert not other.data.equals(first.data)
    unseeded = people_config()
    del unseeded["additional_properties"]["seed"]
    assert isinstance(anonymize(people, unseeded).statistics["output"]["seed"], int)


def test_suppressed_rows_masked_or_dropped(adult):
    masked = anonymize(adult, adult_config(k=5, suppression=0.05))
    suppressed = masked.statistics["rows"]["suppressed"]
    assert suppressed > 0
    star_rows = (masked.data == "*").all(axis=1)
    assert star_rows.sum() == suppressed
    assert len(masked.data) == len(adult)
    dropped = anonymize(adult, adult_config(k=5, suppression=0.05,
                                            additional_properties={"seed": 7, "drop_suppressed": True}))
    assert len(dropped.data) == len(adult) - suppressed
    assert not (dropped.data == "*").all(axis=1).any()
    assert dropped.statistics["rows"]["output"] == len(adult) - suppressed
    assert dropped.data.groupby(list(dropped.data.columns)).size().min() >= 5


def test_apply_transformation_to_new_rows(people):
    result = anonymize(people, people_config(k=3))
    # applied to the very same rows, the stored transformation reproduces the job's output
    same = apply_transformation(people, people_config(k=3), result.transformation)
    pd.testing.assert_frame_equal(same.data, result.data)
    assert same.statistics["search"]["algorithm"] == "applied"
    # on a new batch, classes below k are suppressed, the rest keep the stored generalization
    batch = people.sample(300, random_state=1).reset_index(drop=True)
    applied = apply_transformation(batch, people_config(k=3), result.transformation)
    assert applied.transformation == result.transformation
    generalized = same.data.set_index(["disease", "income"])[["age", "zip"]]
    expected = generalized.loc[list(zip(batch["disease"], batch["income"], strict=True))]
    small = expected.groupby(["age", "zip"])["age"].transform("size")
    assert applied.statistics["rows"]["suppressed"] == int((small < 3).sum())
    kept = applied.data[~(applied.data[["age", "zip"]] == "*").all(axis=1)]
    assert len(kept) == int((small >= 3).sum())
    if len(kept):
        assert kept.groupby(["age", "zip"]).size().min() >= 3
    with pytest.raises(ConfigError, match="transformation"):
        apply_transformation(batch, people_config(k=3), {"age": 1})


def test_uncovered_value_names_column_and_value(adult):
    broken = adult.head(50).copy()
    broken.loc[3, "education"] = "Kindergarten-Plus"
    with pytest.raises(DataError, match=r"'education'.*Kindergarten-Plus"):
        anonymize(broken, adult_config())


def test_unknown_column_and_impossible_model(adult, people):
    config = people_config()
    config["attributes"].append({"name": "shoe_size", "type": "insensitive"})
    with pytest.raises(DataError, match="shoe_size"):
        anonymize(people, config)
    with pytest.raises(NoSolutionError):
        anonymize(people.head(3), people_config(k=5))


def test_statistics_document_shape(people):
    stats = anonymize(people, people_config(k=4, suppression=0.05)).statistics
    for key in ("transformation", "rows", "equivalence_classes", "information_loss", "risk", "utility",
                "exploratory", "search"):
        assert key in stats
    assert set(stats["transformation"]) == {"age", "zip"}
    for name, value in stats["utility"].items():
        assert 0.0 <= value <= 1.0, name
    assert "ssn" not in stats["exploratory"]["source"]
    # values seen fewer than k times are not listed in the source distribution
    assert all(count >= 4 for count in stats["exploratory"]["source"]["age"]["values"].values())
    assert stats["risk"]["target"]["prosecutor"]["highest_risk"] <= 0.25 + 1e-12
