"""Callaway & Sant'Anna (2021): group-time effects ATT(g, t), their aggregations and influence functions.

Without covariates each ATT(g, t) is a 2x2 comparison on a balanced panel: the mean change of the outcome from a
base period to period t among units first treated in g, minus the same mean change among the comparison units
(never treated, or not yet treated by period max(t, base)). The base period is g - 1 for t >= g; for t < g it is
t - 1 ('varying', the R did package's default) or g - 1 ('universal'). Weights are unit-level and normalised to
mean 1, as in did.

Influence function of unit i for cell (g, t), with n units, D = 1[first treated in g], C = 1[comparison]:

    psi_i = w_i D_i (dY_i - m_D) / mean(w D) - w_i C_i (dY_i - m_C) / mean(w C),

and the standard error of any estimate with influence function psi is sqrt(sum_c (sum_{i in c} psi_i)^2) / n over
clusters c (units by default: did's analytic standard error). With covariates each cell is instead the doubly
robust (or IPW, or regression) 2x2 estimator of :mod:`tools.did.drdid` on the cell's units, its influence
function scaled by n / n_cell as did does; everything downstream (aggregations, clustering, the small-sample
correction, the multiplier bootstrap, bands) reads only the influence functions and is unchanged.

Aggregations follow did's ``aggte``: weights pg = mean(w 1[G = g]) over all units, and the influence function
adds the term for estimated weights ("wif"),
which for cells K with S = sum_K pg_k and estimate theta reduces to w_i (A_g(i) - N_g(i) theta) / S, where A_g
sums the ATT of g's cells in K and N_g counts them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import special

from tools.did.drdid import TRIM_LEVEL, CellFit, CovariateProblem, fit_cell
from tools.did.panel import NEVER, Panel, dense_codes
from tools.did.welch import Groups, cluster_groups, corrected_sums
from tools.errors import ToolError

__all__ = ["Aggregate", "CsResult", "callaway_santanna"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: Largest influence-function matrix (units x cells) held in memory.
MAX_IF_ENTRIES = 60_000_000


@dataclass(frozen=True)
class Aggregate:
    """An aggregated effect with its influence function (None on the lean path) and the degrees of freedom of its
    t interval (Welch-Satterthwaite, see :mod:`tools.did.welch`; infinite without the small-sample correction)."""

    estimate: float
    influence: FloatArray | None
    std_error: float
    df: float = float("inf")


@dataclass(frozen=True)
class CsResult:
    cohorts: IntArray  # cell cohort codes
    periods: IntArray  # cell period codes
    att: FloatArray
    std_error: FloatArray
    df: FloatArray  # of each cell's t interval
    influence: FloatArray | None  # (units, cells)
    simple: Aggregate
    dynamic: dict[int, Aggregate]  # by relative period (within the requested window)
    dynamic_counts: dict[int, int]  # treated units behind each relative period
    dynamic_clusters: dict[int, int]  # clusters holding those units (one: no treated-side variance)
    dynamic_overall: Aggregate | None
    group: dict[int, Aggregate]
    group_overall: Aggregate | None
    pretest: tuple[float, int, float] | None  # (Wald chi-square, df, p-value)
    n_units: int
    n_obs: int
    cohort_sizes: dict[int, int]
    n_never: int
    n_clusters: int
    treated_clusters: int
    cluster_of: IntArray  # cluster code per unit
    groups: Groups | None  # cohort of each cluster, for the small-sample correction (None: R did's variance)
    notes: list[str]

    def cluster_sums(self, psi: FloatArray) -> FloatArray:
        """Influence functions (units x estimates) summed by cluster, small-sample corrected unless disabled."""
        if self.n_clusters != self.n_units:
            psi = np.column_stack(
                [
                    np.bincount(self.cluster_of, weights=psi[:, j], minlength=self.n_clusters)
                    for j in range(psi.shape[1])
                ]
            )
        return psi if self.groups is None else corrected_sums(psi, self.groups)[0]

    def covariance(self, aggregates: list[Aggregate]) -> FloatArray:
        """Covariance of aggregated estimates from their influence functions (clustered like the SEs)."""
        sums = self.cluster_sums(np.column_stack([a.influence for a in aggregates if a.influence is not None]))
        return np.asarray(np.einsum("ij,ik->jk", sums, sums) / self.n_units**2, dtype=np.float64)


def _balanced_units(panel: Panel, notes: list[str]) -> tuple[NDArray[np.bool_], IntArray]:
    """Rows of units observed in every period, and those units' codes."""
    per_unit = np.bincount(panel.unit, minlength=panel.n_units)
    full = per_unit == panel.n_periods
    if not full.all():
        notes.append(
            f"Callaway-Sant'Anna uses the balanced panel: {int((~full & (per_unit > 0)).sum()):,} unit(s) not "
            f"observed in all {panel.n_periods} periods were left out of it."
        )
    return full[panel.unit], np.flatnonzero(full)


