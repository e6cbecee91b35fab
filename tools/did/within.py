"""Two-way fixed-effects least squares: the within transformation, coefficients and CRV1 standard errors.

Never dummy columns: unit and period effects are swept out by group means computed with ``np.bincount`` on the
integer codes. A balanced panel whose weights (if any) are constant within each unit has the closed form
``x - mean_unit - mean_period + grand mean`` (the two projections commute). Other panels are demeaned exactly
when units x periods is small enough (``EXACT_GRID_LIMIT``): unit means are swept out, then the period effects
solve a periods x periods normal system (pseudo-inverted once per sample). Beyond that, alternating projections
(unit means, then period means, repeated) run until a sweep moves no value by more than ``TOLERANCE`` times the
column's scale.

Standard errors are CRV1, with exactly the small-sample correction of pyfixest's default ``ssc()``
(``k_adj=True, k_fixef="nonnested", G_adj=True``), which is fixest's default:

    V = (N - 1) / (N - df_k) * G / (G - 1) * B^-1 M B^-1,   B = X~' W X~,   M = sum_g s_g s_g',
    s_g = sum over rows i in cluster g of w_i x~_i u~_i,

where ``N`` is the number of rows (analytic weights), ``G`` the number of clusters and

    df_k = k + (K_unit + K_time - 1) - K_nested + n_nested.

``k`` counts the estimated slopes, ``K_unit`` and ``K_time`` the levels of the two fixed effects (the ``- 1``:
one level per fixed effect after the first is redundant). A fixed effect is *nested* in the clusters when each
of its levels lies within a single cluster (the unit effect, when clustering by unit or by a coarser group);
``K_nested`` sums the levels of the nested fixed effects and ``n_nested`` counts them. So clustering by unit
gives ``df_k = k + K_time``. Inference uses t(G - 1). Like pyfixest's default ``fixef_rm="singleton"``,
observations that are alone in their unit or period are dropped first (repeatedly), since they carry no
information once the fixed effects are estimated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tools.errors import ToolError

__all__ = ["Fit", "Regressors", "crv1", "demean", "drop_singletons", "fit_within"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

TOLERANCE = 1e-13
#: Unbalanced or weighted panels with at most this many unit x period cells are demeaned exactly (one small
#: linear system for the period effects); larger ones by alternating projections.
EXACT_GRID_LIMIT = 5_000_000
MAX_SWEEPS = 100_000
#: A column whose demeaned norm is below this fraction of its raw norm is collinear with the fixed effects.
COLLINEAR = 1e-9
#: A column whose residual on the columns before it keeps less than this share of its demeaned sum of squares is
#: collinear with them (pyfixest's default collinearity tolerance is also 1e-10).
COLLINEAR_COLUMNS = 1e-10
#: Up to this many columns, products of tall matrices use einsum rather than BLAS (see ``cross``).
SMALL_K = 3


@dataclass(frozen=True)
class Regressors:
    """The two fixed effects and weights shared by every regression on one panel sample."""

    unit: IntArray
    time: IntArray
    n_units: int
    n_periods: int
    weights: FloatArray | None
    closed_form: bool
    unit_weight: FloatArray  # (weighted) row count per unit
    time_weight: FloatArray  # (weighted) row count per period
    layout: str | None = None  # "unit_major" (rows sorted by unit, then period) or "time_major", balanced only
    period_solver: FloatArray | None = None  # pseudo-inverse of the period-effect normal matrix (exact path)


@dataclass(frozen=True)
class Fit:
    """Coefficients with their CRV1 covariance and degrees of freedom."""

    names: list[str]
    coefficients: FloatArray
    covariance: FloatArray
    df_t: int  # G - 1
    dropped: list[str]  # columns dropped as collinear (only those the caller allowed to drop)


def drop_singletons(unit: IntArray, time: IntArray, n_units: int, n_periods: int) -> NDArray[np.bool_]:
    """Rows to keep: repeatedly drop rows alone in their unit or their period (pyfixest's ``fixef_rm``)."""
    keep = np.ones(len(unit), dtype=bool)
    while True:
        unit_count = np.bincount(unit[keep], minlength=n_units)
        time_count = np.bincount(time[keep], minlength=n_periods)
        if (unit_count != 1).all() and (time_count != 1).all():
            return keep
        alone = (unit_count[unit] == 1) | (time_count[time] == 1)
        keep &= ~alone


def regressors(unit: IntArray, time: IntArray, n_units: int, n_periods: int, weights: FloatArray | None) -> Regressors:
    """The fixed-effect structure; decides whether the closed-form two-way demeaning is exact."""
    unit_w = np.bincount(unit, weights=weights, minlength=n_units).astype(np.float64)
    time_w = np.bincount(time, weights=weights, minlength=n_periods).astype(np.float64)
    closed = len(unit) == n_units * n_periods  # duplicates were refused, so this is a full grid
    if closed and weights is not None:
        closed = bool(np.allclose(weights, (unit_w / n_periods)[unit], rtol=1e-12, atol=0.0))
    layout = None
    if closed:
        grid = (n_units, n_periods)
        if _is_grid(unit.reshape(grid), time.reshape(grid)):
            layout = "unit_major"
        elif _is_grid(unit.reshape(grid[::-1]).T, time.reshape(grid[::-1]).T):
            layout = "time_major"
    solver = None
    if not closed and n_units * n_periods <= EXACT_GRID_LIMIT:
        # Period effects after sweeping out unit means solve A b = r with A = diag(W_t) - V' diag(1/W_i) V,
        # V[i, t] the weight of unit i in period t (0 when unobserved); A is T x T, so one pseudo-inverse serves
        # every column (it also handles the constant direction and panels in disconnected pieces).
        v = np.zeros((n_units, n_periods))
        v[unit, time] = 1.0 if weights is None else weights
        normal = np.diag(time_w) - (v / unit_w[:, None]).T @ v
        solver = np.asarray(np.linalg.pinv(normal, rtol=1e-10, hermitian=True), dtype=np.float64)  # 1 is null
    return Regressors(unit, time, n_units, n_periods, weights, closed, unit_w, time_w, layout, solver)


def _is_grid(unit: IntArray, time: IntArray) -> bool:
    """Whether row (i, t) of the reshaped codes holds unit i' (the same along the row) and period t."""
    if not (time == np.arange(time.shape[1])).all() or not (unit == unit[:, :1]).all():
        return False
    return bool((np.bincount(unit[:, 0], minlength=unit.shape[0]) == 1).all())


def _grid(x: NDArray[Any], fe: Regressors) -> NDArray[Any]:
    """The column as a units x periods matrix (a view) for a panel in one of the grid layouts."""
    if fe.layout == "unit_major":
        return x.reshape(fe.n_units, fe.n_periods)
    return x.reshape(fe.n_periods, fe.n_units).T


def _means(codes: IntArray, n: int, x: FloatArray, w: FloatArray | None, w_sum: FloatArray) -> FloatArray:
    sums = np.bincount(codes, weights=x if w is None else x * w, minlength=n)
    return np.asarray(sums / w_sum, dtype=np.float64)


def demean(x: FloatArray, fe: Regressors, out: FloatArray | None = None) -> FloatArray:
    """One column with both fixed effects swept out (weighted when ``fe.weights`` is set); into ``out`` if given."""
    w, unit_w, time_w = fe.weights, fe.unit_weight, fe.time_weight
    if out is None:
        out = np.empty(len(x))
    if fe.layout is not None:
        # rows i, columns t (any unit order): x - row mean - weighted column mean + weighted grand mean
        grid, target = _grid(x, fe), _grid(out, fe)
        row_mean = grid.mean(axis=1)
        if w is None:
            col_mean = grid.mean(axis=0)
        else:
            unit_weight = _grid(w, fe)[:, 0]
            col_mean = (unit_weight / unit_weight.sum()) @ grid
        np.subtract(grid, row_mean[:, None], out=target)
        target -= col_mean - float(col_mean.mean())
        return out
    if fe.closed_form:
        unit_mean = _means(fe.unit, fe.n_units, x, w, unit_w)
        time_mean = _means(fe.time, fe.n_periods, x, w, time_w)
        grand = float(np.dot(time_mean, time_w) / time_w.sum())
        np.subtract(x, unit_mean[fe.unit], out=out)
        out -= time_mean[fe.time] - grand
        return out
    np.subtract(x, _means(fe.unit, fe.n_units, x, w, unit_w)[fe.unit], out=out)
    if fe.period_solver is not None:
        # exact: with r = x - unit mean, period effects b = A^+ (per-period weighted sums of r), and the two-way
        # residual is r - (b_t - weighted unit mean of b)
        effects = fe.period_solver @ np.bincount(fe.time, weights=out if w is None else out * w, minlength=fe.n_periods)
        on_rows = effects[fe.time]
        out -= on_rows
        out += _means(fe.unit, fe.n_units, on_rows, w, unit_w)[fe.unit]
        return out
    scale = max(float(np.max(np.abs(x))) if len(x) else 0.0, 1e-300)
    for _ in range(MAX_SWEEPS):
        time_mean = _means(fe.time, fe.n_periods, out, w, time_w)
        out -= time_mean[fe.time]
        unit_mean = _means(fe.unit, fe.n_units, out, w, unit_w)
        out -= unit_mean[fe.unit]
        if max(float(np.max(np.abs(time_mean))), float(np.max(np.abs(unit_mean)))) <= TOLERANCE * scale:
            return out
    raise ToolError(
        "no_convergence",
        "The fixed-effects demeaning did not converge (the panel is very sparse or split into disconnected parts).",
        "Check that units share periods with each other; drop units observed in a single period.",
    )


def fit_within(
    y: FloatArray,
    columns: Sequence[FloatArray],
    names: list[str],
    fe: Regressors,
    cluster: IntArray,
    n_clusters: int,
    droppable: set[str] | None = None,
    with_covariance: bool = True,
) -> Fit:
    """Least squares of ``y`` on ``columns`` (named ``names``) with unit and period effects; CRV1 covariance.

    Columns collinear with the fixed effects or with earlier columns are dropped when listed in ``droppable``
    (reported in ``Fit.dropped``); any other collinear column is a ToolError naming it.
    """
    w = fe.weights
    y_dm = demean(y, fe)
    x_dm = np.empty((len(y), len(columns)), order="F")
    raw_norm = np.empty(len(columns))
    for j, column in enumerate(columns):
        raw_norm[j] = float(np.dot(column, column if w is None else column * w))
        demean(column, fe, out=x_dm[:, j])
    xw = x_dm if w is None else x_dm * w[:, None]
    gram = cross(xw, x_dm)
    keep_cols = _independent(gram, raw_norm, names, droppable or set())
    dropped = [n for j, n in enumerate(names) if j not in keep_cols]
    kept_names = [names[j] for j in keep_cols]
    if len(keep_cols) < len(columns):
        x_dm, xw = x_dm[:, keep_cols], xw[:, keep_cols]
    bread = gram[np.ix_(keep_cols, keep_cols)]
    beta: FloatArray = np.asarray(np.linalg.solve(bread, cross(xw, y_dm[:, None])[:, 0]), dtype=np.float64)
    if not with_covariance:
        return Fit(kept_names, beta, np.full((len(beta), len(beta)), np.nan), n_clusters - 1, dropped)
    resid = y_dm - (np.einsum("ij,j->i", x_dm, beta) if len(beta) <= SMALL_K else x_dm @ beta)
    covariance = crv1(xw, resid, bread, fe, cluster, n_clusters)
    return Fit(kept_names, beta, covariance, n_clusters - 1, dropped)


def fit_indicators(
    y: FloatArray, bins: IntArray, names: list[str], fe: Regressors, with_covariance: bool = True
) -> Fit:
    """``fit_within`` for disjoint 0/1 columns (column j is ``bins == j``; -1 for none) on an unweighted balanced
    grid clustered by unit, without building the n x k design: with A[i, j] the cells of unit i in column j,
    C[t, j] those of period t and c_j their total (N units, T periods), the demeaned column is
    1[bin = j] - A[i, j] / T - C[t, j] / N + c_j / (N T), so the Gram matrix is diag(c) - A'A / T - C'C / N
    + c c' / (N T), X~'y~ sums y~ per column, and unit i's score for column j is the sum of its residuals in
    column j minus (U C)[i, j] / N (U: residuals as units x periods; their unit sums are 0)."""
    assert fe.layout is not None and fe.weights is None
    k, n_units, n_periods = len(names), fe.n_units, fe.n_periods
    grid_bins = _grid(bins, fe)
    on = grid_bins >= 0
    rows = np.broadcast_to(np.arange(n_units)[:, None], grid_bins.shape)[on]
    periods = np.broadcast_to(np.arange(n_periods)[None, :], grid_bins.shape)[on]
    which = grid_bins[on]
    per_unit = np.bincount(rows * k + which, minlength=n_units * k).reshape(n_units, k).astype(np.float64)
    per_period = np.bincount(periods * k + which, minlength=n_periods * k).reshape(n_periods, k).astype(np.float64)
    counts = per_period.sum(axis=0)
    gram = (
        np.diag(counts) - cross(per_unit, per_unit) / n_periods - per_period.T @ per_period / n_units
        + np.outer(counts, counts) / (n_units * n_periods)
    )  # fmt: skip
    keep_cols = _independent(gram, counts, names, set(names), fe_tolerance=COLLINEAR_COLUMNS)
    dropped = [n for j, n in enumerate(names) if j not in keep_cols]
    y_dm = demean(y, fe)
    moment = np.bincount(which, weights=_grid(y_dm, fe)[on], minlength=k)
    bread = gram[np.ix_(keep_cols, keep_cols)]
    beta: FloatArray = np.asarray(np.linalg.solve(bread, moment[keep_cols]), dtype=np.float64)
    kept_names = [names[j] for j in keep_cols]
    if not with_covariance:
        return Fit(kept_names, beta, np.full((len(beta), len(beta)), np.nan), n_units - 1, dropped)
    full_beta = np.zeros(k + 1)  # index -1 (no column) reads the trailing 0
    full_beta[keep_cols] = beta
    fitted = full_beta[bins]
    resid = y_dm - demean(fitted, fe)
    grid_resid = _grid(resid, fe)
    own = np.bincount(rows * k + which, weights=grid_resid[on], minlength=n_units * k).reshape(n_units, k)
    sums = (own - grid_resid @ per_period / n_units)[:, keep_cols]
    covariance = _crv1_from_sums(sums, bread, len(y), fe, fe.unit, n_units)
    return Fit(kept_names, beta, covariance, n_units - 1, dropped)


def cross(a: FloatArray, b: FloatArray) -> FloatArray:
    """``a.T @ b`` for tall matrices: einsum for a few columns (OpenBLAS's threads cost more than they save on
    a busy machine there), BLAS beyond."""
    if a.shape[1] <= SMALL_K and b.shape[1] <= SMALL_K:
        return np.asarray(np.einsum("ij,ik->jk", a, b), dtype=np.float64)
    return np.asarray(a.T @ b, dtype=np.float64)


def _independent(
    gram: FloatArray, raw_norm: FloatArray, names: list[str], droppable: set[str], fe_tolerance: float = COLLINEAR**2
) -> list[int]:
    """Indices of columns to keep: greedy, in order, dropping those (nearly) spanned by the fixed effects (their
    demeaned sum of squares below ``fe_tolerance`` times the raw one) or by the columns kept before them (the
    residual sum of squares below ``COLLINEAR_COLUMNS`` times the demeaned one: the Schur complement is only
    accurate to about machine epsilon times the diagonal)."""
    kept: list[int] = []
    for j in range(gram.shape[0]):
        own = float(gram[j, j])
        residual = own
        if kept:
            g_kk = gram[np.ix_(kept, kept)]
            g_kj = gram[kept, j]
            residual -= float(g_kj @ np.linalg.solve(g_kk, g_kj))
        if raw_norm[j] > 0 and own > fe_tolerance * raw_norm[j] and residual > COLLINEAR_COLUMNS * own:
            kept.append(j)
        elif names[j] not in droppable:
            raise ToolError(
                "collinear",
                f"'{names[j]}' is collinear with the unit and period effects"
                + (" or with the other regressors." if kept else ".")
                + " Its effect cannot be separated from them.",
                "Drop that column: a control that is constant within units or periods is already absorbed, and a "
                "treatment that starts at the same period for every unit has no untreated comparison.",
            )
    return kept


def crv1(
    xw: FloatArray, resid: FloatArray, bread: FloatArray, fe: Regressors, cluster: IntArray, n_clusters: int
) -> FloatArray:
    """CRV1 covariance with pyfixest's default small-sample correction (see the module docstring); the scores
    are the rows of ``xw`` (weighted demeaned regressors) times the residuals."""
    n, k = xw.shape
    if cluster is fe.unit and fe.layout is not None:
        # per unit: sum over its periods of x~ u~, as one batched product on the units x periods grid
        residual = _grid(resid, fe)
        sums = np.empty((n_clusters, k))
        for j in range(k):
            sums[:, j] = (_grid(np.ascontiguousarray(xw[:, j]), fe) * residual).sum(axis=1)
    else:
        sums = np.empty((n_clusters, k))
        for j in range(k):
            sums[:, j] = np.bincount(cluster, weights=xw[:, j] * resid, minlength=n_clusters)
    return _crv1_from_sums(sums, bread, n, fe, cluster, n_clusters)


def _crv1_from_sums(
    sums: FloatArray, bread: FloatArray, n: int, fe: Regressors, cluster: IntArray, n_clusters: int
) -> FloatArray:
    k = sums.shape[1]
    meat = cross(sums, sums)
    bread_inv = np.linalg.inv(bread)
    k_fe = fe.n_units + fe.n_periods - 1  # n_fe = 2: one level of the second effect is redundant
    if cluster is fe.unit:  # the unit effect is nested; the period effect is not (every period has 2+ units)
        nested = [fe.n_units]
    else:
        nested = [
            levels
            for levels, codes in ((fe.n_units, fe.unit), (fe.n_periods, fe.time))
            if _nested(codes, levels, cluster, n_clusters)
        ]
    df_k = k + k_fe - sum(nested) + len(nested)
    g = n_clusters
    if n <= df_k or g <= 1:  # no residual degrees of freedom, or one cluster: nothing to measure the error from
        raise ToolError(
            "degenerate_fit",
            f"The cluster-robust standard error cannot be computed: {n:,} observations leave no residual degrees "
            f"of freedom after the {df_k:,} parameters and fixed effects, or there is a single cluster ({g:,}).",
            "Cluster by the unit (or leave `cluster` out), or use a panel with more units or periods.",
        )
    adjust = (n - 1) / (n - df_k) * g / (g - 1)
    covariance = adjust * (bread_inv @ meat @ bread_inv)
    return np.asarray((covariance + covariance.T) / 2, dtype=np.float64)


def _nested(codes: IntArray, levels: int, cluster: IntArray, n_clusters: int) -> bool:
    """Whether every level of a fixed effect lies within a single cluster."""
    if codes is cluster:
        return True
    first = np.full(levels, -1, dtype=np.int64)
    first[codes] = cluster
    return bool((first[codes] == cluster).all())
