"""Interrupted time series: one series, no donors, a change at a known start.

The honest fallback when nothing comparable to the changed unit exists (a national launch, a price change
everywhere): a segmented regression of the outcome on time,

    y_t = b0 + b1 * t + level_change * post_t + slope_change * post_t * (t - t0) + seasons + e_t,

with ``t`` the period number (0 for the first observation), ``t0`` the first post-period, ``post_t`` 1 from ``t0``
on, and optional seasonal dummies (one per season of a given period, the first observation's season the
reference). The counterfactual is the same fit with ``level_change`` and ``slope_change`` set to zero: the
pre-period trend (and seasons) projected forward. The effect in post-period ``t`` is
``level_change + slope_change * (t - t0)``; under least squares its average over the post-period equals the
average observed gap against the counterfactual exactly (the post indicator is a regressor, so the post residuals
sum to zero; under GLS they need not, and the two differ slightly), and the cumulative gap is that average times
the number of post-periods. Their standard errors are those of linear combinations of the coefficients.

Two ways to fit and to get standard errors (``se_method``):

- ``"ar1_gls"`` (the default): feasible GLS with AR(1) errors, ``e_t = rho e_{t-1} + u_t``. ``rho`` is estimated by
  restricted maximum likelihood (REML: the Gaussian likelihood of the residual contrasts, which removes most of
  the downward bias the OLS-residual autocorrelation has when a trend and a break are fitted: Cheang and Reinsel
  2000), maximised over ``(-0.999, 0.999)``; the coefficients are then least squares on the Prais-Winsten
  transformed series (the first observation kept, scaled by ``sqrt(1 - rho^2)``: exact GLS given ``rho``), with
  model-based covariance ``V = s^2 (X*'X*)^-1``, ``s^2 = RSS* / (T - k)``. Two small-sample steps account for
  ``rho`` being estimated (the first-order part of Kenward and Roger 1997): the covariance adds Kackar and
  Harville's (1984) term ``Var(rho) (db/drho)(db/drho)'`` (``Var(rho)`` the inverse observed REML information,
  the derivatives by central differences), and each estimate's t interval uses Satterthwaite degrees of freedom
  ``2 v^2 / ((dv/drho)^2 Var(rho) + 2 v_V^2 / (T - k))``, at most ``T - k - 1``. Chosen by seeded simulation over
  Newey-West and over fixed-b inference (the figures are in ``GLS_COVERAGE`` and in
  tests/tools/test_synth_its.py): without the two steps, REML GLS covered about 92-94% at 72 periods; with
  Yule-Walker or maximum likelihood instead of REML, 88-92%. The order is fixed at 1 (stated, not selected); the
  residual-autocorrelation check tests the whitened residuals and says when AR(1) did not whiten them.
- ``"newey_west"``: least squares with Newey-West (HAC) standard errors, kept because it is the textbook
  reference (it equals statsmodels' ``cov_type="HAC"``), but its intervals are too narrow in short series
  (``NEWEY_WEST_COVERAGE``).

Newey-West (HAC, Bartlett kernel): ``V = B S B`` with ``B = (X'X)^-1`` and
``S = sum_t g_t g_t' + sum_{j=1..L} (1 - j / (L + 1)) sum_t (g_t g_{t-j}' + g_{t-j} g_t')``, ``g_t = x_t e_t``,
optionally times ``T / (T - k)`` (the small-sample correction Stata's ``newey`` applies; statsmodels'
``cov_type="HAC"`` with ``use_correction=True``), with ``t(T - k)`` intervals and p-values. The lag ``L`` is the
caller's or Newey and West's (1994) rule ``floor(4 (T / 100) ^ (2 / 9))``.

Fixed-b inference (Kiefer and Vogelsang 2005: the Bartlett kernel with bandwidth ``M = b T`` and critical values
from their polynomial ``1.9600 + 2.9694 b + 0.4160 b^2 - 0.5324 b^3`` for a two-sided 5% test) was simulated and
rejected: their critical values assume ``T^-1 sum_{t <= rT} x_t x_t' -> r Q`` for every fraction ``r`` of the
sample, which a level-change dummy (zero until the start) and a trend do not satisfy, and in these designs it
covered less often than Newey-West (about 71-86% at 72 periods, 77-92% at 300, for ``M`` from ``0.75 sqrt(T)``
to ``T``).

Checks: enough pre- and post-periods, autocorrelation left in the (whitened) residuals (Ljung-Box), the
simulated coverage of the intervals (quoted), and the one assumption the data cannot test, said loudly: anything
else that changed at the same moment is confounded with the change.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
import numpy.typing as npt
from scipy import optimize, stats

from tools.errors import ToolError
from tools.results import Check, Estimate, require_inference

__all__ = [
    "CONFOUNDING",
    "SE_METHODS",
    "ItsResult",
    "ItsTrajectory",
    "LjungBox",
    "SeMethod",
    "interrupted_time_series",
    "ljung_box",
    "newey_west_lags",
    "prais_winsten",
    "reml_ar1",
]

FloatArray = npt.NDArray[np.float64]
SeMethod = Literal["ar1_gls", "newey_west"]
SE_METHODS: Final[tuple[SeMethod, ...]] = ("ar1_gls", "newey_west")
#: The bound on the AR(1) coefficient in the REML search, and the value above which the series is near a unit root.
RHO_BOUND: Final = 0.999
NEAR_UNIT_ROOT: Final = 0.95
#: The outer limit of the finite differences around the REML estimate (inside the open interval (-1, 1)).
RHO_LIMIT: Final = 0.9999

#: Pre-periods below which the projected trend is not credible (fail), and below which it is thin (warn).
MIN_PRE_PERIODS: Final = 8
GOOD_PRE_PERIODS: Final = 12
#: Post-periods below which the slope change and the long-run gap rest on few points (warn).
GOOD_POST_PERIODS: Final = 8
#: Ljung-Box p-value below which residual autocorrelation is reported.
LJUNG_BOX_ALPHA: Final = 0.05
#: The shortest series the GLS intervals were simulated at (tests/tools/test_synth_its.py pins the coverage the
#: checks quote): shorter series, or residuals the AR(1) model does not whiten, get a warning.
SIMULATED_PERIODS: Final = 72
#: Series shorter than this get the Newey-West warning that its intervals are too narrow (it warns at any length).
SHORT_SERIES: Final = 300

GLS_COVERAGE: Final = (
    "In seeded simulations (1,000 series each: a trend, a level and a slope change, AR(1) errors with coefficient "
    "0, 0.5 and 0.8), the nominal 95% interval of the level change from GLS with AR(1) errors covered the truth "
    "about 94.5%, 95.1% and 93.8% of the time at 72 periods (48 + 24) and 95.4%, 96.3% and 95.2% at 300 "
    "(200 + 100); with no effect, the 5% test rejected 4.3%, 5.1% and 6.1% of the time at 72 periods and 5.3%, "
    "4.4% and 5.6% at 300. (Newey-West intervals covered only 89.8%, 81.1% and 66.3% at 72 periods and 92.1%, "
    "89.8% and 77.5% at 300.) The figures hold for AR(1)-like errors, not for errors the AR(1) model leaves "
    "autocorrelated."
)
NEWEY_WEST_COVERAGE: Final = (
    "Newey-West intervals are too narrow in short series: in seeded simulations (1,000 series each, AR(1) errors "
    "with coefficient 0, 0.5 and 0.8, the default lag rule), the nominal 95% interval of the level change covered "
    "the truth 89.8%, 81.1% and 66.3% of the time at 72 periods (48 + 24) and 92.1%, 89.8% and 77.5% at 300 "
    "(200 + 100), and the 5% test with no effect rejected 10.5%, 19.1% and 33.3% of the time at 72 periods. "
    'se_method="ar1_gls" (the default) covered 93.8-95.1% at 72 periods and 95.2-96.3% at 300.'
)

CONFOUNDING: Final = (
    "An interrupted time series has no comparison group: anything else that changed at the same moment as the "
    "change (another launch, a price or marketing change, a tracking change, a holiday, a shock to the market) is "
    "confounded with it, and the estimate is their combined effect. It also assumes the pre-period trend (and "
    "seasons) would have continued unchanged. Neither can be tested from this series: list what else changed "
    "then, and prefer a design with untreated comparison units (synthetic control, difference-in-differences) "
    "when any exist."
)

NEWEY_WEST_RULE: Final = "floor(4 * (T / 100) ** (2 / 9)) (Newey and West 1994)"


@dataclass(frozen=True)
class LjungBox:
    """The Ljung-Box test of no autocorrelation in the residuals up to ``lags``."""

    statistic: float
    lags: int
    p_value: float


@dataclass(frozen=True)
class ItsTrajectory:
    """Per period (arrays of equal length, in time order): what was seen, the fit, the counterfactual (the
    pre-period trend and seasons projected, with its standard error), the observed gap against it, and the
    modelled effect (``level_change + slope_change * (t - t0)`` after the start, 0 before) with its standard
    error."""

    time: FloatArray
    post: npt.NDArray[np.bool_]
    observed: FloatArray
    fitted: FloatArray
    counterfactual: FloatArray
    counterfactual_se: FloatArray
    gap: FloatArray
    effect: FloatArray
    effect_se: FloatArray


@dataclass(frozen=True)
class ItsResult:
    """An interrupted time series fit: the effects, the fit's pieces, the trajectory and the checks.

    ``level_change`` is the jump at the first post-period, ``slope_change`` the change in the per-period trend,
    ``average_gap`` the mean modelled effect over the post-period (under ``"newey_west"`` equal to the mean of
    observed minus counterfactual; under GLS close to it), ``cumulative_gap`` its sum over the post-period,
    ``pre_trend`` the per-period trend before the start. ``se_method`` says how the model was fitted;
    ``ar_coefficient`` (with ``ar_coefficient_se``) is the REML AR(1) coefficient (``"ar1_gls"``) and ``hac_lags``
    / ``lag_rule`` the Newey-West lags (``"newey_west"``), the others ``None``. ``covariance`` is the one the
    intervals use; ``model_covariance`` is GLS's given the estimated coefficient, before the Kackar-Harville term
    (equal to ``covariance`` under Newey-West). ``df_resid`` is ``T - k`` (Newey-West) or ``T - k - 1`` (GLS);
    ``degrees_of_freedom`` gives the t degrees of freedom each estimate's interval used (Satterthwaite's under
    GLS, at most ``df_resid``). ``residual_sd`` and ``ljung_box`` are those of the residuals, whitened (the AR(1)
    innovations) under ``"ar1_gls"``.
    """

    level_change: Estimate
    slope_change: Estimate
    average_gap: Estimate
    cumulative_gap: Estimate
    pre_trend: Estimate
    alpha: float
    n_obs: int
    n_pre_periods: int
    n_post_periods: int
    start: float
    season_period: int | None
    se_method: SeMethod
    ar_coefficient: float | None
    hac_lags: int | None
    lag_rule: str | None
    small_sample_correction: bool
    df_resid: int
    coefficient_names: tuple[str, ...]
    coefficients: FloatArray
    covariance: FloatArray
    model_covariance: FloatArray
    ar_coefficient_se: float | None
    degrees_of_freedom: dict[str, float]
    residual_sd: float
    ljung_box: LjungBox
    trajectory: ItsTrajectory
    checks: tuple[Check, ...]
    warnings: tuple[str, ...]
    method: str
    confounding: str = CONFOUNDING


def newey_west_lags(n_obs: int) -> int:
    """Newey and West's (1994) automatic lag for the Bartlett kernel: ``floor(4 (T / 100) ^ (2 / 9))``."""
    return math.floor(4 * math.pow(n_obs / 100, 2 / 9))