def callaway_santanna(
    panel: Panel,
    control_group: str,
    base_period: str,
    leads: int | None = None,
    lags: int | None = None,
    inference: bool = True,
    small_sample: bool = True,
    covariate_method: str = "dr",
) -> CsResult:
    """ATT(g, t), aggregations and their inference; ``small_sample=False`` gives R did's analytic variance and
    normal intervals (df infinite), the default the Welch-type correction of :mod:`tools.did.welch`. With the
    panel's covariates each cell is :func:`tools.did.drdid.fit_cell` ('dr', 'ipw' or 'reg'), covariates taken in
    the earlier of the cell's two periods (R did's)."""
    notes: list[str] = []
    rows, units = _balanced_units(panel, notes)
    if len(units) == 0:
        raise ToolError(
            "unbalanced_panel",
            "No unit is observed in every period, so Callaway-Sant'Anna has no balanced panel to work with.",
            "Restrict the data to periods where units are observed throughout, or use estimator='twfe'.",
        )
    n_periods = panel.n_periods
    new_code = np.full(panel.n_units, -1, dtype=np.int64)
    new_code[units] = np.arange(len(units))
    unit = new_code[panel.unit[rows]]
    n = len(units)
    y = np.empty((n, n_periods))
    y[unit, panel.time[rows]] = panel.y[rows]
    x: FloatArray | None = None  # (units, periods, covariates)
    if panel.covariates is not None:
        x = np.empty((n, n_periods, panel.covariates.shape[1]))
        x[unit, panel.time[rows]] = panel.covariates[rows]
    cohort = panel.cohort[units]
    w = np.ones(n)
    if panel.weights is not None:
        wr = panel.weights[rows]
        w = np.bincount(unit, weights=wr, minlength=n) / n_periods
        if not np.allclose(wr, w[unit], rtol=1e-10, atol=0):
            raise ToolError(
                "weights_vary_within_unit",
                "Callaway-Sant'Anna needs one weight per unit, but the weights change over time within units.",
                "Use a fixed weight per unit (e.g. the first period's population), or estimator='twfe'.",
            )
    cluster_rows = panel.cluster[rows]
    cluster_of = np.empty(n, dtype=np.int64)
    cluster_of[unit] = cluster_rows
    if (cluster_of[unit] != cluster_rows).any():
        raise ToolError(
            "cluster_varies_within_unit",
            "The cluster column changes within units; Callaway-Sant'Anna clusters whole units.",
            "Cluster on a column that is constant within each unit (e.g. region), or on the unit itself.",
        )
    always = cohort == 0
    if always.any():
        notes.append(
            f"{int(always.sum()):,} unit(s) already treated in the first period were left out of "
            "Callaway-Sant'Anna (no pre-period to compare)."
        )
        keep = ~always
        y, cohort, w, cluster_of = y[keep], cohort[keep], w[keep], cluster_of[keep]
        x = None if x is None else x[keep]
        n = len(y)
    cluster_of, n_clusters = dense_codes(cluster_of)
    w = w / w.mean() if n else w
    never = cohort == NEVER
    cohort_codes = [int(g) for g in np.flatnonzero(np.bincount(cohort[~never], minlength=n_periods))]
    if not cohort_codes:
        raise ToolError(
            "no_treated_units",
            "No unit is treated after the first period, so there is no effect to estimate.",
            "Check the treatment (or cohort) column; units treated from the first period cannot be compared.",
        )
    if not never.any():
        if control_group == "never_treated":
            raise ToolError(
                "no_never_treated",
                "Every unit is eventually treated, so there are no never-treated comparison units.",
                "Use control_group='not_yet_treated' (later adopters serve as comparisons until they adopt).",
            )
        last = cohort_codes.pop()
        notes.append(
            f"No never-treated units: the last cohort ({panel.periods[last]}) serves only as a comparison group."
        )
        if not cohort_codes:
            raise ToolError(
                "no_comparison_units",
                "All treated units adopt in the same period and none stays untreated: there is no comparison.",
                "Add never-treated units (or units adopting later) to the data.",
            )
    cells: list[tuple[int, int, int]] = []  # (g, t, base)
    for g in cohort_codes:
        for t in range(n_periods):
            if t >= g:
                base = g - 1
            elif base_period == "varying":
                if t == 0:
                    continue
                base = t - 1
            else:
                if t == g - 1:
                    continue
                base = g - 1
            cells.append((g, t, base))
    if inference and n * len(cells) > MAX_IF_ENTRIES:
        raise ToolError(
            "too_large",
            f"{n:,} units x {len(cells):,} group-time cells is more than the influence functions can hold.",
            "Narrow the event window with leads/lags or aggregate periods (e.g. weeks to months).",
        )
    att_list, keep_cells = [], []
    influence = np.zeros((n, len(cells)), order="F") if inference else None  # columns contiguous
    skipped = trimmed = 0
    for j, (g, t, base) in enumerate(cells):
        treated = cohort == g
        control = never if control_group == "never_treated" else (cohort > max(t, base)) & (cohort != g)
        wd, wc = w * treated, w * control
        sd, sc = wd.sum(), wc.sum()
        if sc <= 0:
            skipped += 1
            continue
        dy = y[:, t] - y[:, base]
        if x is not None:
            cell = treated | control
            fit = _covariate_cell(panel, g, t, dy[cell], treated[cell], x[cell, min(t, base)], w[cell],
                                  covariate_method, influence is not None)  # fmt: skip
            att_list.append(fit.att)
            keep_cells.append(j)
            trimmed += fit.trimmed
            if influence is not None and fit.influence is not None:
                influence[cell, j] = n / int(cell.sum()) * fit.influence
            continue
        m_d, m_c = float(np.einsum("i,i->", wd, dy)) / sd, float(np.einsum("i,i->", wc, dy)) / sc
        att_list.append(m_d - m_c)
        keep_cells.append(j)
        if influence is not None:
            influence[:, j] = n * (wd * (dy - m_d) / sd - wc * (dy - m_c) / sc)
    if skipped:
        notes.append(f"{skipped:,} group-time cell(s) had no comparison units and were skipped.")
    if trimmed:
        notes.append(
            f"Propensity trimming: comparison units with a propensity score of {TRIM_LEVEL} or more got no weight "
            f"({trimmed:,} unit-cell(s) over all group-time cells), as R did does; they look like no treated unit."
        )
    if not keep_cells:
        raise ToolError(
            "no_comparison_units",
            "No group-time effect has comparison units.",
            "Add never-treated units, or use control_group='not_yet_treated'.",
        )
    cell_g = np.array([cells[j][0] for j in keep_cells], dtype=np.int64)
    cell_t = np.array([cells[j][1] for j in keep_cells], dtype=np.int64)
    att = np.array(att_list)
    if influence is not None and len(keep_cells) < len(cells):
        influence = np.asfortranarray(influence[:, keep_cells])

    groups = cluster_groups(cohort, cluster_of, n_clusters) if small_sample else None

    def se_df(psi: FloatArray | None) -> tuple[float, float]:
        if psi is None:
            return float("nan"), float("inf")
        sums = psi if n_clusters == n else np.bincount(cluster_of, weights=psi, minlength=n_clusters).astype(np.float64)
        df = float("inf")
        if groups is not None:
            corrected, dfs = corrected_sums(sums[:, None], groups)
            sums, df = corrected[:, 0], float(dfs[0])
        return float(np.sqrt(np.einsum("i,i->", sums, sums)) / n), df  # einsum: no BLAS threads for a dot

    def finish(theta: float, psi: FloatArray | None) -> Aggregate:
        return Aggregate(theta, psi, *se_df(psi))

    pg_of = {g: float(w[cohort == g].sum() / n) for g in cohort_codes}
    pg = np.array([pg_of[int(g)] for g in cell_g])

    def aggregate(select: NDArray[np.bool_], estimated_weights: bool = True) -> Aggregate:
        total = float(pg[select].sum())
        share = pg[select] / total
        theta = float(share @ att[select])
        if influence is None:
            return Aggregate(theta, None, float("nan"))
        psi = np.einsum("ij,j->i", influence[:, select], share)
        if estimated_weights:
            a_sum = dict.fromkeys(cohort_codes, 0.0)
            count = dict.fromkeys(cohort_codes, 0)
            for g, value in zip(cell_g[select], att[select], strict=True):
                a_sum[int(g)] += float(value)
                count[int(g)] += 1
            per_cohort = np.zeros(len(cohort_codes) + 1)
            lookup = np.full(len(cohort), len(cohort_codes), dtype=np.int64)
            for k, g in enumerate(cohort_codes):
                per_cohort[k] = (a_sum[g] - count[g] * theta) / total
                lookup[cohort == g] = k
            psi = psi + w * per_cohort[lookup]
        return finish(theta, psi)

    post = cell_t >= cell_g
    simple = aggregate(post)
    relative = cell_t - cell_g
    low = int(relative.min()) if leads is None else -leads
    high = int(relative.max()) if lags is None else lags
    dynamic = {int(e): aggregate(relative == e) for e in np.unique(relative) if low <= e <= high}
    dynamic_counts = {e: int(sum(int((cohort == g).sum()) for g in cell_g[relative == e])) for e in dynamic}
    dynamic_clusters = _treated_clusters(cohort, cluster_of, n_clusters, cell_g, relative, dynamic_counts)
    post_e = [e for e in dynamic if e >= 0]
    dynamic_overall = None
    if post_e:
        theta = float(np.mean([dynamic[e].estimate for e in post_e]))
        psi = None if influence is None else _mean([dynamic[e].influence for e in post_e])
        dynamic_overall = finish(theta, psi)
    group = {
        g: aggregate((cell_g == g) & post, estimated_weights=False)
        for g in cohort_codes
        if ((cell_g == g) & post).any()
    }
    group_overall = None
    if group:
        gs = list(group)
        weights = np.array([pg_of[g] for g in gs])
        total = float(weights.sum())
        theta = float(weights @ np.array([group[g].estimate for g in gs]) / total)
        psi = None
        if influence is not None:
            psi = np.zeros(n)
            for k, g in enumerate(gs):
                psi = psi + (weights[k] / total) * _known(group[g].influence)
            per_cohort = np.zeros(len(cohort_codes) + 1)
            lookup = np.full(len(cohort), len(cohort_codes), dtype=np.int64)
            for k, g in enumerate(cohort_codes):
                if g in group:
                    per_cohort[k] = (group[g].estimate - theta) / total
                lookup[cohort == g] = k
            psi = psi + w * per_cohort[lookup]
        group_overall = finish(theta, psi)
    cell_errors = [se_df(influence[:, j]) for j in range(len(att))] if influence is not None else []
    std_error = np.array([e[0] for e in cell_errors]) if cell_errors else np.full(len(att), np.nan)
    df = np.array([e[1] for e in cell_errors]) if cell_errors else np.full(len(att), np.inf)
    pretest = _pretest(att, influence, ~post, n, cluster_of, n_clusters) if influence is not None else None
    treated_clusters = int(np.count_nonzero(np.bincount(cluster_of[~never & np.isin(cohort, cohort_codes)])))
    return CsResult(
        cohorts=cell_g, periods=cell_t, att=att, std_error=std_error, df=df, influence=influence, simple=simple,
        dynamic=dynamic, dynamic_counts=dynamic_counts, dynamic_clusters=dynamic_clusters,
        dynamic_overall=dynamic_overall, group=group,
        group_overall=group_overall, pretest=pretest, n_units=n, n_obs=n * n_periods,
        cohort_sizes={g: int((cohort == g).sum()) for g in cohort_codes}, n_never=int(never.sum()),
        n_clusters=n_clusters, treated_clusters=treated_clusters, cluster_of=cluster_of, groups=groups, notes=notes,
    )  # fmt: skip


