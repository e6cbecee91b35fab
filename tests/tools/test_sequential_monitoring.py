"""One look of a sequential test, confidence sequences and Thompson sampling: behaviour against closed forms.

References: the fixed-horizon interval of ab_test (tools.ab_test.stats.interval) and Estimate.normal; Ville's
inequality's normal mixture integrated numerically (scipy.integrate.quad) for the confidence sequence's boundary;
the probability one Beta (or normal) posterior exceeds another, integrated numerically, for Thompson sampling.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from tools.ab_test.stats import interval
from tools.errors import ToolError
from tools.results import Estimate
from tools.sequential.confidence_sequence import boundary_multiplier, confidence_sequence, tuned_rho
from tools.sequential.monitoring import look_decision, planned_fractions
from tools.sequential.thompson import ADAPTIVE_WARNING, thompson_allocation

# --- look_decision ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("df", [None, 37.5, 1000.0])
@pytest.mark.parametrize("alpha", [0.05, 0.1, 0.01])
def test_one_look_repeated_interval_is_the_fixed_interval_exactly(df: float | None, alpha: float) -> None:
    estimate, se = 0.8123, 0.3377
    decision = look_decision(estimate, se, look=1, looks=1, alpha=alpha, df=df)
    assert (decision.ci_lower, decision.ci_upper) == interval(estimate, se, alpha, df, "two-sided")
    if df is None:
        fixed = Estimate.normal(estimate, se, alpha)
        assert (decision.ci_lower, decision.ci_upper) == (fixed.ci_lower, fixed.ci_upper)
    assert decision.stop
    assert decision.decision.startswith("final look")


@pytest.mark.parametrize("alternative", ["larger", "smaller"])
def test_one_look_one_sided_bound_is_the_fixed_bound(alternative: str) -> None:
    decision = look_decision(0.5, 0.2, look=1, looks=1, alternative=alternative, df=50.0)  # type: ignore[arg-type]
    lower, upper = interval(0.5, 0.2, 0.05, 50.0, alternative)
    if alternative == "larger":
        assert decision.ci_lower == lower and decision.ci_upper is None
    else:
        assert decision.ci_upper == upper and decision.ci_lower is None


def test_interim_decisions_in_words() -> None:
    # look 2 of 5, O'Brien-Fleming: boundary 3.357
    assert look_decision(3.0, 1.0, look=2, looks=5).decision == "continue to look 3 of 5"
    stop = look_decision(3.4, 1.0, look=2, looks=5)
    assert stop.crossed and stop.stop and stop.decision.startswith("stop for efficacy")
    assert look_decision(-3.4, 1.0, look=2, looks=5).crossed  # two-sided: a harm crosses too
    assert not look_decision(-3.4, 1.0, look=2, looks=5, alternative="larger").crossed
    assert look_decision(-3.4, 1.0, look=2, looks=5, alternative="smaller").crossed
    final = look_decision(1.5, 1.0, look=5, looks=5)
    assert final.decision == "final look: not significant" and final.stop and not final.crossed
    assert look_decision(2.1, 1.0, look=5, looks=5).decision == "final look: significant"


def test_repeated_interval_uses_the_looks_boundary_and_agrees_with_the_test() -> None:
    decision = look_decision(2.0, 0.5, look=3, looks=5)
    c = decision.z_boundary
    assert decision.ci_lower == pytest.approx(2.0 - c * 0.5)
    assert decision.ci_upper == pytest.approx(2.0 + c * 0.5)
    # the interval excludes 0 exactly when the boundary is crossed
    for estimate in (1.0, 1.3, 1.35, 1.4, 2.0):
        d = look_decision(estimate, 0.5, look=3, looks=5)
        assert d.crossed == (d.ci_lower is not None and d.ci_lower > 0)
    with_t = look_decision(2.0, 0.5, look=3, looks=5, df=20.0)
    # same nominal level on the t scale: a wider interval
    assert with_t.critical_value == pytest.approx(stats.t.isf(decision.nominal_p / 2, 20.0), rel=1e-9)
    assert with_t.critical_value > c


def test_look_decision_lists_the_boundaries_so_far() -> None:
    decision = look_decision(1.0, 1.0, look=3, looks=4, spending="pocock", planned=[0.3, 0.5, 0.8, 1.0])
    assert [b.look for b in decision.boundaries] == [1, 2, 3]
    assert [b.information_fraction for b in decision.boundaries] == [0.3, 0.5, 0.8]
    assert decision.planned_fraction == 0.8 and not decision.recomputed


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"look": 6, "looks": 5}, "look_out_of_range"),
        ({"look": 1, "looks": 21}, "looks_out_of_range"),
        ({"look": 2, "looks": 5, "information_fraction": 1.0}, "interim_at_full_information"),
        ({"look": 2, "looks": 5, "information_fraction": 0.1}, "fractions_not_increasing"),
        ({"look": 3, "looks": 5, "previous_fractions": [0.2]}, "fractions_mismatch"),
        ({"look": 1, "looks": 3, "planned": [0.5, 0.4, 1.0]}, "fractions_not_increasing"),
        ({"look": 1, "looks": 3, "planned": [0.3, 0.6, 0.9]}, "last_fraction_not_one"),
        ({"look": 1, "looks": 3, "planned": [0.5, 1.0]}, "fractions_mismatch"),
    ],
)
def test_look_decision_refuses_bad_schedules(kwargs: dict[str, object], code: str) -> None:
    with pytest.raises(ToolError) as caught:
        look_decision(1.0, 1.0, **kwargs)  # type: ignore[arg-type]
    assert caught.value.code == code


def test_look_decision_refuses_a_zero_standard_error() -> None:
    with pytest.raises(ToolError) as caught:
        look_decision(1.0, 0.0, look=1, looks=3)
    assert caught.value.code == "no_standard_error"


def test_planned_fractions_equally_spaced() -> None:
    assert planned_fractions(4) == (0.25, 0.5, 0.75, 1.0)


# --- confidence sequences ------------------------------------------------------------------------------------------


def _mixture(s: float, n: float, rho: float, one_sided: bool) -> float:
    """Robbins's normal mixture of exp(lambda s - lambda^2 n / 2) over lambda ~ N(0, rho^2) (half-normal when
    one-sided), by quadrature: the boundary is where it reaches 1 / alpha."""

    def integrand(lam: float) -> float:
        return math.exp(lam * s - lam * lam * n / 2) * stats.norm.pdf(lam, scale=rho) * (2 if one_sided else 1)

    value, _ = integrate.quad(integrand, 0 if one_sided else -np.inf, np.inf, limit=200)
    return float(value)


@pytest.mark.parametrize("alternative", ["two-sided", "larger"])
@pytest.mark.parametrize("n", [50, 1000, 40_000])
def test_boundary_is_where_the_mixture_martingale_reaches_one_over_alpha(alternative: str, n: int) -> None:
    alpha, rho = 0.05, tuned_rho(2000, 0.05)
    multiplier = boundary_multiplier(n, rho, alpha, alternative)  # type: ignore[arg-type]
    s = multiplier * math.sqrt(n)  # the standardized sum at the boundary
    assert _mixture(s, n, rho, alternative != "two-sided") == pytest.approx(1 / alpha, rel=1e-6)


def test_rho_tuning_makes_the_sequence_narrowest_near_the_target() -> None:
    """Waudby-Smith et al.'s rho minimises the width at the target n (up to their approximation): among a grid of
    rho, the chosen one is within 2% of the narrowest, and its width there is within 0.1%."""
    target, alpha = 5000, 0.05
    chosen = tuned_rho(target, alpha)
    grid = chosen * np.exp(np.linspace(-1.5, 1.5, 301))
    widths = [boundary_multiplier(target, r, alpha) for r in grid]
    best = float(grid[int(np.argmin(widths))])
    assert chosen == pytest.approx(best, rel=0.1)
    assert boundary_multiplier(target, chosen, alpha) == pytest.approx(min(widths), rel=1e-3)


def test_confidence_sequence_reports_its_width_against_the_fixed_interval() -> None:
    result = confidence_sequence(0.3, 0.1, 4000, target_n=4000)
    fixed = Estimate.normal(0.3, 0.1)
    assert result.fixed_half_width == pytest.approx(fixed.ci_upper - 0.3)
    assert result.width_ratio == pytest.approx(result.half_width / result.fixed_half_width)
    assert 1.3 < result.width_ratio < 1.8  # the known price of continuous monitoring at alpha = 0.05
    assert result.ci_lower == pytest.approx(0.3 - result.half_width)
    assert result.crossed == (result.ci_lower is not None and result.ci_lower > 0)
    assert "rho" in result.method and "4,000" in result.method
    one_sided = confidence_sequence(0.3, 0.1, 4000, target_n=4000, alternative="larger")
    assert one_sided.ci_upper is None and one_sided.half_width < result.half_width


def test_confidence_sequence_refuses_bad_input() -> None:
    with pytest.raises(ToolError):
        confidence_sequence(0.3, 0.0, 100, target_n=100)
    with pytest.raises(ToolError):
        confidence_sequence(0.3, 0.1, 1, target_n=100)


# --- Thompson sampling ---------------------------------------------------------------------------------------------


def test_thompson_beta_probability_best_matches_integration() -> None:
    s, n = [48, 60], [500, 500]
    result = thompson_allocation(successes=s, trials=n, draws=200_000, seed=3)
    first = stats.beta(1 + s[0], 1 + n[0] - s[0])
    second = stats.beta(1 + s[1], 1 + n[1] - s[1])
    exact, _ = integrate.quad(lambda x: second.pdf(x) * first.cdf(x), 0, 1, limit=200)
    treatment = result.arms[1]
    assert abs(treatment.probability_best - exact) < 4 * treatment.mc_error
    assert treatment.share == treatment.probability_best
    assert sum(arm.share for arm in result.arms) == pytest.approx(1.0)
    assert result.warning == ADAPTIVE_WARNING and "reweight" in result.warning.lower()


def test_thompson_normal_probability_best_matches_closed_form() -> None:
    result = thompson_allocation(means=[10.0, 10.2], variances=[16.0, 16.0], counts=[1000, 1000], draws=100_000)
    exact = stats.norm.cdf(0.2 / math.sqrt(16 / 1000 + 16 / 1000))
    assert abs(result.arms[1].probability_best - exact) < 4 * result.arms[1].mc_error


def test_thompson_is_seeded_and_floors_shares() -> None:
    kwargs = {"successes": [10, 40, 12], "trials": [400, 400, 400], "min_share": 0.1}
    first, again = thompson_allocation(**kwargs), thompson_allocation(**kwargs)  # type: ignore[arg-type]
    assert first == again
    assert min(arm.share for arm in first.arms) == pytest.approx(0.1)
    assert sum(arm.share for arm in first.arms) == pytest.approx(1.0)
    with pytest.raises(ToolError):
        thompson_allocation(successes=[5, 6], trials=[4, 10])
    with pytest.raises(ToolError):
        thompson_allocation(successes=[5, 6], trials=[10, 10], means=[1.0, 2.0])


def test_a_one_sided_confidence_sequence_at_alpha_one_half_is_refused_not_divided_by_zero() -> None:
    from tools.errors import ToolError
    from tools.sequential.confidence_sequence import confidence_sequence

    with pytest.raises(ToolError) as caught:
        confidence_sequence(0.1, 0.05, 1000, target_n=2000, alpha=0.5, alternative="larger")
    assert caught.value.code == "alpha_out_of_range" and "two-sided" in caught.value.hint
    two_sided = confidence_sequence(0.1, 0.05, 1000, target_n=2000, alpha=0.5)
    assert two_sided.width_ratio > 1  # a two-sided 50% interval still has a width to compare with
