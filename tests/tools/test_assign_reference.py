"""assign against independent references: the hash computed here with hashlib, closed-form counts per arm, the
platform rule (sort by hashed uniform, first n share to the first arm) re-implemented here, the balance table against
pandas, and the two-arm Mahalanobis distance of Morgan & Rubin (2012, eq. 2.1) with its chi-square p-value from
scipy.stats.chi2."""

from __future__ import annotations

import hashlib
import io
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tools.assign.draw import arm_counts, unit_uniforms
from tools.assign.models import AssignRequest, AssignResult
from tools.assign.tool import assign, assignment_frame, assignments_csv


def units(n: int = 240, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "user_id": [f"u{i:04d}" for i in range(n)],
            "region": rng.choice(["north", "south", "east"], n),
            "age": rng.normal(40, 10, n).round(1),
            "spend": rng.gamma(2.0, 15.0, n),
            "store": [f"s{i % 30}" for i in range(n)],
        }
    )


def run(frame: pd.DataFrame, **fields: Any) -> AssignResult:
    fields.setdefault("salt", "exp-2026")
    return assign(AssignRequest(dataset="units", unit_column="user_id", **fields), frame)


def _uniform(salt: str, unit: str) -> float:
    """The documented rule, computed from the hex digest (another path than the tool's bytes)."""
    return (int(hashlib.sha256(f"{salt}:{unit}".encode()).hexdigest(), 16) >> (256 - 53)) / 2**53


def test_hashed_uniforms_are_pinned_to_hashlib() -> None:
    ids = ["u0000", "42", "ü-ñ", "user 7"]
    expected = [_uniform("exp-2026", i) for i in ids]
    np.testing.assert_allclose(unit_uniforms("exp-2026", ids), expected, rtol=0, atol=0)
    # pinned as literals too, so a change of the rule (bits, separator, encoding) cannot go unnoticed
    assert unit_uniforms("exp-2026", ["u0000", "42"]).tolist() == [0.8888213486166956, 0.9037223154789471]


@pytest.mark.parametrize(
    ("n", "shares", "expected"),
    [(10, [0.5, 0.5], [5, 5]), (10, [0.2, 0.3, 0.5], [2, 3, 5]), (12, [0.25, 0.25, 0.5], [3, 3, 6])],
)
def test_counts_per_arm_are_exact_when_n_share_is_whole(n: int, shares: list[float], expected: list[int]) -> None:
    assert arm_counts(n, shares, "s", "stratum").tolist() == expected


@pytest.mark.parametrize(("n", "shares"), [(7, [0.5, 0.5]), (11, [1 / 3] * 3), (9, [0.1, 0.2, 0.7])])
def test_counts_per_arm_are_floor_or_ceiling(n: int, shares: list[float]) -> None:
    for stratum in ("a", "b", "c", "d"):
        counts = arm_counts(n, shares, "salt", stratum)
        assert counts.sum() == n
        assert all(np.floor(n * s) <= c <= np.ceil(n * s) for c, s in zip(counts, shares, strict=True))


def test_complete_assignment_follows_the_platform_rule() -> None:
    frame = units(200)
    result = run(frame, arms=["a", "b", "c", "d"], shares=[0.1, 0.2, 0.3, 0.4])
    table = assignment_frame(AssignRequest(dataset="units", unit_column="user_id", salt="exp-2026",
                                           arms=["a", "b", "c", "d"], shares=[0.1, 0.2, 0.3, 0.4]), frame)  # fmt: skip
    ranked = sorted(frame["user_id"], key=lambda u: (_uniform("exp-2026", u), u))
    expected = dict(zip(ranked, ["a"] * 20 + ["b"] * 40 + ["c"] * 60 + ["d"] * 80, strict=True))
    assert dict(zip(table["unit"], table["arm"], strict=True)) == expected
    assert [c.n_units for c in result.arm_counts] == [20, 40, 60, 80]