def _covariate_cell(
    panel: Panel,
    g: int,
    t: int,
    dy: FloatArray,
    treated: NDArray[np.bool_],
    x: FloatArray,
    w: FloatArray,
    method: str,
    influence: bool,
) -> CellFit:
    """One cell with covariates; a cell the covariates make inestimable becomes a ToolError naming it."""
    where = f"cohort {panel.periods[g]} in period {panel.periods[t]}"
    names = ", ".join(f"'{c}'" for c in panel.covariate_names)
    try:
        return fit_cell(dy, treated, x, w, method, influence)
    except CovariateProblem as problem:
        if problem.kind == "overlap":
            raise ToolError(
                "no_overlap",
                f"The covariates ({names}) almost perfectly separate {where} from its comparison units "
                f"({problem.detail}): some treated units have no comparable untreated unit, so the "
                "covariate-adjusted effect would rest on a handful of extreme weights.",
                "Drop or coarsen the covariate that predicts adoption, use control_group='not_yet_treated' for more "
                "comparison units, or use covariate_method='reg' (outcome regression, no propensity weights).",
            ) from problem
        raise ToolError(
            "collinear_covariates",
            f"The covariates ({names}) are collinear or constant among the units of {where} "
            f"({problem.detail}), so the adjustment cannot be estimated.",
            "Drop covariates that are constant within the comparison units or duplicate others (covariates are "
            "read in the earlier period of each comparison; time-invariant ones are typical).",
        ) from problem


