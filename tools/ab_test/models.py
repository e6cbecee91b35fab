"""Request and result models of the ab_test tool."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from tools.bounds import MAX_MAGNITUDE, MIN_ALPHA, MIN_SHARE
from tools.literals import (
    Alternative,
    BootstrapMethod,
    Correction,
    Decision,
    Direction,
    Interval,
    MetricKind,
    MetricRole,
    Monitoring,
    SpendingFunction,
    Status,
)
from tools.results import Check, Estimate, ToolRequest, ToolResult, label_of_number
from tools.sequential.models import ConfidenceSequence, LookDecision

__all__ = [
    "AbTestRequest",
    "AbTestResult",
    "AdjustmentDetail",
    "AlwaysValid",
    "ArmCount",
    "ArmDecision",
    "ArmShare",
    "ArmSummary",
    "CaceDetail",
    "Comparison",
    "CupedDetail",
    "MetricSpec",
    "NoveltyDetail",
    "PeriodEffect",
    "SequenceBounds",
    "SequentialLook",
    "SequentialPlan",
    "SrmResult",
]

MAX_ARMS = 26
MAX_METRICS = 50
#: The most looks a sequential plan may have (``tools.sequential.monitoring.MAX_LOOKS``).
MAX_LOOKS = 20


class MetricSpec(ToolRequest):
    """A metric to compare."""

    name: str = Field(description="Metric name.", min_length=1, max_length=200)
    column: str | None = Field(
        default=None,
        description="Column per row (null: `name`; null with summaries).",
    )
    kind: MetricKind = Field(
        default="continuous", description="binary (0/1), continuous, ratio (/denominator_column), quantile."
    )
    quantile: float | None = Field(default=None, gt=0, lt=1, description="kind='quantile': 0.95 = p95.")
    denominator_column: str | None = Field(default=None, description="kind='ratio': denominator (sessions).")
    role: MetricRole = Field(
        default="primary",
        description="primary decides; guardrail must not get worse.",
    )
    direction: Direction = Field(default="increase", description="Which change is good (decrease: latency, churn).")
    covariate_column: str | None = Field(default=None, description="CUPED: pre-period value per unit.")
    covariate_denominator_column: str | None = Field(default=None, description="Ratio CUPED: pre-period denominator.")
    covariates: list[str] | None = Field(default=None, description="Pre-period columns (Lin; binary: logistic).")
    non_inferiority_margin: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="Guardrails: largest acceptable relative harm (0.01). Null: any significant harm.",
    )

    @model_validator(mode="after")
    def _quantile_fields(self) -> MetricSpec:
        if self.kind == "quantile":
            if self.quantile is None:
                raise ValueError("kind='quantile' needs `quantile` (0.95 for p95)")
            if self.denominator_column is not None:
                raise ValueError("a quantile metric takes no denominator_column")
            if self.covariate_column is not None or self.covariates or self.covariate_denominator_column:
                raise ValueError("CUPED and covariates do not apply to quantile metrics")
        elif self.quantile is not None:
            raise ValueError("quantile is only for kind='quantile'")
        return self


class SummaryPart(ToolRequest):
    """Another variable per unit."""

    mean: float = Field(ge=-MAX_MAGNITUDE, le=MAX_MAGNITUDE, description="Mean.")
    std_dev: float = Field(ge=0, le=MAX_MAGNITUDE, description="Standard deviation.")
    covariance: float = Field(ge=-MAX_MAGNITUDE, le=MAX_MAGNITUDE, description="Covariance with the metric's.")


class ArmSummary(ToolRequest):
    """One metric in one arm, as a dashboard shows it."""

    arm: str = Field(description="Arm label.", min_length=1, max_length=200)
    metric: str = Field(description="The metric's name.", min_length=1, max_length=200)
    n: int = Field(description="Units.", ge=1, le=10**12)
    mean: float | None = Field(
        default=None,
        ge=-MAX_MAGNITUDE,
        le=MAX_MAGNITUDE,
        description="Mean per unit (or binary's rate).",
    )
    std_dev: float | None = Field(default=None, ge=0, le=MAX_MAGNITUDE, description="Standard deviation per unit.")
    conversions: int | None = Field(default=None, ge=0, le=10**12, description="Converted units (binary).")
    denominator: SummaryPart | None = Field(default=None, description="Ratio: the denominator's.")
    covariate: SummaryPart | None = Field(default=None, description="CUPED: the covariate's.")

    _arm_number = field_validator("arm", mode="before")(label_of_number)


class ArmShare(ToolRequest):
    """An arm's planned share of units."""

    arm: str = Field(description="Arm label.", min_length=1, max_length=200)
    share: float = Field(description="Planned share of units (normalised to sum to 1).", ge=MIN_SHARE, le=1000)

    _arm_number = field_validator("arm", mode="before")(label_of_number)


