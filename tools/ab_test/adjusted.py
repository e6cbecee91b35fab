"""ab_test's row-level adjustments: which metric takes which, the refusals, and each comparison's adjusted
numbers beside the unadjusted difference on the same rows.

A metric with ``covariates`` takes Lin's regression adjustment (binary: logistic standardisation); a ratio metric
with ``covariate_column`` takes ratio CUPED (with ``covariate_denominator_column``); with ``strata_column``, every
other metric is post-stratified. Each treatment arm is compared with control on the two arms' rows only (as
estimatr on a subset). They need the rows in memory: summaries and tables in an engine are refused with what to do
instead, and so is ``cluster_column`` for all but Lin's adjustment (cluster-robust CR1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tools.ab_test.adjust import Fit, Singular, lin_fit, logistic_fit, ratio_cuped_fit, stratified_fit
from tools.ab_test.inputs import arm_labels
from tools.ab_test.metric_columns import metric_values
from tools.ab_test.models import AbTestRequest, AdjustmentDetail, MetricSpec
from tools.ab_test.stats import ArmEstimate, compare, interval, p_of_z, relative_lift
from tools.data import Dataset
from tools.data.columns import column as frame_column
from tools.data.names import display_name
from tools.errors import ToolError
from tools.results import Check, Estimate

__all__ = [
    "Adjusted",
    "AdjustmentRows",
    "ArmRows",
    "adjustment_checks",
    "adjustment_kind",
    "adjustment_method",
    "check_adjustments",
    "for_moments",
]

#: Fewest units of each arm in a stratum: a stratum's variance needs two.
MIN_PER_STRATUM = 2


def adjustment_kind(request: AbTestRequest, spec: MetricSpec) -> str | None:
    """The row-level adjustment ``spec`` takes, or None (the moments path: plain, or single-covariate CUPED; and
    quantile metrics and bootstrap intervals, which ``resampled`` computes and which refuse adjustments)."""
    if spec.kind == "quantile" or request.interval == "bootstrap":
        return None
    if spec.covariates:
        return "logistic" if spec.kind == "binary" else "lin"
    if spec.kind == "ratio" and spec.covariate_column is not None:
        return "ratio_cuped"
    if request.strata_column is not None:
        return "post_stratification"
    return None


def for_moments(request: AbTestRequest) -> AbTestRequest:
    """The request the moments path reads: ratio metrics without their pre-period columns (ratio CUPED is computed
    here from rows), quantile metrics read as continuous ones (their values are checked and counted there; the
    quantiles are computed from rows, in ``resampled``)."""
    if not any((s.kind == "ratio" and s.covariate_column) or s.kind == "quantile" for s in request.metrics):
        return request
    metrics = [
        s.model_copy(update={"covariate_column": None, "covariate_denominator_column": None})
        if s.kind == "ratio"
        else s.model_copy(update={"kind": "continuous", "quantile": None})
        if s.kind == "quantile"
        else s
        for s in request.metrics
    ]
    return request.model_copy(update={"metrics": metrics})


def _unsupported(message: str, hint: str) -> ToolError:
    return ToolError("unsupported_combination", message, hint)


def check_adjustments(request: AbTestRequest, data: pd.DataFrame | Dataset | None) -> None:
    """Refuse what the row-level adjustments cannot do, before any work."""
    for spec in request.metrics:
        name = display_name(spec.name)
        ratio_cuped = spec.kind == "ratio" and spec.covariate_column is not None
        if spec.covariate_denominator_column is not None and not ratio_cuped:
            raise _unsupported(
                f"Metric '{name}': covariate_denominator_column applies to a ratio metric with covariate_column.",
                "Drop covariate_denominator_column, or use kind='ratio' with covariate_column (pre-period numerator).",
            )
        if ratio_cuped and spec.covariate_denominator_column is None:
            raise ToolError(
                "missing_denominator",
                f"Ratio metric '{name}' with CUPED needs covariate_denominator_column (the pre-period denominator).",
                "Name the pre-period denominator column (e.g. sessions before the test), or drop covariate_column.",
            )
        if spec.covariates and (spec.covariate_column is not None or spec.kind == "ratio"):
            raise _unsupported(
                f"Metric '{name}': covariates cannot be combined with covariate_column or a ratio metric.",
                "Give the pre-period value among covariates (Lin), or covariate_column alone (CUPED).",
            )
        if request.strata_column is not None and (spec.covariates or spec.covariate_column or spec.kind == "ratio"):
            raise _unsupported(
                f"Metric '{name}': strata_column is not combined with covariates, CUPED or ratio metrics.",
                "Drop strata_column for this analysis, or the metric's covariates.",
            )
    if not any(adjustment_kind(request, s) for s in request.metrics):
        return
    what = "strata_column" if request.strata_column is not None else "covariates (or ratio CUPED)"
    if data is None:
        raise ToolError(
            "rows_needed",
            f"{what} need(s) row-level data; summaries are not enough.",
            "Attach the experiment's rows (a row per unit) and give dataset and arm_column.",
        )
    if isinstance(data, Dataset) and data.engine is not None:
        raise ToolError(
            "rows_needed",
            f"{what} need(s) the rows in memory; this table is queried in its database engine.",
            "Load the table as a file (CSV or Parquet) to adjust, or drop the adjustment.",
        )
    clustered = {adjustment_kind(request, s) for s in request.metrics} - {None, "lin"}
    if request.cluster_column is not None and clustered:
        names = {"logistic": "logistic standardisation", "ratio_cuped": "ratio CUPED", "post_stratification": what}
        raise _unsupported(
            f"{', '.join(sorted(names[k] for k in clustered if k))} with cluster_column is not supported (no "
            "cluster-robust version yet; Lin's regression adjustment of a continuous metric is).",
            "Aggregate to one row per randomized unit first, or drop the adjustment.",
        )


@dataclass(frozen=True)
class Adjusted:
    """One adjusted comparison, in the shapes ``tool`` builds a Comparison from."""

    control: ArmEstimate
    treatment: ArmEstimate
    absolute: Estimate
    relative: Estimate | None
    test: str
    detail: AdjustmentDetail


@dataclass(frozen=True)
class ArmRows:
    """One metric's rows in control and in a treatment arm: values, ratio denominators and cluster ids (None when
    not used), on the rows the moments path keeps (arm, cluster and values present; no unit in two arms)."""

    control: NDArray[np.float64]
    treatment: NDArray[np.float64]
    control_denominator: NDArray[np.float64] | None
    treatment_denominator: NDArray[np.float64] | None
    control_clusters: NDArray[np.intp] | None
    treatment_clusters: NDArray[np.intp] | None


class AdjustmentRows:
    """The rows of one request's frame, read once: each row's arm, and per comparison the adjusted numbers (or,
    for quantile metrics and bootstrap intervals, the rows themselves: :meth:`arm_rows`)."""

    def __init__(self, request: AbTestRequest, frame: pd.DataFrame, arms: list[str]) -> None:
        assert request.arm_column is not None
        self.request = request
        self.frame = frame
        self.arms = arms
        self.labels = arm_labels(frame[request.arm_column])
        self._clusters: tuple[NDArray[np.intp], NDArray[np.bool_]] | None = None

    def _values(self, column: str, what: str) -> NDArray[np.float64]:
        return metric_values(frame_column(self.frame, column, what), column, what)

    def _cluster_codes(self) -> tuple[NDArray[np.intp], NDArray[np.bool_]]:
        """Each row's cluster code and whether the row is usable: it has a cluster, and its cluster is not seen in
        two arms (those units are left out, as the moments path leaves them out and reports them)."""
        if self._clusters is None:
            assert self.request.cluster_column is not None
            raw = frame_column(self.frame, self.request.cluster_column, "cluster")
            codes = np.asarray(pd.factorize(raw, use_na_sentinel=True)[0], dtype=np.intp)
            usable = (codes >= 0) & pd.notna(self.labels)
            arm_codes = np.asarray(pd.factorize(self.labels[usable])[0], dtype=np.intp)
            n = int(codes.max()) + 1 if len(codes) and codes.max() >= 0 else 0
            low = np.full(n, np.iinfo(np.intp).max, dtype=np.intp)
            high = np.full(n, -1, dtype=np.intp)
            np.minimum.at(low, codes[usable], arm_codes)
            np.maximum.at(high, codes[usable], arm_codes)
            mixed = low != high
            usable[usable] = ~mixed[codes[usable]]
            self._clusters = codes, usable
        return self._clusters

    def arm_rows(self, spec: MetricSpec, index: int, cap: float | None) -> ArmRows:
        """Metric ``spec``'s rows in control and in arm ``index`` (``cap``: the winsorizing cap, if any)."""
        y = self._values(spec.column or spec.name, f"metric '{spec.name}'")
        if cap is not None:
            y = np.minimum(y, cap)
        keep = ~np.isnan(y)
        d = None
        if spec.kind == "ratio":
            assert spec.denominator_column is not None
            d = self._values(spec.denominator_column, "denominator")
            keep &= ~np.isnan(d)
        clusters = None
        if self.request.cluster_column is not None:
            clusters, usable = self._cluster_codes()
            keep &= usable
        sides = [keep & (self.labels == self.arms[i]) for i in (0, index)]
        return ArmRows(
            control=y[sides[0]],
            treatment=y[sides[1]],
            control_denominator=None if d is None else d[sides[0]],
            treatment_denominator=None if d is None else d[sides[1]],
            control_clusters=None if clusters is None else clusters[sides[0]],
            treatment_clusters=None if clusters is None else clusters[sides[1]],
        )

    def comparison(self, spec: MetricSpec, index: int, cap: float | None) -> Adjusted:
        """Arm ``index`` against control on metric ``spec`` (``cap``: the winsorizing cap, if any)."""
        request, kind = self.request, adjustment_kind(self.request, spec)
        assert kind is not None
        rows = (self.labels == self.arms[0]) | (self.labels == self.arms[index])
        y = self._values(spec.column or spec.name, f"metric '{spec.name}'")
        if cap is not None:
            y = np.minimum(y, cap)
        columns = [y]
        names: list[str] = []
        if kind in ("lin", "logistic"):
            names = list(dict.fromkeys(spec.covariates or []))
        elif kind == "ratio_cuped":
            assert spec.denominator_column and spec.covariate_column and spec.covariate_denominator_column
            names = [spec.denominator_column, spec.covariate_column, spec.covariate_denominator_column]
        columns += [self._values(c, "covariate") for c in names]
        for values in columns:
            rows &= ~np.isnan(values)
        strata: NDArray[np.intp] | None = None
        labels: list[str] = []
        strata_used = 0
        if kind == "post_stratification":
            assert request.strata_column is not None
            raw = frame_column(self.frame, request.strata_column, "strata")
            codes, uniques = pd.factorize(raw, use_na_sentinel=True)
            if (codes[rows] < 0).any():
                raise ToolError(
                    "missing_strata",
                    f"{int((codes[rows] < 0).sum()):,} row(s) have no value in the strata column "
                    f"'{display_name(request.strata_column)}'.",
                    "Fill in each unit's stratum (the block it was randomized in), or drop those rows.",
                )
            strata = np.asarray(codes, dtype=np.intp)
            labels = [str(u) for u in uniques]
        clusters: NDArray[np.intp] | None = None
        if request.cluster_column is not None:  # Lin only (check_adjustments): rows of a cluster in one arm
            codes, usable = self._cluster_codes()
            rows &= usable
            clusters = codes[rows]
        treated = self.labels[rows] == self.arms[index]
        y = y[rows]
        covariates = np.column_stack([c[rows] for c in columns[1:]]) if names else np.empty((len(y), 0))
        n0, n1 = int((~treated).sum()), int(treated.sum())
        arm, base = display_name(self.arms[index]), display_name(self.arms[0])
        try:
            if kind == "lin":
                fit = lin_fit(y, treated, covariates, request.se_type, clusters)
            elif kind == "logistic":
                fit = logistic_fit(y, treated, covariates)
            elif kind == "ratio_cuped":
                fit = ratio_cuped_fit(np.column_stack([y, covariates]), treated)
            else:
                assert strata is not None
                dense, strata_used = self._strata(strata[rows], treated, labels, spec, arm, base)
                fit = stratified_fit(y, treated, dense)
        except Singular as problem:
            raise ToolError(
                "singular_covariates",
                f"Metric '{display_name(spec.name)}' ('{arm}' vs '{base}'): the adjustment cannot be fitted "
                f"({problem}): a covariate is constant or collinear with others within an arm, or predicts the "
                "outcome perfectly.",
                "Drop the covariate(s) that do not vary or duplicate others, or run without the adjustment.",
            ) from problem
        if not all(math.isfinite(v) for v in (fit.difference, fit.variance)) or fit.variance <= 0:
            raise ToolError(
                "zero_variance",
                f"Metric '{display_name(spec.name)}' ('{arm}' vs '{base}'): the adjusted difference has no "
                "measurable variance.",
                "Check the metric and covariate columns; run without the adjustment to see the plain difference.",
            )
        unadjusted = _unadjusted(kind, y, treated, columns, rows, request.alpha, request.alternative)
        absolute = _estimate(fit, request.alpha, request.alternative)
        control = ArmEstimate(fit.control, fit.control_variance, n0)
        treatment = ArmEstimate(fit.treatment, fit.treatment_variance, n1)
        ratio = fit.treatment / fit.control if fit.control else 0.0
        # relative_lift's variance is (var_t + r^2 var_c) / c^2; the arms' covariance enters through var_t
        lifted = ArmEstimate(fit.treatment, fit.treatment_variance - 2 * ratio * fit.covariance, n1)
        relative = relative_lift(control, lifted, alpha=request.alpha, alternative=request.alternative)
        k = len(names)
        lin_se = request.se_type if clusters is None else "CR1 (Stata), by cluster"
        se_type = {
            "lin": lin_se,
            "logistic": "influence function (delta method)",
            "ratio_cuped": "delta method",
            "post_stratification": "Neyman, per stratum",
        }[kind]
        description = {
            "lin": f"Lin regression adjustment on {k} covariate{'s' if k != 1 else ''} ({lin_se})",
            "logistic": f"logistic standardisation on {k} covariate{'s' if k != 1 else ''}",
            "ratio_cuped": "ratio CUPED on the pre-period ratio",
            "post_stratification": f"post-stratification on {strata_used} strata",
        }[kind]
        detail = AdjustmentDetail(
            method=kind,
            description=description,
            covariates=[request.strata_column or ""] if strata is not None else names,
            se_type=se_type,
            strata=strata_used if strata is not None else None,
            theta=fit.theta,
            variance_reduction=1.0 - absolute.std_error**2 / unadjusted.std_error**2
            if unadjusted.std_error > 0
            else 0.0,
            unadjusted=unadjusted,
        )
        test = _test(kind, k, lin_se, detail.strata, clustered=clusters is not None)
        return Adjusted(control, treatment, absolute, relative, test, detail)

    def _strata(
        self,
        codes: NDArray[np.intp],
        treated: NDArray[np.bool_],
        labels: list[str],
        spec: MetricSpec,
        arm: str,
        base: str,
    ) -> tuple[NDArray[np.intp], int]:
        """Strata renumbered 0..S-1 over the comparison's rows; a stratum with fewer than two units of an arm is
        refused, by name."""
        used, dense = np.unique(codes, return_inverse=True)
        per_arm = [np.bincount(dense[side], minlength=len(used)) for side in (~treated, treated)]
        short = [i for i in range(len(used)) if min(per_arm[0][i], per_arm[1][i]) < MIN_PER_STRATUM]
        if short:
            shown = ", ".join(
                f"'{display_name(labels[used[i]], 40)}' ({per_arm[0][i]} in '{base}', {per_arm[1][i]} in '{arm}')"
                for i in short[:5]
            )
            raise ToolError(
                "stratum_missing_arm",
                f"Metric '{display_name(spec.name)}': {len(short)} stratum(s) lack two units of each arm: {shown}.",
                "Merge small strata with similar ones (or drop them), then analyse again; a stratum's variance "
                "needs at least two units per arm.",
            )
        return np.asarray(dense, dtype=np.intp), len(used)


