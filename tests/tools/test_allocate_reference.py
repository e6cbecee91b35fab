"""allocate_traffic against independent references: probabilities of being best, expected losses and the value
remaining by numerical integration of the Beta posteriors (scipy.integrate.quad) and by the normal closed forms,
credible intervals by closed forms and the regularised incomplete beta function; and a seeded bandit that moves its
traffic to the best arm within twenty periods.

Monte Carlo tolerances are four standard errors of the quantity at the tool's number of draws.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from scipy import integrate, optimize, special, stats

from tools.allocate.models import AllocateTrafficRequest, AllocateTrafficResult
from tools.allocate.tool import allocate_traffic

DRAWS = 1_000_000
Z_975 = 1.959963984540054  # standard normal 97.5% quantile (Abramowitz & Stegun table 26.5)
Z_95 = 1.6448536269514722  # 95% quantile


def run(arms: list[dict[str, Any]], **options: Any) -> AllocateTrafficResult:
    return allocate_traffic(AllocateTrafficRequest.model_validate({"arms": arms, "draws": DRAWS, **options}))


def rates(*pairs: tuple[int, int]) -> list[dict[str, Any]]:
    return [{"arm": f"v{i}", "successes": s, "trials": n} for i, (s, n) in enumerate(pairs)]


def posterior(s: int, n: int) -> Any:
    return stats.beta(1 + s, 1 + n - s)


def quad(f: Any, lo: float = 0.0, hi: float = 1.0) -> float:
    value, _ = integrate.quad(f, lo, hi, limit=400, epsabs=1e-12)
    return float(value)


def test_probability_best_of_two_and_three_rates_equals_the_integral() -> None:
    for pairs in [((48, 500), (60, 500)), ((30, 400), (42, 410), (38, 390))]:
        result = run(rates(*pairs))
        dists = [posterior(s, n) for s, n in pairs]
        for i, arm in enumerate(result.arms):
            own, others = dists[i], [d for j, d in enumerate(dists) if j != i]
            exact = quad(lambda x, own=own, others=others: own.pdf(x) * math.prod(d.cdf(x) for d in others))
            assert abs(arm.probability_best - exact) < 4 * math.sqrt(exact * (1 - exact) / DRAWS) + 1e-6


def test_probability_best_of_two_averages_equals_the_normal_closed_form() -> None:
    arms = [{"arm": "a", "mean": 10.0, "std_dev": 4.0, "n": 400}, {"arm": "b", "mean": 10.5, "std_dev": 5.0, "n": 300}]
    spread = math.sqrt(16 / 400 + 25 / 300)
    up, down = run(arms), run(arms, direction="decrease")
    exact = stats.norm.cdf(0.5 / spread)  # P(b > a)
    tolerance = 4 * math.sqrt(exact * (1 - exact) / DRAWS)
    assert abs(up.arms[1].probability_best - exact) < tolerance
    assert abs(down.arms[0].probability_best - exact) < tolerance  # P(a < b): a is best when lower is better


def _positive_part_moments(d: float, s: float) -> tuple[float, float]:
    """E[Z+] and E[Z+^2] for Z ~ N(d, s^2) (the partial moments of the normal)."""
    u = d / s
    first = d * stats.norm.cdf(u) + s * stats.norm.pdf(u)
    second = (d * d + s * s) * stats.norm.cdf(u) + d * s * stats.norm.pdf(u)
    return first, second


def test_expected_loss_of_two_averages_equals_the_closed_form() -> None:
    arms = [{"arm": "a", "mean": 10.0, "std_dev": 4.0, "n": 400}, {"arm": "b", "mean": 10.5, "std_dev": 5.0, "n": 300}]
    result = run(arms)
    spread = math.sqrt(16 / 400 + 25 / 300)
    for arm, d in zip(result.arms, (0.5, -0.5), strict=True):  # arm a loses E[(b - a)+], arm b E[(a - b)+]
        first, second = _positive_part_moments(d, spread)
        assert abs(arm.expected_loss - first) < 4 * math.sqrt((second - first**2) / DRAWS)


def test_expected_loss_of_two_rates_equals_the_integral() -> None:
    (sa, na), (sb, nb) = (48, 500), (60, 500)
    result = run(rates((sa, na), (sb, nb)))
    a, b = 1 + sa, 1 + na - sa  # Beta parameters of arm 0

    def partial(y: float, power: int) -> float:
        """E[(y - X)^power; X < y] for X ~ Beta(a, b), by X's moments and the cdfs of Beta(a + k, b)."""
        m1, m2 = a / (a + b), a * (a + 1) / ((a + b) * (a + b + 1))
        f0, f1, f2 = (stats.beta.cdf(y, a + k, b) for k in (0, 1, 2))
        return float(y * f0 - m1 * f1) if power == 1 else float(y * y * f0 - 2 * y * m1 * f1 + m2 * f2)

    other = posterior(sb, nb)
    first = quad(lambda y: other.pdf(y) * partial(y, 1))  # E[(Y - X)+]: arm 0's loss
    second = quad(lambda y: other.pdf(y) * partial(y, 2))
    assert abs(result.arms[0].expected_loss - first) < 4 * math.sqrt((second - first**2) / DRAWS)
    # arm 1's loss, E[(X - Y)+] = E[(Y - X)+] - (E[Y] - E[X])
    mean_gap = other.mean() - posterior(sa, na).mean()
    assert result.arms[1].expected_loss == pytest.approx(first - mean_gap, abs=8 * math.sqrt(second / DRAWS))


