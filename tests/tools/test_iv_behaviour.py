"""instrumental_variables on an invite experiment and other built data: the Wald estimator and its parts against
difference-in-means by hand and statsmodels, LATE wording, one-sided non-compliance, checks, plot data, the summary's
numbers, missing values, dropped covariates, determinism and the JSON round trip."""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from tools.iv import InstrumentalVariablesRequest, InstrumentalVariablesResult, headline, instrumental_variables
from tools.iv.models import MAX_BINS

NUMBER = re.compile(r"[+-]?\d[\d,]*\.?\d*(?:e[+-]?\d+)?%?")


def invite(n: int = 4000, seed: int = 0, one_sided: bool = True) -> pd.DataFrame:
    """An 'invite to try agent mode' experiment: invited at random, 40% of the invited use it (and 10% of the others
    when ``one_sided`` is false); using it raises weekly sessions by 2, and heavy users self-select into it."""
    rng = np.random.default_rng(seed)
    invited = rng.integers(0, 2, n)
    heavy = rng.normal(size=n)
    chance = np.clip(np.where(invited == 1, 0.4, 0.1) + 0.1 * heavy, 0.0, 1.0)
    used = (rng.uniform(size=n) < chance).astype(int)
    if one_sided:
        used *= invited
    sessions = 5 + 2 * used + 3 * heavy + rng.normal(size=n)
    return pd.DataFrame({"sessions": sessions, "used_agent": used, "invited": invited, "tenure": rng.normal(size=n)})


def run(frame: pd.DataFrame, **fields: Any) -> InstrumentalVariablesResult:
    request = InstrumentalVariablesRequest.model_validate(
        {"dataset": "invite", "outcome": "sessions", "treatment": "used_agent", "instruments": ["invited"], **fields}
    )
    return instrumental_variables(request, frame)


def checks_of(result: InstrumentalVariablesResult) -> dict[str, str]:
    return {c.name: c.status for c in result.checks}


def test_wald_estimator_and_its_parts_equal_differences_in_means() -> None:
    frame = invite(seed=1, one_sided=False)
    result = run(frame)
    treated = frame["invited"] == 1
    itt = frame.loc[treated, "sessions"].mean() - frame.loc[~treated, "sessions"].mean()
    takeup = frame.loc[treated, "used_agent"].mean() - frame.loc[~treated, "used_agent"].mean()
    assert result.reduced_form is not None and result.complier_share is not None
    np.testing.assert_allclose(result.reduced_form.estimate, itt, rtol=1e-12)
    np.testing.assert_allclose(result.complier_share.estimate, takeup, rtol=1e-12)
    np.testing.assert_allclose(result.effect.estimate, itt / takeup, rtol=1e-12)
    # the ITT's and take-up's standard errors are statsmodels' HC1 regressions on the invite
    exog = sm.add_constant(frame["invited"].to_numpy(dtype=float))
    for estimate, column in ((result.reduced_form, "sessions"), (result.complier_share, "used_agent")):
        fit = sm.OLS(frame[column].to_numpy(dtype=float), exog).fit(cov_type="HC1")
        np.testing.assert_allclose(estimate.std_error, fit.bse[1], rtol=1e-10)
    # the naive regression is the users-vs-non-users difference, biased upwards by self-selection
    users = frame["used_agent"] == 1
    naive = frame.loc[users, "sessions"].mean() - frame.loc[~users, "sessions"].mean()
    np.testing.assert_allclose(result.ols.estimate, naive, rtol=1e-12)
    assert result.ols.estimate > result.effect.ci_upper
    assert result.effect.ci_lower < 2 < result.effect.ci_upper


def test_late_wording_and_two_sided_noncompliance() -> None:
    result = run(invite(one_sided=False))
    assert result.estimand == "LATE" and "compliers" in result.interpretation
    assert result.one_sided_noncompliance is False
    checks = checks_of(result)
    assert checks["noncompliance"] == "pass" and checks["monotonicity"] == "not_tested"
    assert checks["exclusion_restriction"] == "not_tested" and checks["instrument_strength"] == "pass"
    assert "only by changing use" in next(c.detail for c in result.checks if c.name == "exclusion_restriction")
    assert "for the compliers" in result.summary and "intention to treat" in result.summary
    assert result.summary.index("intention to treat") < result.summary.index("(the LATE)")  # ITT, share, LATE


def test_one_sided_noncompliance_is_the_effect_on_the_treated() -> None:
    result = run(invite(one_sided=True))
    assert result.one_sided_noncompliance is True
    assert "effect on the treated" in result.interpretation
    assert checks_of(result)["monotonicity"] == "pass"
    assert "one-sided" in next(c.detail for c in result.checks if c.name == "noncompliance")


def test_not_late_for_a_continuous_instrument_or_treatment() -> None:
    rng = np.random.default_rng(3)
    n = 3000
    z = rng.normal(size=n)
    d = 0.8 * z + rng.normal(size=n)
    frame = pd.DataFrame({"sessions": d + rng.normal(size=n), "used_agent": d, "invited": z})
    result = run(frame)
    assert result.estimand == "IV coefficient" and result.complier_share is None
    assert result.one_sided_noncompliance is None and "noncompliance" not in checks_of(result)
    assert 2 < len(result.bins) <= MAX_BINS and sum(b.n for b in result.bins) == n
    values = [b.instrument_value for b in result.bins]
    assert values == sorted(values)


def test_plot_data_is_the_wald_picture_for_a_binary_instrument() -> None:
    frame = invite(one_sided=False)
    result = run(frame)
    assert [b.instrument_value for b in result.bins] == [0.0, 1.0]
    low, high = result.bins
    assert result.reduced_form is not None
    np.testing.assert_allclose(high.outcome_mean - low.outcome_mean, result.reduced_form.estimate, rtol=1e-12)
    np.testing.assert_allclose(
        (high.outcome_mean - low.outcome_mean) / (high.treatment_mean - low.treatment_mean),
        result.effect.estimate,
        rtol=1e-12,
    )
    assert "bins" in type(result).plot_fields and type(result).figure == "instrumental_variables"


