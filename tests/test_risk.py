"""Tests of anon_ops.engine.risk: risk statistics (metrics.md, "Risk statistics") and the
population-uniqueness estimators (Zayatz, Pitman, SNB, Dankar's rule)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anon_ops.engine import risk
from anon_ops.errors import ConfigError, DataError
from tests.conftest import SHARED

ADULT = SHARED / "data" / "adult" / "adult.csv"


@pytest.fixture(scope="module")
def adult_sizes() -> np.ndarray:
    df = pd.read_csv(ADULT, sep=";", dtype=str, keep_default_na=False)
    return df.groupby(list(df.columns)).size().to_numpy()


def _plain(value: object) -> bool:
    """True if value is built only from plain JSON types (no numpy scalars)."""
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    return type(value) in (int, float, str)


# --------------------------------------------------------------------------- reference values


def test_adult_reference_values(adult_sizes: np.ndarray) -> None:
    stats = risk.risk_statistics(adult_sizes)
    assert stats["records"] == 30162
    assert stats["classes"] == 19502
    assert stats["threshold"] == 0.2
    assert stats["prosecutor"]["highest_risk"] == 1.0
    assert stats["prosecutor"]["records_at_risk"] == pytest.approx(0.778131, abs=5e-7)
    assert stats["prosecutor"]["success_rate"] == pytest.approx(0.646575, abs=5e-7)
    assert stats["sample_uniqueness"] == pytest.approx(0.514290, abs=5e-7)
    # Without a population table journalist = prosecutor and marketer = C / n.
    assert stats["journalist"] == stats["prosecutor"]
    assert stats["marketer"]["success_rate"] == pytest.approx(19502 / 30162)
    # f = 30162 / 317,238,626 <= 0.1: Dankar's rule uses Pitman (regression value of this code).
    assert stats["population_model"] == "pitman"
    assert stats["population_uniqueness"] == pytest.approx(0.0388962, rel=1e-5)
    assert _plain(stats)
    json.dumps(stats)


def test_adult_estimates_in_unit_interval(adult_sizes: np.ndarray) -> None:
    n = int(adult_sizes.sum())
    for population in (n, 100_000, risk.US_POPULATION):
        estimates = [
            risk.zayatz_uniqueness(adult_sizes, population),
            risk.pitman_uniqueness(adult_sizes, population),
            risk.snb_uniqueness(adult_sizes, population, arx_snb=False),
        ]
        finite = [e for e in estimates if not math.isnan(e)]
        assert len(finite) >= 2
        assert all(0.0 <= e <= 1.0 for e in finite)
        share, model = risk.population_uniqueness(adult_sizes, population)
        assert 0.0 < share <= 1.0
        assert model in {"pitman", "zayatz", "snb"}


# --------------------------------------------------------------------------- hand-computed cases


def test_hand_computed_without_population() -> None:
    stats = risk.risk_statistics(np.array([1, 2, 3, 4, 10]), threshold=0.2)
    assert stats["records"] == 20 and stats["classes"] == 5
    # 1/f > 0.2 <=> f < 5: 1 + 2 + 3 + 4 records of 20.
    assert stats["prosecutor"] == {"highest_risk": 1.0, "records_at_risk": 0.5, "success_rate": 0.25}
    assert stats["journalist"] == stats["prosecutor"]
    assert stats["marketer"] == {"success_rate": 0.25}
    assert stats["sample_uniqueness"] == 0.05


@pytest.mark.parametrize(
    ("threshold", "at_risk"),
    [(0.0, 1.0), (0.25, 0.3), (0.3, 0.3), (0.5, 0.05), (1.0, 0.0)],
)
def test_threshold_is_strict(threshold: float, at_risk: float) -> None:
    # A class of size f is at risk iff 1/f > t (strictly), as in ARX.
    stats = risk.risk_statistics(np.array([1, 2, 3, 4, 10]), threshold=threshold)
    assert stats["prosecutor"]["records_at_risk"] == pytest.approx(at_risk)
    assert stats["threshold"] == threshold


def test_hand_computed_with_population() -> None:
    f = np.array([1, 2, 3, 4, 10])
    big_f = np.array([2, 4, 3, 40, 10])
    stats = risk.risk_statistics(f, population_sizes=big_f, threshold=0.2)
    assert stats["prosecutor"]["highest_risk"] == 1.0
    assert stats["journalist"]["highest_risk"] == 0.5
    # 1/F > 0.2 <=> F < 5: classes with F = 2, 4, 3 hold 1 + 2 + 3 sample records.
    assert stats["journalist"]["records_at_risk"] == pytest.approx(6 / 20)
    marketer = (1 / 2 + 2 / 4 + 3 / 3 + 4 / 40 + 10 / 10) / 20
    assert stats["marketer"]["success_rate"] == pytest.approx(marketer)
    # max(C / sum F = 5 / 59, marketer) = marketer
    assert stats["journalist"]["success_rate"] == pytest.approx(marketer)
    assert stats["prosecutor"]["success_rate"] == 0.25


def test_journalist_success_can_be_classes_over_population() -> None:
    stats = risk.risk_statistics(np.array([1, 100]), population_sizes=np.array([2, 100]))
    # C / sum F = 2 / 102 exceeds the marketer rate (1/2 + 1) / 101.
    assert stats["journalist"]["success_rate"] == pytest.approx(2 / 102)
    assert stats["marketer"]["success_rate"] == pytest.approx(1.5 / 101)


def test_population_equal_to_sample_matches_no_population() -> None:
    f = np.array([1, 1, 2, 5, 7])
    assert risk.risk_statistics(f, population_sizes=f.copy()) == risk.risk_statistics(f)


@pytest.mark.parametrize("population", [None, np.array([], dtype=np.int64)])
def test_empty_gives_zeros(population: np.ndarray | None) -> None:
    stats = risk.risk_statistics(np.array([], dtype=np.int64), population_sizes=population, threshold=0.1)
    assert stats == {
        "threshold": 0.1,
        "records": 0,
        "classes": 0,
        "prosecutor": {"highest_risk": 0.0, "records_at_risk": 0.0, "success_rate": 0.0},
        "journalist": {"highest_risk": 0.0, "records_at_risk": 0.0, "success_rate": 0.0},
        "marketer": {"success_rate": 0.0},
        "sample_uniqueness": 0.0,
        "population_uniqueness": 0.0,
        "population_model": "none",
    }
    assert _plain(stats)


def test_accepts_lists_and_integral_floats() -> None:
    from_list = risk.risk_statistics([3, 1, 1])  # type: ignore[arg-type]
    from_floats = risk.risk_statistics(np.array([3.0, 1.0, 1.0]))
    assert from_list == from_floats
    assert from_list["records"] == 5 and type(from_list["records"]) is int


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"class_sizes": np.array([1, 0])}, DataError),
        ({"class_sizes": np.array([1, -2])}, DataError),
        ({"class_sizes": np.array([1.5, 2])}, DataError),
        ({"class_sizes": np.array([[1, 2]])}, DataError),
        ({"class_sizes": np.array(["a"])}, DataError),
        ({"class_sizes": np.array([1, 2]), "population_sizes": np.array([1])}, DataError),
        ({"class_sizes": np.array([1, 2]), "population_sizes": np.array([1, 1])}, DataError),
        ({"class_sizes": np.array([1, 2]), "threshold": 1.5}, ConfigError),
        ({"class_sizes": np.array([1, 2]), "threshold": -0.1}, ConfigError),
        ({"class_sizes": np.array([1, 2]), "threshold": "high"}, ConfigError),
        ({"class_sizes": np.array([1, 2]), "population_size": 2}, ConfigError),
    ],
)
def test_invalid_input_is_rejected(kwargs: dict, error: type[Exception]) -> None:
    with pytest.raises(error):
        risk.risk_statistics(**kwargs)


# --------------------------------------------------------------------------- properties


@settings(max_examples=60, deadline=None)
@given(
    classes=st.lists(st.tuples(st.integers(1, 40), st.integers(0, 60)), min_size=1, max_size=30),
    threshold=st.floats(0.0, 1.0),
)
def test_prosecutor_ge_journalist_ge_marketer(classes: list[tuple[int, int]], threshold: float) -> None:
    f = np.array([size for size, _ in classes])
    big_f = f + np.array([extra for _, extra in classes])
    stats = risk.risk_statistics(f, population_sizes=big_f, threshold=threshold)
    pros, jour, mark = stats["prosecutor"], stats["journalist"], stats["marketer"]
    eps = 1e-12
    assert pros["highest_risk"] >= jour["highest_risk"]
    assert pros["records_at_risk"] >= jour["records_at_risk"]
    assert pros["success_rate"] + eps >= jour["success_rate"] >= mark["success_rate"] - eps
    for value in (*pros.values(), *jour.values(), mark["success_rate"], stats["sample_uniqueness"]):
        assert 0.0 <= value <= 1.0
    assert 0.0 <= stats["population_uniqueness"] <= 1.0
    assert stats["population_model"] in {"pitman", "zayatz", "snb", "none"}
    assert _plain(stats)


@settings(max_examples=25, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 12), min_size=1, max_size=25),
    factor=st.floats(1.0, 50.0),
)
def test_population_uniqueness_in_unit_interval(sizes: list[int], factor: float) -> None:
    population = math.ceil(sum(sizes) * factor)
    share, model = risk.population_uniqueness(sizes, population)
    assert 0.0 <= share <= 1.0
    if 1 not in sizes:
        assert (share, model) == (0.0, "none")
    zayatz = risk.zayatz_uniqueness(sizes, population)
    assert 0.0 <= zayatz <= sizes.count(1) / sum(sizes) + 1e-12


# --------------------------------------------------------------------------- population uniqueness


def test_fully_unique_sample_of_whole_population() -> None:
    share, model = risk.population_uniqueness(np.ones(50, dtype=int), 50)
    assert share == pytest.approx(1.0)
    assert model in {"zayatz", "snb"}
    stats = risk.risk_statistics(np.ones(50, dtype=int), population_size=50)
    assert stats["population_uniqueness"] == pytest.approx(1.0)
    assert stats["sample_uniqueness"] == 1.0


def test_census_zayatz_equals_sample_uniqueness(adult_sizes: np.ndarray) -> None:
    # With sampling fraction 1 only classes of size 1 can contribute a single record.
    n = int(adult_sizes.sum())
    assert risk.zayatz_uniqueness(adult_sizes, n) == pytest.approx(np.count_nonzero(adult_sizes == 1) / n)
    assert risk.zayatz_uniqueness(adult_sizes, n) == pytest.approx(0.514290, abs=5e-7)


def test_no_sample_uniques_gives_zero() -> None:
    assert risk.population_uniqueness([2, 3, 3], 1000) == (0.0, "none")
    assert risk.risk_statistics(np.array([2, 3, 3]))["population_uniqueness"] == 0.0


def test_zayatz_matches_exact_hypergeometric() -> None:
    sizes, population = [1, 1, 1, 2, 3, 3], 40
    n = sum(sizes)

    def p_one(k: int) -> float:
        return k * math.comb(population - k, n - 1) / math.comb(population, n)

    classes = len(sizes)
    weights = {s: sizes.count(s) / classes for s in set(sizes)}
    conditional = weights[1] * p_one(1) / sum(w * p_one(s) for s, w in weights.items())
    expected = sizes.count(1) * conditional / (n / population) / population
    assert risk.zayatz_uniqueness(sizes, population) == pytest.approx(expected, rel=1e-12)


def test_zayatz_matches_lgamma_formula_for_adult(adult_sizes: np.ndarray) -> None:
    population, n = risk.US_POPULATION, int(adult_sizes.sum())
    sizes, counts = np.unique(adult_sizes, return_counts=True)

    def log_p_one(k: int) -> float:
        log_comb = lambda a, b: math.lgamma(a + 1) - math.lgamma(b + 1) - math.lgamma(a - b + 1)  # noqa: E731
        return math.log(k) + log_comb(population - k, n - 1) - log_comb(population, n)

    denominator = sum(c / counts.sum() * math.exp(log_p_one(int(s))) for s, c in zip(sizes, counts, strict=True))
    c1 = counts[0]
    expected = c1 * (c1 / counts.sum() * math.exp(log_p_one(1)) / denominator) / n
    assert risk.zayatz_uniqueness(adult_sizes, population) == pytest.approx(expected, rel=1e-6)


def _pitman_loglik(sizes: np.ndarray, theta: float, alpha: float) -> float:
    """Pitman sampling-formula log-likelihood, written independently with lgamma."""
    u, n = len(sizes), int(sizes.sum())
    first = float(np.sum(np.log(theta + np.arange(1, u) * alpha)))
    second = math.lgamma(theta + n) - math.lgamma(theta + 1)
    values, counts = np.unique(sizes, return_counts=True)
    third = sum(c * (math.lgamma(s - alpha) - math.lgamma(1 - alpha)) for s, c in zip(values, counts, strict=True))
    return first - second + third


def test_pitman_parameters_maximize_likelihood(adult_sizes: np.ndarray) -> None:
    hist = risk._Histogram.of(adult_sizes, risk.US_POPULATION)
    theta, alpha = risk._pitman_parameters(hist)
    assert theta > 0 and 0 < alpha < 1
    best = _pitman_loglik(adult_sizes, theta, alpha)
    for d_theta in (-1e-3, 0.0, 1e-3):
        for d_alpha in (-1e-3, 0.0, 1e-3):
            if d_theta or d_alpha:
                other = _pitman_loglik(adult_sizes, theta * (1 + d_theta), alpha * (1 + d_alpha))
                assert other < best
    expected = math.exp(math.lgamma(theta + 1) - math.lgamma(theta + alpha)) * risk.US_POPULATION**alpha
    assert risk.pitman_uniqueness(adult_sizes) == pytest.approx(expected / risk.US_POPULATION, rel=1e-9)


def test_polygamma_known_values_and_sums() -> None:
    euler = 0.5772156649015329
    psi, psi1 = risk._polygamma(np.array([1.0, 0.5, 12.0, -2.5]))
    assert psi[:3] == pytest.approx([-euler, -euler - 2 * math.log(2), -euler + sum(1 / k for k in range(1, 12))])
    assert psi1[:2] == pytest.approx([math.pi**2 / 6, math.pi**2 / 2])
    # psi(-2.5) = psi(0.5) + 1/0.5 + 1/1.5 + 1/2.5 (recurrence backwards)
    assert psi[3] == pytest.approx(-euler - 2 * math.log(2) + 1 / 0.5 + 1 / 1.5 + 1 / 2.5, rel=1e-13)
    for x in (0.3, 7.25, 9.99, 250.0):
        for m in (1, 17, 3000):
            psi, psi1 = risk._polygamma(np.array([x + m, x]))
            terms = 1.0 / (x + np.arange(m))
            assert psi[0] - psi[1] == pytest.approx(terms.sum(), rel=1e-12)
            assert psi1[1] - psi1[0] == pytest.approx((terms * terms).sum(), rel=1e-12)


def test_pitman_closed_form_matches_exact_sums(adult_sizes: np.ndarray) -> None:
    hist = risk._Histogram.of(adult_sizes, risk.US_POPULATION)
    closed, exact = risk._pitman_closed(hist), risk._pitman_exact(hist)
    for point in ([3176.0, 0.7], [10.0, 0.2], [500.0, 0.95], [50.0, -0.3]):
        (g_closed, h_closed), (g_exact, h_exact) = closed(np.array(point)), exact(np.array(point))
        assert g_closed == pytest.approx(g_exact, rel=1e-9, abs=1e-8)
        assert h_closed == pytest.approx(h_exact, rel=1e-9)


def _chinese_restaurant(n: int, theta: float, alpha: float, seed: int) -> np.ndarray:
    """Class sizes of a sample of n from a Pitman-Yor(theta, alpha) process."""
    rng = np.random.default_rng(seed)
    sizes: list[int] = []
    for i in range(n):
        if rng.random() * (i + theta) < theta + len(sizes) * alpha:
            sizes.append(1)
        else:
            weights = np.array(sizes, dtype=float) - alpha
            sizes[rng.choice(len(sizes), p=weights / weights.sum())] += 1
    return np.array(sizes)


def test_pitman_recovers_simulated_parameters() -> None:
    sizes = _chinese_restaurant(3000, theta=50.0, alpha=0.5, seed=1)
    theta, alpha = risk._pitman_parameters(risk._Histogram.of(sizes, 10**9))
    assert alpha == pytest.approx(0.5, abs=0.08)
    assert theta == pytest.approx(50.0, rel=0.3)


def _snb_moments(k: float, f: float, a: float, b: float, top: int = 20_000) -> tuple[float, float]:
    """E[c1], E[c2] under the SNB model by direct summation over population class sizes m."""
    m = np.arange(1, top + 1, dtype=float)
    log_pmf = np.array([math.lgamma(x + a - 1) - math.lgamma(a) - math.lgamma(x) for x in m])
    pmf = np.exp(log_pmf + a * math.log(b) + (m - 1) * math.log(1 - b))
    one = np.sum(pmf * m * f * (1 - f) ** (m - 1))
    two = np.sum(pmf * m * (m - 1) / 2 * f * f * (1 - f) ** np.maximum(m - 2, 0))
    return k * one, k * two


@pytest.mark.parametrize(("f", "a", "b"), [(0.3, 0.8, 0.4), (0.5, 2.0, 0.7), (0.15, 0.3, 0.2)])
def test_snb_moment_equations_and_jacobian(f: float, a: float, b: float) -> None:
    k = 1000.0
    c1, c2 = _snb_moments(k, f, a, b)
    system = risk._snb_system(k, f, c1, c2)
    values, jac = system(np.array([a, b]))
    assert values == pytest.approx([0.0, 0.0], abs=1e-6 * k)
    step = 1e-6
    for col, delta in enumerate(np.eye(2) * step):
        plus, _ = system(np.array([a, b]) + delta)
        minus, _ = system(np.array([a, b]) - delta)
        assert jac[:, col] == pytest.approx((plus - minus) / (2 * step), rel=1e-5, abs=1e-6)
    # The solver recovers the parameters from the moments.
    solution = risk._newton(system, (1.0, 1.0), lambda x: bool(x[0] > 0 and 0 < x[1] <= 1))
    assert solution == pytest.approx([a, b], rel=1e-4)


def test_shlosser_matches_textbook_form() -> None:
    sizes = np.array([1, 1, 1, 1, 2, 2, 3, 5, 8])
    hist = risk._Histogram.of(sizes, 100)
    q = sizes.sum() / 100
    freq = {int(s): int(c) for s, c in zip(*np.unique(sizes, return_counts=True), strict=True)}
    num1 = sum(i * q * q * (1 - q * q) ** (i - 1) * c for i, c in freq.items())
    den1 = sum((1 - q) ** i * ((1 + q) ** i - 1) * c for i, c in freq.items())
    den1_arx = sum((1 - q) ** i * c * (1 + q) ** i - 1 for i, c in freq.items())
    num2 = sum((1 - q) ** i * c for i, c in freq.items())
    den2 = sum(i * q * (1 - q) ** (i - 1) * c for i, c in freq.items())
    expected = len(sizes) + freq[1] * num1 / den1 * (num2 / den2) ** 2
    expected_arx = len(sizes) + freq[1] * num1 / den1_arx * (num2 / den2) ** 2
    assert risk._shlosser(hist) == pytest.approx(expected, rel=1e-12)
    assert risk._shlosser(hist, arx=True) == pytest.approx(expected_arx, rel=1e-12)
    census = risk._Histogram.of(sizes, int(sizes.sum()))
    assert risk._shlosser(census) == risk._shlosser(census, arx=True) == len(sizes)


def test_arx_snb_second_equation() -> None:
    # ARX's second equation is Chen's times q^(2a+4) (q = 1 - (1-f)(1-b)); the first is unchanged.
    k, f, a, b = 1000.0, 0.3, 0.8, 0.4
    q = 1 - (1 - f) * (1 - b)
    chen, _ = risk._snb_system(k, f, 0.0, 0.0)(np.array([a, b]))
    arx, _ = risk._snb_system(k, f, 0.0, 0.0, arx=True)(np.array([a, b]))
    assert arx[0] == pytest.approx(chen[0])
    assert arx[1] == pytest.approx(chen[1] * q ** (2 * a + 4))


@pytest.mark.parametrize(
    ("fraction", "expected", "model"),
    [
        (0.01, 0.1446083531167384, "pitman"),
        (0.1, 0.27684993883653597, "pitman"),
        (0.2, 0.3577099234829125, "zayatz"),
        (1.0, 0.5142895033485844, "zayatz"),
    ],
)
def test_arx_reference_values(adult_sizes: np.ndarray, fraction: float, expected: float, model: str) -> None:
    # ARX's own unit test (TestRiskMetrics.testDecisionRule2) for adult with population n / fraction.
    population = round(int(adult_sizes.sum()) / fraction)
    share, picked = risk.population_uniqueness(adult_sizes, population)
    assert picked == model
    assert share == pytest.approx(expected, rel=1e-9)


def test_dankar_rule(adult_sizes: np.ndarray) -> None:
    n = int(adult_sizes.sum())
    # f <= 0.1 (boundary included): Pitman.
    share, model = risk.population_uniqueness(adult_sizes, 10 * n)
    assert model == "pitman"
    assert share == pytest.approx(risk.pitman_uniqueness(adult_sizes, 10 * n))
    # f > 0.1: the smaller of SNB and Zayatz (with the published SNB, which converges here).
    for population in (10 * n - 1, 100_000, 50_000):
        snb = risk.snb_uniqueness(adult_sizes, population, arx_snb=False)
        zayatz = risk.zayatz_uniqueness(adult_sizes, population)
        share, model = risk.population_uniqueness(adult_sizes, population, arx_snb=False)
        assert not math.isnan(snb)
        assert share == pytest.approx(min(snb, zayatz))
        assert model == ("snb" if snb <= zayatz else "zayatz")
    # ARX's SNB equations find no root here, so ARX's rule (the default) reports Zayatz.
    assert math.isnan(risk.snb_uniqueness(adult_sizes, 100_000))
    zayatz = risk.zayatz_uniqueness(adult_sizes, 100_000)
    assert risk.population_uniqueness(adult_sizes, 100_000) == (pytest.approx(zayatz), "zayatz")


def test_dankar_falls_back_to_zayatz_when_pitman_fails() -> None:
    sizes = [1, 1, 1]  # all unique: the Pitman likelihood has no interior maximum
    pitman = risk.pitman_uniqueness(sizes)
    assert math.isnan(pitman) or pitman == 0.0
    share, model = risk.population_uniqueness(sizes)
    assert model == "zayatz"
    assert share == pytest.approx(risk.zayatz_uniqueness(sizes)) and share == pytest.approx(1.0)


def test_estimates_are_deterministic(adult_sizes: np.ndarray) -> None:
    first = [risk.snb_uniqueness(adult_sizes, 60_000, arx_snb=False), risk.pitman_uniqueness(adult_sizes)]
    second = [risk.snb_uniqueness(adult_sizes, 60_000, arx_snb=False), risk.pitman_uniqueness(adult_sizes)]
    assert not math.isnan(first[0]) and first == second