def _estimate(fit: Fit, alpha: float, alternative: str) -> Estimate:
    se = math.sqrt(fit.variance)
    low, high = interval(fit.difference, se, alpha, fit.df, alternative)
    p = p_of_z(fit.difference / se, alternative, fit.df)
    return Estimate(estimate=fit.difference, std_error=se, ci_lower=low, ci_upper=high, p_value=p, alpha=alpha)


def _unadjusted(
    kind: str,
    y: NDArray[np.float64],
    treated: NDArray[np.bool_],
    columns: list[NDArray[np.float64]],
    rows: NDArray[np.bool_],
    alpha: float,
    alternative: str,
) -> Estimate:
    """The plain difference on the same rows: Welch (Lin, strata), unpooled z (logistic), delta-method ratio."""
    arms = []
    for side in (~treated, treated):
        values = y[side]
        n = len(values)
        if kind == "ratio_cuped":
            d = columns[1][rows][side]
            ratio = values.mean() / d.mean()
            spread = np.var(values - ratio * d, ddof=1)
            arms.append(ArmEstimate(float(ratio), float(spread) / (n * d.mean() ** 2), n))
        elif kind == "logistic":
            p = float(values.mean())
            arms.append(ArmEstimate(p, p * (1 - p) / n, n))
        else:
            arms.append(ArmEstimate(float(values.mean()), float(np.var(values, ddof=1)) / n, n))
    welch = kind in ("lin", "post_stratification")
    found, _ = compare(arms[0], arms[1], alpha=alpha, alternative=alternative, welch=welch)
    return found


