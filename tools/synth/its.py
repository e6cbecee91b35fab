"""Interrupted time series: one series, no donors, a change at a known start.

The honest fallback when nothing comparable to the changed unit exists (a national launch, a price change
everywhere): segmented least squares of the outcome on time,

    y_t = b0 + b1 * t + level_change * post_t + slope_change * post_t * (t - t0) + seasons + e_t,

with ``t`` the period number (0 for the first observation), ``t0`` the first post-period, ``post_t`` 1 from ``t0``
on, and optional seasonal dummies (one per season of a given period, the first observation's season the
reference). The counterfactual is the same fit with ``level_change`` and ``slope_change`` set to zero: the
pre-period trend (and seasons) projected forward. The effect in post-period ``t`` is
``level_change + slope_change * (t - t0)``; its average over the post-period equals the average observed gap
against the counterfactual exactly (the post indicator is a regressor, so the post residuals sum to zero), and
the cumulative gap is that average times the number of post-periods. Their standard errors are those of linear
combinations of the coefficients (the delta method, exact here).

Standard errors are Newey-West (HAC, Bartlett kernel): ``V = B S B`` with ``B = (X'X)^-1`` and
``S = sum_t g_t g_t' + sum_{j=1..L} (1 - j / (L + 1)) sum_t (g_t g_{t-j}' + g_{t-j} g_t')``, ``g_t = x_t e_t``,
optionally times ``T / (T - k)`` (the small-sample correction Stata's ``newey`` applies; statsmodels'
``cov_type="HAC"`` with ``use_correction=True``), with ``t(T - k)`` intervals and p-values. The lag ``L`` is the
caller's or Newey and West's (1994) rule ``floor(4 (T / 100) ^ (2 / 9))``.

Checks: enough pre- and post-periods, autocorrelation left in the residuals (Ljung-Box), the known
undercoverage of Newey-West intervals in short series (with the simulated figures), and the one assumption the
data cannot test, said loudly: anything else that changed at the same moment is confounded with the change.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
from scipy import stats

from tools.errors import ToolError
from tools.results import Check, Estimate, require_inference

__all__ = [
    "CONFOUNDING",
    "ItsResult",
    "ItsTrajectory",
    "LjungBox",
    "interrupted_time_series",
    "ljung_box",
    "newey_west_lags",
]

FloatArray = npt.NDArray[np.float64]

#: Pre-periods below which the projected trend is not credible (fail), and below which it is thin (warn).
MIN_PRE_PERIODS: Final = 8
GOOD_PRE_PERIODS: Final = 12
#: Post-periods below which the slope change and the long-run gap rest on few points (warn).
GOOD_POST_PERIODS: Final = 8
#: Ljung-Box p-value below which residual autocorrelation is reported.
LJUNG_BOX_ALPHA: Final = 0.05
#: Series shorter than this get the warning that Newey-West intervals are too narrow (tests/tools/test_synth_its.py
#: pins the simulated coverage the warning quotes).
SHORT_SERIES: Final = 300

SMALL_SAMPLE_COVERAGE: Final = (
    "Newey-West intervals are too narrow in short series: in seeded simulations with AR(1) errors (coefficient "
    "0.5), the nominal 95% interval of the level change covered the truth about 81% of the time at 72 periods "
    "(48 + 24) and about 88% at 300 (200 + 100); with independent errors and no lags, about 95%."
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
    ``average_gap`` the mean effect over the post-period (equal to the mean of observed minus counterfactual),
    ``cumulative_gap`` its sum over the post-period, ``pre_trend`` the per-period trend before the start.
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
    hac_lags: int
    lag_rule: str
    small_sample_correction: bool
    df_resid: int
    coefficient_names: tuple[str, ...]
    coefficients: FloatArray
    covariance: FloatArray
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


def _estimate(value: float, std_error: float, df: int, alpha: float, what: str, scale: float) -> Estimate:
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
    n_pre: int, n_post: int, season_period: int | None, test: LjungBox, lags: int
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
    checks.append(
        Check(
            name="residual_autocorrelation",
            status="warn" if autocorrelated else "pass",
            detail=f"Ljung-Box on the residuals up to lag {test.lags}: Q = {test.statistic:.2f}, "
            f"p = {test.p_value:.3g}. "
            + (
                f"Autocorrelation is left in the residuals: the Newey-West standard errors (lag {lags}) allow for "
                "it, but they are too narrow when it is strong or long-lived in a short series; add seasonal terms "
                "if the series has seasons, raise the lag, or read the intervals as optimistic."
                if autocorrelated
                else "No autocorrelation detected beyond what the Newey-West standard errors allow for."
            ),
        )
    )
    if autocorrelated:
        warnings.append(
            f"Autocorrelation is left in the residuals (Ljung-Box p = {test.p_value:.3g}): the intervals may be "
            "too narrow."
        )
    n_obs = n_pre + n_post
    short = n_obs < SHORT_SERIES
    checks.append(
        Check(
            name="interval_coverage",
            status="warn" if short else "pass",
            detail=f"{n_obs} periods. {SMALL_SAMPLE_COVERAGE}"
            + (" Read the intervals and p-values as optimistic." if short else ""),
        )
    )
    if short:
        warnings.append(
            f"With {n_obs} periods the Newey-West intervals are likely too narrow when errors are autocorrelated."
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
    hac_lags: int | None = None,
    small_sample_correction: bool = True,
    alpha: float = 0.05,
) -> ItsResult:
    """Segmented regression of one series on time with a level and a slope change at ``start``.

    ``outcome``: the series, one value per period in time order (a numpy array or pandas Series; no gaps).
    ``time``: the periods, equally spaced and increasing (default 0, 1, 2, ...); ``start`` is the first period
    of the change on that scale (periods at or after it are post-periods). ``season_period``: the number of
    periods in a season (12 for months in a year, 52 for weeks, 7 for days in a week) to add seasonal dummies.
    ``hac_lags``: Newey-West lags (default Newey and West's rule). Raises ``ToolError`` for input a caller can fix.
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

    scale = float(np.abs(y).max())
    level, slope = names.index("level_change"), names.index("slope_change")
    since = design[:, slope]

    def combination(weights: FloatArray, what: str) -> Estimate:
        value = float(weights @ coefficients)
        std_error = math.sqrt(max(0.0, float(weights @ covariance @ weights)))
        return _estimate(value, std_error, df_resid, alpha, what, scale)

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
    test = ljung_box(residuals, test_lags)
    checks, warnings = _checks(n_pre, n_post, season_period, test, lags)
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
    coefficients.setflags(write=False)
    covariance.setflags(write=False)
    seasons = f", {season_period - 1} seasonal dummies (period {season_period})" if season_period else ""
    method = (
        f"Interrupted time series: least squares of the outcome on an intercept, a linear trend, a level change "
        f"and a slope change at the start{seasons}; {n_pre} pre- and {n_post} post-periods. Newey-West (HAC) "
        f"standard errors with {lags} lags (rule: {lag_rule})"
        + (", small-sample correction T/(T-k)" if small_sample_correction else "")
        + f"; t({df_resid}) intervals. The counterfactual projects the pre-period trend and seasons."
    )
    return ItsResult(
        level_change=combination(unit(level), "the level change"),
        slope_change=combination(unit(slope), "the slope change"),
        average_gap=combination(average, "the average post-period gap"),
        cumulative_gap=combination(n_post * average, "the cumulative post-period gap"),
        pre_trend=combination(unit(names.index("trend")), "the pre-period trend"),
        alpha=alpha,
        n_obs=n,
        n_pre_periods=n_pre,
        n_post_periods=n_post,
        start=float(start),
        season_period=season_period,
        hac_lags=lags,
        lag_rule=lag_rule,
        small_sample_correction=small_sample_correction,
        df_resid=df_resid,
        coefficient_names=names,
        coefficients=coefficients,
        covariance=covariance,
        residual_sd=float(np.sqrt(residuals @ residuals / df_resid)),
        ljung_box=test,
        trajectory=trajectory,
        checks=checks,
        warnings=warnings,
        method=method,
    )