class SequentialPlan(ToolRequest):
    """A look of a group-sequential plan."""

    looks: int = Field(ge=2, le=MAX_LOOKS, description="Planned looks, final included.")
    look: int = Field(ge=1, le=MAX_LOOKS, description="This look's number.")
    spending: SpendingFunction = Field(default="obrien_fleming", description="Alpha spending.")
    information_fraction: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="Information share now (null: n / planned_n_total, or look / looks).",
    )
    previous_fractions: list[float] | None = Field(
        default=None, max_length=MAX_LOOKS - 1, description="Earlier looks' shares; null: as planned."
    )


class AbTestRequest(ToolRequest):
    """Analyse a randomized experiment (A/B/n): did the change move the metrics; ship?

    Give rows (`dataset`, `arm_column`) or dashboard `summaries`. Runs the sample-ratio check, tests every metric
    (CUPED, guardrail non-inferiority) and decides. Never compute these numbers yourself.
    """

    dataset: str | None = Field(default=None, description="Attached dataset: a row per unit.")
    arm_column: str | None = Field(default=None, description="Column of each row's arm label.")
    control: str | None = Field(default=None, description="Control arm's label; null: inferred.")
    cluster_column: str | None = Field(default=None, description="Randomized unit's column if rows are finer.")
    exposure_column: str | None = Field(default=None, description="0/1 per unit: used the change (CACE).")
    exposure_time_column: str | None = Field(default=None, description="Days since exposure, or period.")
    summaries: list[ArmSummary] | None = Field(
        default=None,
        description="Instead of rows: per arm and metric, n with mean and std_dev, or conversions.",
        max_length=MAX_ARMS * MAX_METRICS,
    )
    metrics: list[MetricSpec] = Field(description="The metrics to compare.", min_length=1, max_length=MAX_METRICS)
    expected_split: list[ArmShare] | None = Field(
        default=None, description="Planned share per arm (ask if unequal); null: equal."
    )
    alpha: float = Field(default=0.05, ge=MIN_ALPHA, le=0.5, description="Significance level.")
    alternative: Alternative = Field(default="two-sided", description="Test direction, treatment minus control.")
    correction: Correction = Field(default="holm", description="Multiple-testing correction per metric role.")
    winsorize: float | None = Field(
        default=None, gt=0.5, lt=1, description="Cap continuous metrics at this quantile (0.99)."
    )
    decision_rule: float | None = Field(
        default=None, ge=0, le=10, description="Smallest relative lift worth shipping (0.02). Null: any."
    )
    sequential: SequentialPlan | None = Field(default=None, description="A planned look of a sequential test.")
    monitoring: Monitoring = Field(default="fixed", description="always_valid: confidence sequences.")
    planned_n_total: int | None = Field(default=None, ge=2, le=10**12, description="Planned units, all arms.")
    strata_column: str | None = Field(default=None, description="Stratum per unit: post-stratify.")
    se_type: Literal["HC2", "HC1"] = Field(default="HC2", description="Lin's SE.")
    interval: Interval = Field(default="analytic", description="bootstrap: resampled (rows needed).")
    bootstrap_method: BootstrapMethod = Field(default="bca", description="Bootstrap interval.")
    bootstrap_replicates: int = Field(default=2000, ge=200, le=20000, description="Bootstrap resamples.")
    seed: int = Field(default=0, ge=0, le=2**32 - 1, description="Bootstrap seed.")

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


