"""Binary metrics with few events and unequal arms (issue 17, item 1): pooled z-test, score intervals, Fisher.

The unpooled Wald z-test this tool used rejected ~7% of A/A experiments at p = 0.01 with 3,000 vs 600 units,
and its interval covered ~92.5%. Checked here against independent references on the same counts:

- the restricted (constrained) maximum-likelihood rates behind the score statistics: a numerical search of the
  binomial likelihood (``constrained_rates``), never the closed-form cubic the tool uses;
- the p-values: statsmodels' pooled z-test, ``scipy.stats.hypergeom`` for Fisher's exact test (summed here, not
  through ``fisher_exact``), statsmodels' Farrington-Manning score test of the risk ratio for guardrail margins;
- calibration: a seeded simulation of the issue's design through the whole tool (slow).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats import proportion

from tests.tools.binary_reference import constrained_rates, score_bounds_by_search
from tools.ab_test.binary import FISHER_TEST, Z_TEST, TwoByTwo, _restricted_diff
from tools.ab_test.models import AbTestRequest, AbTestResult, ArmSummary, Comparison, MetricSpec
from tools.ab_test.tool import ab_test
from tools.errors import ToolError

EXACT = 1e-10


def counts_run(
    control: tuple[float, int],
    treatment: tuple[float, int],
    *,
    metric: dict[str, object] | None = None,
    **fields: object,
) -> AbTestResult:
    """ab_test on dashboard counts: (conversions, units) per arm; a float count is given as a rate instead."""

    def summary(arm: str, events: float, n: int) -> ArmSummary:
        if float(events).is_integer():
            return ArmSummary(arm=arm, metric="conv", n=n, conversions=int(events))
        return ArmSummary(arm=arm, metric="conv", n=n, mean=events / n)

    spec = MetricSpec.model_validate({"name": "conv", "kind": "binary", **(metric or {})})
    request = AbTestRequest.model_validate(
        {
            "summaries": [summary("control", *control), summary("treatment", *treatment)],
            "metrics": [spec],
            "control": "control",
            **fields,
        }
    )
    return ab_test(request)


def one(result: AbTestResult) -> Comparison:
    [comparison] = result.comparisons
    return comparison


# --- the restricted maximum likelihood -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("x_t", "n_t", "x_c", "n_c", "delta"),
    [
        (6, 600, 30, 3000, 0.01),
        (597, 5200, 475, 5000, 0.0317),
        (122, 924, 420, 576, -0.6364),  # a large difference: statsmodels 0.15 returns a negative rate here
        (63, 1125, 269, 465, -0.5675),
        (0, 1279, 1094, 2779, -0.8544),
        (5, 10, 1, 12, 0.4),
        (0, 10**12, 3, 10**12, -6e-13),  # tiny rates: the closed-form cubic alone gives 4e-9, not 9e-13
        (5, 10**12, 7, 10**12, 1e-11),
    ],
)
def test_restricted_rates_maximise_the_constrained_likelihood(
    x_t: int, n_t: int, x_c: int, n_c: int, delta: float
) -> None:
    mine = _restricted_diff(TwoByTwo(x_t, n_t, x_c, n_c), delta)
    searched = constrained_rates(x_t, n_t, x_c, n_c, delta)
    np.testing.assert_allclose(mine, searched, rtol=1e-7, atol=1e-20)  # the search tolerance; 0 = 1e-28
    assert mine[0] - mine[1] == pytest.approx(delta, abs=1e-15)


def test_statsmodels_score_difference_is_not_the_constrained_maximum_at_large_differences() -> None:
    """Why the difference's score interval is checked against a brute-force search, not statsmodels 0.15."""
    counts = (122, 924, 420, 576)
    ref = proportion.test_proportions_2indep(*counts, value=-0.6364, method="score", correction=False)
    assert ref.prop1_null is not None and ref.prop1_null < 0  # not a rate at all
    mine = _restricted_diff(TwoByTwo(*counts), -0.6364)
    assert 0 < mine[0] < 1


# --- p-values and intervals on small counts -----------------------------------------------------------------


