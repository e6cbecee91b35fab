"""Power for quasi-experiments (DiD, RDD, synthetic control): closed forms and reference packages.

References, each independent of the code under test:
- DiD, adoption all at once, compound symmetry: Var = sigma²(1 - icc)(1/m + 1/r)(1/n_T + 1/n_C) (Frison & Pocock 1992,
  Stat Med 11:1685, the "ANCOVA/change score" block-design variance; m pre and r post periods).
- DiD with serial correlation: Burlig, Preonas & Woerman (2020, J Dev Econ 144:102458), eq. for the DiD variance
  in terms of the idiosyncratic variance and the average pre, post and cross-period covariances, written out below
  as explicit sums.
- TWFE estimate and CR1 unit-clustered SE on one simulated panel: pyfixest ``feols("y ~ d | unit + time",
  vcov={"CRV1": "unit"})``.
- RDD: the boundary constant 4.8 of the local-linear triangular-kernel estimator (e₁'Γ⁻¹ΛΓ⁻¹e₁, derived by hand:
  12 - 12 + 4.8), the local quadratic's by numerical integration with scipy; the conventional and robust
  bias-corrected estimates and SEs on one simulated data set: rdrobust(h = b = 1, kernel="triangular", vce="hc1").
- Synthetic control: under no effect the treated unit's RMSPE ratio is exchangeable with the J placebos', so the
  test rejects with probability exactly ⌊alpha (J + 1)⌋ / (J + 1); a per-simulation loop in this file recomputes
  the placebo p-values the plain way.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import integrate

from tools.errors import ToolError
from tools.power import PowerRequest, PowerResult, power
from tools.power.quasi_did import DidPanel, cohort_counts, simulate_did, twfe_clustered
from tools.power.quasi_rdd import _fits, boundary_constant, rdd_std_error, simulate_rdd
from tools.registry import dispatch


def _request(design: dict[str, Any], **fields: Any) -> PowerRequest:
    base: dict[str, Any] = {"metric": "mean", "baseline": 10.0, "std_dev": 2.0, "solve_for": "power", "mde": 0.5}
    base.update(fields)
    return PowerRequest.model_validate({**base, "design": design})


def _did(**fields: Any) -> dict[str, Any]:
    design: dict[str, Any] = {"kind": "did", "treated": 40, "control": 60, "pre": 4, "post": 4, "icc": 0.5, "ar1": 0.3}
    design.update(fields)
    return design


# --- DiD -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("treated", "control", "pre", "post", "icc"), [(10, 30, 1, 1, 0.0), (25, 25, 6, 3, 0.7)])
def test_did_variance_equals_frison_pocock(treated: int, control: int, pre: int, post: int, icc: float) -> None:
    sigma = 1.7
    panel = DidPanel.build(control, pre, post, icc, 0.0, sigma, cohort_counts(treated, None, post))
    expected = sigma**2 * (1 - icc) * (1 / pre + 1 / post) * (1 / treated + 1 / control)
    np.testing.assert_allclose(panel.std_error() ** 2, expected, rtol=1e-12)


def _burlig_variance(sigma: float, icc: float, ar1: float, pre: int, post: int, share: float, units: int) -> float:
    """Burlig, Preonas & Woerman (2020): Var = [P(1-P)J]⁻¹ [(1/m + 1/r) σ²_ω + (m-1)/m ψ̄_B + (r-1)/r ψ̄_A - 2 ψ̄_X],
    ψ̄ the average covariance over distinct pre pairs (B), post pairs (A) and pre-post pairs (X)."""
    periods = pre + post

    def cov(s: int, t: int) -> float:
        return sigma**2 * (icc + (1 - icc) * ar1 ** abs(s - t))

    before = [cov(s, t) for s in range(pre) for t in range(pre) if s != t]
    after = [cov(s, t) for s in range(pre, periods) for t in range(pre, periods) if s != t]
    cross = [cov(s, t) for s in range(pre) for t in range(pre, periods)]
    psi_b = float(np.mean(before)) if before else 0.0
    psi_a = float(np.mean(after)) if after else 0.0
    inner = (1 / pre + 1 / post) * cov(0, 0) + (pre - 1) / pre * psi_b + (post - 1) / post * psi_a
    return (inner - 2 * float(np.mean(cross))) / (share * (1 - share) * units)


@pytest.mark.parametrize(("icc", "ar1", "pre", "post"), [(0.0, 0.6, 5, 3), (0.4, 0.3, 4, 4), (0.2, -0.4, 2, 6)])
def test_did_variance_equals_burlig_preonas_woerman_with_ar1(icc: float, ar1: float, pre: int, post: int) -> None:
    panel = DidPanel.build(60, pre, post, icc, ar1, 2.0, cohort_counts(40, None, post))
    expected = _burlig_variance(2.0, icc, ar1, pre, post, 0.4, 100)
    np.testing.assert_allclose(panel.std_error() ** 2, expected, rtol=1e-12)


def _panel(treated: int, control: int, pre: int, adoption: list[float], post: int, seed: int) -> tuple[Any, ...]:
    rng = np.random.default_rng(seed)
    counts = cohort_counts(treated, adoption, post)
    units, periods = treated + control, pre + post
    treatment = np.zeros((units, periods))
    row = 0
    for k, count in enumerate(counts):
        treatment[row : row + count, pre + k :] = 1.0
        row += count
    outcome = (
        0.7 * treatment
        + rng.normal(size=(units, 1))
        + rng.normal(size=(1, periods))
        + rng.normal(size=(units, periods))
    )
    return treatment, outcome


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning")
def test_did_estimate_and_clustered_se_equal_pyfixest() -> None:
    pf = pytest.importorskip("pyfixest")
    treatment, outcome = _panel(7, 9, 3, [0.5, 0.0, 0.5], 4, seed=1)
    units, periods = outcome.shape
    frame = pd.DataFrame(
        {
            "y": outcome.ravel(),
            "d": treatment.ravel(),
            "unit": np.repeat(np.arange(units), periods),
            "time": np.tile(np.arange(periods), units),
        }
    )
    fit = pf.feols("y ~ d | unit + time", data=frame, vcov={"CRV1": "unit"}, fixef_tol=1e-12)
    demeaned = treatment - treatment.mean(axis=1, keepdims=True) - treatment.mean(axis=0) + treatment.mean()
    estimate, std_error = twfe_clustered(outcome, demeaned)
    np.testing.assert_allclose([estimate, std_error], [fit.coef()["d"], fit.se()["d"]], rtol=1e-9)


def test_did_sufficient_statistics_match_full_panels() -> None:
    """The simulator draws group means and χ² spreads instead of panels: its estimates and clustered SEs must have
    the distribution of :func:`twfe_clustered` on full Gaussian panels (3,000 each, compared within MC error)."""
    counts = cohort_counts(8, [0.5, 0.0, 0.5], 4)
    panel = DidPanel.build(10, 3, 4, 0.3, 0.5, 2.0, counts)
    fast = simulate_did(panel, 20_000, 1, 0.05, "two-sided")
    rng = np.random.default_rng(7)
    rows = np.repeat(panel.demeaned, panel.sizes.astype(int), axis=0)
    factor = np.linalg.cholesky(panel.covariance)
    pairs = np.array([twfe_clustered(rng.standard_normal(rows.shape) @ factor.T, rows) for _ in range(3_000)])
    np.testing.assert_allclose(np.std(fast.estimates), panel.std_error(), rtol=0.03)
    np.testing.assert_allclose(np.std(pairs[:, 0]), panel.std_error(), rtol=0.05)
    np.testing.assert_allclose(np.mean(fast.std_errors), np.mean(pairs[:, 1]), rtol=0.03)
    brute = np.mean(np.abs((pairs[:, 0] + 1.5) / pairs[:, 1]) > fast.critical)
    assert abs(fast.power(1.5) - brute) < 3.5 * np.sqrt(0.25 / 3_000 + 0.25 / 20_000)


@pytest.mark.parametrize(
    "design",
    [
        _did(treated=100, control=200, icc=0.5, ar1=0.0, simulations=20_000),
        _did(treated=150, control=150, icc=0.0, ar1=0.7, simulations=20_000),
        _did(treated=120, control=120, icc=0.3, ar1=0.4, adoption=[0.5, 0.25, 0.25], simulations=20_000),
    ],
)
def test_did_simulated_power_agrees_with_the_closed_form(design: dict[str, Any]) -> None:
    result = power(_request(design, mde=0.35))
    assert result.quasi is not None and result.quasi.analytic_power is not None
    assert abs(result.power - result.quasi.analytic_power) < 3.5 * result.quasi.power_mc_se
    assert result.quasi.simulations == 20_000 and result.n_per_arm == design["control"]


def test_did_false_positive_rate_is_alpha_with_many_clusters() -> None:
    panel = DidPanel.build(100, 4, 4, 0.4, 0.5, 1.0, cohort_counts(100, None, 4))
    test = simulate_did(panel, 40_000, 3, 0.05, "two-sided")
    assert abs(test.power(0.0) - 0.05) < 3.5 * np.sqrt(0.05 * 0.95 / 40_000)


def test_did_solves_mde_and_units_with_common_random_numbers() -> None:
    mde = power(_request(_did(), solve_for="mde", mde=None))
    assert mde.power >= 0.8 and mde.mde_absolute > 0
    again = power(_request(_did(), solve_for="power", mde=mde.mde_absolute * 0.99))
    assert again.power < 0.8  # the smallest: 1% less falls short on the same draws
    sized = power(_request(_did(), solve_for="sample_size", mde=0.5))
    assert sized.power >= 0.8
    assert sized.n_treatment / sized.n_total == pytest.approx(0.4, abs=0.01)  # the treated share is kept
    assert sized.summary.startswith("To detect +0.5")


def test_did_warns_with_few_clusters_and_reports_the_simplification() -> None:
    result = power(_request(_did(treated=4, control=8, adoption=[0.5, 0.5])))
    assert any("clusters" in w for w in result.warnings)
    assert {c.name for c in result.checks} >= {"clusters", "parallel_trends", "homogeneous_effects"}


# --- RDD -------------------------------------------------------------------------------------------------


def test_rdd_boundary_constants() -> None:
    assert boundary_constant(1) == pytest.approx(4.8, rel=1e-12)

    def moment(k: int, square: bool) -> float:
        return float(integrate.quad(lambda u: (1 - u) ** (2 if square else 1) * u**k, 0, 1)[0])

    gamma = np.array([[moment(j + k, False) for k in range(3)] for j in range(3)])
    lam = np.array([[moment(j + k, True) for k in range(3)] for j in range(3)])
    row = np.linalg.inv(gamma)[0]
    np.testing.assert_allclose(boundary_constant(2), row @ lam @ row, rtol=1e-10)


def test_rdd_estimates_and_ses_equal_rdrobust() -> None:
    rdrobust = pytest.importorskip("rdrobust")
    rng = np.random.default_rng(3)
    below, above = -rng.random(300), rng.random(250)
    x = np.concatenate([below, above])
    y = 0.4 * (x >= 0) + 0.8 * x - 0.5 * x**2 + rng.standard_normal(x.size)
    fit = rdrobust.rdrobust(y, x, c=0, h=1.0, b=1.0, kernel="triangular", vce="hc1")
    low = _fits(below[None, :], y[:300][None, :])
    high = _fits(above[None, :], y[300:][None, :])
    ours = [high[0] - low[0], np.sqrt(high[1] + low[1]), high[2] - low[2], np.sqrt(high[3] + low[3])]
    theirs = [fit.coef.iloc[0, 0], fit.se.iloc[0, 0], fit.coef.iloc[2, 0], fit.se.iloc[2, 0]]
    np.testing.assert_allclose(np.ravel(ours), theirs, rtol=1e-8)


def test_rdd_simulation_agrees_with_the_closed_forms() -> None:
    test, linear, _ = simulate_rdd(400, 300, 1.5, 6_000, 2, 0.05, "two-sided")
    np.testing.assert_allclose(np.std(linear), rdd_std_error(400, 300, 1.5, 1), rtol=0.04)  # 4.8 sigma²(...)
    np.testing.assert_allclose(np.std(test.estimates), rdd_std_error(400, 300, 1.5, 2), rtol=0.04)
    assert abs(test.power(0.0) - 0.05) < 3.5 * np.sqrt(0.05 * 0.95 / 6_000)  # size of the robust test
    result = power(_request({"kind": "rdd", "treated": 300, "control": 400, "simulations": 6_000}, std_dev=1.5))
    assert result.quasi is not None and result.quasi.analytic_power is not None
    assert abs(result.power - result.quasi.analytic_power) < 3.5 * result.quasi.power_mc_se + 0.01


def test_rdd_solves_mde_and_units() -> None:
    design = {"kind": "rdd", "treated": 400, "control": 500}
    mde = power(_request(design, solve_for="mde", mde=None))
    assert mde.power >= 0.8
    assert mde.quasi is not None and mde.quasi.std_error is not None
    assert mde.mde_absolute == pytest.approx(2.8 * mde.quasi.std_error, rel=0.06)  # (1.96 + 0.84) SE
    sized = power(_request(design, solve_for="sample_size", mde=1.0))
    # the closed form: (z_0.975 + z_0.8)² (72/7) sigma² (9/5 + 9/4) / mde² units in all, split 5:4
    expected = (1.959964 + 0.841621) ** 2 * 72 / 7 * 4.0 * (9 / 5 + 9 / 4)
    assert sized.n_total == pytest.approx(expected, rel=0.05)
    assert sized.quasi is not None and sized.power >= 0.8 - 2 * sized.quasi.power_mc_se


# --- synthetic control -----------------------------------------------------------------------------------


def _synth(**fields: Any) -> dict[str, Any]:
    design: dict[str, Any] = {"kind": "synth", "treated": 1, "control": 39, "pre": 20, "post": 5}
    design.update(fields)
    return design


def test_synth_false_positive_rate_is_exact_under_exchangeability() -> None:
    result = power(_request(_synth(simulations=40_000), std_dev=1.0, mde=1e-9))
    assert abs(result.power - 2 / 40) < 3.5 * np.sqrt(0.05 * 0.95 / 40_000)
    assert result.quasi is not None and result.quasi.min_p_value == pytest.approx(1 / 40)


def test_synth_power_matches_a_plain_placebo_loop() -> None:
    rng = np.random.default_rng(11)
    rejected = 0
    reps, donors, effect = 3_000, 19, 1.2
    for _ in range(reps):
        gaps = rng.normal(size=(donors + 1, 25))
        gaps[0, 20:] += effect
        ratio = np.sqrt(np.mean(gaps[:, 20:] ** 2, axis=1) / np.mean(gaps[:, :20] ** 2, axis=1))
        p_value = np.mean(ratio >= ratio[0])
        rejected += p_value <= 0.05
    ours = power(_request(_synth(control=donors, simulations=20_000), std_dev=1.0, mde=effect))
    assert abs(ours.power - rejected / reps) < 3.5 * np.sqrt(0.25 / reps + 0.25 / 20_000)


def test_synth_mde_and_the_donors_it_needs() -> None:
    result = power(_request(_synth(), std_dev=1.5, solve_for="mde", mde=None))
    assert result.power >= 0.8 and result.mde_absolute > 0 and result.curve == []
    with pytest.raises(ToolError) as refused:
        power(_request(_synth(control=18), std_dev=1.5))
    assert refused.value.code == "placebo_test_cannot_reject" and "19 donors" in refused.value.hint


# --- the request's boundary ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("design", "fields", "code"),
    [
        (_did(), {"metric": "proportion", "baseline": 0.1}, "quasi_design_needs_mean"),
        (_did(), {"n_per_arm": 100}, "field_not_used_with_design"),
        ({"kind": "rdd", "treated": 50, "control": 50, "icc": 0.2}, {}, "field_not_used_with_design"),
        (_did(pre=None), {}, "missing_periods"),
        (_did(), {"std_dev": None}, "missing_std_dev"),
        (_did(adoption=[0.5, 0.2]), {}, "adoption_shares_invalid"),
        (_did(adoption=[0.2] * 5), {}, "adoption_too_long"),
        (_synth(), {"solve_for": "sample_size"}, "synth_no_sample_size"),
        (_synth(treated=2), {}, "synth_one_treated_unit"),
        ({"kind": "rdd", "treated": 3, "control": 50}, {}, "too_few_units_near_cutoff"),
        (_did(), {"solve_for": "mde"}, "conflicting_unknowns"),
        ({"kind": "rdd", "treated": 60_000, "control": 60_000}, {}, "design_too_large_to_simulate"),
        (_did(pre=400, post=200), {}, "design_too_large_to_simulate"),
        (_synth(control=999, pre=90, post=20), {}, "design_too_large_to_simulate"),
        (
            {"kind": "rdd", "treated": 50, "control": 50},
            {"solve_for": "sample_size", "mde": 0.01},
            "sample_size_too_large",
        ),
    ],
)
def test_refusals(design: dict[str, Any], fields: dict[str, Any], code: str) -> None:
    with pytest.raises(ToolError) as refused:
        power(_request(design, **fields))
    assert refused.value.code == code and refused.value.hint


def test_dispatch_from_json_and_determinism() -> None:
    arguments = {"metric": "mean", "baseline": 5.0, "std_dev": 1.0, "solve_for": "power", "mde": 0.3, "design": _did()}
    first, second = dispatch("power", arguments), dispatch("power", arguments)
    assert isinstance(first, PowerResult) and isinstance(second, PowerResult)
    assert first.model_dump_json() == second.model_dump_json()
    assert PowerResult.model_validate(first.model_dump(mode="json")) == first  # a saved session reads it back
    assert first.quasi is not None and first.quasi.design.kind == "did" and first.curve


@pytest.mark.parametrize(
    "design",
    [_did(treated=400, control=600, pre=12, post=12), {"kind": "rdd", "treated": 2000, "control": 2000}, _synth()],
)
def test_default_precision_is_interactive(design: dict[str, Any]) -> None:
    start = time.perf_counter()
    power(_request(design, solve_for="mde", mde=None))
    assert time.perf_counter() - start < 10.0  # about 1 s here; the budget is 5 s (benchmarks/bench_power_quasi.py)


def test_ab_requests_and_results_are_written_as_before() -> None:
    """Saved sessions and frozen pre-registrations hash the dumps: an A/B power result has no new key."""
    result = power(PowerRequest(metric="proportion", baseline=0.1, mde=0.05, mde_kind="relative"))
    assert "quasi" not in result.model_dump(mode="json")
    assert PowerResult.model_validate_json(result.model_dump_json()) == result
    quasi = power(_request(_did()))
    assert quasi.model_dump(mode="json")["quasi"]["design"]["kind"] == "did"
    assert PowerResult.model_validate_json(quasi.model_dump_json()) == quasi
