"""refute's instrumental-variables battery: covariates as placebo outcomes, the Anderson-Rubin set against the 2SLS
interval, leave-one-instrument-out, and the generic simulations, through the refute tool.

References: statsmodels OLS with HC1 / CR1 standard errors and ``use_t`` (the balance regressions and the
Anderson-Rubin test: with the covariates as controls, the instruments' joint Wald F test in the regression of
``outcome - b * treatment`` — or of a covariate — on the instruments and the covariates, against F(k, df)), and
linearmodels 7.1 ``IV2SLS`` with ``debiased=True`` (HC1, as Stata and R's AER::ivreg) for the 2SLS refits: each
covariate as the outcome, each instrument left out, each bootstrap resample. Data: Card (1995) as in Wooldridge's
Example 15.4 (``tests/fixtures/iv/card.csv``), and seeded encouragement designs built below.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from tools.errors import ToolError
from tools.refute.designs.iv import InstrumentalVariablesDesign
from tools.refute.engine import Runner
from tools.refute.models import RefuteCheck, RefuteRequest, RefuteResult
from tools.refute.tool import refute

linearmodels = pytest.importorskip("linearmodels")
IV2SLS = linearmodels.IV2SLS

CARD_PATH = Path(__file__).resolve().parents[1] / "fixtures" / "iv" / "card.csv"
CARD_COVARIATES = [
    "exper",
    "expersq",
    "black",
    "smsa",
    "south",
    "smsa66",
    *(f"reg66{i}" for i in range(2, 10)),
]
CARD = {"dataset": "card", "outcome": "lwage", "treatment": "educ", "instruments": ["nearc4"]}
CARD_BOTH = {**CARD, "instruments": ["nearc2", "nearc4"], "covariates": CARD_COVARIATES}
NUDGES = ["invite", "banner"]
TRAITS = ["activity", "tenure"]
INVITE = {"dataset": "invite", "outcome": "sessions", "treatment": "used", "instruments": NUDGES, "covariates": TRAITS}
Z95 = float(stats.norm.isf(0.025))
RTOL = 1e-7  # linearmodels and statsmodels agree with the tool to about 1e-11


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread() -> Iterator[None]:
    """Small linear algebra on a shared 2-core machine: OpenBLAS's spinning threads only slow it down."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield


@pytest.fixture(scope="module")
def card() -> pd.DataFrame:
    return pd.read_csv(CARD_PATH)


@pytest.fixture(scope="module")
def card_result(card: pd.DataFrame) -> RefuteResult:
    return run({**CARD, "covariates": CARD_COVARIATES}, card, simulations=20)


def run(target: dict[str, Any], frame: pd.DataFrame, **fields: Any) -> RefuteResult:
    request = {"target": {"tool": "instrumental_variables", "request": target}, **fields}
    return refute(RefuteRequest.model_validate(request), frame)


def by_name(result: RefuteResult) -> dict[str, RefuteCheck]:
    return {c.name: c for c in result.checks}


def encouragement(
    n: int = 3000, seed: int = 0, *, confounded: bool = False, direct: float = 0.0, strength: float = 1.0
) -> pd.DataFrame:
    """An "invite to try the assistant" experiment with a second nudge (an in-app banner): use is optional and
    chosen on an unobserved trait ``u`` that also drives sessions; the effect of use is 2.0 for everyone.

    ``confounded``: the invite goes to the already active users (not random); ``direct``: the banner also raises
    sessions by itself (exclusion violated); ``strength`` scales how much the nudges move use."""
    rng = np.random.default_rng(seed)
    tenure = rng.exponential(2.0, n)
    activity = rng.normal(0.0, 1.0, n)
    u = rng.normal(0.0, 1.0, n)
    if confounded:
        invite = (activity + rng.normal(0.0, 1.0, n) > 0).astype(float)
    else:
        invite = rng.integers(0, 2, n).astype(float)
    banner = rng.integers(0, 2, n).astype(float)
    latent = -0.6 + strength * (1.0 * invite + 0.7 * banner) + 0.4 * activity + u + rng.normal(0.0, 1.0, n)
    used = (latent > 0).astype(float)
    sessions = 2.0 * used + 0.8 * activity + 0.3 * tenure + 1.5 * u + direct * banner + rng.normal(0.0, 1.0, n)
    return pd.DataFrame(
        {
            "sessions": sessions,
            "used": used,
            "invite": invite,
            "banner": banner,
            "activity": activity,
            "tenure": tenure,
            "shard": rng.integers(0, 40, n),
        }
    )


# --- independent references ----------------------------------------------------------------------------------------