def test_unequal_arms_few_events_use_pooled_z_not_wald() -> None:
    """30/3,000 against 2/600: the Wald test said 'regression' (p = 0.025); the pooled test does not (0.11)."""
    c = one(counts_run((30, 3000), (2, 600)))
    assert c.test == Z_TEST
    pooled = proportion.test_proportions_2indep(2, 600, 30, 3000, method="score", correction=False)
    wald = proportion.test_proportions_2indep(2, 600, 30, 3000, method="wald")
    np.testing.assert_allclose(c.p_value_raw, pooled.pvalue, rtol=EXACT)
    assert wald.pvalue < 0.05 < c.p_value_raw == pytest.approx(0.1122, abs=1e-4)
    assert c.verdict == "no_detectable_change"
    # the interval is the score interval, which agrees with the test: it contains 0
    np.testing.assert_allclose(
        [c.absolute.ci_lower, c.absolute.ci_upper], score_bounds_by_search(2, 600, 30, 3000, alpha=0.05), rtol=1e-7
    )
    assert c.absolute.ci_lower < 0 < c.absolute.ci_upper
    assert c.relative is not None and c.relative.ci_lower < 0 < c.relative.ci_upper
    assert c.relative.p_value == c.p_value_raw  # a zero lift is a zero difference: one test


def fisher_two_sided(x_t: int, n_t: int, x_c: int, n_c: int) -> float:
    """Fisher's exact two-sided p: the hypergeometric probability of every table no more likely than the one seen."""
    law = stats.hypergeom(n_t + n_c, x_t + x_c, n_t)
    support = np.arange(max(0, x_t + x_c - n_c), min(n_t, x_t + x_c) + 1)
    pmf = law.pmf(support)
    return float(pmf[pmf <= law.pmf(x_t) * (1 + 1e-7)].sum())


@pytest.mark.parametrize(("x_t", "x_c"), [(1, 25), (0, 20), (6, 8), (9, 12)])
def test_small_expected_counts_use_fishers_exact_test_and_say_so(x_t: int, x_c: int) -> None:
    result = counts_run((x_c, 3000), (x_t, 600))
    c = one(result)
    assert TwoByTwo(x_t, 600, x_c, 3000).smallest_expected() < 5
    assert c.test == FISHER_TEST
    np.testing.assert_allclose(c.p_value_raw, fisher_two_sided(x_t, 600, x_c, 3000), rtol=1e-9)
    table = np.array([[x_t, 600 - x_t], [x_c, 3000 - x_c]])
    np.testing.assert_allclose(c.p_value_raw, stats.fisher_exact(table).pvalue, rtol=1e-9)
    [warning] = [w for w in result.warnings if "Fisher's exact test" in w]
    assert "expected count is below 5" in warning and f"{x_c} events in 3,000 control units" in warning
    assert "Fisher's exact test when an expected cell count is below 5" in result.method
    law = stats.hypergeom(3600, x_t + x_c, 600)
    larger = one(counts_run((x_c, 3000), (x_t, 600), alternative="larger"))
    np.testing.assert_allclose(larger.p_value_raw, law.sf(x_t - 1), rtol=1e-9)
    smaller = one(counts_run((x_c, 3000), (x_t, 600), alternative="smaller"))
    np.testing.assert_allclose(smaller.p_value_raw, law.cdf(x_t), rtol=1e-9)


def test_large_counts_keep_the_z_test_without_a_warning() -> None:
    result = counts_run((300, 3000), (70, 600))
    assert one(result).test == Z_TEST
    assert not [w for w in result.warnings if "Fisher" in w]


def test_no_events_in_treatment() -> None:
    """0/600 against 20/3,000: a valid interval inside [-1, 1], Fisher's p, no relative lift (and a warning)."""
    result = counts_run((20, 3000), (0, 600))
    c = one(result)
    assert -1 < c.absolute.ci_lower < c.absolute.estimate < c.absolute.ci_upper < 1
    np.testing.assert_allclose(
        [c.absolute.ci_lower, c.absolute.ci_upper], score_bounds_by_search(0, 600, 20, 3000, alpha=0.05), rtol=1e-6
    )
    assert c.relative is None and any("no relative lift" in w for w in result.warnings)


