"""aa_test's behaviour on data with a known answer: a clean metric is trustworthy; sessions of the same user analysed
as rows are caught and the per-user analysis shown as the fix; an A/A that ran with a sample-ratio mismatch is
"investigate" for that reason; the observed arms are ab_test's own comparison; heavy tails at small n show in the
false-positive and KS figures instead of being hidden; the same seed gives the same numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tools.aa_test import AaTestRequest, aa_test
from tools.ab_test.models import AbTestRequest
from tools.ab_test.tool import ab_test


def users(n: int = 4000, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    pre = rng.gamma(2, 10, n)
    return pd.DataFrame(
        {
            "user_id": [f"u{i:05d}" for i in range(n)],
            "revenue": 0.7 * pre + rng.gamma(2, 5, n),
            "pre_revenue": pre,
            "converted": (rng.random(n) < 0.12).astype(int),
        }
    )


def sessions(n_users: int = 1500, seed: int = 2) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    count = rng.integers(1, 10, n_users)
    user = np.repeat(np.arange(n_users), count)
    level = rng.normal(0, 1, n_users)
    return pd.DataFrame(
        {"user_id": [f"u{u}" for u in user], "minutes": 20 + 6 * level[user] + rng.normal(0, 3, len(user))}
    )


def request(**fields: object) -> AaTestRequest:
    return AaTestRequest.model_validate({"dataset": "d", "metrics": [{"name": "revenue"}], **fields})


def test_a_clean_metric_is_trustworthy_with_calibrated_figures() -> None:
    metrics = [{"name": "revenue", "covariate_column": "pre_revenue"}, {"name": "converted", "kind": "binary"}]
    result = aa_test(request(metrics=metrics), users())
    assert result.verdict == "trustworthy" and result.repeated_unit is None and result.by_unit == []
    for simulated in result.simulated:
        rate = simulated.false_positive_rate
        assert rate.ci_lower <= 0.05 <= rate.ci_upper
        assert abs(simulated.se_ratio - 1) < 3.5 * simulated.se_ratio_mc_error + 0.02
        assert simulated.ks_p_value > 0.001 and sum(simulated.p_histogram) == 1000
        assert simulated.analysed_per is None and simulated.randomised_by is None
    assert result.simulated[0].test == "Welch t-test on CUPED-adjusted values"
    assert [c.name for c in result.checks].count("false_positive_rate") == 2
    assert result.summary.startswith("A/A verdict: trustworthy.")


def test_sessions_analysed_as_rows_are_caught_and_the_per_user_analysis_is_the_fix() -> None:
    result = aa_test(request(metrics=[{"name": "minutes"}]), sessions())
    assert result.verdict == "investigate" and result.repeated_unit == "user_id"
    rows, units = result.simulated[0], result.by_unit[0]
    assert rows.randomised_by == "user_id" and rows.analysed_per is None
    assert rows.false_positive_rate.rate > 0.3 and rows.se_ratio < 0.5 and rows.status == "fail"
    assert units.analysed_per == "user_id" and units.status in ("pass", "warn")
    assert units.false_positive_rate.ci_lower <= 0.05 <= units.false_positive_rate.ci_upper
    assert units.n_units == 1500 and rows.n_units == len(sessions())
    assert any("cluster_column='user_id'" in r for r in result.reasons)
    # with the unit named, the analysis per unit is what is simulated, and it is trustworthy
    fixed = aa_test(request(metrics=[{"name": "minutes"}], cluster_column="user_id"), sessions())
    assert fixed.verdict == "trustworthy" and fixed.repeated_unit is None
    assert fixed.simulated[0].false_positive_rate.rate == units.false_positive_rate.rate  # the same splits


def test_an_aa_that_ran_is_ab_tests_comparison_and_a_sample_ratio_mismatch_is_investigated() -> None:
    data = users()
    rng = np.random.default_rng(3)
    data["arm"] = np.where(rng.random(len(data)) < 0.5, "A1", "A2")
    result = aa_test(request(arm_column="arm"), data)
    reference = ab_test(AbTestRequest(dataset="d", arm_column="arm", control="A1", metrics=[{"name": "revenue"}]), data)
    assert result.observed[0].absolute == reference.comparisons[0].absolute
    assert result.srm is not None and result.srm.status == "pass"
    skewed = data[~((data["arm"] == "A2") & (rng.random(len(data)) < 0.15))]  # a sixth of A2 lost in logging
    broken = aa_test(request(arm_column="arm"), skewed)
    assert broken.verdict == "investigate" and broken.srm is not None and broken.srm.status != "pass"
    assert any("Sample-ratio mismatch" in r for r in broken.reasons)


def test_heavy_tails_at_small_n_show_in_the_figures() -> None:
    rng = np.random.default_rng(7)
    spend = np.append(rng.gamma(2.0, 20.0, 59), 25_000.0)  # 60 users, one whale who outspends all the others
    result = aa_test(request(simulations=2000), pd.DataFrame({"revenue": spend}))
    simulated = result.simulated[0]
    # the whale's arm decides every split: the t statistic hovers near +-1, the p-values pile up in the middle
    assert simulated.ks_p_value < 1e-6 and simulated.false_positive_rate.rate < 0.01
    middle = sum(simulated.p_histogram[4:14])
    assert middle > 0.9 * sum(simulated.p_histogram)
    assert simulated.status == "fail" and result.verdict == "investigate"
    assert any("not uniform" in r and "heavy tail" in r for r in result.reasons)


def test_the_same_seed_gives_the_same_numbers_and_another_seed_other_splits() -> None:
    data = users(800)
    first, again = aa_test(request(seed=4), data), aa_test(request(seed=4), data)
    assert first == again
    other = aa_test(request(seed=5), data)
    assert other.simulated[0].p_histogram != first.simulated[0].p_histogram


def test_an_uneven_split_is_simulated_and_checked_against_it() -> None:
    result = aa_test(request(split=0.2, simulations=500), users(2000))
    assert result.split == 0.2 and result.simulated[0].false_positive_rate.rate < 0.12
    assert "probability 0.2" in result.method