def ljung_box(residuals: FloatArray, lags: int) -> LjungBox:
    """``Q = T (T + 2) sum_{k=1..h} r_k^2 / (T - k)`` on the demeaned series, referred to chi-squared(h)."""
    centred = residuals - residuals.mean()
    n = centred.size
    denominator = float(centred @ centred)
    q = 0.0
    for k in range(1, lags + 1):
        r_k = float(centred[k:] @ centred[:-k]) / denominator
        q += r_k * r_k / (n - k)
    q *= n * (n + 2)
    return LjungBox(statistic=q, lags=lags, p_value=float(stats.chi2.sf(q, lags)))


def _hac_meat(scores: FloatArray, lags: int) -> FloatArray:
    meat = scores.T @ scores
    for j in range(1, lags + 1):
        gamma = scores[j:].T @ scores[:-j]
        meat += (1 - j / (lags + 1)) * (gamma + gamma.T)
    return meat


def prais_winsten(values: FloatArray, rho: float) -> FloatArray:
    """The AR(1) whitening of a series or of each column of a matrix: ``sqrt(1 - rho^2) x_0`` first, then
    ``x_t - rho x_{t-1}``."""
    whitened = values.copy()
    whitened[1:] = values[1:] - rho * values[:-1]
    whitened[0] = values[0] * math.sqrt(1 - rho * rho)
    return whitened