def design_matrix(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(sm.add_constant(frame[columns].astype(float), has_constant="add"))


def number(value: float | None) -> float:
    """A check's number that must be there."""
    assert value is not None
    return value


def instruments_test(
    frame: pd.DataFrame, outcome: np.ndarray, instruments: list[str], covariates: list[str], cluster: str | None = None
) -> float:
    """p-value of the instruments' joint Wald F test in the OLS of ``outcome`` on them and the covariates (HC1, or
    CR1 by ``cluster``; F(k, df) with df the residual or clusters - 1, as ``use_t`` gives): the AR test at one value."""
    x = design_matrix(frame, [*instruments, *covariates])
    model = sm.OLS(outcome, x)
    if cluster is None:
        fit = model.fit(cov_type="HC1", use_t=True)
    else:
        fit = model.fit(cov_type="cluster", cov_kwds={"groups": frame[cluster].to_numpy()}, use_t=True)
    restriction = np.zeros((len(instruments), x.shape[1]))
    for row, name in enumerate(instruments):
        restriction[row, list(x.columns).index(name)] = 1.0
    return float(fit.f_test(restriction).pvalue)


def two_sls(frame: pd.DataFrame, outcome: str, treatment: str, instruments: list[str], covariates: list[str]) -> Any:
    """linearmodels' 2SLS with HC1 (``debiased=True``)."""
    return IV2SLS(
        frame[outcome].astype(float),
        design_matrix(frame, covariates),
        frame[[treatment]].astype(float),
        frame[instruments].astype(float),
    ).fit(cov_type="robust", debiased=True)


# --- Card (1995): nearc4, just identified --------------------------------------------------------------------------


def test_card_battery_is_the_spec_battery_in_order(card_result: RefuteResult) -> None:
    assert [c.name for c in card_result.checks] == [
        "covariate_balance",
        "weak_instrument",
        "leave_one_out",
        "dummy_outcome",
        "bootstrap",
    ]
    assert card_result.target_tool == "instrumental_variables"
    assert card_result.effect.estimate == pytest.approx(0.1315, abs=5e-5)  # Wooldridge Example 15.4
    assert card_result.n_obs == 3010


def test_card_balance_matches_statsmodels_and_fails_on_the_regions(
    card: pd.DataFrame, card_result: RefuteResult
) -> None:
    """College proximity is not as good as random: given the other controls it still predicts living in a city in
    1966 and the region (Card's reason for controlling for them). Each covariate's AR p-value is the HC1 t-test of
    nearc4 in the regression of that covariate on nearc4 and the other covariates."""
    check = by_name(card_result)["covariate_balance"]
    k = len(CARD_COVARIATES)
    p_values = {
        name: instruments_test(card, card[name].to_numpy(float), ["nearc4"], [c for c in CARD_COVARIATES if c != name])
        for name in CARD_COVARIATES
    }
    worst = min(p_values, key=lambda name: p_values[name])
    assert worst == "smsa66"
    assert check.p_value == pytest.approx(min(1.0, k * p_values[worst]), rel=1e-6)
    others = [c for c in CARD_COVARIATES if c != worst]
    reference = two_sls(card, worst, "educ", ["nearc4"], others)
    np.testing.assert_allclose(number(check.estimate), reference.params["educ"], rtol=RTOL)
    assert check.verdict == "fail" and "'smsa66'" in check.explanation
    assert card_result.verdict == "failed" and card_result.decided_by == ["covariate_balance"]
    shown = sorted(p_values.values())[:6]
    for p in shown:
        assert f"AR p = {p:.3g}" in check.detail
    assert f"{k - 6} more with adjusted p {min(1.0, k * sorted(p_values.values())[6]):.3g} or above" in check.detail


def test_card_weak_instrument_check_matches_the_reduced_form_and_first_stage(
    card: pd.DataFrame, card_result: RefuteResult
) -> None:
    check = by_name(card_result)["weak_instrument"]
    lwage, educ = card["lwage"].to_numpy(float), card["educ"].to_numpy(float)
    # AR p-value at 0: the reduced form's HC1 test; its F is the first stage's HC1 t squared
    assert check.p_value == pytest.approx(instruments_test(card, lwage, ["nearc4"], CARD_COVARIATES), rel=1e-6)
    first = sm.OLS(educ, design_matrix(card, ["nearc4", *CARD_COVARIATES])).fit(cov_type="HC1")
    assert check.estimate == pytest.approx(float(first.tvalues["nearc4"]) ** 2, rel=1e-6)
    # the AR set is bounded (first-stage F above the critical value: Dufour 1997), excludes 0 (p < 0.05) as the 2SLS
    # interval does, and its ends are where the test of lwage - b educ has p = 0.05
    reference = two_sls(card, "lwage", "educ", ["nearc4"], CARD_COVARIATES)
    b, se = float(reference.params["educ"]), float(reference.std_errors["educ"])
    assert b - Z95 * se > 0 and number(check.p_value) < 0.05
    assert number(check.estimate) > float(stats.f.isf(0.05, 1, first.df_resid))
    assert check.verdict == "pass"
    ends = [float(x) for x in check.detail.split("Anderson-Rubin set ")[1].split(" (p")[0].split(" to ")]
    for end in ends:  # printed to 4 significant digits: the p-value is 0.05 within that rounding
        p = instruments_test(card, lwage - end * educ, ["nearc4"], CARD_COVARIATES)
        assert p == pytest.approx(0.05, abs=2e-3)


def test_card_with_one_instrument_has_no_instrument_to_leave_out(card_result: RefuteResult) -> None:
    check = by_name(card_result)["leave_one_out"]
    assert check.verdict == "inconclusive"
    assert check.detail.startswith("Not applicable: the analysis has one instrument ('nearc4')")


def test_card_bootstrap_draws_are_linearmodels_refits_of_pairs_resamples(
    card: pd.DataFrame, card_result: RefuteResult
) -> None:
    """The same resamples (the runner's seeded generator per draw, rows drawn with replacement), refitted by
    linearmodels."""
    runner = Runner(seed=0, total=0)
    estimates = []
    for draw in range(20):
        chosen = runner.rng("bootstrap", draw).integers(0, len(card), size=len(card))
        sample = card.take(chosen).reset_index(drop=True)
        estimates.append(float(two_sls(sample, "lwage", "educ", ["nearc4"], CARD_COVARIATES).params["educ"]))
    check = by_name(card_result)["bootstrap"]
    assert check.distribution is not None and check.distribution.draws == 20
    np.testing.assert_allclose(check.distribution.mean, np.mean(estimates), rtol=RTOL)
    np.testing.assert_allclose(check.distribution.std_dev, np.std(estimates, ddof=1), rtol=RTOL)


def test_card_dummy_outcome_centres_on_zero(card_result: RefuteResult) -> None:
    check = by_name(card_result)["dummy_outcome"]
    assert check.verdict == "pass" and check.distribution is not None
    assert abs(check.distribution.mean) < 3.29 * check.distribution.std_dev / np.sqrt(check.distribution.draws)


# --- Card (1995): nearc2 and nearc4, over-identified --------------------------------------------------------------


def test_card_leave_one_instrument_out_matches_linearmodels(card: pd.DataFrame) -> None:
    result = run(CARD_BOTH, card, checks=["leave_one_out", "weak_instrument"])
    check = by_name(result)["leave_one_out"]
    original = two_sls(card, "lwage", "educ", ["nearc2", "nearc4"], CARD_COVARIATES)
    b, se = float(original.params["educ"]), float(original.std_errors["educ"])
    np.testing.assert_allclose(result.effect.estimate, b, rtol=RTOL)
    without: dict[str, tuple[float, float]] = {}
    for dropped, kept in (("nearc2", "nearc4"), ("nearc4", "nearc2")):
        fit = two_sls(card, "lwage", "educ", [kept], CARD_COVARIATES)
        without[dropped] = float(fit.params["educ"]), float(fit.std_errors["educ"])
        estimate, std_error = without[dropped]
        assert (
            f"without '{dropped}': {estimate:.4g} (CI {estimate - Z95 * std_error:.4g} to "
            f"{estimate + Z95 * std_error:.4g}" in check.detail
        )
    np.testing.assert_allclose(number(check.estimate), np.mean([e for e, _ in without.values()]), rtol=RTOL)
    # the rule, applied to linearmodels' numbers: without nearc2 the estimate stays in the original interval;
    # without nearc4 (nearc2 alone, first-stage F about 2.4) it leaves it, but its own interval covers the original
    low, high = b - Z95 * se, b + Z95 * se
    estimate, std_error = without["nearc2"]
    assert low <= estimate <= high
    estimate, std_error = without["nearc4"]
    assert not low <= estimate <= high
    assert estimate - Z95 * std_error <= b <= estimate + Z95 * std_error
    assert check.verdict == "inconclusive" and "Without 'nearc4'" in check.explanation
    # two instruments: the AR test is the joint HC1 F test; bounded and excluding 0 like the 2SLS interval
    weak = by_name(result)["weak_instrument"]
    lwage = card["lwage"].to_numpy(float)
    assert weak.p_value == pytest.approx(instruments_test(card, lwage, ["nearc2", "nearc4"], CARD_COVARIATES), rel=1e-6)
    assert weak.verdict == "pass"
    # the analysis's own design check (first-stage F 8.3 < 10) caps the verdict whatever the battery finds
    assert "instrumental_variables:instrument_strength" in result.decided_by


# --- seeded encouragement designs ---------------------------------------------------------------------------------


def test_a_randomised_invite_is_robust() -> None:
    frame = encouragement(seed=0)
    result = run(INVITE, frame)
    checks = by_name(result)
    assert result.verdict == "robust", result.summary
    assert all(c.verdict == "pass" for c in result.checks)
    assert result.effect.ci_lower < 2.0 < result.effect.ci_upper  # the true effect of use
    k = len(TRAITS)
    expected = min(
        min(1.0, k * instruments_test(frame, frame[c].to_numpy(float), NUDGES, [o]))
        for c, o in (("activity", "tenure"), ("tenure", "activity"))
    )
    assert checks["covariate_balance"].p_value == pytest.approx(expected, rel=1e-6)


def test_an_invite_sent_to_active_users_fails_the_balance_check() -> None:
    """The invite went to the users already most active (a pre-treatment covariate): the placebo outcome 'activity'
    shows an 'effect' and the verdict is failed, whatever the other checks say."""
    frame = encouragement(seed=0, confounded=True)
    result = run(INVITE, frame, checks=["covariate_balance", "weak_instrument"])
    check = by_name(result)["covariate_balance"]
    p_activity = instruments_test(frame, frame["activity"].to_numpy(float), NUDGES, ["tenure"])
    assert check.p_value == pytest.approx(min(1.0, 2 * p_activity), rel=1e-6) and number(check.p_value) < 1e-10
    reference = two_sls(frame, "activity", "used", NUDGES, ["tenure"])
    np.testing.assert_allclose(number(check.estimate), reference.params["used"], rtol=RTOL)
    assert check.verdict == "fail" and "instruments predict 'activity'" in check.explanation
    assert result.verdict == "failed" and result.decided_by == ["covariate_balance"]


def test_placebo_outcomes_use_the_original_rows() -> None:
    """Rows whose outcome is missing are not in the analysis, so they are not in its placebo analyses either."""
    frame = encouragement(seed=4)
    frame.loc[frame["activity"] > 1.0, "sessions"] = np.nan  # the most active users' outcome is missing
    result = run(INVITE, frame, checks=["covariate_balance"])
    check = by_name(result)["covariate_balance"]
    used = frame.dropna(subset=["sessions"]).reset_index(drop=True)
    kept = min(
        min(1.0, 2 * instruments_test(used, used[c].to_numpy(float), NUDGES, [o]))
        for c, o in (("activity", "tenure"), ("tenure", "activity"))
    )
    every = min(
        min(1.0, 2 * instruments_test(frame, frame[c].to_numpy(float), NUDGES, [o]))
        for c, o in (("activity", "tenure"), ("tenure", "activity"))
    )
    assert check.p_value == pytest.approx(kept, rel=1e-6)
    assert not np.isclose(kept, every, rtol=1e-3, atol=0.0)


def test_a_banner_with_a_direct_effect_fails_leave_one_out_and_the_ar_set_is_empty() -> None:
    """The banner raises sessions by itself: the two instruments point at different effects (the invite alone at
    the true 2.0), so leaving one out moves the estimate beyond both intervals and no effect value fits both."""
    frame = encouragement(seed=0, direct=1.0)
    result = run(INVITE, frame, checks=["leave_one_out", "weak_instrument"])
    checks = by_name(result)
    alone = {z: two_sls(frame, "sessions", "used", [z], TRAITS) for z in NUDGES}
    original = two_sls(frame, "sessions", "used", NUDGES, TRAITS)
    b, se = float(original.params["used"]), float(original.std_errors["used"])
    invite_only = alone["invite"]  # leaving the banner out
    e, s = float(invite_only.params["used"]), float(invite_only.std_errors["used"])
    assert not b - Z95 * se <= e <= b + Z95 * se and not e - Z95 * s <= b <= e + Z95 * s
    assert e - Z95 * s < 2.0 < e + Z95 * s
    assert checks["leave_one_out"].verdict == "fail"
    assert "Without 'invite', 'banner'" in checks["leave_one_out"].explanation
    assert checks["weak_instrument"].verdict == "fail" and "set empty" in checks["weak_instrument"].detail
    assert result.verdict == "fragile"  # the instruments disagree: not a falsified design, but not an answer
    assert "instrumental_variables:overidentification" in result.decided_by


def test_a_weak_invite_gives_an_unbounded_ar_set_and_fails_the_weak_instrument_check() -> None:
    frame = encouragement(seed=0, strength=0.05)
    target = {**INVITE, "instruments": ["invite"]}
    result = run(target, frame, checks=["weak_instrument", "leave_one_out"])
    check = by_name(result)["weak_instrument"]
    first = sm.OLS(frame["used"].to_numpy(float), design_matrix(frame, ["invite", *TRAITS])).fit(cov_type="HC1")
    f_statistic = float(first.tvalues["invite"]) ** 2
    assert check.estimate == pytest.approx(f_statistic, rel=1e-6)
    # below the F(1, df) critical value the AR set cannot be bounded (Dufour 1997)
    assert f_statistic < float(stats.f.isf(0.05, 1, first.df_resid))
    assert check.verdict == "fail" and "-inf to +inf" in check.detail
    assert result.verdict == "fragile"
    assert "instrumental_variables:instrument_strength" in result.decided_by


def test_clustered_bootstrap_resamples_whole_shards() -> None:
    frame = encouragement(seed=2, n=1200)
    target = {**INVITE, "standard_errors": "cluster", "cluster": "shard"}
    design = InstrumentalVariablesDesign(target, frame, 0.05)
    seen: list[pd.DataFrame] = []
    original = design.estimate

    def capture(altered: pd.DataFrame, request: Any | None = None) -> tuple[float, float]:
        seen.append(altered)
        return original(altered, request)

    design.estimate = capture  # type: ignore[method-assign,assignment]
    design.bootstrap(np.random.default_rng(5))
    sample = seen[0]
    sizes = frame.groupby("shard").size()
    assert sample["shard"].nunique() <= sizes.size  # one new label per drawn shard
    for _, rows in sample.groupby("shard"):
        origin = frame.loc[frame["sessions"].isin(rows["sessions"]), "shard"].unique()
        assert len(origin) == 1 and len(rows) == sizes[origin[0]]  # a whole shard, once per label
    result = run(target, frame, checks=["bootstrap"], simulations=30)
    assert "whole 'shard' clusters" in result.checks[0].procedure


# --- edges -----------------------------------------------------------------------------------------------------------


def test_without_covariates_there_is_no_placebo_outcome(card: pd.DataFrame) -> None:
    result = run(CARD, card, checks=["covariate_balance"])
    assert result.checks[0].verdict == "inconclusive"
    assert "give pre-instrument `covariates`" in result.checks[0].detail


def test_placebo_treatment_does_not_apply(card: pd.DataFrame) -> None:
    with pytest.raises(ToolError) as caught:
        run(CARD, card, checks=["placebo_treatment"])
    assert caught.value.code == "check_not_applicable"


def test_the_extra_checks_run_and_the_result_is_deterministic() -> None:
    frame = encouragement(seed=1, n=800)
    fields = {"checks": ["auto", "data_subset", "random_common_cause"], "simulations": 20, "seed": 7}
    first = run(INVITE, frame, **fields)
    again = run(INVITE, frame, **fields)
    assert json.dumps(first.model_dump(mode="json")) == json.dumps(again.model_dump(mode="json"))
    checks = by_name(first)
    assert checks["data_subset"].verdict == "pass" and checks["random_common_cause"].verdict == "pass"


# --- seeded simulation: how often a sound design is flagged ----------------------------------------------------------


@pytest.mark.slow
def test_valid_randomised_instruments_are_rarely_flagged_and_a_confounded_one_always() -> None:
    """100 seeded valid designs (1,000 users, two randomised nudges): the balance check fails at most at its level
    (5%, Bonferroni over two covariates), the leave-one-out and weak-instrument checks rarely (they fail under the
    null only when the instruments' estimates differ beyond their own noise, or no value fits both: about an
    over-identification test's size). With the invite sent to active users, the balance check always fails."""
    checks = ["covariate_balance", "weak_instrument", "leave_one_out"]
    failures = dict.fromkeys(checks, 0)
    for seed in range(100):
        result = run(INVITE, encouragement(n=1000, seed=10_000 + seed), checks=checks)
        for check in result.checks:
            failures[check.name] += check.verdict == "fail"
    # binomial(100, 0.05): more than 10 has probability about 0.01 (600 other seeds: 4.8% fail)
    assert failures["covariate_balance"] <= 10
    assert failures["weak_instrument"] <= 8 and failures["leave_one_out"] <= 8
    caught = sum(
        by_name(run(INVITE, encouragement(n=1000, seed=20_000 + seed, confounded=True), checks=checks[:1]))[
            "covariate_balance"
        ].verdict
        == "fail"
        for seed in range(20)
    )
    assert caught == 20