def test_value_remaining_of_two_averages_equals_the_normal_quantile() -> None:
    arms = [{"arm": "a", "mean": 10.15, "std_dev": 4.0, "n": 1000}, {"arm": "b", "mean": 10.0, "std_dev": 4.0,
            "n": 1000}]  # fmt: skip
    result = run(arms)
    spread = math.sqrt(32 / 1000)
    assert result.best_arm == "a"
    exact = -0.15 + Z_95 * spread  # 95% quantile of (b - a)+ when P(b > a) < 0.95
    density = stats.norm.pdf(Z_95) / spread
    assert abs(result.value_remaining - exact) < 4 * math.sqrt(0.95 * 0.05 / DRAWS) / density
    sure = run([{"arm": "a", "mean": 11.0, "std_dev": 4.0, "n": 1000}, arms[1]])
    assert sure.value_remaining == 0.0 and sure.could_stop is True  # P(a best) > 0.9999


def test_value_remaining_of_two_rates_equals_the_integral_absolute_and_relative() -> None:
    (sa, na), (sb, nb) = (130, 1000), (120, 1000)
    result = run(rates((sa, na), (sb, nb)))
    leader, other = posterior(sa, na), posterior(sb, nb)
    assert result.best_arm == "v0"

    def absolute(v: float) -> float:  # P((Y - X)+ <= v) = P(Y <= X + v)
        return quad(lambda x: leader.pdf(x) * other.cdf(x + v))

    def absolute_density(v: float) -> float:
        return quad(lambda x: leader.pdf(x) * other.pdf(x + v))

    def relative(r: float) -> float:  # P((Y - X)+ / X <= r) = P(Y <= (1 + r) X)
        return quad(lambda x: leader.pdf(x) * other.cdf((1 + r) * x))

    def relative_density(r: float) -> float:
        return quad(lambda x: leader.pdf(x) * x * other.pdf((1 + r) * x))

    checks: list[tuple[float | None, Callable[[float], float], Callable[[float], float]]] = [
        (result.value_remaining, absolute, absolute_density),
        (result.value_remaining_relative, relative, relative_density),
    ]
    for found, cdf, density in checks:
        exact = float(optimize.brentq(lambda q, cdf=cdf: cdf(q) - 0.95, 1e-9, 0.9, xtol=1e-12))
        assert found is not None
        assert abs(found - exact) < 4 * math.sqrt(0.95 * 0.05 / DRAWS) / density(exact)
    assert result.could_stop is False  # the relative value remaining is about 11%, far above Scott's 1%


def test_credible_intervals_are_the_posterior_quantiles() -> None:
    result = allocate_traffic(
        AllocateTrafficRequest.model_validate({"arms": rates((0, 99), (37, 250)), "draws": 1000, "alpha": 0.1})
    )
    none, some = result.arms
    # Beta(1, 100): cdf 1 - (1 - x)^100, so its q-quantile is 1 - (1 - q)^(1/100)
    assert none.credible_lower == pytest.approx(1 - 0.95 ** (1 / 100), rel=1e-10)
    assert none.credible_upper == pytest.approx(1 - 0.05 ** (1 / 100), rel=1e-10)
    assert special.betainc(38, 214, some.credible_lower) == pytest.approx(0.05, rel=1e-9)
    assert special.betainc(38, 214, some.credible_upper) == pytest.approx(0.95, rel=1e-9)
    assert some.posterior_mean == pytest.approx(38 / 252, rel=1e-12)
    averages = allocate_traffic(
        AllocateTrafficRequest.model_validate(
            {
                "arms": [
                    {"arm": "a", "mean": 3.0, "std_dev": 2.0, "n": 100},
                    {"arm": "b", "mean": 3.5, "std_dev": 1.0, "n": 25},
                ],
                "draws": 1000,
            }
        )
    )
    assert averages.arms[0].credible_lower == pytest.approx(3.0 - Z_975 * 0.2, rel=1e-12)
    assert averages.arms[1].credible_upper == pytest.approx(3.5 + Z_975 * 0.2, rel=1e-12)


@pytest.mark.slow
def test_a_seeded_bandit_moves_traffic_to_the_best_arm_within_twenty_periods() -> None:
    rng = np.random.default_rng(20260321)
    truth = np.array([0.10, 0.12, 0.15])
    successes, trials = np.zeros(3, dtype=np.int64), np.zeros(3, dtype=np.int64)
    share, conversions = np.full(3, 1 / 3), 0
    for period in range(20):
        units = rng.multinomial(1_000, share)
        converted = rng.binomial(units, truth)
        successes, trials, conversions = successes + converted, trials + units, conversions + int(converted.sum())
        arms = [{"arm": f"v{i}", "successes": int(s), "trials": int(t)} for i, (s, t) in enumerate(zip(successes,
                trials, strict=True))]  # fmt: skip
        result = allocate_traffic(AllocateTrafficRequest.model_validate({"arms": arms, "seed": period}))
        share = np.array([a.share for a in result.arms])
    assert result.best_arm == "v2" and share[2] > 0.9
    assert trials[2] > 0.6 * trials.sum()  # most of the 20,000 units went to the best arm
    fixed_split = 20_000 * truth.mean()  # expected conversions of a fixed 1/3 split: 2,467
    assert conversions > fixed_split + 200  # the bandit earned while it learned