def _restricted_deviance(rho: float, design: FloatArray, y: FloatArray) -> float:
    """Minus twice the REML log-likelihood of AR(1) errors, profiled over the innovation variance, up to a
    constant: ``(T - k) log RSS*(rho) + log |X*'X*| - log(1 - rho^2)`` (``|Sigma| = 1 / (1 - rho^2)`` for unit
    innovations)."""
    whitened_design = prais_winsten(design, rho)
    whitened_y = prais_winsten(y, rho)
    coefficients, *_ = np.linalg.lstsq(whitened_design, whitened_y, rcond=None)
    residuals = whitened_y - whitened_design @ coefficients
    rss = float(residuals @ residuals)
    _, logdet = np.linalg.slogdet(whitened_design.T @ whitened_design)
    n, k = (int(size) for size in design.shape)
    return (n - k) * math.log(max(rss, 1e-300)) + float(logdet) - math.log(1 - rho * rho)


def reml_ar1(design: FloatArray, y: FloatArray) -> float:
    """The REML estimate of the AR(1) coefficient of the errors of ``y = X b + e`` on ``(-0.999, 0.999)``."""
    found = optimize.minimize_scalar(
        _restricted_deviance,
        bounds=(-RHO_BOUND, RHO_BOUND),
        args=(design, y),
        method="bounded",
        options={"xatol": 1e-10, "maxiter": 500},
    )
    return float(found.x)


