"""Coverage-error-optimal bandwidths for the RD's robust interval (issue 17, item 2).

- The selectors cerrd / certwo against rdrobust's (a test-only dependency) on the same data: h, b, and the
  conventional and robust numbers, to the precision mserd matches (bandwidths within 1%, estimates 1e-6; in
  practice rounding level), and the CER factor n^(-p/((p+3)(2p+3))) (clusters per side when clustered) exactly.
- The tool's default: the point estimate at the MSE-optimal bandwidths, `effect` (estimate, interval, p-value) all
  from one fit at the CER-optimal ones, both reported and named in `method`; a fallback when those cannot be fitted.
- A seeded simulation on Calonico, Cattaneo & Titiunik's (2014) model 1: the CER interval covers within 1.5 points
  of 95%, the MSE interval does not, so the gain is measured, not asserted from theory.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from rdrobust import rdrobust
from rdrobust.datasets import rdrobust_RDsenate

from tools.rdd import RddRequest, headline, rdd
from tools.rdd.bandwidth import Bandwidths, cer_factor
from tools.rdd.estimate import rd_analysis, rd_fit, split_sides

BANDWIDTH_RTOL = 0.01  # as tests/tools/test_rdd_reference.py holds mserd to
ESTIMATE_TOL = 1e-6


@pytest.fixture(scope="module")
def senate() -> pd.DataFrame:
    return rdrobust_RDsenate().dropna(subset=["vote", "margin"])


def clustered(seed: int = 7, n: int = 1500) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, n)
    groups = rng.integers(0, 80, n)
    y = 0.5 + x + 1.0 * (x >= 0) + rng.normal(0, 0.7, 80)[groups] + rng.normal(0, 1, n)
    return pd.DataFrame({"score": x, "y": y, "group": groups})


def fuzzy_frame(seed: int = 7, n: int = 1500) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, n)
    take_up = (rng.random(n) < np.where(x >= 0, 0.8, 0.25)).astype(float)
    y = 1 + x + 0.5 * x**2 + 2.0 * take_up + rng.normal(0, 1, n)
    return pd.DataFrame({"score": x, "y": y, "take_up": take_up})


def close(value: float, expected: float) -> bool:
    return abs(value - expected) <= ESTIMATE_TOL * max(1.0, abs(expected))


CER_CASES: list[tuple[str, str, dict[str, Any]]] = [
    ("senate cerrd", "cerrd", {}),
    ("senate certwo", "certwo", {}),
    ("senate cerrd p=2 uniform", "cerrd", {"polynomial": 2, "kernel": "uniform"}),
    ("clustered cerrd", "cerrd", {"cluster": "group"}),
    ("fuzzy certwo", "certwo", {"fuzzy": "take_up"}),
]


def _data(name: str, senate: pd.DataFrame) -> tuple[pd.DataFrame, str, str]:
    if name.startswith("senate"):
        return senate, "vote", "margin"
    return (clustered() if name.startswith("clustered") else fuzzy_frame()), "y", "score"


@pytest.mark.parametrize(("name", "selector", "extra"), CER_CASES, ids=[c[0] for c in CER_CASES])
def test_cer_selectors_match_rdrobust(name: str, selector: str, extra: dict[str, Any], senate: pd.DataFrame) -> None:
    frame, y, x = _data(name, senate)
    fields = {"dataset": "d", "outcome": y, "running": x, "bandwidth_selector": selector, "diagnostics": False}
    request = RddRequest.model_validate({**fields, **extra})
    result = rdd(request, frame)
    options: dict[str, Any] = {"bwselect": selector, "p": extra.get("polynomial", 1)}
    options["kernel"] = extra.get("kernel", "triangular")
    for key in ("cluster", "fuzzy"):
        if key in extra:
            options[key] = frame[extra[key]].to_numpy()
    ref = rdrobust(frame[y].to_numpy(), frame[x].to_numpy(), **options)
    bws = ref.bws.to_numpy()
    ours = [[result.bandwidth.h_below, result.bandwidth.h_above], [result.bandwidth.b_below, result.bandwidth.b_above]]
    np.testing.assert_allclose(ours, bws, rtol=BANDWIDTH_RTOL)
    # a CER selector is used for inference as it is: one fit, the same bandwidths, rdrobust's whole output
    assert result.bandwidth.selector == result.bandwidth_inference.selector == selector
    assert result.bandwidth_inference == result.bandwidth
    assert [result.n_effective_below, result.n_effective_above] == [int(v) for v in ref.N_h]
    coef, se, ci = ref.coef.to_numpy()[:, 0], ref.se.to_numpy()[:, 0], ref.ci.to_numpy()
    assert close(result.conventional.estimate, coef[0]) and close(result.conventional.std_error, se[0])
    assert close(result.effect.estimate, coef[2]) and close(result.effect.std_error, se[2])
    assert close(result.effect.ci_lower, ci[2, 0]) and close(result.effect.ci_upper, ci[2, 1])
    assert close(result.effect.p_value, float(ref.pv.to_numpy()[2, 0]))
    # the factor, in closed form: rows, or clusters counted per side (rdrobust's g_l + g_r)
    mse = rdrobust(frame[y].to_numpy(), frame[x].to_numpy(), **{**options, "bwselect": selector.replace("cer", "mse")})
    p = options["p"]
    if "cluster" in extra:
        below = frame[x] < 0
        n = frame.loc[below, "group"].nunique() + frame.loc[~below, "group"].nunique()
    else:
        n = len(frame)
    expected = n ** (-p / ((p + 3) * (2 * p + 3)))
    np.testing.assert_allclose(bws[0] / mse.bws.to_numpy()[0], expected, rtol=1e-9)  # rdrobust's own factor
    np.testing.assert_allclose(bws[1], mse.bws.to_numpy()[1], rtol=1e-9)  # and its b, unchanged
    left, right = split_sides(frame[x].to_numpy(float), frame[[y]].to_numpy(float), 0.0)
    assert cer_factor(left, right, p) == pytest.approx(len(frame) ** (-p / ((p + 3) * (2 * p + 3))), rel=1e-14)


def test_default_infers_at_the_cer_bandwidths_and_estimates_at_the_mse_ones(senate: pd.DataFrame) -> None:
    """The conventional estimate, its bandwidths and effective sample are mserd's as before; `effect` is the robust
    bias-corrected fit at h and b times 1297^(-1/20), with its interval centred on its own estimate."""
    request = RddRequest(dataset="senate", outcome="vote", running="margin", diagnostics=False)
    result = rdd(request, senate)
    same = rdd(request.model_copy(update={"inference_bandwidth": "same"}), senate)
    assert result.conventional == same.conventional and result.bandwidth == same.bandwidth
    assert (result.n_effective_below, result.n_effective_above) == (360, 323)  # rdrobust's printed N_h
    factor = len(senate) ** (-1 / 20)
    bw, inf = result.bandwidth, result.bandwidth_inference
    assert inf.selector == "cerrd_rho" and bw.selector == "mserd"
    scaled = np.array([bw.h_below, bw.h_above, bw.b_below, bw.b_above]) * factor
    np.testing.assert_allclose([inf.h_below, inf.h_above, inf.b_below, inf.b_above], scaled, rtol=1e-12)
    # the whole effect from one rdrobust-identical fit at those bandwidths (rdrobust run there)
    ref = rdrobust(senate["vote"].to_numpy(), senate["margin"].to_numpy(), h=inf.h_below, b=inf.b_below)
    assert close(result.effect.estimate, float(ref.coef.to_numpy()[2, 0]))
    assert close(result.effect.std_error, float(ref.se.to_numpy()[2, 0]))
    assert close(result.effect.ci_lower, float(ref.ci.to_numpy()[2, 0]))
    assert close(result.effect.p_value, float(ref.pv.to_numpy()[2, 0]))
    assert [result.n_inference_below, result.n_inference_above] == [int(v) for v in ref.N_h]
    middle = (result.effect.ci_lower + result.effect.ci_upper) / 2
    assert middle == pytest.approx(result.effect.estimate, rel=1e-12)
    assert result.effect.estimate != same.effect.estimate  # the old headline was the robust fit at the MSE h
    assert same.bandwidth_inference == same.bandwidth and "inference_bandwidth='same'" in same.method
    assert headline(request, senate) == result.effect.estimate
    # method says which bandwidth gave which number, with the factor
    assert "MSE-optimal bandwidths (mserd" in result.method and f"= {factor:.4g}" in result.method
    assert "conventional estimate at these bandwidths" in result.method and "Farrell 2020" in result.method
    assert f"h = {inf.h_below:.4g}" in result.summary  # the summary quotes the interval's own bandwidth


def test_diagnostics_infer_at_the_cer_bandwidths(senate: pd.DataFrame) -> None:
    request = RddRequest(dataset="senate", outcome="vote", running="margin", covariates=["population"])
    result = rdd(request, senate)
    at_one = next(r for r in result.bandwidth_sensitivity if r.multiplier == 1.0)
    assert at_one.robust == result.effect  # the sensitivity rows scale the bandwidths behind `effect`
    assert at_one.h_below == result.bandwidth_inference.h_below
    half = next(r for r in result.bandwidth_sensitivity if r.multiplier == 0.5)
    assert half.h_below == pytest.approx(0.5 * result.bandwidth_inference.h_below)
    covariate = result.covariate_balance[0]
    data = senate.dropna(subset=["population"])
    own = rd_analysis(*split_sides(data["margin"].to_numpy(float), data[["population"]].to_numpy(float), 0.0), 0.0)
    assert own.rule == "cerrd_rho" and covariate.bandwidth == own.inference.bandwidths.h_left
    assert covariate.robust is not None and close(covariate.robust.estimate, own.inference.robust.estimate)


def test_cer_bandwidths_that_cannot_be_fitted_fall_back_and_say_so() -> None:
    """A running variable on a 0.5 grid: the MSE-optimal h (about 1.3) holds three values a side, the CER-optimal
    one (about 0.9) a single value below the cutoff, with either b: the interval stays at the MSE bandwidths."""
    rng = np.random.default_rng(3)
    n = 1000
    x = rng.integers(-8, 9, n) / 2
    frame = pd.DataFrame({"x": x, "y": 1 + 0.3 * x + 0.5 * (x >= 0) + rng.normal(0, 1, n)})
    result = rdd(RddRequest(dataset="d", outcome="y", running="x", diagnostics=False), frame)
    assert result.bandwidth_inference == result.bandwidth
    same = rdd(RddRequest(dataset="d", outcome="y", running="x", diagnostics=False, inference_bandwidth="same"), frame)
    assert result.effect == same.effect
    assert any("not the coverage-error-optimal ones" in w and "too few distinct" in w for w in result.warnings)
    assert "the CER-optimal bandwidths could not be fitted" in result.method


def test_given_bandwidth_and_order_zero_are_used_as_they_are(senate: pd.DataFrame) -> None:
    given = rdd(RddRequest(dataset="s", outcome="vote", running="margin", bandwidth=10.0, diagnostics=False), senate)
    assert given.bandwidth_inference == given.bandwidth and given.bandwidth.selector == "manual"
    flat = rdd(RddRequest(dataset="s", outcome="vote", running="margin", polynomial=0, diagnostics=False), senate)
    assert flat.bandwidth_inference == flat.bandwidth  # n^0 = 1
    assert "order 0 the CER-optimal bandwidths equal the MSE-optimal ones" in flat.method


# -- seeded simulation ------------------------------------------------------------------------------------------------

TAU = 0.04


def cct_model_1(rng: np.random.Generator, n: int) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Calonico, Cattaneo & Titiunik (2014), Econometrica, simulation model 1 (Lee 2008's fitted quintics): x =
    2 Beta(2, 4) - 1, noise sd 0.1295, jump 0.04 at 0."""
    x = 2 * rng.beta(2, 4, n) - 1
    left = 0.48 + 1.27 * x + 7.18 * x**2 + 20.21 * x**3 + 21.54 * x**4 + 7.33 * x**5
    right = 0.52 + 0.84 * x - 3.00 * x**2 + 7.99 * x**3 - 9.01 * x**4 + 3.56 * x**5
    return x, np.where(x < 0, left, right) + rng.normal(0, 0.1295, n)


