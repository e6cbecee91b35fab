"""ab_test's comparisons computed from rows rather than moments: quantile metrics (p95 latency: Woodruff standard
errors, cluster-robust with ``cluster_column``) and bootstrap intervals (``interval="bootstrap"``: any metric kind,
whole randomized units resampled with ``cluster_column``).

Rows come through :class:`tools.ab_test.adjusted.AdjustmentRows` (the route the regression adjustments read them
by), on the rows the moments path keeps. The numbers are :mod:`tools.ab_test.quantiles`' and
:mod:`tools.ab_test.bootstrap`'s; this module refuses what they cannot do, names arms and metrics in their errors,
and shapes their results as ``Comparison``s with the guardrail p-values the decision reads.
"""

from __future__ import annotations

import math
from typing import Literal

import pandas as pd

from tools.ab_test.adjusted import AdjustmentRows
from tools.ab_test.bootstrap import BootstrapComparison, bootstrap_interval
from tools.ab_test.decision import guardrail_tests, new_comparison, quantile_label
from tools.ab_test.inputs import MetricData, Prepared
from tools.ab_test.models import AbTestRequest, MetricSpec
from tools.ab_test.monitoring import Tested
from tools.ab_test.quantiles import QuantileComparison, quantile_difference
from tools.ab_test.stats import ArmEstimate, arm_estimate, compare
from tools.data import Dataset
from tools.data.names import display_name
from tools.errors import ToolError
from tools.results import Check

__all__ = [
    "check_resampled",
    "compare_resampled",
    "resampled_kind",
    "resampled_method",
    "resampled_warnings",
]

#: Below this many replicates BCa's end points rest on too few replicates in the tails.
BCA_REPLICATES = 1000


def resampled_kind(request: AbTestRequest, spec: MetricSpec) -> Literal["quantile", "bootstrap"] | None:
    """How ``spec`` is compared from rows: a bootstrap interval (any kind), an analytic quantile, or None (the
    moments path)."""
    if request.interval == "bootstrap":
        return "bootstrap"
    return "quantile" if spec.kind == "quantile" else None


def _unsupported(message: str, hint: str) -> ToolError:
    return ToolError("unsupported_combination", message, hint)


def check_resampled(request: AbTestRequest, data: pd.DataFrame | Dataset | None) -> None:
    """Refuse, before any work, what quantile metrics and bootstrap intervals cannot do: summaries, tables in an
    engine, sequential or always-valid monitoring (bootstrap), and the adjustments and per-exposure analyses."""
    quantiles = [s for s in request.metrics if s.kind == "quantile"]
    boot = request.interval == "bootstrap"
    if not quantiles and not boot:
        return
    if boot and (request.sequential is not None or request.monitoring == "always_valid"):
        raise ToolError(
            "bootstrap_not_sequential",
            "Bootstrap intervals are fixed-horizon: they cannot be combined with a sequential plan or always_valid "
            "monitoring.",
            "Use interval 'analytic' for an interim look, or analyse the final data without sequential/monitoring.",
        )
    if data is None:
        if boot:
            raise ToolError(
                "bootstrap_needs_rows",
                "A bootstrap interval resamples rows; summaries are not enough.",
                "Attach the experiment's rows (dataset and arm_column), or use interval 'analytic'.",
            )
        raise ToolError(
            "quantile_needs_rows",
            f"A quantile metric needs row-level data ('{display_name(quantiles[0].name)}'); summaries carry no "
            "quantiles.",
            "Attach the rows (dataset and arm_column), or use the metric's mean (kind 'continuous').",
        )
    what = "bootstrap intervals" if boot else "quantile metrics"
    if isinstance(data, Dataset) and data.engine is not None:
        raise ToolError(
            "rows_needed",
            f"{what.capitalize()} need the rows in memory; this table is queried in its database engine.",
            "Load the table as a file (CSV or Parquet), or use analytic intervals and mean metrics.",
        )
    for spec in request.metrics:
        name = display_name(spec.name)
        if boot and (spec.covariate_column or spec.covariates):
            raise _unsupported(
                f"Metric '{name}': bootstrap intervals are not combined with CUPED or covariates.",
                "Use interval 'analytic' for the adjusted analysis, or drop the metric's covariates.",
            )
    if request.strata_column is not None and (boot or quantiles):
        raise _unsupported(
            f"strata_column is not combined with {what}.",
            "Drop strata_column, or use interval 'analytic' and mean metrics.",
        )
    for field, label in (("exposure_column", "the CACE"), ("exposure_time_column", "effects by exposure period")):
        if getattr(request, field) is not None and (boot or quantiles):
            raise _unsupported(
                f"{field} ({label}) is not combined with {what}.",
                f"Run {label} in a separate analysis with interval 'analytic' and mean metrics.",
            )