def _gls_given_rho(design: FloatArray, y: FloatArray, rho: float) -> tuple[FloatArray, FloatArray, FloatArray]:
    """GLS given the AR(1) coefficient: the coefficients, their model-based covariance ``s^2 (X*'X*)^-1`` with
    ``s^2 = RSS* / (T - k)``, and the whitened residuals."""
    whitened_design = prais_winsten(design, rho)
    whitened_y = prais_winsten(y, rho)
    bread = np.linalg.inv(whitened_design.T @ whitened_design)
    coefficients = bread @ (whitened_design.T @ whitened_y)
    whitened_residuals = whitened_y - whitened_design @ coefficients
    n, k = design.shape
    covariance = float(whitened_residuals @ whitened_residuals) / (n - k) * bread
    return coefficients, covariance, whitened_residuals


@dataclass(frozen=True)
class _ArGls:
    rho: float
    rho_variance: float
    coefficients: FloatArray
    model_covariance: FloatArray
    covariance: FloatArray
    covariance_slope: FloatArray
    whitened_residuals: FloatArray


def _ar1_gls(design: FloatArray, y: FloatArray) -> _ArGls:
    """REML AR(1) GLS with the estimated coefficient's uncertainty carried into the covariance.

    ``Var(rho)`` is the inverse observed REML information (``2 / D''(rho)``, ``D`` the restricted deviance, by
    central differences; ``(1 - rho^2) / T`` if the curvature is not positive, at the bound). The covariance adds
    Kackar and Harville's (1984) first-order term ``Var(rho) (db/drho)(db/drho)'`` to the model-based one, and
    ``covariance_slope`` (``dV/drho``) feeds the Satterthwaite degrees of freedom of each combination."""
    n = design.shape[0]
    rho = reml_ar1(design, y)
    step = 1e-4
    low, high = max(rho - step, -RHO_LIMIT), min(rho + step, RHO_LIMIT)
    deviance = [_restricted_deviance(r, design, y) for r in (low, rho, high)]
    curvature = 2 * ((deviance[2] - deviance[1]) / (high - rho) - (deviance[1] - deviance[0]) / (rho - low))
    curvature /= high - low
    rho_variance = 2 / curvature if curvature > 0 else (1 - rho * rho) / n
    coefficients, model_covariance, whitened_residuals = _gls_given_rho(design, y, rho)
    b_low, v_low, _ = _gls_given_rho(design, y, low)
    b_high, v_high, _ = _gls_given_rho(design, y, high)
    slope = (b_high - b_low) / (high - low)
    return _ArGls(
        rho=rho,
        rho_variance=rho_variance,
        coefficients=coefficients,
        model_covariance=model_covariance,
        covariance=model_covariance + rho_variance * np.outer(slope, slope),
        covariance_slope=(v_high - v_low) / (high - low),
        whitened_residuals=whitened_residuals,
    )


def _as_series(values: npt.ArrayLike, name: str) -> FloatArray:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ToolError("not_numeric", f"The {name} must be numbers.", f"Pass the {name} as numbers.") from error
    if array.ndim != 1:
        raise ToolError("not_a_series", f"The {name} must be one series (1-d), not shape {array.shape}.", "")
    if not np.isfinite(array).all():
        raise ToolError(
            "missing_values",
            f"The {name} has {int((~np.isfinite(array)).sum())} missing or infinite values.",
            "Interrupted time series needs every period: fill or drop the gaps (and say how) before the analysis.",
        )
    return array


