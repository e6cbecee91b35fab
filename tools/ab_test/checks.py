"""ab_test's trust checks, warnings and method text, from the prepared data and the comparisons."""

from __future__ import annotations

import pandas as pd

from tools.ab_test.adjusted import adjustment_method
from tools.ab_test.binary import EXACT_BELOW
from tools.ab_test.exposure import exposure_method
from tools.ab_test.inputs import POST_PERIOD, Prepared, repeated_id_columns, zero_one
from tools.ab_test.models import AbTestRequest, Comparison, SrmResult
from tools.ab_test.monitoring import monitoring_method
from tools.ab_test.novelty_report import novelty_method
from tools.ab_test.resampled import resampled_method
from tools.data import Dataset
from tools.data.names import display_name
from tools.results import Check

__all__ = ["MIN_UNITS_WARN", "OUTLIER_SHARE", "SRM_THRESHOLD", "checks", "method_text"]

SRM_THRESHOLD = 0.001
MIN_UNITS_WARN = 30
OUTLIER_SHARE = 0.01


def _observed(srm: SrmResult) -> str:
    return ", ".join(f"{c.arm}: {int(c.count):,}" for c in srm.observed)


def checks(
    request: AbTestRequest, prepared: Prepared, srm: SrmResult, data: pd.DataFrame | Dataset | None
) -> tuple[list[Check], list[str]]:
    checks: list[Check] = []
    warnings = list(prepared.notes)
    against = (
        "the planned split (expected_split)"
        if request.expected_split is not None
        else "an equal split, assumed because no expected_split was given"
    )
    rule = f"fails below {SRM_THRESHOLD}" if request.expected_split is not None else f"warns below {SRM_THRESHOLD}"
    checks.append(
        Check(
            name="sample_ratio",
            status=srm.status,
            detail=f"{prepared.unit_label.capitalize()} per arm {_observed(srm)} against {against}; chi-square "
            f"{srm.chi2:.3g} on {srm.df} df, p = {srm.p_value:.3g} ({rule}).",
        )
    )
    if srm.status == "fail":
        warnings.insert(
            0,
            f"SAMPLE RATIO MISMATCH (p = {srm.p_value:.2g}): the arms do not have the planned sizes, so assignment "
            "or logging is broken and no metric result can be trusted. Investigate before reading the metrics.",
        )
    elif srm.status == "warn":
        warnings.insert(
            0,
            f"UNCONFIRMED SPLIT: the arms' sizes ({_observed(srm)}) differ from an equal split (p = "
            f"{srm.p_value:.2g}), which the check assumed because no expected_split was given. If the design was "
            "unequal on purpose, give expected_split with the planned share of each arm; if it planned equal arms, "
            "assignment or logging is broken and the metric results cannot be trusted.",
        )
    if request.control is None:
        base = display_name(prepared.arms[0])
        how = (
            f"the arm column holds 0/1 values, so {base} is taken as control and {display_name(prepared.arms[1])} "
            "as treatment"
            if zero_one(prepared.arms)
            else "from its label"
        )
        checks.append(
            Check(
                name="control_arm",
                status="pass",
                detail=f"Control inferred as '{base}': {how}; give `control` to choose another arm.",
            )
        )
    smallest = min(prepared.units)
    checks.append(
        Check(
            name="units_per_arm",
            status="pass" if smallest >= MIN_UNITS_WARN else "warn",
            detail=f"Smallest arm has {smallest:,} {prepared.unit_label} (warning below {MIN_UNITS_WARN}).",
        )
    )
    if smallest < MIN_UNITS_WARN:
        warnings.append(f"Only {smallest:,} units in the smallest arm: the tests' normal approximations are rough.")
    for metric in prepared.metrics:
        spec = metric.spec
        if metric.cap is not None:
            warnings.append(
                f"Metric '{spec.name}' was capped at {metric.cap:.6g} (the {request.winsorize:.0%} quantile): "
                f"{metric.capped_values:,} value(s) capped; `uncapped` holds the raw difference."
            )
        if metric.largest_unit_share is not None and metric.largest_unit_share > OUTLIER_SHARE:
            warnings.append(
                f"A single unit contributes {metric.largest_unit_share:.1%} of metric '{spec.name}''s total: "
                "one outlier can swing the result; consider winsorize."
            )
        if spec.covariate_column is not None:
            checks.append(
                Check(
                    name=f"cuped_pre_period:{spec.name}",
                    status="not_tested",
                    detail=f"CUPED assumes '{spec.covariate_column}' was measured before assignment; a covariate "
                    "affected by the treatment biases the estimate. Compare with `cuped.unadjusted`.",
                )
            )
            if POST_PERIOD.search(spec.covariate_column):
                warnings.append(
                    f"The covariate '{spec.covariate_column}' looks like it may be measured after assignment; "
                    "CUPED needs a pre-period value."
                )
    if data is not None:
        repeated = repeated_id_columns(data, request)
        if repeated:
            warnings.append(
                f"Rows repeat {', '.join(repr(c) for c in repeated)}: if those units were randomized, give "
                "cluster_column so that standard errors count units, not rows."
            )
    if request.alternative != "two-sided":
        warnings.append(f"One-sided test ({request.alternative}): it cannot detect a change in the other direction.")
    return checks, warnings


def method_text(request: AbTestRequest, prepared: Prepared, comparisons: list[Comparison]) -> str:
    if request.expected_split is not None:
        srm = f"against the planned split (fails below p = {SRM_THRESHOLD})"
    else:
        srm = (
            "against an equal split, assumed because no expected_split was given (below p = "
            f"{SRM_THRESHOLD} a warning, not a failure: the design may have been unequal)"
        )
    parts = [
        f"Sample-ratio check: chi-square goodness of fit of {prepared.unit_label} per arm {srm}",
        "binary metrics: two-proportion z-test with the pooled variance under H0 (as the power tool plans), or "
        f"Fisher's exact test when an expected cell count is below {EXACT_BELOW:g}, with Farrington-Manning score "
        "intervals for the difference and for the risk ratio; continuous: Welch t-test; ratio metrics and metrics "
        "summed per randomized unit (binary ones too): z-test with delta-method standard errors",
        "relative lift: treatment / control - 1 with a delta-method standard error (binary metrics: the score "
        "interval of the risk ratio)",
    ]
    if request.interval == "bootstrap":  # every comparison's interval and p-value is the bootstrap's
        parts = parts[:1]
    if request.control is None and zero_one(prepared.arms):
        parts.append(f"control: arm '{prepared.arms[0]}' of the 0/1 arm column (0 is control unless `control` says)")
    if any(m.spec.covariate_column for m in prepared.metrics):
        parts.append(
            "CUPED: y - theta (x - mean x), theta pooled over all arms, z-test (Welch for continuous) with "
            "unpooled standard errors"
        )
    parts += adjustment_method(request) + resampled_method(request)
    if request.winsorize is not None:
        parts.append(f"continuous metrics capped at their pooled {request.winsorize:g} quantile")
    if request.exposure_column is not None:
        parts.append(exposure_method(request))
    if request.exposure_time_column is not None:
        parts.append(novelty_method(request))
    parts.append(
        f"multiple testing: {request.correction} within the primary and within the secondary metrics (x arms)"
        + (
            ""
            if request.interval == "bootstrap"
            else "; guardrails: one-sided non-inferiority test on the relative change at alpha (binary: "
            "Farrington-Manning score test of the risk ratio at the margin; others: z-test with the delta-method "
            "standard error)"
        )
    )
    watched = monitoring_method(request, comparisons)
    if watched is not None:
        parts.append(watched)
    return "; ".join(parts) + "."
