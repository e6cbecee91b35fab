"""Summaries with the full moment set (issue 24): a ratio metric's denominator and CUPED's covariate given per arm
as mean, standard deviation and covariance with the metric — what a warehouse's AVG, STDDEV_SAMP and COVAR_SAMP
return — give ab_test's numbers on the rows to 1e-9; a missing part is refused saying which."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from tools.ab_test.models import AbTestRequest
from tools.ab_test.tool import ab_test
from tools.errors import ToolError


def rows(n: int = 4000, seed: int = 6) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    arm = rng.choice(["control", "treatment"], n)
    pre = rng.gamma(2, 8, n)
    visits = rng.integers(1, 6, n).astype(float)
    return pd.DataFrame(
        {
            "arm": arm,
            "revenue": 0.7 * pre + rng.gamma(2, 5, n) + 0.5 * (arm == "treatment"),
            "pre_revenue": pre,
            "orders": rng.binomial(visits.astype(int), 0.3).astype(float),
            "visits": visits,
            "converted": (rng.random(n) < 0.2).astype(int),
        }
    )


def part(group: pd.DataFrame, column: str, metric: str) -> dict[str, float]:
    return {
        "mean": float(group[column].mean()),
        "std_dev": float(group[column].std(ddof=1)),
        "covariance": float(group[[metric, column]].cov(ddof=1).iloc[0, 1]),
    }


def summaries(frame: pd.DataFrame) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for arm, group in frame.groupby("arm"):
        n = len(group)
        for metric, key, column in (("revenue", "covariate", "pre_revenue"), ("orders", "denominator", "visits")):
            mean, sd = float(group[metric].mean()), float(group[metric].std(ddof=1))
            out.append(
                {"arm": arm, "metric": metric, "n": n, "mean": mean, "std_dev": sd, key: part(group, column, metric)}
            )
        out.append({"arm": arm, "metric": "converted", "n": n, "conversions": int(group["converted"].sum())})
    return out


METRICS = [
    {"name": "revenue", "covariate_column": "pre_revenue"},
    {"name": "orders", "kind": "ratio", "denominator_column": "visits"},
    {"name": "converted", "kind": "binary"},
]


def test_the_full_moment_set_gives_the_numbers_of_the_rows() -> None:
    frame = rows()
    from_rows = ab_test(AbTestRequest(dataset="x", arm_column="arm", metrics=METRICS), frame)
    from_summaries = ab_test(AbTestRequest(summaries=summaries(frame), metrics=METRICS), None)
    assert from_rows.srm == from_summaries.srm
    for a, b in zip(from_rows.comparisons, from_summaries.comparisons, strict=True):
        assert a.test == b.test and (a.cuped is None) == (b.cuped is None)
        for field in ("estimate", "std_error", "ci_lower", "ci_upper", "p_value"):
            assert math.isclose(getattr(a.absolute, field), getattr(b.absolute, field), rel_tol=1e-9), (a.metric, field)
    assert from_summaries.comparisons[0].cuped is not None
    assert from_summaries.comparisons[1].test.startswith("z-test on a ratio")


def test_a_missing_part_is_refused_saying_which() -> None:
    frame = rows(500)
    given = [s for s in summaries(frame) if s["metric"] == "orders"]
    no_denominator = [{k: v for k, v in s.items() if k != "denominator"} for s in given]
    try:
        ab_test(AbTestRequest(summaries=no_denominator, metrics=[METRICS[1]]), None)
    except ToolError as error:
        assert error.code == "invalid_summary" and "denominator" in error.message
    else:
        raise AssertionError("a ratio summary without its denominator was accepted")