def _time_index(time: FloatArray) -> FloatArray:
    steps = np.diff(time)
    if steps.size and (steps <= 0).any():
        raise ToolError("time_not_increasing", "The time values must be strictly increasing.", "Sort by time.")
    if steps.size and not np.allclose(steps, steps[0], rtol=1e-9, atol=0.0):
        raise ToolError(
            "time_not_equally_spaced",
            "The time values are not equally spaced: a period is missing or the spacing changes.",
            "Put the series on a regular grid (one row per week, month, ...) and fill missing periods first.",
        )
    step = float(steps[0]) if steps.size else 1.0
    return np.asarray(np.rint((time - time[0]) / step), dtype=np.float64)


def _estimate(value: float, std_error: float, df: float, alpha: float, what: str, scale: float) -> Estimate:
    require_inference(
        std_error,
        value,
        scale,
        what=what,
        reason="the segmented regression reproduces the series exactly",
        hint="Check that the outcome varies around its trend; a series with no noise has no uncertainty to report.",
    )
    quantile = float(stats.t.ppf(1 - alpha / 2, df))
    p_value = float(min(1.0, 2 * stats.t.sf(abs(value) / std_error, df)))
    return Estimate(
        estimate=value,
        std_error=std_error,
        ci_lower=value - quantile * std_error,
        ci_upper=value + quantile * std_error,
        p_value=p_value,
        alpha=alpha,
    )


def _design(
    index: FloatArray, post: npt.NDArray[np.bool_], season_period: int | None
) -> tuple[FloatArray, tuple[str, ...]]:
    first_post = index[post][0]
    columns = [np.ones_like(index), index, post.astype(np.float64), np.where(post, index - first_post, 0.0)]
    names = ["intercept", "trend", "level_change", "slope_change"]
    if season_period is not None:
        season = np.mod(index.astype(np.int64), season_period)
        for s in range(1, season_period):
            columns.append((season == s).astype(np.float64))
            names.append(f"season_{s}")
    return np.column_stack(columns), tuple(names)


