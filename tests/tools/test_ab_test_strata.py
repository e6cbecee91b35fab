"""ab_test's post-stratification (``strata_column``): sum_s w_s (mean_1s - mean_0s), w_s the stratum's share of
units, variance sum_s w_s^2 (s_1s^2/n_1s + s_0s^2/n_0s) (Miratrix, Sekhon & Yu 2013).

References: R estimatr 1.0 ``difference_in_means(y ~ treat, blocks = block)`` on causaldata's NSW sample (block =
2 nodegree + black; re78 and employed78 = re78 > 0): tests/fixtures/ab_test/lin_reference.R and its output
lin_reference.csv. A seeded simulation of a blocked design: coverage and false-positive rate near 95% and 5%.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tools.ab_test.adjust import stratified_fit
from tools.ab_test.models import AbTestRequest
from tools.ab_test.tool import ab_test
from tools.errors import ToolError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ab_test"


def test_blocked_difference_equals_estimatr() -> None:
    """Estimate, SE, t interval (df n - 2 S) and p-value equal estimatr's blocked difference_in_means (1e-9),
    for a continuous and a binary metric; the unadjusted difference beside it is the plain one."""
    nsw = pd.read_csv(FIXTURES / "nsw_mixtape.csv")
    reference = pd.read_csv(FIXTURES / "lin_reference.csv").set_index("case")
    request = AbTestRequest(
        dataset="nsw",
        arm_column="treat",
        strata_column="block",
        metrics=[{"name": "re78"}, {"name": "employed78", "kind": "binary", "role": "secondary"}],
    )
    result = ab_test(request, nsw)
    for comparison, case in zip(result.comparisons, ("blocked_re78", "blocked_employed78"), strict=True):
        expected = reference.loc[case]
        for name in ("estimate", "std_error", "ci_lower", "ci_upper", "p_value"):
            np.testing.assert_allclose(getattr(comparison.absolute, name), expected[name], rtol=1e-9)
        assert comparison.adjustment is not None and comparison.adjustment.strata == 4
    dim = reference.loc["dim"]
    unadjusted = result.comparisons[0].adjustment.unadjusted  # type: ignore[union-attr]
    np.testing.assert_allclose(unadjusted.estimate, dim["estimate"], rtol=1e-9)
    np.testing.assert_allclose(unadjusted.std_error, dim["std_error"], rtol=1e-9)
    assert "post-stratification on 4 strata" in result.summary
    assert "post-stratification on 'block'" in result.method


def test_stratum_without_both_arms_is_refused_by_name() -> None:
    frame = pd.DataFrame(
        {
            "arm": [0, 1, 0, 1, 0, 1, 0, 0],
            "y": [1.0, 2, 3, 4, 5, 6, 7, 8],
            "s": ["a", "a", "a", "a", "b", "b", "c", "c"],
        }
    )
    request = AbTestRequest(dataset="d", arm_column="arm", strata_column="s", metrics=[{"name": "y"}])
    with pytest.raises(ToolError) as caught:
        ab_test(request, frame)
    assert caught.value.code == "stratum_missing_arm"
    assert "'b'" in caught.value.message and "'c'" in caught.value.message


def test_blocked_design_coverage_and_size() -> None:
    """Seeded simulation (seed 31, 1,000 blocked experiments: 4 strata of unequal size and level, half of each
    treated, effect 0.3 in one stratum of weight 0.4 -> average 0.12; and 1,000 with no effect): coverage 93-97%,
    false-positive rate 3-7%."""
    rng = np.random.default_rng(31)
    sizes, levels = np.array([40, 80, 120, 160]), np.array([0.0, 2.0, 4.0, 6.0])
    strata = np.repeat(np.arange(4), sizes)
    covered = rejected = 0
    reps = 1000
    for _ in range(reps):
        treated = np.concatenate([rng.permutation(np.arange(s) < s // 2) for s in sizes])
        noise = rng.normal(size=len(strata)) * (1 + strata * 0.3)
        effect = 0.3 * (strata == 3)
        fit = stratified_fit(levels[strata] + noise + treated * effect, treated, strata)
        q = stats.t.ppf(0.975, fit.df)
        covered += abs(fit.difference - 0.12) <= q * np.sqrt(fit.variance)
        null = stratified_fit(levels[strata] + noise, treated, strata)
        rejected += abs(null.difference) > q * np.sqrt(null.variance)
    assert 0.93 <= covered / reps <= 0.97
    assert 0.03 <= rejected / reps <= 0.07