def _values(tree: Any) -> list[float]:
    if isinstance(tree, dict):
        return [v for item in tree.values() for v in _values(item)]
    if isinstance(tree, list):
        return [v for item in tree for v in _values(item)]
    if isinstance(tree, bool) or not isinstance(tree, int | float):
        return []
    return [float(tree)]


def unquoted_numbers(result: InstrumentalVariablesResult) -> list[str]:
    """The summary's numbers (quoted names left out) that are no formatting of one of the result's fields."""
    text = re.sub(r"'[^']*'", "", result.summary)
    shown: set[str] = {f"{1 - result.alpha:.0%}"}
    for v in _values(result.model_dump(mode="json", exclude={"summary"})):
        shown.update(format(v, spec) for spec in ("+.4g", ".4g", ".3g", "g", "+.1%"))
    return [m for m in NUMBER.findall(text) if m not in shown]


@pytest.mark.parametrize("one_sided", [True, False])
def test_the_summary_quotes_only_the_results_own_numbers(one_sided: bool) -> None:
    result = run(invite(one_sided=one_sided))
    assert unquoted_numbers(result) == []
    assert f"{result.effect.estimate:+.4g}" in result.summary


def test_summary_of_weak_instruments_points_to_anderson_rubin() -> None:
    rng = np.random.default_rng(8)
    n = 500
    z = rng.normal(size=(n, 2))
    v = rng.normal(size=n)
    d = z @ [0.03, 0.02] + v
    frame = pd.DataFrame({"sessions": d + 0.3 * z[:, 0] + v + rng.normal(size=n), "used_agent": d})
    frame["a"], frame["b"] = z[:, 0], z[:, 1]
    result = run(frame, instruments=["a", "b"])
    assert "WEAK" in result.summary and "Anderson-Rubin" in result.summary
    assert unquoted_numbers(result) == []
    assert checks_of(result)["instrument_strength"] == "fail"
    assert any(w.startswith("WEAK INSTRUMENTS") for w in result.warnings)


def test_missing_values_are_dropped_and_counted() -> None:
    frame = invite()
    frame.loc[:9, "sessions"] = np.nan
    frame.loc[5:14, "tenure"] = np.nan
    result = run(frame, covariates=["tenure"])
    assert result.n_dropped == 15 and result.n_obs == len(frame) - 15
    assert any("15 of" in w and "'sessions': 10" in w and "'tenure': 10" in w for w in result.warnings)
    complete = frame.dropna()
    assert result.effect.estimate == pytest.approx(run(complete, covariates=["tenure"]).effect.estimate, rel=1e-12)


def test_constant_and_collinear_covariates_are_dropped_with_a_note() -> None:
    frame = invite()
    frame["one"] = 1.0
    frame["tenure2"] = 2 * frame["tenure"] + 1
    result = run(frame, covariates=["tenure", "one", "tenure2"])
    assert result.covariates == ["tenure"]
    assert any("'one'" in w for w in result.warnings) and any("'tenure2'" in w for w in result.warnings)
    assert result.effect.estimate == pytest.approx(run(frame, covariates=["tenure"]).effect.estimate, rel=1e-10)


def test_clusters_and_the_few_clusters_warning() -> None:
    frame = invite()
    frame["team"] = np.arange(len(frame)) % 12
    result = run(frame, standard_errors="cluster", cluster="team")
    assert result.n_clusters == 12 and checks_of(result)["clusters"] == "warn"
    assert result.first_stage.df_denom == 11 and result.anderson_rubin.df_denom == 11


def test_deterministic_headline_and_json_round_trip() -> None:
    frame = invite(one_sided=False)
    first, again = run(frame), run(frame)
    assert first.model_dump_json() == again.model_dump_json()
    request = InstrumentalVariablesRequest(
        dataset="invite", outcome="sessions", treatment="used_agent", instruments=["invited"]
    )
    assert headline(request, frame) == first.effect.estimate
    assert InstrumentalVariablesResult.model_validate_json(first.model_dump_json()) == first
    assert math.isfinite(first.anderson_rubin.statistic)
    # a boolean treatment and a boolean instrument read as 0/1
    as_bool = frame.astype({"used_agent": bool, "invited": bool})
    assert run(as_bool).model_dump_json() == first.model_dump_json()


def test_an_instrument_with_few_values_gets_one_bin_per_value() -> None:
    """Quantile edges would merge a rare value into its neighbour (97/2/1% shares gave one bin): each value is a
    bin, its means the group means (pandas groupby as the reference)."""
    from tools.iv.plot import bins

    rng = np.random.default_rng(3)
    for shares in ([0.97, 0.02, 0.01], [0.5, 0.49, 0.01]):
        z = rng.choice([0.0, 1.0, 2.0], size=5000, p=shares)
        d = z * 0.3 + rng.normal(size=5000)
        y = d + rng.normal(size=5000)
        got = bins(z, d, y, None)
        means = (
            pd.DataFrame({"z": z, "d": d, "y": y}).groupby("z").agg(n=("d", "size"), d=("d", "mean"), y=("y", "mean"))
        )
        assert [b.instrument_value for b in got] == [0.0, 1.0, 2.0]
        assert [b.n for b in got] == means["n"].tolist()
        np.testing.assert_allclose([b.treatment_mean for b in got], means["d"], rtol=1e-12)
        np.testing.assert_allclose([b.outcome_mean for b in got], means["y"], rtol=1e-12)