def _checks(
    n_pre: int,
    n_post: int,
    season_period: int | None,
    test: LjungBox,
    se_method: SeMethod,
    lags: int | None,
    rho: float | None,
) -> tuple[tuple[Check, ...], tuple[str, ...]]:
    checks: list[Check] = []
    warnings: list[str] = []
    cycles = 2 * season_period if season_period is not None else 0
    good = max(GOOD_PRE_PERIODS, cycles)
    if n_pre < max(MIN_PRE_PERIODS, season_period or 0):
        status = "fail"
        verdict = "too few to project a trend credibly"
    elif n_pre < good:
        status = "warn"
        verdict = "few: the projected trend is uncertain beyond what the standard errors show"
    else:
        status = "pass"
        verdict = "enough to estimate the pre-period trend"
    seasons = f" and two full seasons ({cycles})" if season_period is not None else ""
    checks.append(
        Check(
            name="pre_periods",
            status=status,
            detail=f"{n_pre} pre-periods: {verdict} (at least {good} recommended{seasons}).",
        )
    )
    if status != "pass":
        warnings.append(f"Only {n_pre} pre-periods: the counterfactual trend rests on few points.")
    post_status = "pass" if n_post >= GOOD_POST_PERIODS else "warn"
    checks.append(
        Check(
            name="post_periods",
            status=post_status,
            detail=f"{n_post} post-periods"
            + (
                ": enough to separate a level change from a slope change."
                if post_status == "pass"
                else f": the slope change and the cumulative gap rest on few points ({GOOD_POST_PERIODS} recommended)."
            ),
        )
    )
    autocorrelated = test.p_value < LJUNG_BOX_ALPHA
    if se_method == "newey_west":
        tested = "the residuals"
        found = (
            f"Autocorrelation is left in the residuals: the Newey-West standard errors (lag {lags}) allow for it, "
            "but they are too narrow when it is strong or long-lived in a short series; add seasonal terms if the "
            'series has seasons, use se_method="ar1_gls", or read the intervals as optimistic.'
        )
        clean = "No autocorrelation detected beyond what the Newey-West standard errors allow for."
    else:
        tested = f"the residuals whitened by the AR(1) fit (coefficient {rho:.3f})"
        found = (
            "Autocorrelation is left after the AR(1) whitening: the errors are not AR(1) (seasons, longer memory), "
            "and the intervals may be too narrow; add seasonal terms if the series has seasons, or read the "
            "intervals as optimistic."
        )
        clean = "The AR(1) error model whitens the residuals."
    checks.append(
        Check(
            name="residual_autocorrelation",
            status="warn" if autocorrelated else "pass",
            detail=f"Ljung-Box on {tested} up to lag {test.lags}: Q = {test.statistic:.2f}, "
            f"p = {test.p_value:.3g}. " + (found if autocorrelated else clean),
        )
    )
    if autocorrelated:
        warnings.append(
            f"Autocorrelation is left in the {'whitened ' if se_method == 'ar1_gls' else ''}residuals "
            f"(Ljung-Box p = {test.p_value:.3g}): the intervals may be too narrow."
        )
    if rho is not None and rho > NEAR_UNIT_ROOT:
        checks.append(
            Check(
                name="near_unit_root",
                status="warn",
                detail=f"The AR(1) coefficient of the errors is {rho:.3f}: the series wanders like a random walk "
                "around its trend, so the projected trend (the counterfactual) is fragile and the intervals rest "
                "on the AR(1) model holding.",
            )
        )
        warnings.append(f"The errors are close to a random walk (AR(1) coefficient {rho:.3f}): treat with care.")
    n_obs = n_pre + n_post
    short = n_obs < SHORT_SERIES
    if se_method == "newey_west":
        checks.append(
            Check(
                name="interval_coverage",
                status="warn",
                detail=f"{n_obs} periods. {NEWEY_WEST_COVERAGE}"
                + (" Read the intervals and p-values as optimistic." if short else ""),
            )
        )
        warnings.append(
            f"Newey-West intervals are likely too narrow when errors are autocorrelated ({n_obs} periods); "
            'se_method="ar1_gls" is calibrated better.'
        )
    else:
        too_short = n_obs < SIMULATED_PERIODS
        calibrated = not too_short and not autocorrelated
        if too_short:
            caveat = (
                f" This series is shorter than any simulated ({SIMULATED_PERIODS} periods): the estimated AR(1) "
                "coefficient is noisy and the intervals' coverage is untested; read them as optimistic."
            )
        elif autocorrelated:
            caveat = (
                " Here the AR(1) model leaves autocorrelation in the residuals (see residual_autocorrelation), so "
                "these figures do not apply and the intervals may be too narrow."
            )
        else:
            caveat = ""
        checks.append(
            Check(
                name="interval_coverage",
                status="pass" if calibrated else "warn",
                detail=f"{n_obs} periods. {GLS_COVERAGE}{caveat}",
            )
        )
        if too_short:
            warnings.append(
                f"With {n_obs} periods (fewer than {SIMULATED_PERIODS}) the intervals' coverage is untested."
            )
    checks.append(Check(name="concurrent_changes", status="not_tested", detail=CONFOUNDING))
    warnings.append(CONFOUNDING)
    return tuple(checks), tuple(warnings)