def test_every_unit_converts_in_treatment() -> None:
    c = one(counts_run((2990, 3000), (600, 600)))
    assert c.absolute.ci_upper <= 1 and c.absolute.ci_lower < c.absolute.estimate
    assert c.relative is not None and c.relative.ci_lower < c.relative.estimate <= c.relative.ci_upper


def test_fisher_on_huge_margins_is_fast() -> None:
    """Three non-events among 2e12 units: an expected count below 5, so Fisher's test, summed over a short support
    (scipy's fisher_exact stalls on such margins)."""
    c = one(counts_run((10**12 - 3, 10**12), (10**12, 10**12)))
    assert c.test == FISHER_TEST
    np.testing.assert_allclose(c.p_value_raw, 0.25, rtol=1e-6)  # P(all 3 non-events in control) = 1/8, doubled
    # the interval agrees with a pooled z of 1.73: it contains 0 (solved on the rare outcome, non-conversion)
    assert c.absolute.ci_lower < 0 < c.absolute.ci_upper


def test_no_events_anywhere_is_refused() -> None:
    with pytest.raises(ToolError) as caught:
        counts_run((0, 3000), (0, 600))
    assert caught.value.code == "zero_variance"


def test_rates_from_a_dashboard_give_fractional_counts() -> None:
    """A rounded rate (0.0123 of 600 = 7.38 'events') feeds the score formulas as is; Fisher rounds."""
    c = one(counts_run((36.0, 3000), (7.38, 600)))
    np.testing.assert_allclose(
        [c.absolute.ci_lower, c.absolute.ci_upper], score_bounds_by_search(7.38, 600, 36, 3000, alpha=0.05), rtol=1e-6
    )


# --- guardrails ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("direction", ["increase", "decrease"])
def test_guardrail_margin_is_the_farrington_manning_score_test(direction: str) -> None:
    """A relative margin on a binary guardrail: statsmodels' score test of the risk ratio at 1 -/+ margin, whose
    variance comes from the rates restricted to the margin (not pooled: the margin is not a zero difference)."""
    margin = 0.2
    metric = {"role": "guardrail", "non_inferiority_margin": margin, "direction": direction}
    c = one(counts_run((150, 3000), (29, 600), metric=metric))
    ratio, side = (1 - margin, "larger") if direction == "increase" else (1 + margin, "smaller")
    ref = proportion.test_proportions_2indep(
        29, 600, 150, 3000, value=ratio, compare="ratio", method="score", correction=False, alternative=side
    )
    assert c.non_inferiority_p_value is not None
    np.testing.assert_allclose(c.non_inferiority_p_value, ref.pvalue, rtol=1e-9)


def test_guardrail_breach_uses_the_score_test_beyond_the_margin() -> None:
    metric = {"role": "guardrail", "non_inferiority_margin": 0.1}
    c = one(counts_run((300, 3000), (30, 600), metric=metric))  # a 50% drop
    harm = proportion.test_proportions_2indep(
        30, 600, 300, 3000, value=0.9, compare="ratio", method="score", correction=False, alternative="smaller"
    )
    assert harm.pvalue < 0.05 and c.verdict == "breached"


def test_guardrail_without_margin_tests_harm_with_the_pooled_z_test() -> None:
    """30/3,000 against 2/600 on a guardrail: the one-sided Wald p (0.012) called it breached; pooled: 0.056."""
    c = one(counts_run((30, 3000), (2, 600), metric={"role": "guardrail"}))
    pooled = proportion.test_proportions_2indep(
        2, 600, 30, 3000, method="score", correction=False, alternative="smaller"
    )
    assert pooled.pvalue > 0.05 and c.verdict == "no_detectable_change"
    # Fisher regime (expected 3.5): 1/600 against 20/3,000; one-sided Wald p = 0.013, hypergeometric P(X <= 1)
    c = one(counts_run((20, 3000), (1, 600), metric={"role": "guardrail"}))
    assert stats.hypergeom(3600, 21, 600).cdf(1) == pytest.approx(0.1123, abs=1e-4)
    assert c.test == FISHER_TEST and c.verdict == "no_detectable_change"


# --- adjusted metrics keep their method ---------------------------------------------------------------------


