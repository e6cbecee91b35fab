"""aa_test's own calibration over seeds: on clean data (independent units, ab_test's analysis valid) its verdict is
"trustworthy" nearly always — the checks fail at p < 0.001, so three metrics over 40 data sets should raise at most a
rare false alarm — while sessions of the same user analysed as rows are caught in every data set."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tools.aa_test import AaTestRequest, aa_test

METRICS = [
    {"name": "revenue", "covariate_column": "pre_revenue"},
    {"name": "converted", "kind": "binary"},
    {"name": "orders", "kind": "ratio", "denominator_column": "visits"},
]


def clean(seed: int, n: int = 1500) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    pre = rng.gamma(2, 10, n)
    visits = rng.integers(1, 6, n).astype(float)
    return pd.DataFrame(
        {
            "revenue": 0.6 * pre + rng.gamma(2, 6, n),
            "pre_revenue": pre,
            "converted": (rng.random(n) < 0.15).astype(int),
            "orders": rng.binomial(visits.astype(int), 0.3).astype(float),
            "visits": visits,
        }
    )


@pytest.mark.slow
def test_clean_data_is_trustworthy_and_rows_of_repeated_users_are_always_caught() -> None:
    replications = 40
    alarms, rates = 0, []
    for seed in range(replications):
        result = aa_test(AaTestRequest(dataset="d", metrics=METRICS, seed=seed), clean(seed))
        alarms += result.verdict == "investigate"
        rates += [s.false_positive_rate.rate for s in result.simulated]
    assert alarms <= 2, alarms
    assert abs(np.mean(rates) - 0.05) < 0.005, np.mean(rates)  # 120,000 splits in all: MC error 0.0006
    caught = 0
    for seed in range(10):
        rng = np.random.default_rng(100 + seed)
        count = rng.integers(1, 8, 800)
        user = np.repeat(np.arange(800), count)
        level = rng.normal(0, 1, 800)
        frame = pd.DataFrame({"user_id": user, "minutes": 15 + 4 * level[user] + rng.normal(0, 4, len(user))})
        result = aa_test(AaTestRequest(dataset="s", metrics=[{"name": "minutes"}], seed=seed), frame)
        caught += result.verdict == "investigate" and result.by_unit[0].status != "fail"
    assert caught == 10