def interrupted_time_series(
    outcome: npt.ArrayLike,
    start: float,
    *,
    time: npt.ArrayLike | None = None,
    season_period: int | None = None,
    se_method: SeMethod = "ar1_gls",
    hac_lags: int | None = None,
    small_sample_correction: bool = True,
    alpha: float = 0.05,
) -> ItsResult:
    """Segmented regression of one series on time with a level and a slope change at ``start``.

    ``outcome``: the series, one value per period in time order (a numpy array or pandas Series; no gaps).
    ``time``: the periods, equally spaced and increasing (default 0, 1, 2, ...); ``start`` is the first period
    of the change on that scale (periods at or after it are post-periods). ``season_period``: the number of
    periods in a season (12 for months in a year, 52 for weeks, 7 for days in a week) to add seasonal dummies.
    ``se_method``: ``"ar1_gls"`` (default: GLS with AR(1) errors, the coefficient by REML) or ``"newey_west"``
    (least squares with HAC standard errors; too narrow in short series). ``hac_lags`` (Newey-West only): the
    lags (default Newey and West's rule); ``small_sample_correction`` (Newey-West only): the ``T / (T - k)``
    factor. Raises ``ToolError`` for input a caller can fix.
    """
    if not 0 < alpha < 1:
        raise ToolError("bad_alpha", f"alpha must be between 0 and 1, not {alpha}.", "Use e.g. 0.05.")
    y = _as_series(outcome, "outcome")
    n = y.size
    times = _as_series(np.arange(n, dtype=np.float64) if time is None else time, "time")
    if times.size != n:
        raise ToolError("length_mismatch", f"The outcome has {n} values but time has {times.size}.", "")
    if not math.isfinite(start):
        raise ToolError("bad_start", "The start of the change must be a finite time value.", "")
    index = _time_index(times) if n > 1 else np.zeros(1)
    post = times >= start
    n_post = int(post.sum())
    n_pre = n - n_post
    if n_pre == 0:
        raise ToolError(
            "no_pre_period",
            f"No period comes before the start ({start:g}): there is no trend to project.",
            "Include the periods before the change.",
        )
    if n_post == 0:
        raise ToolError(
            "no_post_period",
            f"No period comes at or after the start ({start:g}): there is nothing to evaluate yet.",
            "Wait for post-period data or check the start.",
        )
    if n_pre < 3:
        raise ToolError(
            "too_few_pre_periods",
            f"Only {n_pre} pre-periods: a trend with any noise needs at least 3 (and 12 or more to be credible).",
            "Use a longer history, or a design with comparison units.",
        )
    if n_post < 2:
        raise ToolError(
            "too_few_post_periods",
            "Only one post-period: a level change cannot be told apart from a slope change.",
            "Wait for at least two post-periods (eight or more are recommended).",
        )
    if season_period is not None and not 2 <= season_period <= n_pre:
        raise ToolError(
            "bad_season_period",
            f"season_period must be at least 2 and no more than the {n_pre} pre-periods, not {season_period}.",
            "Give the number of periods in one season (12 for monthly data with a yearly cycle), or none.",
        )
    if float(np.ptp(y)) == 0.0:
        raise ToolError("constant_outcome", "The outcome is the same in every period.", "Check the column.")
    design, names = _design(index, post, season_period)
    k = design.shape[1]
    if n - k < 1 or np.linalg.matrix_rank(design) < k:
        raise ToolError(
            "singular_design",
            f"{n} periods cannot identify the {k} terms of the model ({', '.join(names)}).",
            "Use a longer series or drop the seasonal terms.",
        )
    if se_method not in SE_METHODS:
        raise ToolError(
            "bad_se_method", f"se_method must be one of {', '.join(SE_METHODS)}, not {se_method!r}.", "Leave it unset."
        )
    lags: int | None = None
    lag_rule: str | None = None
    rho: float | None = None
    gls: _ArGls | None = None
    if se_method == "newey_west":
        lags = newey_west_lags(n) if hac_lags is None else hac_lags
        if not 0 <= lags < n:
            raise ToolError("bad_lags", f"hac_lags must be between 0 and {n - 1}, not {lags}.", "Leave it unset.")
        lag_rule = NEWEY_WEST_RULE if hac_lags is None else "given"
        bread = np.linalg.inv(design.T @ design)
        coefficients = bread @ (design.T @ y)
        fitted = design @ coefficients
        residuals = y - fitted
        covariance = bread @ _hac_meat(design * residuals[:, None], lags) @ bread
        df_resid = n - k
        if small_sample_correction:
            covariance *= n / df_resid
        tested = residuals
        model_covariance = covariance
    else:
        if hac_lags is not None:
            raise ToolError(
                "lags_without_newey_west",
                "hac_lags applies to Newey-West standard errors only.",
                'Pass se_method="newey_west" with hac_lags, or drop hac_lags.',
            )
        if n - k < 2:
            raise ToolError(
                "singular_design",
                f"{n} periods leave too few degrees of freedom to estimate the {k} terms and the AR(1) errors.",
                "Use a longer series or drop the seasonal terms.",
            )
        gls = _ar1_gls(design, y)
        rho = gls.rho
        coefficients = gls.coefficients
        fitted = design @ coefficients
        residuals = y - fitted
        tested = gls.whitened_residuals
        covariance = gls.covariance
        model_covariance = gls.model_covariance
        df_resid = n - k - 1

    scale = float(np.abs(y).max())
    level, slope = names.index("level_change"), names.index("slope_change")
    since = design[:, slope]

    degrees_of_freedom: dict[str, float] = {}

    def combination(weights: FloatArray, what: str, key: str) -> Estimate:
        value = float(weights @ coefficients)
        variance = max(0.0, float(weights @ covariance @ weights))
        df: float = df_resid
        if gls is not None and variance > 0:
            # Satterthwaite: Var(v) ~ (dv/drho)^2 Var(rho) + 2 v_model^2 / (T - k).
            slope_v = float(weights @ gls.covariance_slope @ weights)
            model_v = float(weights @ gls.model_covariance @ weights)
            spread = slope_v * slope_v * gls.rho_variance + 2 * model_v * model_v / (n - k)
            df = min(float(df_resid), 2 * variance * variance / spread) if spread > 0 else float(df_resid)
            df = max(df, 1.0)
        degrees_of_freedom[key] = df
        return _estimate(value, math.sqrt(variance), df, alpha, what, scale)

    def unit(position: int) -> FloatArray:
        weights = np.zeros(k)
        weights[position] = 1.0
        return weights

    mean_since = float(since[post].mean())
    average = unit(level) + mean_since * unit(slope)
    counterfactual_design = design.copy()
    counterfactual_design[:, [level, slope]] = 0.0
    effect_design = design - counterfactual_design
    counterfactual = counterfactual_design @ coefficients

    def row_se(rows: FloatArray) -> FloatArray:
        variances = np.asarray(np.einsum("ij,jk,ik->i", rows, covariance, rows), dtype=np.float64)
        return np.sqrt(np.maximum(0.0, variances))

    test_lags = max(1, min(2 * season_period if season_period is not None else 10, n // 5))
    test = ljung_box(tested, test_lags)
    checks, warnings = _checks(n_pre, n_post, season_period, test, se_method, lags, rho)
    trajectory = ItsTrajectory(
        time=times,
        post=post,
        observed=y,
        fitted=fitted,
        counterfactual=counterfactual,
        counterfactual_se=row_se(counterfactual_design),
        gap=y - counterfactual,
        effect=effect_design @ coefficients,
        effect_se=row_se(effect_design),
    )
    for array in vars(trajectory).values():
        array.setflags(write=False)
    level_estimate = combination(unit(level), "the level change", "level_change")
    slope_estimate = combination(unit(slope), "the slope change", "slope_change")
    average_estimate = combination(average, "the average post-period gap", "average_gap")
    cumulative_estimate = combination(n_post * average, "the cumulative post-period gap", "cumulative_gap")
    trend_estimate = combination(unit(names.index("trend")), "the pre-period trend", "pre_trend")
    coefficients.setflags(write=False)
    covariance.setflags(write=False)
    model_covariance.setflags(write=False)
    seasons = f", {season_period - 1} seasonal dummies (period {season_period})" if season_period else ""
    terms = f"an intercept, a linear trend, a level change and a slope change at the start{seasons}"
    if se_method == "newey_west":
        method = (
            f"Interrupted time series: least squares of the outcome on {terms}; {n_pre} pre- and {n_post} "
            f"post-periods. Newey-West (HAC) standard errors with {lags} lags (rule: {lag_rule})"
            + (", small-sample correction T/(T-k)" if small_sample_correction else "")
            + f"; t({df_resid}) intervals. The counterfactual projects the pre-period trend and seasons."
        )
    else:
        method = (
            f"Interrupted time series: GLS of the outcome on {terms}, with AR(1) errors (coefficient {rho:.3f}, "
            f"restricted maximum likelihood; Prais-Winsten transform); {n_pre} pre- and {n_post} post-periods. "
            "GLS standard errors with Kackar-Harville's term for the estimated coefficient and Satterthwaite t "
            f"degrees of freedom (level change: {degrees_of_freedom['level_change']:.1f}). The counterfactual "
            "projects the pre-period trend and seasons."
        )
    return ItsResult(
        level_change=level_estimate,
        slope_change=slope_estimate,
        average_gap=average_estimate,
        cumulative_gap=cumulative_estimate,
        pre_trend=trend_estimate,
        degrees_of_freedom=degrees_of_freedom,
        alpha=alpha,
        n_obs=n,
        n_pre_periods=n_pre,
        n_post_periods=n_post,
        start=float(start),
        season_period=season_period,
        se_method=se_method,
        ar_coefficient=rho,
        hac_lags=lags,
        lag_rule=lag_rule,
        small_sample_correction=small_sample_correction,
        df_resid=df_resid,
        coefficient_names=names,
        coefficients=coefficients,
        covariance=covariance,
        model_covariance=model_covariance,
        ar_coefficient_se=None if gls is None else math.sqrt(gls.rho_variance),
        residual_sd=float(np.sqrt(tested @ tested / (n - k))),
        ljung_box=test,
        trajectory=trajectory,
        checks=checks,
        warnings=warnings,
        method=method,
    )