def _rename(error: ToolError, metric: str, arm: str, control: str) -> ToolError:
    """A module's error, which names the arms 'control' and 'treatment', with the metric and the arms' labels."""
    where = f"Metric '{display_name(metric)}' ('{display_name(arm)}' vs control '{display_name(control)}')"
    return ToolError(error.code, f"{where}: {error.message}", error.hint)


def compare_resampled(
    request: AbTestRequest, prepared: Prepared, metric: MetricData, rows: AdjustmentRows, first_seed: int
) -> tuple[list[Tested], list[Check]]:
    """Every treatment arm against control on one metric, from rows. The k-th comparison of the request (metric by
    metric, arm by arm within a metric; ``first_seed`` is this metric's first k) draws its bootstrap resamples
    with seed ``request.seed + k``: each is reproducible and independent of the others."""
    spec = metric.spec
    kind = resampled_kind(request, spec)
    assert kind is not None
    control_arm = prepared.arms[0]
    tested: list[Tested] = []
    checks: list[Check] = []
    for index, arm in enumerate(prepared.arms[1:], start=1):
        found = rows.arm_rows(spec, index, metric.cap if spec.kind == "continuous" else None)
        try:
            if kind == "quantile":
                assert spec.quantile is not None
                quantile = quantile_difference(
                    found.control,
                    found.treatment,
                    spec.quantile,
                    control_clusters=found.control_clusters,
                    treatment_clusters=found.treatment_clusters,
                    alpha=request.alpha,
                    alternative=request.alternative,
                )
            else:
                boot = bootstrap_interval(
                    found.control,
                    found.treatment,
                    statistic="quantile" if spec.kind == "quantile" else "ratio" if spec.kind == "ratio" else "mean",
                    control_denominator=found.control_denominator,
                    treatment_denominator=found.treatment_denominator,
                    q=spec.quantile,
                    control_clusters=found.control_clusters,
                    treatment_clusters=found.treatment_clusters,
                    method=request.bootstrap_method,
                    replicates=request.bootstrap_replicates,
                    seed=request.seed + first_seed + index - 1,
                    alpha=request.alpha,
                    alternative=request.alternative,
                )
        except ToolError as error:
            raise _rename(error, spec.name, arm, control_arm) from error
        if kind == "quantile":
            tested.append(_from_quantile(request, spec, metric, arm, control_arm, quantile))
            if quantile.control.n_clusters is not None:
                checks.append(_clustering_check(spec, arm, quantile))
        else:
            tested.append(_from_bootstrap(request, spec, metric, index, arm, control_arm, boot))
    return tested, checks


def _from_quantile(
    request: AbTestRequest,
    spec: MetricSpec,
    metric: MetricData,
    arm: str,
    control_arm: str,
    found: QuantileComparison,
) -> Tested:
    n_control = found.control.n_clusters or found.control.n_rows
    n_treatment = found.treatment.n_clusters or found.treatment.n_rows
    control = ArmEstimate(found.control.quantile, found.control.std_error**2, n_control)
    treatment = ArmEstimate(found.treatment.quantile, found.treatment.std_error**2, n_treatment)
    margin_p, harm_p = None, None
    if spec.role == "guardrail":
        margin_p, harm_p = guardrail_tests(spec, control, treatment, found.absolute, found.relative, False)
    comparison = new_comparison(
        spec, arm, control_arm, control, treatment, found.absolute, found.relative, found.method, margin_p=margin_p
    )
    return Tested(comparison, harm_p, None, None)


