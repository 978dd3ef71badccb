"""Re-identification risk statistics of a (generalized) table.

Implements the spec (metrics.md), section "Risk statistics": prosecutor, journalist and marketer
risk over the equivalence classes of the non-suppressed records, sample uniqueness, and a population
uniqueness estimate, all following the conventions of ARX so that numbers compare one to one.

Population uniqueness (share of the population that is unique on the QIs) uses the three estimators
ARX offers and Dankar et al.'s rule that picks one, for the sampling fraction f = n / population_size:

* f <= 0.1: Pitman (Hoshino 2001; maximum likelihood of the Pitman sampling formula).  If the
  solver fails or the estimate is outside [0, population], Zayatz is used instead.
* f > 0.1: SNB (Chen & Keller-McNulty 1998) and Zayatz (1991); the smaller of the two, or Zayatz
  alone when SNB fails.
* no sample uniques: 0 (model "none").  A failed (NaN) or zero final estimate reports 0.

Solvers follow ARX: Newton-Raphson to an accuracy of 1e-6 on the equations, up to 1,000 iterations
per try and 10,000 in total, restarting from a uniform random point in [0, start] after a failed
try (ARX's wall-clock limits are replaced by these iteration limits, and the restarts use a fixed
seed, so results are deterministic).  Pitman requires theta >= 0, as ARX does; its search uses the
polygamma closed forms, and the root is checked against the exact sums (ARX does the same) and, if
needed, polished with up to 50 exact Newton steps.  A failed solver yields NaN, which triggers the
fallback above.

ARX's SNB code differs from the published model, and this module offers both:

* ``arx_snb=True`` (default; what ``risk_statistics`` reports) reproduces ARX: its second moment
  equation multiplies by (1 - (1-f)(1-b))^(a+2) where Chen's model (and ARX's own Jacobian)
  divides by it, and its Shlosser estimate of the number of population classes sums
  (1-f)^i c_i (1+f)^i - 1 where Haas & Stokes (1998, eq. 30b) have (1-f)^i ((1+f)^i - 1) c_i.
  This SNB rarely converges, so for f > 0.1 ARX (and this default) mostly reports Zayatz.  So
  set, population_uniqueness reproduces ARX's own test values for adult (f = 0.01, 0.1, 0.2, 1).
* ``arx_snb=False`` solves Chen's published equations (root constrained to a > 0, 0 < b <= 1,
  estimate <= population); Dankar's rule then often picks SNB for f > 0.1.

Other differences from ARX: Zayatz's hypergeometric probabilities are computed exactly (ARX
clamps the population size to 2^31 - 1); the reported share is clipped to [0, 1].
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike

from anon_ops.errors import ConfigError, DataError

US_POPULATION = 317_238_626
"""Default population size (USA), as in ARX."""

_ACCURACY = 1e-6
_ITERATIONS_PER_TRY = 1_000
_ITERATIONS_TOTAL = 10_000
_DANKAR_PITMAN_LIMIT = 0.1
_POLISH = 50
_SEED = 0x5EED

_System = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


# --------------------------------------------------------------------------- public API


def risk_statistics(
    class_sizes: np.ndarray,
    population_sizes: np.ndarray | None = None,
    threshold: float = 0.2,
    population_size: int = US_POPULATION,
) -> dict:
    """Risk statistics of the classes of non-suppressed records, as a JSON-serializable dict.

    ``class_sizes`` are the sizes f_j of the equivalence classes; ``population_sizes`` the sizes F_j
    of the matching classes in a population table (same order), else F_j = f_j.  ``population_size``
    is the population the sample is drawn from, for the population-uniqueness estimate.
    """
    f = _as_sizes(class_sizes, "class_sizes")
    big_f = f if population_sizes is None else _as_sizes(population_sizes, "population_sizes")
    if big_f.shape != f.shape:
        raise DataError(f"population_sizes has {big_f.size} entries, class_sizes {f.size}")
    if np.any(big_f < f):
        raise DataError("population_sizes must be >= class_sizes (a population contains the sample)")
    try:
        t = float(threshold)
    except (TypeError, ValueError):
        raise ConfigError(f"threshold must be a number in [0, 1], got {threshold!r}") from None
    if not 0.0 <= t <= 1.0:
        raise ConfigError(f"threshold must be a number in [0, 1], got {threshold!r}")
    n = int(f.sum())
    if int(population_size) < max(n, 1):
        raise ConfigError(f"population_size ({population_size}) must be >= the records ({n}) and > 0")

    if n == 0:
        zero = {"highest_risk": 0.0, "records_at_risk": 0.0, "success_rate": 0.0}
        return {
            "threshold": t, "records": 0, "classes": 0,
            "prosecutor": dict(zero), "journalist": dict(zero), "marketer": {"success_rate": 0.0},
            "sample_uniqueness": 0.0, "population_uniqueness": 0.0, "population_model": "none",
        }  # fmt: skip

    classes = int(f.size)
    marketer = float(np.sum(f / big_f) / n)
    uniqueness, model = population_uniqueness(f, population_size)
    return {
        "threshold": t,
        "records": n,
        "classes": classes,
        "prosecutor": {  # a record's risk is 1/size; "at risk" is 1/size > t, as in ARX
            "highest_risk": float(1.0 / f.min()),
            "records_at_risk": float(f[1.0 / f > t].sum() / n),
            "success_rate": classes / n,
        },
        "journalist": {
            "highest_risk": float(1.0 / big_f.min()),
            "records_at_risk": float(f[1.0 / big_f > t].sum() / n),
            "success_rate": max(classes / float(big_f.sum()), marketer),
        },
        "marketer": {"success_rate": marketer},
        "sample_uniqueness": float(np.count_nonzero(f == 1) / n),
        "population_uniqueness": uniqueness,
        "population_model": model,
    }


def population_uniqueness(
    class_sizes: ArrayLike, population_size: int = US_POPULATION, *, arx_snb: bool = True
) -> tuple[float, str]:
    """Dankar et al.'s estimate of the population's unique share and the model it picked.

    Returns ``(share in [0, 1], "pitman" | "zayatz" | "snb" | "none")``.  ``arx_snb`` (default)
    solves SNB with ARX's equations, reproducing ARX's numbers; False uses Chen's published ones.
    """
    hist = _Histogram.of(class_sizes, population_size)
    if hist.uniques == 0:
        return 0.0, "none"
    if hist.fraction <= _DANKAR_PITMAN_LIMIT:
        value, model = _pitman(hist), "pitman"
        if not _valid(value):
            value, model = _zayatz(hist), "zayatz"
    else:
        snb, zayatz = _snb(hist, arx_snb), _zayatz(hist)
        if _valid(snb) and not zayatz < snb:
            value, model = snb, "snb"
        else:
            value, model = zayatz, "zayatz"
    share = value / hist.population if _valid(value) else 0.0
    return float(min(max(share, 0.0), 1.0)), model


def zayatz_uniqueness(class_sizes: ArrayLike, population_size: int = US_POPULATION) -> float:
    """Zayatz's estimate of the population's unique share (0 without sample uniques)."""
    hist = _Histogram.of(class_sizes, population_size)
    return _zayatz(hist) / hist.population if hist.uniques else 0.0


def pitman_uniqueness(class_sizes: ArrayLike, population_size: int = US_POPULATION) -> float:
    """Pitman's estimate of the population's unique share (NaN when the solver fails, 0 without
    sample uniques)."""
    hist = _Histogram.of(class_sizes, population_size)
    return _pitman(hist) / hist.population if hist.uniques else 0.0


def snb_uniqueness(class_sizes: ArrayLike, population_size: int = US_POPULATION, *, arx_snb: bool = True) -> float:
    """The SNB estimate of the population's unique share (NaN when the solver fails, 0 without
    sample uniques); ``arx_snb`` as in population_uniqueness."""
    hist = _Histogram.of(class_sizes, population_size)
    return _snb(hist, arx_snb) / hist.population if hist.uniques else 0.0


# --------------------------------------------------------------------------- inputs


def _as_sizes(values: ArrayLike, name: str) -> np.ndarray:
    """Validate class sizes: a flat array of integers > 0."""
    arr = np.asarray(values)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.ndim != 1:
        raise DataError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise DataError(f"{name} must hold integers, got dtype {arr.dtype}")
    if not np.all(np.isfinite(arr)) or np.any(arr != np.floor(arr)):
        raise DataError(f"{name} must hold integers")
    out = arr.astype(np.int64)
    if np.any(out <= 0):
        raise DataError(f"{name} must be > 0")
    return out


class _Histogram:
    """Class-size frequencies (ARX's RiskModelHistogram): c_s classes of size s, ascending s."""

    __slots__ = ("classes", "counts", "fraction", "population", "records", "sizes", "uniques")

    def __init__(self, sizes: np.ndarray, counts: np.ndarray, population: int) -> None:
        self.sizes = sizes.astype(np.float64)
        self.counts = counts.astype(np.float64)
        self.records = float(np.dot(self.sizes, self.counts))
        self.classes = float(self.counts.sum())
        self.uniques = self.count_of(1)
        self.population = float(population)
        self.fraction = self.records / self.population if population > 0 else math.nan

    @classmethod
    def of(cls, class_sizes: ArrayLike, population_size: int) -> _Histogram:
        sizes, counts = np.unique(_as_sizes(class_sizes, "class_sizes"), return_counts=True)
        if int(population_size) < max(int(np.dot(sizes, counts)), 1):
            raise ConfigError(f"population_size ({population_size}) must be >= the records and > 0")
        return cls(sizes, counts, int(population_size))

    def count_of(self, size: int) -> float:
        """Number of classes of the given size."""
        hit = self.sizes == size
        return float(self.counts[hit].sum())


def _valid(value: float) -> bool:
    """ARX's acceptance test for an estimate: neither NaN nor zero."""
    return not math.isnan(value) and value != 0.0


# --------------------------------------------------------------------------- Newton-Raphson


def _newton(
    system: _System,
    start: tuple[float, float],
    constraint: Callable[[np.ndarray], bool],
    per_try: int = _ITERATIONS_PER_TRY,
    total: int = _ITERATIONS_TOTAL,
) -> np.ndarray:
    """Solve system(x) = 0 in 2-D like ARX's solver; NaNs when nothing converged.

    ``system`` returns (values, Jacobian).  After a diverging try (NaN, singular Jacobian, constraint
    violated, too many iterations) the search restarts from a uniform random point in [0, start].
    """
    rng = np.random.default_rng(_SEED)
    init = np.array(start, dtype=np.float64)
    x = init.copy()
    used = 0
    with np.errstate(all="ignore"):
        while used <= total:
            for _ in range(per_try + 2):
                used += 1
                try:
                    values, jac = system(x)
                except (ArithmeticError, ValueError):
                    break
                (v0, v1), ((j00, j01), (j10, j11)) = values.tolist(), jac.tolist()
                if abs(v0) <= _ACCURACY and abs(v1) <= _ACCURACY:
                    return x
                det = j00 * j11 - j01 * j10
                if det == 0.0 or not math.isfinite(det):
                    break
                x = np.array([x[0] - (j11 * v0 - j01 * v1) / det, x[1] - (j00 * v1 - j10 * v0) / det])
                if not np.isfinite(x).all() or not constraint(x) or used > total:
                    break
            x = rng.random(2) * init
    return np.full(2, np.nan)


def _polygamma(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Digamma psi(x) and trigamma psi'(x), vectorized: reflection below 1/2, recurrence up to
    x >= 10, then the asymptotic series (accurate to a few ulp).
    """
    x = np.asarray(x, dtype=np.float64)
    reflect = x < 0.5
    y = np.where(reflect, 1.0 - x, x)
    steps = np.clip(np.ceil(10.0 - y), 0.0, 10.0)
    shift = np.arange(10.0)
    inv = np.where(shift < steps[:, None], 1.0 / (y[:, None] + shift), 0.0)
    z = y + steps
    iz = 1.0 / z
    iz2 = iz * iz
    tail0 = iz2 * (
        1 / 12 - iz2 * (1 / 120 - iz2 * (1 / 252 - iz2 * (1 / 240 - iz2 * (1 / 132 - iz2 * (691 / 32760 - iz2 / 12)))))
    )
    tail1 = 1 / 6 - iz2 * (1 / 30 - iz2 * (1 / 42 - iz2 * (1 / 30 - iz2 * (5 / 66 - iz2 * (691 / 2730 - iz2 * 7 / 6)))))
    psi = np.log(z) - 0.5 * iz - tail0 - inv.sum(axis=1)
    psi1 = iz * (1.0 + iz * (0.5 + iz * tail1)) + (inv * inv).sum(axis=1)
    if reflect.any():
        psi = np.where(reflect, psi - np.pi / np.tan(np.pi * x), psi)
        psi1 = np.where(reflect, (np.pi / np.sin(np.pi * x)) ** 2 - psi1, psi1)
    return psi, psi1


# --------------------------------------------------------------------------- Zayatz


def _zayatz(hist: _Histogram) -> float:
    """Zayatz (1991): sample uniques times P(population-unique | sample-unique), scaled by 1/f.

    The probability weighs, for each class size s, the hypergeometric chance that a population class
    of s records contributes exactly one record to the sample.
    """
    n, big_n = hist.records, hist.population
    p_one = _hypergeometric_one(hist.sizes, big_n, n)
    denominator = np.dot(hist.counts / hist.classes, p_one)
    with np.errstate(all="ignore"):
        conditional = (hist.uniques / hist.classes) * (n / big_n) / denominator
    return float(hist.uniques * conditional / hist.fraction)


def _hypergeometric_one(sizes: np.ndarray, population: float, sample: float) -> np.ndarray:
    """P(X = 1) for X ~ Hypergeometric(population, successes=s, draws=sample), for each s.

    Uses P = s (n/N) prod_{i=1}^{s-1} (1 - (n-1)/(N-i)), stable for populations of any size.
    """
    top = int(sizes.max())
    i = np.arange(1, top, dtype=np.float64)
    factor = np.clip(1.0 - (sample - 1.0) / (population - i), 0.0, None)
    with np.errstate(divide="ignore"):
        log_prod = np.concatenate(([0.0], np.cumsum(np.log(factor))))
    return sizes * (sample / population) * np.exp(log_prod[sizes.astype(np.int64) - 1])


# --------------------------------------------------------------------------- Pitman


def _pitman(hist: _Histogram) -> float:
    """Pitman model (Hoshino 2001): population uniques Gamma(t+1)/Gamma(t+a) * N^a at the MLE (t, a)."""
    theta, alpha = _pitman_parameters(hist)
    if math.isnan(theta) or math.isnan(alpha) or alpha == 0.0 or theta + alpha <= 0.0:
        return math.nan
    try:
        value = math.exp(math.lgamma(theta + 1.0) - math.lgamma(theta + alpha) + alpha * math.log(hist.population))
    except (OverflowError, ValueError):
        return math.nan
    return value if 0.0 <= value <= hist.population else math.nan


def _pitman_parameters(hist: _Histogram) -> tuple[float, float]:
    """Maximum likelihood (theta, alpha) of the Pitman sampling formula; NaNs if not found.

    Starts at Hoshino's moment-based guess and requires theta >= 0, as ARX does.  The search uses
    the closed forms (cost independent of n); the root is then checked against the exact sums and,
    if the closed forms were not accurate enough there, polished with a few exact Newton steps.
    """
    if hist.classes < 2:  # one class carries no information on (theta, alpha); ARX fails here too
        return math.nan, math.nan
    c1, c2, u, n = np.array([hist.uniques, hist.count_of(2) or 1.0, hist.classes, hist.records])
    with np.errstate(all="ignore"):
        c = c1 * (c1 - 1.0) / c2
        theta0 = (n * u * c - c1 * (n - 1.0) * (2.0 * u + c)) / (2.0 * c1 * u + c1 * c - n * c)
        alpha0 = (theta0 * (c1 - n) + (n - 1.0) * c1) / (n * u)
    if not (math.isfinite(theta0) and math.isfinite(alpha0)):
        return math.nan, math.nan
    theta_ok: Callable[[np.ndarray], bool] = lambda x: bool(x[0] >= 0.0)  # noqa: E731
    root = _newton(_pitman_closed(hist), (theta0, alpha0), theta_ok)
    if np.isnan(root).any():
        return math.nan, math.nan
    exact = _pitman_exact(hist)
    with np.errstate(all="ignore"):
        residual = exact(root)[0]
    if not np.all(np.abs(residual) <= _ACCURACY):
        root = _newton(exact, (float(root[0]), float(root[1])), theta_ok, per_try=_POLISH, total=_POLISH)
    return float(root[0]), float(root[1])


def _pitman_closed(hist: _Histogram) -> _System:
    """Gradient and Hessian of the Pitman log-likelihood in closed form (polygamma functions).

    Uses sum_{i<m} 1/(t+i) = psi(t+m) - psi(t+1), sum_{i<u} 1/(t+ia) = (psi(t/a+u) - psi(t/a+1))/a
    and the like; see _pitman_exact for the sums themselves.
    """
    u, n = hist.classes, hist.records
    sizes, counts = hist.sizes, hist.counts

    def system(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        t, a = x
        x0 = t / a
        args = np.concatenate(([t + n, t + 1.0, x0 + u, x0 + 1.0, 1.0 - a], sizes - a))
        psi, psi1 = _polygamma(args)
        n1, n2 = psi[0] - psi[1], psi1[1] - psi1[0]
        a1 = (psi[2] - psi[3]) / a
        b1 = (psi1[3] - psi1[2]) / (a * a)
        a2 = ((u - 1.0) - t * a1) / a
        b2 = (a1 - t * b1) / a
        b3 = ((u - 1.0) - 2.0 * t * a1 + t * t * b1) / (a * a)
        h1 = np.dot(counts, psi[5:] - psi[4])
        h2 = np.dot(counts, psi1[4] - psi1[5:])
        grad = np.array([a1 - n1, a2 - h1])
        hess = np.array([[n2 - b1, -b2], [-b2, -b3 - h2]])
        return grad, hess

    return system


def _pitman_exact(hist: _Histogram) -> _System:
    """Gradient and Hessian of the Pitman log-likelihood, summed term by term (cost O(n)):
    L = sum_{i<u} log(t + i a) - sum_{i<n} log(t + i) + sum_j sum_{k<f_j} log(k - a).
    """
    i_u = np.arange(1.0, hist.classes)
    i_n = np.arange(1.0, hist.records)
    k = np.arange(1.0, hist.sizes.max())
    rows = hist.sizes.astype(np.int64) - 1  # index of sum_{k<s} in the cumulative sums (0 for s = 1)

    def system(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        theta, alpha = x
        inv_u = 1.0 / (theta + i_u * alpha)
        inv_n = 1.0 / (theta + i_n)
        inv_k = 1.0 / (k - alpha)
        h1 = np.concatenate(([0.0], np.cumsum(inv_k)))[rows]
        h2 = np.concatenate(([0.0], np.cumsum(inv_k * inv_k)))[rows]
        grad = np.array([inv_u.sum() - inv_n.sum(), np.dot(i_u, inv_u) - np.dot(hist.counts, h1)])
        sq_u = inv_u * inv_u
        cross = -np.dot(i_u, sq_u)
        hess = np.array(
            [
                [np.dot(inv_n, inv_n) - sq_u.sum(), cross],
                [cross, -np.dot(i_u * i_u, sq_u) - np.dot(hist.counts, h2)],
            ]
        )
        return grad, hess

    return system


# --------------------------------------------------------------------------- SNB


def _snb(hist: _Histogram, arx: bool) -> float:
    """Shifted negative binomial model (Chen & Keller-McNulty 1998): population uniques K * b^a.

    Population class sizes are 1 + NegBin(a, b); (a, b) solve E[c1] = c1 and E[c2] = c2 for the
    sample drawn with fraction f from K population classes.  ``arx`` selects ARX's equations.
    """
    k = _shlosser(hist, arx)
    system = _snb_system(k, hist.fraction, hist.uniques, hist.count_of(2), arx)
    if arx:  # ARX: no constraint, any non-NaN estimate accepted
        a, b = _newton(system, (1.0, 1.0), lambda x: True)
        return float(k * b**a)
    a, b = _newton(system, (1.0, 1.0), lambda x: bool(x[0] > 0.0 and 0.0 < x[1] <= 1.0))
    value = float(k * b**a)
    return value if 0.0 <= value <= hist.population else math.nan


def _shlosser(hist: _Histogram, arx: bool = False) -> float:
    """Estimated number K of non-empty population classes: Shlosser's estimator as modified by
    Haas & Stokes (1998, eq. 30b), with (1-f)^i ((1+f)^i - 1) written overflow-free; ``arx``
    reproduces ARX's variant, which sums (1-f)^i c_i (1+f)^i - 1 instead.
    """
    f, s, c = hist.fraction, hist.sizes, hist.counts
    unseen = np.dot((1.0 - f) ** s, c)
    num1 = np.dot(s * f * f * (1.0 - f * f) ** (s - 1.0), c)
    den2 = np.dot(s * f * (1.0 - f) ** (s - 1.0), c)
    with np.errstate(all="ignore"):
        if arx:
            den1 = np.sum((1.0 - f) ** s * c * (1.0 + f) ** s - 1.0)
        elif unseen == 0.0:  # f = 1: every population class has been observed
            return hist.classes
        else:
            den1 = np.dot((1.0 - f * f) ** s - (1.0 - f) ** s, c)
        return float(hist.classes + hist.uniques * (num1 / den1) * (unseen / den2) ** 2)


def _snb_system(k: float, f: float, c1: float, c2: float, arx: bool = False) -> _System:
    """Chen's moment equations for (a, b) and their Jacobian (in plain floats: this runs in a loop).

    With d = (1-f)(1-b), q = 1 - d:
    E[c1] = K f (b/q)^a (1 + a d/q),  E[c2] = K f^2/2 * a b^a (1-b) q^-(a+2) * (2 - (1-a) d).
    ``arx`` uses ARX's second equation, which has q^+(a+2) (the Jacobian stays Chen's, as in ARX).
    """

    def system(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        a, b = x.tolist()
        d = (1.0 - f) * (1.0 - b)
        q = 1.0 - d
        log_bq = math.log(b / q)
        ratio = math.exp(a * log_bq)  # (b/q)^a
        shape = 1.0 + a * d / q
        base = math.exp(a * math.log(b) - (a + 2.0) * math.log(q))  # b^a q^-(a+2)
        p = a * (1.0 - b) * base
        r = 2.0 - (1.0 - a) * d
        d_ratio_b = ratio * a * (1.0 / b - (1.0 - f) / q)
        d_shape_b = -a * (1.0 - f) / (q * q)
        d_p_a = (1.0 - b) * base * (1.0 + a * log_bq)
        d_p_b = a * base * (a * (1.0 - b) / b - 1.0 - (a + 2.0) * (1.0 - f) * (1.0 - b) / q)
        kf, kf2 = k * f, 0.5 * k * f * f
        second = kf2 * p * r * q ** (2.0 * a + 4.0) if arx else kf2 * p * r
        values = np.array([kf * ratio * shape - c1, second - c2])
        jac = np.array(
            [
                [kf * ratio * (log_bq * shape + d / q), kf * (d_ratio_b * shape + ratio * d_shape_b)],
                [kf2 * (d_p_a * r + p * d), kf2 * (d_p_b * r + p * (1.0 - a) * (1.0 - f))],
            ]
        )
        return values, jac

    return system