def test_stratified_counts_are_exact_in_every_stratum() -> None:
    frame = units(300)
    result = run(frame, strata=["region"])
    table = assignment_frame(AssignRequest(dataset="units", unit_column="user_id", salt="exp-2026",
                                           strata=["region"]), frame)  # fmt: skip
    sizes = frame["region"].value_counts()
    for row in result.strata_counts:
        region = row.stratum.removeprefix("region=")
        assert row.n_units == sizes[region]
        assert sorted(row.counts) == [sizes[region] // 2, sizes[region] - sizes[region] // 2]
    crossed = pd.crosstab(table["stratum"], table["arm"])
    assert (crossed.max(axis=1) - crossed.min(axis=1)).max() <= 1


def test_numeric_strata_use_quantile_bins() -> None:
    frame = units(400)
    result = run(frame, strata=["age"], strata_bins=4)
    assert result.n_strata == 4
    np.testing.assert_allclose(sorted(r.n_units for r in result.strata_counts), [100, 100, 100, 100], atol=2)
    assert any("quantile bins" in w for w in result.warnings)


def test_same_salt_same_assignment_whatever_the_row_order_or_extra_columns() -> None:
    frame = units()
    base = assignments_csv(AssignRequest(dataset="u", unit_column="user_id", salt="x", strata=["region"]), frame)
    shuffled = frame.sample(frac=1.0, random_state=7).assign(extra=1.0)
    again = assignments_csv(AssignRequest(dataset="u", unit_column="user_id", salt="x", strata=["region"]), shuffled)
    assert again == base
    other = assignments_csv(AssignRequest(dataset="u", unit_column="user_id", salt="y", strata=["region"]), frame)
    assert other != base
    a, b = (pd.read_csv(io.StringIO(t)) for t in (base, other))
    assert 0.3 < (a["arm"] != b["arm"]).mean() < 0.7  # another salt is another, independent draw


def test_the_digest_is_the_sha256_of_the_csv_and_the_preview_its_first_rows() -> None:
    frame = units()
    request = AssignRequest(dataset="u", unit_column="user_id", salt="x", cluster_column="store")
    result = assign(request, frame)
    text = assignments_csv(request, frame)
    assert result.assignment_digest == hashlib.sha256(text.encode()).hexdigest() == result.plan.assignment_digest
    table = pd.read_csv(io.StringIO(text))
    assert [a.unit for a in result.assignments] == table["unit"].head(20).tolist()
    assert table.groupby("cluster")["arm"].nunique().max() == 1  # whole clusters
    assert [c.n_clusters for c in result.arm_counts] == [15, 15]


def test_balance_table_matches_pandas() -> None:
    frame = units()
    result = run(frame, balance_covariates=["age", "spend"])
    table = assignment_frame(AssignRequest(dataset="units", unit_column="user_id", salt="exp-2026",
                                           balance_covariates=["age", "spend"]), frame)  # fmt: skip
    merged = frame.merge(table, left_on="user_id", right_on="unit")
    means = merged.groupby("arm")[["age", "spend"]].mean()
    variances = merged.groupby("arm")[["age", "spend"]].var()
    for row in result.balance:
        smd = (means.loc["treatment", row.covariate] - means.loc["control", row.covariate]) / np.sqrt(
            (variances.loc["treatment", row.covariate] + variances.loc["control", row.covariate]) / 2
        )
        np.testing.assert_allclose(
            [row.mean, row.control_mean, row.smd],
            [means.loc["treatment", row.covariate], means.loc["control", row.covariate], smd],
            rtol=1e-12,
        )


def test_mahalanobis_is_morgan_rubins_with_the_chi_square_p_value() -> None:
    """M = n1 n0 / n (xbar1 - xbar0)' cov(X)^-1 (xbar1 - xbar0) (Morgan & Rubin 2012, eq. 2.1), chi-square(k)."""
    frame = units()
    result = run(frame, balance_covariates=["age", "spend"], shares=[0.4, 0.6])
    table = assignment_frame(AssignRequest(dataset="units", unit_column="user_id", salt="exp-2026",
                                           balance_covariates=["age", "spend"], shares=[0.4, 0.6]), frame)  # fmt: skip
    merged = frame.merge(table, left_on="user_id", right_on="unit")
    x = merged[["age", "spend"]].to_numpy()
    treated = (merged["arm"] == "treatment").to_numpy()
    n1, n0 = treated.sum(), (~treated).sum()
    d = x[treated].mean(axis=0) - x[~treated].mean(axis=0)
    m = n1 * n0 / (n1 + n0) * d @ np.linalg.inv(np.cov(x, rowvar=False)) @ d
    assert result.mahalanobis is not None and result.p_value is not None
    np.testing.assert_allclose(result.mahalanobis, m, rtol=1e-10)
    assert result.mahalanobis_df == 2
    np.testing.assert_allclose(result.p_value, stats.chi2.sf(m, 2), rtol=1e-10)


def test_rerandomisation_accepts_below_the_chi_square_quantile() -> None:
    frame = units()
    result = run(frame, balance_covariates=["age", "spend"], rerandomize_acceptance=0.1)
    threshold = stats.chi2.ppf(0.1, 2)
    assert result.threshold == pytest.approx(threshold, rel=1e-12)
    assert result.mahalanobis is not None and result.mahalanobis <= threshold
    assert result.draw_salt == ("exp-2026" if result.draws == 1 else f"exp-2026#{result.draws}")
    np.testing.assert_allclose(result.variance_reduction, stats.chi2.cdf(threshold, 4) / 0.1, rtol=1e-10)
    assert any("randomisation inference" in w for w in result.warnings)
    assert "randomisation inference" in result.summary
    # the plan redraws it: the accepted draw's salt, without rerandomisation, gives the same assignment
    again = run(frame, balance_covariates=["age", "spend"], salt=result.draw_salt)
    assert again.assignment_digest == result.assignment_digest