@pytest.mark.slow
def test_cer_interval_covers_95_percent_on_cct_model_1() -> None:
    """2,500 replications of n = 1,000 (Monte-Carlo SE of a 95% coverage: 0.44 points). Development runs on
    5,500 other draws: MSE-optimal robust interval 91.8%, rdrobust's cerrd (b kept) 93.0%, the default (h and b
    shrunk alike) 94.0%. Held here: the default within 1.5 points of 95%, and at least 1.5 points above the MSE
    interval on the same draws (the issue's finding: rdrobust's mserd interval covers about 90%)."""
    rng = np.random.default_rng(1702)
    reps = 2500
    covered_mse = covered_cer = 0
    for _ in range(reps):
        x, y = cct_model_1(rng, 1000)
        analysis = rd_analysis(*split_sides(x, y[:, None], 0.0), 0.0)
        assert analysis.rule == "cerrd_rho"
        mse, cer = analysis.estimation.robust, analysis.inference.robust
        covered_mse += mse.ci_lower <= TAU <= mse.ci_upper
        covered_cer += cer.ci_lower <= TAU <= cer.ci_upper
    coverage_mse, coverage_cer = covered_mse / reps, covered_cer / reps
    message = f"{reps} draws: robust 95% CI coverage MSE {coverage_mse:.3f}, CER {coverage_cer:.3f}"
    assert abs(coverage_cer - 0.95) <= 0.015, message
    assert coverage_cer - coverage_mse >= 0.015, message


def test_cer_fit_is_rdrobust_at_the_same_bandwidths() -> None:
    """One CCT model 1 draw: the inference fit's numbers are rdrobust's at the same (h, b), per side."""
    x, y = cct_model_1(np.random.default_rng(5), 1000)
    analysis = rd_analysis(*split_sides(x, y[:, None], 0.0), 0.0)
    bw: Bandwidths = analysis.inference.bandwidths
    ref = rdrobust(y, x, h=[bw.h_left, bw.h_right], b=[bw.b_left, bw.b_right])
    fit = rd_fit(*split_sides(x, y[:, None], 0.0), 0.0, bandwidths=bw)
    assert close(analysis.inference.robust.estimate, float(ref.coef.to_numpy()[2, 0]))
    assert close(analysis.inference.robust.std_error, float(ref.se.to_numpy()[2, 0]))
    assert analysis.inference.robust == fit.robust
