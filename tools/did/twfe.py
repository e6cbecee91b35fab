"""Regression estimators on the panel: static two-way fixed effects, the event study and its pre-trend test."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import overload

import numpy as np
from numpy.typing import NDArray
from scipy import special

from tools.did.panel import NEVER, Panel, dense_codes
from tools.did.within import Fit, Regressors, drop_singletons, fit_indicators, fit_within, regressors
from tools.errors import ToolError
from tools.results import Estimate

__all__ = [
    "EventStudyFit",
    "Sample",
    "estimate_t",
    "event_study",
    "pretrend_f",
    "regression_sample",
    "static_twfe",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
TREATMENT = "treated"


@dataclass(frozen=True)
class EventStudyFit:
    """Event-study coefficients with their cluster-robust covariance, for sensitivity analysis.

    ``relative_periods`` are sorted and exclude the reference period; ``n_pre`` of them are leads (negative).
    """

    relative_periods: list[int]
    coefficients: FloatArray
    covariance: FloatArray
    reference_period: int
    n_pre: int


@dataclass(frozen=True)
class Sample:
    """The regression sample: the panel without fixed-effect singletons."""

    y: FloatArray
    unit: IntArray
    time: IntArray
    cohort_row: IntArray  # the row's unit's adoption period code, or NEVER
    cluster: IntArray
    n_clusters: int
    covariates: FloatArray | None
    fe: Regressors
    dropped_singletons: int


def regression_sample(panel: Panel) -> Sample:
    keep = drop_singletons(panel.unit, panel.time, panel.n_units, panel.n_periods)
    dropped = int(len(keep) - np.count_nonzero(keep))
    if dropped:
        rows = np.flatnonzero(keep)
        unit, n_units = _recode(panel.unit[rows])
        time, n_periods = _recode(panel.time[rows])
        cluster, n_clusters = _recode(panel.cluster[rows])
        y = panel.y[rows]
        weights = None if panel.weights is None else panel.weights[rows]
        covariates = None if panel.covariates is None else panel.covariates[rows]
        cohort_row = panel.cohort[panel.unit[rows]]
        # period codes were renumbered: adoption codes must follow (a cohort keeps its calendar period)
        old_periods = np.unique(panel.time[rows])
        cohort_row = np.where(cohort_row == NEVER, NEVER, np.searchsorted(old_periods, cohort_row)).astype(np.int64)
    else:
        unit, n_units, time, n_periods = panel.unit, panel.n_units, panel.time, panel.n_periods
        cluster, n_clusters = panel.cluster, panel.n_clusters
        y, weights, covariates = panel.y, panel.weights, panel.covariates
        cohort_row = panel.cohort[panel.unit]
    if n_periods < 2 or len(y) == 0:
        raise ToolError(
            "single_period",
            "After removing units seen only once, fewer than two periods remain.",
            "Include units observed before and after the change.",
        )
    if n_clusters < 2:
        raise ToolError(
            "too_few_clusters",
            "All rows fall into a single cluster, so no cluster-robust standard error exists.",
            "Cluster on the unit (the default) or on a column with at least two values.",
        )
    fe = regressors(unit, time, n_units, n_periods, weights)
    return Sample(y, unit, time, cohort_row, cluster, n_clusters, covariates, fe, dropped)


def _recode(codes: IntArray) -> tuple[IntArray, int]:
    return dense_codes(codes)


def _columns(sample: Sample, columns: list[FloatArray]) -> list[FloatArray]:
    if sample.covariates is not None:
        columns.extend(np.ascontiguousarray(sample.covariates[:, j]) for j in range(sample.covariates.shape[1]))
    return columns


def static_twfe(
    sample: Sample, covariate_names: list[str], with_covariance: bool = True, drop_absorbed: bool = False
) -> Fit:
    """y on the treated-in-this-period indicator (and covariates) with unit and period effects; ``drop_absorbed``
    leaves out covariates the effects absorb (time-invariant ones) instead of refusing them."""
    treated = (sample.time >= sample.cohort_row).astype(np.float64)
    if not treated.any():
        raise ToolError(
            "no_treated_units",
            "No row is treated: no unit ever receives the treatment in the data.",
            "Check the treatment (or cohort) column and the filters applied to the data.",
        )
    names = [TREATMENT, *covariate_names]
    columns = _columns(sample, [treated])
    return fit_within(
        sample.y, columns, names, sample.fe, sample.cluster, sample.n_clusters,
        droppable=set(covariate_names) if drop_absorbed else None, with_covariance=with_covariance,
    )  # fmt: skip


def estimate_t(value: float, variance: float, df: float, alpha: float) -> Estimate:
    """An estimate with t(df) interval and two-sided p-value."""
    se = float(np.sqrt(max(variance, 0.0)))
    crit = float(special.stdtrit(df, 1 - alpha / 2))
    p = float(2 * special.stdtr(df, -abs(value) / se)) if se > 0 else (1.0 if value == 0 else 0.0)
    return Estimate(
        estimate=value, std_error=se, ci_lower=value - crit * se, ci_upper=value + crit * se, p_value=min(p, 1.0),
        alpha=alpha,
    )  # fmt: skip


@dataclass(frozen=True)
class EventStudy:
    """The regression event study: coefficients by relative period, with counts of treated rows."""

    fit: Fit
    relative_periods: list[int]  # of fit's event columns, sorted
    counts: dict[int, int]  # treated rows at each relative period (after binning), reference included
    reference_period: int
    dropped: list[int]


def event_study(
    sample: Sample,
    covariate_names: list[str],
    reference_period: int,
    leads: int | None,
    lags: int | None,
    with_covariance: bool = True,
) -> EventStudy:
    """TWFE with indicators of periods relative to adoption (treated units only); the reference omitted.

    Relative periods beyond ``leads`` before / ``lags`` after adoption are binned into the end points.
    """
    ever = sample.cohort_row != NEVER
    if not ever.any():
        raise ToolError(
            "no_treated_units",
            "No unit is ever treated in the data.",
            "Check the treatment (or cohort) column and the filters applied to the data.",
        )
    relative = sample.time[ever] - sample.cohort_row[ever]
    low = int(relative.min()) if leads is None else max(-leads, int(relative.min()))
    high = int(relative.max()) if lags is None else min(lags, int(relative.max()))
    if not low <= reference_period <= high or reference_period >= 0:
        raise ToolError(
            "bad_reference_period",
            f"The reference period {reference_period} is outside the event window {low} to {high} (treated units "
            "are seen from that many periods before adoption).",
            "Use reference_period=-1, or a lead that exists in the data and inside `leads`.",
        )
    binned = np.clip(relative, low, high)
    tally = np.bincount(binned - low, minlength=high - low + 1)
    periods = np.flatnonzero(tally) + low
    count_of = {int(e): int(tally[e - low]) for e in periods}
    event_periods = [int(e) for e in periods if e != reference_period]
    # column order for the collinearity pass: the most distant lead last, so that it is the one dropped when the
    # design is short of rank (no never-treated units leave one relative period unidentified)
    order = event_periods[1:] + event_periods[:1] if event_periods and event_periods[0] < 0 else event_periods
    names = [f"rel_{e}" for e in order]
    covariates = [] if sample.covariates is None else list(sample.covariates.T)
    fe = sample.fe
    if fe.layout is not None and fe.weights is None and not covariates and sample.cluster is fe.unit:
        bins = np.full(len(sample.y), -1, dtype=np.int64)
        position = {e: j for j, e in enumerate(order)}
        lookup = np.array([position.get(e, -1) for e in range(low, high + 1)], dtype=np.int64)
        bins[np.flatnonzero(ever)] = lookup[binned - low]
        fit = fit_indicators(sample.y, bins, names, fe, with_covariance=with_covariance)
    else:
        columns = _Indicators(np.flatnonzero(ever), binned, order, len(sample.y), covariates)
        fit = fit_within(
            sample.y, columns, [*names, *covariate_names], fe, sample.cluster, sample.n_clusters,
            droppable=set(names), with_covariance=with_covariance,
        )  # fmt: skip
    dropped = sorted(int(n[4:]) for n in fit.dropped)
    kept = [int(n[4:]) for n in fit.names if n.startswith("rel_")]
    if not kept:
        raise ToolError(
            "no_comparison_units",
            "No event-study coefficient is identified: there are no untreated comparison rows.",
            "Add never-treated units or periods before adoption.",
        )
    index = np.argsort(kept)
    cols = [int(i) for i in index]
    fit = Fit(
        names=[fit.names[i] for i in cols] + fit.names[len(kept) :],
        coefficients=np.concatenate([fit.coefficients[cols], fit.coefficients[len(kept) :]]),
        covariance=_reorder(fit.covariance, cols, len(kept)),
        df_t=fit.df_t,
        dropped=fit.dropped,
    )
    return EventStudy(fit, sorted(kept), count_of, reference_period, dropped)


class _Indicators(Sequence[FloatArray]):
    """The event-time indicator columns, built one at a time when the regression asks for them (then the
    covariates): the dense n x k design never exists, only its demeaned copy."""

    def __init__(
        self, rows: IntArray, binned: IntArray, order: list[int], n: int, covariates: list[FloatArray]
    ) -> None:
        self.rows, self.binned, self.order, self.n, self.covariates = rows, binned, order, n, covariates

    def __len__(self) -> int:
        return len(self.order) + len(self.covariates)

    @overload
    def __getitem__(self, index: int) -> FloatArray: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[FloatArray]: ...
    def __getitem__(self, index: int | slice) -> FloatArray | Sequence[FloatArray]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if not -len(self) <= index < len(self):
            raise IndexError(index)
        index %= len(self)
        if index >= len(self.order):
            return np.ascontiguousarray(self.covariates[index - len(self.order)])
        column = np.zeros(self.n)
        column[self.rows[self.binned == self.order[index]]] = 1.0
        return column


def _reorder(covariance: FloatArray, cols: list[int], n_event: int) -> FloatArray:
    order = cols + list(range(n_event, covariance.shape[0]))
    return np.asarray(covariance[np.ix_(order, order)], dtype=np.float64)


def event_fit(study: EventStudy) -> EventStudyFit:
    k = len(study.relative_periods)
    return EventStudyFit(
        relative_periods=list(study.relative_periods),
        coefficients=np.array(study.fit.coefficients[:k], dtype=np.float64),
        covariance=np.array(study.fit.covariance[:k, :k], dtype=np.float64),
        reference_period=study.reference_period,
        n_pre=sum(1 for e in study.relative_periods if e < 0),
    )


def post_weights(study: EventStudy) -> FloatArray:
    """Weights of the event-study ATT: treated rows at each post-adoption period, normalised (0 for leads)."""
    weights = np.array([study.counts[e] if e >= 0 else 0 for e in study.relative_periods], dtype=np.float64)
    if weights.sum() == 0:
        raise ToolError(
            "no_post_periods", "No treated unit is observed after adoption.", "Include periods after the change."
        )
    return np.asarray(weights / weights.sum(), dtype=np.float64)


def post_value(study: EventStudy) -> float:
    """The event-study ATT: post-adoption coefficients averaged with weights = treated rows at each period."""
    return float(post_weights(study) @ study.fit.coefficients[: len(study.relative_periods)])


def post_average(study: EventStudy, alpha: float) -> Estimate:
    """``post_value`` with its t(G - 1) interval."""
    k = len(study.relative_periods)
    weights = post_weights(study)
    variance = float(weights @ study.fit.covariance[:k, :k] @ weights)
    return estimate_t(post_value(study), variance, study.fit.df_t, alpha)


def wald_f(b: FloatArray, v: FloatArray, n_clusters: int) -> tuple[float, float, int, int, float] | None:
    """Cluster-robust Wald test that ``b`` is zero: (W, F, q, G - q, p-value) with the Hotelling-type correction
    F = W (G - q) / (q (G - 1)) ~ F(q, G - q); None when there is nothing to test or q >= G."""
    q = len(b)
    if q == 0 or q >= n_clusters:
        return None
    try:
        wald = float(b @ np.linalg.solve(v, b))
    except np.linalg.LinAlgError:
        wald = float(b @ np.linalg.pinv(v) @ b)
    dfd = n_clusters - q
    f_value = wald * dfd / (q * (n_clusters - 1))
    return wald, f_value, q, dfd, float(special.fdtrc(q, dfd, f_value))


def pretrend_f(study: EventStudy, n_clusters: int) -> tuple[float, float, int, int, float] | None:
    """Joint test that every lead of the regression event study is zero (see ``wald_f``)."""
    leads = [i for i, e in enumerate(study.relative_periods) if e < 0]
    b = study.fit.coefficients[leads]
    return wald_f(b, study.fit.covariance[np.ix_(leads, leads)], n_clusters)