class AdjustmentDetail(ToolResult):
    """A row-level adjustment of one comparison, beside the unadjusted difference on the same rows."""

    method: Literal["lin", "logistic", "ratio_cuped", "post_stratification"] = Field(
        description="lin: OLS with treatment x centred covariates (Lin 2013); logistic: standardised (g-computation) "
        "risk difference; ratio_cuped: delta-method CUPED with the pre-period ratio; post_stratification: "
        "stratum-weighted difference."
    )
    description: str = Field(description="The adjustment, in words.")
    covariates: list[str] = Field(description="Columns adjusted for (the strata column for post-stratification).")
    se_type: str = Field(description="How the standard error was computed.")
    strata: int | None = Field(description="Strata used (post-stratification); null otherwise.")
    theta: float | None = Field(description="ratio_cuped: coefficient on the pre-period ratio; null otherwise.")
    variance_reduction: float = Field(description="Share of the difference's variance removed (1 - var_adj / var).")
    unadjusted: Estimate = Field(description="Difference in means (or ratios) without adjustment, same rows.")


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


class SequentialLook(LookDecision):
    """A primary comparison at one look of a group-sequential plan: the boundary at the information reached, the
    test against it, the repeated confidence intervals and what to do."""

    relative_ci_lower: float | None = Field(
        description="Lower end of the repeated confidence interval of the relative lift at this look (null: "
        "unbounded one-sided, or no relative lift)."
    )
    relative_ci_upper: float | None = Field(
        description="Upper end of the repeated confidence interval of the relative lift (null: unbounded one-sided, "
        "or no relative lift)."
    )
    decision: str = Field(
        description="What to do, in words: 'stop for efficacy', 'stop for harm' (crossed in the bad direction), "
        "'continue to look k of K', 'final look: significant' or 'final look: not significant'."
    )
    alpha_share: float = Field(
        description="The part of alpha this comparison's schedule spends: alpha over the number of primary "
        "comparisons when a correction is asked for (Bonferroni), else alpha."
    )


class SequenceBounds(ToolResult):
    """A confidence sequence now: bounds valid at every sample size at once (the estimate and its standard error
    are the comparison's)."""

    n: int = Field(ge=1, description="Units so far in the two arms compared.")
    target_n: int = Field(ge=1, description="The sample size the boundary was tuned for (planned in advance).")
    rho: float = Field(gt=0, description="The normal mixture's tuning parameter, chosen for target_n.")
    ci_lower: float | None = Field(description="Lower end now (null: unbounded, one-sided for a decrease).")
    ci_upper: float | None = Field(description="Upper end now (null: unbounded, one-sided for an increase).")
    half_width: float = Field(ge=0, description="Distance from the estimate to the sequence's bound(s).")
    fixed_half_width: float = Field(ge=0, description="The fixed-horizon interval's at the same n and alpha.")
    width_ratio: float = Field(gt=0, description="half_width over fixed_half_width: the price of looking any time.")
    crossed: bool = Field(description="True when the sequence excludes 0: the difference is significant.")
    method: str = Field(description="The boundary and its tuning, in words.")

    @classmethod
    def of(cls, sequence: ConfidenceSequence) -> SequenceBounds:
        return cls(**sequence.model_dump(exclude={"estimate", "std_error", "alpha", "alternative"}))


class AlwaysValid(ToolResult):
    """A primary comparison's confidence sequences: intervals valid at every sample size, however often one looks."""

    absolute: SequenceBounds = Field(description="The sequence for treatment minus control.")
    relative: SequenceBounds | None = Field(
        description="The sequence for the relative lift (its delta-method standard error); null without a lift."
    )
    alpha_share: float = Field(
        description="The alpha of these sequences: alpha over the number of primary comparisons when a correction "
        "is asked for (Bonferroni), else alpha."
    )
    stop: bool = Field(description="True when the sequence excludes 0 or the planned size is reached.")
    decision: str = Field(
        description="What to do, in words: stop (the sequence excludes 0), continue (planned size not reached) "
        "or planned size reached: not significant."
    )


class PeriodEffect(ToolResult):
    """One comparison within one exposure period."""

    period: str = Field(
        description="The period: a value of the exposure-time column, or a bin of its values 'first to last'."
    )
    n_control: int = Field(description="Control units with rows in this period.")
    n_treatment: int = Field(description="Treatment units with rows in this period.")
    control_mean: float = Field(description="Control mean in this period (as the comparison: capped, CUPED).")
    treatment_mean: float = Field(description="Treatment mean in this period.")
    effect: Estimate = Field(
        description="Treatment minus control in this period: difference of means (ratio metrics and clustered rows: "
        "of ratios of sums), unpooled standard error, two-sided normal interval and p-value."
    )


