"""refute's sensitivity functions against closed forms, published numbers and reference packages.

- E-value: VanderWeele & Ding (2017), Ann. Intern. Med. 167(4): RR 3.9 (CI 1.8 to 8.7) has E-values 7.26 and 3.02.
- Omitted-variable bounds: Cinelli & Hazlett (2020) on the darfur data shipped with PySensemakr (RV 0.139,
  RV_alpha 0.076, partial R2 0.022 for `directlyharmed`; 1x `female`: R2dz.x 0.009, R2yz.dx 0.125, adjusted
  estimate 0.075), and PySensemakr's own functions run on the same data.
- Relative magnitudes: the honestdid package (C-LF, first post period) on a fixed event study.
"""

from __future__ import annotations

import importlib.util
import json
import math
import re
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from tools.refute.honest import breakdown_mbar, rm_interval
from tools.refute.sensitivity import (
    adjusted_estimate,
    benchmark_bound,
    e_value,
    e_value_difference,
    e_value_risk_ratio,
    ols_sensitivity,
    robustness_value,
)

FIXTURES = Path(__file__).parents[1] / "fixtures" / "refute"


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread() -> Iterator[None]:
    """Small linear algebra on a shared 2-core machine: OpenBLAS's spinning threads only slow it down."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield


# --- E-value (closed form and the published example) -----------------------------------------------------


def test_e_value_published_example() -> None:
    figures = e_value_risk_ratio(3.9, 1.8, 8.7)
    assert figures.point == pytest.approx(7.26, abs=0.005)
    # closed form 1.8 + sqrt(1.8 x 0.8) = 3.0; the paper's 3.02 comes from the unrounded lower limit
    assert figures.ci == pytest.approx(3.0, rel=1e-12)
    assert figures.ci == pytest.approx(3.02, abs=0.03)


def test_e_value_closed_form_and_protective_ratios() -> None:
    for rr in (1.0, 1.3, 2.0, 7.5):
        assert e_value(rr) == pytest.approx(rr + math.sqrt(rr * (rr - 1)), rel=1e-12)
        assert e_value(1 / rr) == pytest.approx(e_value(rr), rel=1e-12)
    protective = e_value_risk_ratio(0.5, 0.3, 0.8)  # the upper limit is the one closest to 1
    assert protective.ci == pytest.approx(e_value(1 / 0.8), rel=1e-12)
    assert e_value_risk_ratio(1.4, 0.9, 2.1).ci == 1.0  # the interval includes 1


def test_e_value_of_a_difference_in_means_uses_exp_091_d() -> None:
    # d = 2 / 4 = 0.5 -> RR = exp(0.455); CI limits 1/4 and 3/4 standard deviations
    figures = e_value_difference(2.0, 1.0, 3.0, outcome_sd=4.0)
    rr = math.exp(0.91 * 0.5)
    assert figures.risk_ratio == pytest.approx(rr, rel=1e-12)
    assert figures.point == pytest.approx(rr + math.sqrt(rr * (rr - 1)), rel=1e-12)
    low = math.exp(0.91 * 0.25)
    assert figures.ci == pytest.approx(low + math.sqrt(low * (low - 1)), rel=1e-12)
    assert e_value_difference(-2.0, -3.0, -1.0, 4.0).point == pytest.approx(figures.point, rel=1e-12)


# --- Cinelli & Hazlett on darfur ---------------------------------------------------------------------------

DARFUR_COVARIATES = ["age", "farmer_dar", "herder_dar", "pastvoted", "hhsize_darfur", "female"]


@pytest.fixture(scope="module")
def darfur() -> pd.DataFrame:
    sensemakr = pytest.importorskip("sensemakr")
    frame: pd.DataFrame = sensemakr.load_darfur()
    return frame


def _darfur_design(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    x = pd.get_dummies(frame[[*DARFUR_COVARIATES, "village"]], columns=["village"], drop_first=True, dtype=float)
    return (
        frame["peacefactor"].to_numpy(float),
        frame["directlyharmed"].to_numpy(float),
        x.to_numpy(float),
        list(x.columns),
    )


def test_robustness_values_match_the_published_darfur_example(darfur: pd.DataFrame) -> None:
    fit = ols_sensitivity(*_darfur_design(darfur), alpha=0.05)
    # published (Cinelli & Hazlett 2020, table 2): estimate 0.097, SE 0.023, t 4.18, partial R2 2.2%, RV 13.9%,
    # RV_alpha 7.6%, 783 degrees of freedom
    assert fit.dof == 783
    assert fit.estimate == pytest.approx(0.0973, abs=5e-5)
    assert fit.std_error == pytest.approx(0.0233, abs=5e-5)
    assert fit.partial_r2 == pytest.approx(0.022, abs=5e-4)
    assert fit.rv == pytest.approx(0.139, abs=5e-4)
    assert fit.rv_alpha == pytest.approx(0.076, abs=5e-4)


@pytest.mark.filterwarnings("ignore:divide by zero encountered:RuntimeWarning")
def test_robustness_values_match_pysensemakr_on_darfur(darfur: pd.DataFrame) -> None:
    sensemakr = pytest.importorskip("sensemakr")
    smf = pytest.importorskip("statsmodels.formula.api")
    model = smf.ols("peacefactor ~ directlyharmed + " + " + ".join(DARFUR_COVARIATES) + " + village", data=darfur).fit()
    stats = sensemakr.Sensemakr(model=model, treatment="directlyharmed").sensitivity_stats
    fit = ols_sensitivity(*_darfur_design(darfur), alpha=0.05)
    np.testing.assert_allclose(
        [fit.estimate, fit.std_error, fit.partial_r2, fit.rv, fit.rv_alpha],
        [stats["estimate"], stats["se"], stats["r2yd_x"], stats["rv_q"], stats["rv_qa"]],
        rtol=1e-9,
    )
    # the same formulas from the t-statistic alone, for q = 1/2 as well
    for q in (0.5, 1.0):
        expected = sensemakr.robustness_value(t_statistic=4.18445, dof=783, q=q, alpha=0.05)
        assert robustness_value(4.18445, 783, q=q, alpha=0.05) == pytest.approx(float(expected.iloc[0]), rel=1e-9)


def test_benchmark_bounds_match_the_paper_and_pysensemakr(darfur: pd.DataFrame) -> None:
    sensemakr = pytest.importorskip("sensemakr")
    fit = ols_sensitivity(*_darfur_design(darfur), alpha=0.05)
    female = next(b for b in fit.benchmarks if b.covariate == "female")
    # published: 1x female -> R2dz.x 0.009, R2yz.dx 0.125, adjusted estimate 0.075 (CI 0.032 to 0.118)
    assert female.r2_treatment == pytest.approx(0.00916, abs=5e-5)
    assert female.r2_outcome == pytest.approx(0.1246, abs=5e-4)
    assert female.estimate == pytest.approx(0.0752, abs=5e-4)
    assert (female.ci_lower, female.ci_upper) == pytest.approx((0.0323, 0.1182), abs=5e-4)
    # PySensemakr's bound and adjustment functions on the same partial R2s
    for r2dxj, r2yxj in ((0.01, 0.12), (0.05, 0.3), (0.2, 0.02)):
        reference = sensemakr.ovb_partial_r2_bound(r2dxj_x=r2dxj, r2yxj_dx=r2yxj, kd=1, ky=1)
        np.testing.assert_allclose(
            benchmark_bound(r2dxj, r2yxj),
            [reference["r2dz_x"].iloc[0], reference["r2yz_dx"].iloc[0]],
            rtol=1e-9,
        )
    r2dz, r2yz = female.r2_treatment, female.r2_outcome
    adjusted, se, _, _ = adjusted_estimate(fit.estimate, fit.std_error, fit.dof, r2dz, r2yz, 0.05)
    expected = sensemakr.adjusted_estimate(r2dz, r2yz, estimate=fit.estimate, se=fit.std_error, dof=fit.dof)
    expected_se = sensemakr.adjusted_se(r2dz, r2yz, se=fit.std_error, dof=fit.dof)
    assert adjusted == pytest.approx(float(np.asarray(expected).ravel()[0]), rel=1e-9)
    assert se == pytest.approx(float(np.asarray(expected_se).ravel()[0]), rel=1e-9)


# --- Rambachan & Roth relative magnitudes against honestdid ----------------------------------------------


@pytest.fixture(scope="module")
def honestdid() -> Any:
    """honestdid's core module, loaded so that it runs under numpy 2 without torch and cvxpy.

    honestdid 0.1.1 calls ``float()`` on 1x1 arrays (an error since numpy 2) and routes one arithmetic helper
    through torch. The source is loaded unchanged except that ``float(...)`` calls accept 1x1 arrays and the torch
    tensors are numpy arrays (cvxpy is only used by methods not compared here).
    """
    spec = importlib.util.find_spec("honestdid.core")
    if spec is None or spec.origin is None:
        pytest.skip("honestdid is not installed")
    source = Path(spec.origin).read_text()
    source = re.sub(r"(?<![\w.])float\(", "_scalar(", source)
    source = source.replace("import torch\n", "").replace("import cvxpy as cp\n", "")
    module = types.ModuleType("honestdid_core_numpy2")

    def scalar(value: Any = 0.0) -> float:
        return float(value) if isinstance(value, str) else float(np.asarray(value, dtype=float).reshape(-1)[0])

    module.__dict__.update(
        _scalar=scalar,
        torch=types.SimpleNamespace(tensor=np.asarray, set_default_dtype=lambda _: None, float64=np.float64),
        cp=None,
    )
    exec(compile(source, spec.origin, "exec"), module.__dict__)
    return module


@pytest.fixture(scope="module")
def event_study() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / "event_study.json").read_text())
    return data


# honestdid divides 0 by 0 where a constraint does not involve the test direction (torch stays silent; numpy warns)
HONESTDID_DIVIDE = pytest.mark.filterwarnings("ignore:invalid value encountered in divide:RuntimeWarning")


@pytest.mark.slow  # loading honestdid takes about 3 s
@HONESTDID_DIVIDE
@pytest.mark.parametrize("mbar", [0.0, 1.0, 2.0])
def test_relative_magnitudes_interval_matches_honestdid(
    honestdid: Any, event_study: dict[str, Any], mbar: float
) -> None:
    n_pre = event_study["n_pre"]
    beta = np.array(event_study["coefficients"])[: n_pre + 1]
    sigma = np.array(event_study["covariance"])[: n_pre + 1, : n_pre + 1]
    sd = math.sqrt(sigma[-1, -1])
    grid = np.linspace(beta[-1] - 20 * sd, beta[-1] + 20 * sd, 121)
    reference = honestdid.computeConditionalCS_DeltaRM(
        beta, sigma, n_pre, 1, Mbar=mbar, alpha=0.05, gridPoints=121, grid_lb=grid[0], grid_ub=grid[-1]
    )
    accepted = reference.loc[reference["accept"] == 1, "grid"]
    ours = rm_interval(beta, sigma, n_pre, mbar, alpha=0.05, grid=grid)
    # same grid, same test: the same first and last accepted grid points
    assert ours.ci_lower == pytest.approx(accepted.min(), rel=1e-12)
    assert ours.ci_upper == pytest.approx(accepted.max(), rel=1e-12)
    assert not ours.open_ended
    # the default (coarse grid, ends refined by bisection) lies within one reference grid step of it
    refined = rm_interval(beta, sigma, n_pre, mbar, alpha=0.05)
    step = grid[1] - grid[0]
    assert accepted.min() - step <= refined.ci_lower <= accepted.min() + 1e-12
    assert accepted.max() - 1e-12 <= refined.ci_upper <= accepted.max() + step


@pytest.mark.slow  # loading honestdid takes about 3 s
@HONESTDID_DIVIDE
@pytest.mark.filterwarnings("ignore:CI is open at one of the endpoints:UserWarning")
def test_breakdown_mbar_is_where_honestdid_first_includes_zero(honestdid: Any, event_study: dict[str, Any]) -> None:
    n_pre = event_study["n_pre"]
    beta = np.array(event_study["coefficients"])
    sigma = np.array(event_study["covariance"])
    breakdown = breakdown_mbar(beta, sigma, n_pre, alpha=0.05)
    assert breakdown is not None and 0 < breakdown < 10

    def includes_zero(mbar: float) -> bool:
        grid = np.array([-1e-9, 0.0, 1e-9])
        result = honestdid.computeConditionalCS_DeltaRM(
            beta[: n_pre + 1],
            sigma[: n_pre + 1, : n_pre + 1],
            n_pre,
            1,
            Mbar=mbar,
            gridPoints=3,
            grid_lb=grid[0],
            grid_ub=grid[-1],
        )
        return bool(result["accept"].iloc[1] == 1)

    assert not includes_zero(breakdown - 0.02)
    assert includes_zero(breakdown + 0.02)