def test_cuped_and_clustered_binary_metrics_keep_their_methods() -> None:
    rng = np.random.default_rng(7)
    n = 2000
    frame = pd.DataFrame(
        {
            "arm": np.repeat(["control", "treatment"], n // 2),
            "user": np.arange(n) // 2,
            "conv": (rng.random(n) < 0.2).astype(float),
            "pre": rng.random(n),
        }
    )
    cuped = ab_test(
        AbTestRequest(arm_column="arm", metrics=[MetricSpec(name="conv", kind="binary", covariate_column="pre")]),
        frame,
    )
    c = one(cuped)
    assert c.test == "two-proportion z-test (unpooled standard error) on CUPED-adjusted values"
    assert c.cuped is not None
    plain = one(ab_test(AbTestRequest(arm_column="arm", metrics=[MetricSpec(name="conv", kind="binary")]), frame))
    unadjusted, alone = c.cuped.unadjusted.model_dump(), plain.absolute.model_dump()
    for key, value in alone.items():  # the unadjusted difference is the plain binary analysis (root search: ulps)
        np.testing.assert_allclose(unadjusted[key], value, rtol=1e-12, err_msg=key)
    clustered = ab_test(
        AbTestRequest(arm_column="arm", cluster_column="user", metrics=[MetricSpec(name="conv", kind="binary")]),
        frame,
    )
    assert one(clustered).test == "z-test on a ratio of means, delta-method standard error"


# --- calibration (issue 17's design) ------------------------------------------------------------------------

SIM_CONTROL, SIM_TREATMENT, SIM_RATE = 3000, 600, 0.01
PER_CALL = 50


def simulate(rate_t: float, experiments: int, seed: int) -> list[Comparison]:
    """``experiments`` draws of the issue's design (control 3,000 at 1%, treatment 600 at ``rate_t``), analysed
    through the whole tool from their counts, ``PER_CALL`` experiments (metrics) per call."""
    rng = np.random.default_rng(seed)
    x_c = rng.binomial(SIM_CONTROL, SIM_RATE, experiments)
    x_t = rng.binomial(SIM_TREATMENT, rate_t, experiments)
    out: list[Comparison] = []
    for start in range(0, experiments, PER_CALL):
        names = [f"m{i}" for i in range(start, start + PER_CALL)]
        summaries = [
            s
            for i, name in zip(range(start, start + PER_CALL), names, strict=True)
            for s in (
                ArmSummary(arm="control", metric=name, n=SIM_CONTROL, conversions=int(x_c[i])),
                ArmSummary(arm="treatment", metric=name, n=SIM_TREATMENT, conversions=int(x_t[i])),
            )
        ]
        request = AbTestRequest(
            summaries=summaries,
            metrics=[MetricSpec(name=n, kind="binary") for n in names],
            control="control",
            correction="none",
        )
        out += ab_test(request).comparisons
    return out


@pytest.mark.slow
def test_small_count_calibration() -> None:
    """A/A: 5% +- 1 point rejected (4,000 experiments: Monte Carlo SE 0.34 points); 95% +- 1.5 points coverage
    of the difference and the lift with a 50% lift (3,000: SE 0.4 points). The unpooled Wald test rejects
    about 6.9% and covers about 92.5% on this design (issue 17)."""
    aa = simulate(SIM_RATE, 4000, seed=1701)
    rejected = np.mean([c.p_value_raw < 0.05 for c in aa])
    assert abs(rejected - 0.05) <= 0.01, rejected
    covered = np.mean([c.absolute.ci_lower <= 0 <= c.absolute.ci_upper for c in aa])
    assert abs(covered - 0.95) <= 0.015, covered
    rate_t = 1.5 * SIM_RATE
    effect = simulate(rate_t, 3000, seed=1702)
    covered = np.mean([c.absolute.ci_lower <= rate_t - SIM_RATE <= c.absolute.ci_upper for c in effect])
    assert abs(covered - 0.95) <= 0.015, covered
    lifts = [c.relative for c in effect if c.relative is not None]
    assert len(lifts) > 0.99 * len(effect)
    covered = np.mean([r.ci_lower <= 0.5 <= r.ci_upper for r in lifts])
    assert abs(covered - 0.95) <= 0.015, covered
    assert math.isclose(np.mean([c.test == FISHER_TEST for c in aa]), 0.14, abs_tol=0.03)  # the exact regime
