"""Request and result models of the ab_test tool."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from tools.bounds import MAX_MAGNITUDE, MIN_ALPHA, MIN_SHARE
from tools.literals import Alternative, Correction, Decision, Direction, MetricKind, MetricRole, Status
from tools.results import Check, Estimate, ToolRequest, ToolResult, label_of_number

__all__ = [
    "AbTestRequest",
    "AbTestResult",
    "ArmCount",
    "ArmDecision",
    "ArmShare",
    "ArmSummary",
    "CaceDetail",
    "Comparison",
    "CupedDetail",
    "MetricSpec",
    "SrmResult",
]

MAX_ARMS = 26
MAX_METRICS = 50


class MetricSpec(ToolRequest):
    """One metric to compare between the arms."""

    name: str = Field(
        description="The metric's name in the results (and in `summaries`).", min_length=1, max_length=200
    )
    column: str | None = Field(
        default=None,
        description="Column of the metric per row (defaults to `name`). Null with summaries.",
    )
    kind: MetricKind = Field(
        default="continuous",
        description="'binary' (0/1 per unit: conversion), 'continuous' (revenue, minutes) or 'ratio' (column / "
        "denominator_column summed per arm, e.g. revenue per session when users were randomized).",
    )
    denominator_column: str | None = Field(
        default=None, description="For kind='ratio': the column summed in the denominator (e.g. sessions)."
    )
    role: MetricRole = Field(
        default="primary",
        description="'primary' (the decision metric), 'secondary' (informative) or 'guardrail' (must not get worse).",
    )
    direction: Direction = Field(
        default="increase", description="Which change is good: 'increase' (conversion) or 'decrease' (latency, churn)."
    )
    covariate_column: str | None = Field(
        default=None,
        description="Pre-period value of the metric per unit (measured before assignment) for CUPED. Null for none.",
    )
    non_inferiority_margin: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="Guardrails only: the largest acceptable relative harm (0.01 = 1% worse). Null tests for any "
        "significant harm.",
    )


class ArmSummary(ToolRequest):
    """Summary numbers for one metric in one arm, as a dashboard shows them."""

    arm: str = Field(description="The arm's label.", min_length=1, max_length=200)
    metric: str = Field(description="The metric's name, as in `metrics`.", min_length=1, max_length=200)
    n: int = Field(description="Units in the arm.", ge=1, le=10**12)
    mean: float | None = Field(
        default=None,
        ge=-MAX_MAGNITUDE,
        le=MAX_MAGNITUDE,
        description="Mean per unit (continuous; or the rate for binary).",
    )
    std_dev: float | None = Field(
        default=None, ge=0, le=MAX_MAGNITUDE, description="Standard deviation per unit (continuous)."
    )
    conversions: int | None = Field(default=None, ge=0, le=10**12, description="Converted units (binary metrics).")

    _arm_number = field_validator("arm", mode="before")(label_of_number)


class ArmShare(ToolRequest):
    """The share of units an arm was designed to receive."""

    arm: str = Field(description="The arm's label.", min_length=1, max_length=200)
    share: float = Field(
        description="Planned share of units (shares are normalised to sum to 1).", ge=MIN_SHARE, le=1000
    )

    _arm_number = field_validator("arm", mode="before")(label_of_number)


class AbTestRequest(ToolRequest):
    """Analyse a randomized experiment (A/B or A/B/n test): did the change move the metrics, and should we ship?

    Give row-level data (`dataset` with `arm_column`) or the summary numbers from a dashboard (`summaries`). Runs
    the sample-ratio-mismatch check first, then compares each treatment arm with control on every metric
    (z-test or Fisher's exact test, Welch t-test, delta method for ratios), with CUPED when a pre-period
    covariate is given, multiple-testing correction, non-inferiority tests for guardrails and a ship / don't ship /
    inconclusive / investigate decision. Never compute these numbers yourself.
    """

    dataset: str | None = Field(
        default=None,
        description="Name of an attached dataset with one row per unit (or per event, see cluster_column).",
    )
    arm_column: str | None = Field(default=None, description="Column of each row's arm label.")
    control: str | None = Field(
        default=None,
        description="Label of the control arm, matched by value ('0' = 0.0); null to infer it ('control', 'A', 0).",
    )
    cluster_column: str | None = Field(
        default=None,
        description="The randomized unit's column when rows are finer (user_id for session rows): metrics are summed "
        "per unit. Null when each row is one unit.",
    )
    exposure_column: str | None = Field(
        default=None,
        description="0/1 per unit: used (or saw) the change? Adds the effect of using it (CACE) beside the ITT. "
        "Null for none.",
    )
    summaries: list[ArmSummary] | None = Field(
        default=None,
        description="Instead of a dataset: per arm and metric, n with mean and std_dev (continuous) or n with "
        "conversions (binary).",
        max_length=MAX_ARMS * MAX_METRICS,
    )
    metrics: list[MetricSpec] = Field(description="The metrics to compare.", min_length=1, max_length=MAX_METRICS)
    expected_split: list[ArmShare] | None = Field(
        default=None,
        description="Planned share per arm for the sample-ratio check (ask if unequal); null assumes equal "
        "shares and a mismatch only warns.",
    )
    alpha: float = Field(
        default=0.05, ge=MIN_ALPHA, le=0.5, description="Significance level (0.05 gives 95% intervals)."
    )
    alternative: Alternative = Field(
        default="two-sided",
        description="Direction of the test of treatment minus control (primary and secondary metrics; guardrails "
        "always test non-inferiority, one-sided).",
    )
    correction: Correction = Field(
        default="holm",
        description="Multiple-testing correction within the primary and within the secondary metrics (x arms).",
    )
    winsorize: float | None = Field(
        default=None,
        gt=0.5,
        lt=1,
        description="Cap continuous metrics at this pooled upper quantile (e.g. 0.99) before testing. Null: none.",
    )
    decision_rule: float | None = Field(
        default=None,
        ge=0,
        le=10,
        description="Smallest relative lift on the primary metric that justifies shipping (0.02 = 2%). Null: any "
        "significant improvement.",
    )

    _control_number = field_validator("control", mode="before")(label_of_number)


class ArmCount(ToolResult):
    """Units in one arm."""

    arm: str = Field(description="The arm's label.")
    count: float = Field(description="Units (observed), or the expected count under the planned split.")


class SrmResult(ToolResult):
    """Sample-ratio-mismatch check: chi-square of observed against planned unit counts."""

    observed: list[ArmCount] = Field(description="Units per arm.")
    expected: list[ArmCount] = Field(description="Units per arm expected under the planned split.")
    chi2: float = Field(description="Chi-square statistic.")
    df: int = Field(description="Degrees of freedom (arms - 1).")
    p_value: float = Field(description="p-value; below 0.001 the arms' sizes do not match the split.")
    status: Status = Field(
        description="'fail' when p < 0.001 against the planned split (expected_split); 'warn' when p < 0.001 "
        "against the equal split assumed because none was given; else 'pass'."
    )


class CupedDetail(ToolResult):
    """What CUPED did for one comparison."""

    covariate_column: str = Field(description="The pre-period covariate.")
    theta: float = Field(description="Pooled regression coefficient of the metric on the covariate.")
    variance_reduction: float = Field(description="Share of the difference's variance removed (1 - var_adj / var).")
    unadjusted: Estimate = Field(description="The absolute difference without CUPED.")


class CaceDetail(ToolResult):
    """The complier average causal effect of one comparison: what using the change does, beside what offering it
    does (the ITT, the comparison's `absolute`)."""

    exposure_column: str = Field(description="The 0/1 column of who used (or saw) the change.")
    estimand: Literal["CACE", "ATT"] = Field(
        description="'CACE': the effect of using it for the units that use it because they were offered it "
        "(compliers); 'ATT' when nobody in control used it (one-sided non-compliance): then every user is such a "
        "complier and it is the effect on those who used it."
    )
    effect: Estimate = Field(
        description="ITT / take-up difference: 2SLS of the metric on exposure with the arm as instrument (control "
        "and this arm), heteroskedasticity-robust (HC1) standard error, two-sided normal interval and p-value."
    )
    take_up_control: float = Field(description="Share of control units exposed.")
    take_up_treatment: float = Field(description="Share of the treatment arm's units exposed.")
    complier_share: Estimate = Field(
        description="The take-up difference (treatment minus control): the share of compliers, with its HC1 "
        "standard error (the first stage)."
    )
    first_stage_f: float = Field(
        description="Robust (HC1) F statistic of the take-up difference; below 10 the CACE and its interval are "
        "unreliable (weak instrument)."
    )
    one_sided: bool = Field(description="Nobody in control was exposed (one-sided non-compliance).")


class Comparison(ToolResult):
    """One metric in one treatment arm against control."""

    metric: str = Field(description="Metric name.")
    role: MetricRole = Field(description="primary, secondary or guardrail.")
    kind: MetricKind = Field(description="binary, continuous or ratio.")
    direction: Direction = Field(description="Which change is good.")
    arm: str = Field(description="Treatment arm label.")
    control_arm: str = Field(description="Control arm label.")
    n_control: int = Field(description="Units in control used for this metric.")
    n_treatment: int = Field(description="Units in the treatment arm used for this metric.")
    control_mean: float = Field(description="Control mean (rate, mean or ratio; CUPED-adjusted when CUPED ran).")
    treatment_mean: float = Field(description="Treatment mean (CUPED-adjusted when CUPED ran).")
    absolute: Estimate = Field(description="Treatment minus control, in the metric's units.")
    relative: Estimate | None = Field(
        description="Relative lift (treatment / control - 1): for a binary metric the score interval of the risk "
        "ratio and the difference's p-value, otherwise a delta-method interval (the standard error is the delta "
        "method's either way); null when the control mean is 0 or negligible beside the treatment mean (a lift "
        "beyond 1e12), or has no variance to measure."
    )
    test: str = Field(description="The test used.")
    cuped: CupedDetail | None = Field(description="CUPED details, when a covariate was given.")
    cace: CaceDetail | None = Field(
        default=None,
        description="With exposure_column: the effect of using the change (CACE) beside this ITT; null without it, "
        "or when exposure equals assignment (everyone offered used it, nobody else did: the ITT is that effect).",
    )
    uncapped: Estimate | None = Field(description="The absolute difference before winsorizing, when capping ran.")
    p_value_raw: float = Field(description="p-value of the absolute difference before correction.")
    p_value_adjusted: float = Field(description="p-value after the multiple-testing correction.")
    non_inferiority_margin: float | None = Field(description="Guardrails: the relative margin tested.")
    non_inferiority_p_value: float | None = Field(description="Guardrails: p-value of the non-inferiority test.")
    verdict: Literal[
        "improvement", "regression", "no_detectable_change", "non_inferior", "not_shown_non_inferior", "breached"
    ] = Field(description="What the test says, in the metric's good direction.")


class ArmDecision(ToolResult):
    """The decision for one treatment arm."""

    arm: str = Field(description="Treatment arm label.")
    decision: Decision = Field(description="ship, don't ship, inconclusive or investigate.")
    reasons: list[str] = Field(description="Why, one sentence each.")


class AbTestResult(ToolResult):
    """The answer of the ab_test tool."""

    estimand: str = Field(description="What is estimated.")
    method: str = Field(description="The tests and adjustments used, in words.")
    source: Literal["rows", "summaries"] = Field(description="Row-level data or summary numbers.")
    dataset: str | None = Field(description="The dataset analysed, if any.")
    exposure_column: str | None = Field(
        default=None, description="The 0/1 column of who used the change (CACE per comparison), if given."
    )
    control_arm: str = Field(description="Control arm label.")
    arms: list[str] = Field(description="All arm labels, control first.")
    n_obs: int = Field(description="Randomized units analysed (all arms).")
    alpha: float = Field(description="Significance level.")
    alternative: Alternative = Field(description="Test direction for primary and secondary metrics.")
    correction: Correction = Field(description="Multiple-testing correction.")
    srm: SrmResult = Field(description="Sample-ratio-mismatch check.")
    effect: Estimate = Field(
        description="The headline estimate: treatment minus control, in the metric's units, on the first primary "
        "metric in the first treatment arm (the first comparison when no metric is primary); the same as that "
        "comparison's `absolute`, whose entry in `comparisons` has the relative lift and the adjusted p-value."
    )
    comparisons: list[Comparison] = Field(description="One entry per metric and treatment arm.")
    decisions: list[ArmDecision] = Field(description="Decision per treatment arm.")
    decision: Decision = Field(description="The overall decision.")
    decision_reasons: list[str] = Field(description="Why, one sentence each.")
    checks: list[Check] = Field(description="Trust checks and data checks.")
    warnings: list[str] = Field(description="What the user should know before relying on the numbers.")
    summary: str = Field(description="One sentence stating the answer, built from the numbers above.")