def _treated_clusters(
    cohort: IntArray,
    cluster_of: IntArray,
    n_clusters: int,
    cell_g: IntArray,
    relative: IntArray,
    counts: dict[int, int],
) -> dict[int, int]:
    """Clusters holding the treated units behind each relative period (units themselves when clustering by unit)."""
    if n_clusters == len(cohort):
        return dict(counts)
    treated = np.isin(cohort, cell_g)  # period codes: cohort * n_clusters cannot overflow (NEVER could)
    pairs = np.unique(cohort[treated] * n_clusters + cluster_of[treated])
    clusters_of = {int(g): pairs[pairs // n_clusters == g] % n_clusters for g in np.unique(cell_g)}
    return {e: len(np.unique(np.concatenate([clusters_of[int(g)] for g in cell_g[relative == e]]))) for e in counts}


def _known(psi: FloatArray | None) -> FloatArray:
    assert psi is not None
    return psi


def _mean(columns: list[FloatArray | None]) -> FloatArray:
    return np.asarray(np.mean([_known(c) for c in columns], axis=0), dtype=np.float64)


def _pretest(
    att: FloatArray,
    influence: FloatArray,
    pre: NDArray[np.bool_],
    n: int,
    cluster_of: IntArray,
    n_clusters: int,
) -> tuple[float, int, float] | None:
    """did's Wald pre-test: all pre-period ATT(g, t) zero, chi-square with one df per pre cell."""
    if not pre.any():
        return None
    psi = influence[:, pre]
    if n_clusters != n:
        psi = np.column_stack(
            [np.bincount(cluster_of, weights=psi[:, j], minlength=n_clusters) for j in range(psi.shape[1])]
        )
    v = psi.T @ psi / n**2
    if np.linalg.cond(v) > 1e12:
        return None
    b = att[pre]
    wald = float(b @ np.linalg.solve(v, b))
    df = int(pre.sum())
    return wald, df, float(special.chdtrc(df, wald))