def _test(kind: str, k: int, se_type: str, strata: int | None, *, clustered: bool = False) -> str:
    if kind == "lin":
        df = "clusters - 1" if clustered else f"n - {2 * (k + 1)}"
        return (
            f"Lin regression adjustment: OLS on treatment x {k} centred covariate(s), {se_type} standard error, "
            f"t-test (df {df})"
        )
    if kind == "logistic":
        return (
            f"logistic regression on {k} covariate(s), standardised risk difference (g-computation), "
            "influence-function standard error, z-test"
        )
    if kind == "ratio_cuped":
        return "z-test on a CUPED-adjusted ratio of means (pre-period ratio), delta-method standard error"
    return f"post-stratified difference in means over {strata} strata, Neyman variance, t-test (df n - 2 x strata)"


def adjustment_checks(request: AbTestRequest) -> tuple[list[Check], list[str]]:
    """The untestable assumptions: covariates measured before assignment, strata fixed before it."""
    checks: list[Check] = []
    for spec in request.metrics:
        kind = adjustment_kind(request, spec)
        if kind in ("lin", "logistic"):  # ratio CUPED's covariate has CUPED's own check (cuped_pre_period)
            columns = spec.covariates or []
            checks.append(
                Check(
                    name=f"adjustment_pre_period:{spec.name}",
                    status="not_tested",
                    detail=f"The adjustment assumes {', '.join(repr(c) for c in columns)} were measured before "
                    "assignment; a covariate the treatment moved biases it. Compare with `adjustment.unadjusted`.",
                )
            )
    if request.strata_column is not None:
        checks.append(
            Check(
                name="strata_design",
                status="not_tested",
                detail=f"Post-stratification on '{request.strata_column}' assumes the strata were fixed before "
                "assignment (blocks of the design, or pre-treatment traits).",
            )
        )
    return checks, []


def adjustment_method(request: AbTestRequest) -> list[str]:
    """The method text's parts for the adjustments used."""
    kinds = {adjustment_kind(request, s) for s in request.metrics}
    parts = []
    if "lin" in kinds:
        parts.append(
            "Lin (2013) regression adjustment: OLS of the metric on treatment, covariates centred at the two arms' "
            f"mean and their interactions, {request.se_type} standard errors, each arm against control on their rows"
        )
    if "logistic" in kinds:
        parts.append(
            "binary metrics with covariates: logistic regression on arm and covariates, standardised (mean predicted "
            "probability all treated minus all control) with an influence-function standard error"
        )
    if "ratio_cuped" in kinds:
        parts.append(
            "ratio CUPED: post ratio minus theta x pre-period ratio, delta method on the four means, theta "
            "minimising the difference's variance"
        )
    if "post_stratification" in kinds:
        parts.append(
            f"post-stratification on '{request.strata_column}': stratum-share-weighted difference in means with "
            "the Neyman variance per stratum"
        )
    return parts