class NoveltyDetail(ToolResult):
    """How one comparison's effect changes with exposure time: a novelty effect fades, a primacy (learning) effect
    grows. The decision should rest on the latest periods' effect when it changes."""

    exposure_time_column: str = Field(description="The column of days since first exposure, or calendar period.")
    periods_from: Literal["values", "bins"] = Field(
        description="'values': each distinct value is a period; 'bins': the values were grouped in order into bins "
        "holding about equal numbers of rows."
    )
    bin_method: str = Field(description="How the periods were formed, in words.")
    periods: list[PeriodEffect] = Field(description="The effect in each period, earliest first.")
    test: str = Field(description="The trend test, in words.")
    trend: Estimate = Field(
        description="Change of the effect per period (slope on the period index 0, 1, ...), from the weighted "
        "regression of the per-period effects; its p-value tests for a trend."
    )
    trend_verdict: Literal["declining", "rising", "no_trend"] = Field(
        description="'declining': the effect moves in the metric's bad direction over time (novelty); 'rising': in "
        "its good direction (primacy, learning); 'no_trend': the trend test does not reject at alpha."
    )
    early_periods: int = Field(description="How many of the first periods are pooled into `early`.")
    late_periods: int = Field(description="How many of the last periods are pooled into `late`.")
    early: Estimate = Field(description="The inverse-variance weighted effect over the early periods.")
    late: Estimate = Field(
        description="The inverse-variance weighted effect over the latest periods: the long-run effect to ship on "
        "when the effect changes."
    )
    early_minus_late: Estimate = Field(description="early minus late, with the periods' covariance.")
    rows_without_period: int = Field(description="Rows analysed for the metric but left out here: no period value.")


class Comparison(ToolResult):
    """One metric in one treatment arm against control."""

    metric: str = Field(description="Metric name.")
    role: MetricRole = Field(description="primary, secondary or guardrail.")
    kind: MetricKind = Field(description="binary, continuous, ratio or quantile.")
    quantile: float | None = Field(
        default=None, exclude_if=lambda value: value is None, description="Quantile metrics: q (0.95: p95)."
    )
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
    test: str = Field(description="The test used (quantile: Woodruff; bootstrap: method, resamples, seed).")
    cuped: CupedDetail | None = Field(description="CUPED details, when a covariate was given.")
    adjustment: AdjustmentDetail | None = Field(
        default=None,
        exclude_if=lambda value: value is None,
        description="Lin, logistic, ratio-CUPED or post-stratification adjustment, with the unadjusted difference; "
        "absent otherwise.",
    )
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
    ] = Field(
        description="What the test says, in the metric's good direction (a primary metric under `sequential` or "
        "always_valid monitoring: whether the boundary is crossed or the sequence excludes 0)."
    )
    sequential: SequentialLook | None = Field(
        default=None,
        description="Primary metrics under a sequential plan: this look's boundary, test, repeated confidence "
        "intervals and decision; null otherwise.",
    )
    always_valid: AlwaysValid | None = Field(
        default=None,
        description="Primary metrics under always_valid monitoring: the confidence sequences; null otherwise.",
    )
    novelty: NoveltyDetail | None = Field(
        default=None,
        exclude_if=lambda value: value is None,
        description="With exposure_time_column: the effect by exposure period and the test for a trend in it; "
        "absent otherwise.",
    )


class ArmDecision(ToolResult):
    """The decision for one treatment arm."""

    arm: str = Field(description="Treatment arm label.")
    decision: Decision = Field(
        description="ship, don't ship, inconclusive, investigate, or continue (an interim look crossed no boundary)."
    )
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
    exposure_time_column: str | None = Field(
        default=None,
        exclude_if=lambda value: value is None,
        description="The exposure-time column (effects by period per comparison), if given; absent otherwise.",
    )
    control_arm: str = Field(description="Control arm label.")
    arms: list[str] = Field(description="All arm labels, control first.")
    n_obs: int = Field(description="Randomized units analysed (all arms).")
    alpha: float = Field(description="Significance level.")
    alternative: Alternative = Field(description="Test direction for primary and secondary metrics.")
    correction: Correction = Field(description="Multiple-testing correction.")
    monitoring: Monitoring = Field(
        default="fixed", description="fixed (one analysis, or a sequential plan's look) or always_valid."
    )
    planned_n_total: int | None = Field(default=None, description="Planned units, all arms, as requested.")
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