def _from_bootstrap(
    request: AbTestRequest,
    spec: MetricSpec,
    metric: MetricData,
    index: int,
    arm: str,
    control_arm: str,
    found: BootstrapComparison,
) -> Tested:
    absolute = found.absolute.to_estimate()
    relative = found.relative.to_estimate() if found.relative is not None else None
    control = ArmEstimate(found.control_value, math.nan, found.n_control_units)
    treatment = ArmEstimate(found.treatment_value, math.nan, found.n_treatment_units)
    margin_p, harm_p = None, None
    if spec.role == "guardrail":
        if spec.non_inferiority_margin is not None and relative is not None:
            # the margin: a z-test with the bootstrap standard error of the relative difference
            margin_p, harm_p = guardrail_tests(spec, control, treatment, absolute, relative, False)
        else:
            # any harm: the bootstrap interval inverted, one-sided towards harm (below alpha exactly when the
            # one-sided interval at alpha excludes 0)
            p_larger = found.absolute.p_larger
            harm_p = 1.0 - p_larger if spec.direction == "increase" else p_larger
    uncapped = None
    if metric.uncapped is not None:
        raw = [arm_estimate(metric.uncapped[i], kind=spec.kind, ratio=metric.ratio) for i in (0, index)]
        welch = spec.kind == "continuous" and not metric.ratio
        uncapped, _ = compare(raw[0], raw[1], alpha=request.alpha, alternative=request.alternative, welch=welch)
    comparison = new_comparison(
        spec, arm, control_arm, control, treatment, absolute, relative, found.method, uncapped=uncapped,
        margin_p=margin_p,
    )  # fmt: skip
    return Tested(comparison, harm_p, None, None)


def _clustering_check(spec: MetricSpec, arm: str, found: QuantileComparison) -> Check:
    assert spec.quantile is not None
    return Check(
        name=f"quantile_clustering:{spec.name}:{arm}",
        status="pass",
        detail=f"Design effect of the share below the {quantile_label(spec.quantile)}: control "
        f"{found.control.design_effect:.2f}, '{display_name(arm)}' {found.treatment.design_effect:.2f}; standard "
        "errors are cluster-robust.",
    )


def resampled_warnings(request: AbTestRequest) -> list[str]:
    """What a reader of bootstrap results should know: BCa with few replicates, and the p-values' resolution."""
    if request.interval != "bootstrap":
        return []
    notes = []
    if request.bootstrap_method == "bca" and request.bootstrap_replicates < BCA_REPLICATES:
        notes.append(
            f"BCa end points rest on the tails of the replicates; use at least {BCA_REPLICATES:,} (2,000 by default)."
        )
    notes.append(
        f"Bootstrap p-values are resolved to about 1/replicates ({1 / request.bootstrap_replicates:.2g}): smaller "
        "ones are reported near that floor."
    )
    return notes


def resampled_method(request: AbTestRequest) -> list[str]:
    """The method text's parts for quantile metrics and bootstrap intervals."""
    parts = []
    levels = sorted({s.quantile for s in request.metrics if s.quantile is not None})
    if levels and request.interval == "analytic":
        clustered = " (cluster-robust share, rows grouped by randomized unit)" if request.cluster_column else ""
        parts.append(
            f"quantile metrics ({', '.join(quantile_label(q) for q in levels)}): difference of the arms' sample "
            "quantiles (the ceil(n q)-th smallest row), Woodruff standard errors from the rows at the ranks "
            f"q -/+ 1.96 standard errors of the share below the quantile{clustered}, z-test; relative difference by "
            "the delta method; guardrail margins: z-test on the relative difference"
        )
    if request.interval == "bootstrap":
        name = "BCa" if request.bootstrap_method == "bca" else "percentile"
        unit = "whole randomized units" if request.cluster_column else "rows"
        quantiles = f" (quantile metrics: {', '.join(quantile_label(q) for q in levels)})" if levels else ""
        parts.append(
            f"all intervals and p-values by bootstrap ({name}, {request.bootstrap_replicates} resamples, seed "
            f"{request.seed} + k for the k-th comparison, metric by metric and arm by arm) of the difference of "
            f"means, ratios or quantiles{quantiles}, resampling {unit} within each arm"
            + ("; acceleration from the delete-one-unit jackknife" if request.bootstrap_method == "bca" else "")
            + "; p-values by inverting the interval; guardrails: harm from the one-sided inverted interval, "
            "margins by a z-test with the bootstrap standard error of the relative difference"
        )
    return parts
