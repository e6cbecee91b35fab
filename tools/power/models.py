"""Request and result models of the power tool: what the model reads and what every surface shows."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from tools.bounds import MAX_MAGNITUDE, MIN_ALPHA, MIN_SCALE
from tools.literals import Alternative, CurveKind, MdeKind, PowerMetric, SolveFor
from tools.results import Check, ToolRequest, ToolResult

__all__ = ["DEFAULT_POWER", "MAX_UNITS", "Alternative", "PowerCurvePoint", "PowerRequest", "PowerResult"]

DEFAULT_POWER = 0.8
MAX_UNITS = 10**12


class PowerRequest(ToolRequest):
    """Power and sample size for a randomized experiment (A/B or A/B/n test) on a conversion rate or a mean.

    Use it before an experiment starts to answer "how many units and how many days do we need?", "what is the
    smallest effect we can detect with the traffic we have?" or "what power does this design have?". Set
    `solve_for` to the one unknown: "sample_size" (give `mde`), "mde" (give `n_per_arm`) or "power" (give `mde`
    and `n_per_arm`). Leave every field that does not apply null. Never compute these numbers yourself.
    """

    metric: PowerMetric = Field(
        description="'proportion' for a rate of 0/1 outcomes (conversion, retention); 'mean' for a continuous "
        "metric (revenue per user, minutes watched)."
    )
    baseline: float = Field(
        ge=-MAX_MAGNITUDE,
        le=MAX_MAGNITUDE,
        description="The control arm's expected value: the conversion rate as a fraction in (0, 1) for a "
        "proportion (0.12 for 12%), or the control mean for a mean.",
    )
    std_dev: float | None = Field(
        default=None,
        ge=MIN_SCALE,
        le=MAX_MAGNITUDE,
        description="Standard deviation of the metric per unit (required for metric='mean'; null for a "
        "proportion, whose variance follows from the rate).",
    )
    solve_for: SolveFor = Field(
        default="sample_size",
        description="The one unknown to compute: 'sample_size', 'mde' (minimum detectable effect) or 'power'.",
    )
    mde: float | None = Field(
        default=None,
        ge=-MAX_MAGNITUDE,
        le=MAX_MAGNITUDE,
        description="The effect to detect, signed (positive = increase, negative = decrease), in the units "
        "set by mde_kind. Required unless solve_for='mde', where it must be null.",
    )
    mde_kind: MdeKind = Field(
        default="absolute",
        description="'absolute': mde is in the metric's units (0.01 = one percentage point for a rate); "
        "'relative': mde is a fraction of the baseline (0.05 = a 5% lift).",
    )
    n_per_arm: int | None = Field(
        default=None,
        ge=2,
        le=MAX_UNITS,
        description="Units in the control arm (each treatment arm has allocation_ratio times as many). "
        "Required when solve_for is 'mde' or 'power'; null when solving for sample_size.",
    )
    power: float | None = Field(
        default=None,
        gt=0,
        lt=1,
        description="Target power, the chance of detecting the mde if it is real (null means 0.8). Must be "
        "null when solve_for='power'.",
    )
    alpha: float = Field(
        default=0.05,
        ge=MIN_ALPHA,
        le=0.5,
        description="Significance level (false-positive rate) for the whole experiment; with more than one "
        "treatment arm it is split across the comparisons (Bonferroni).",
    )
    alternative: Alternative = Field(
        default="two-sided",
        description="'two-sided' (detect a change either way), 'larger' (only an increase) or 'smaller' "
        "(only a decrease).",
    )
    allocation_ratio: float = Field(
        default=1.0,
        ge=0.01,
        le=100,
        description="Units in each treatment arm per unit in control (1 = equal split; 0.5 = a treatment "
        "arm half the size of control).",
    )
    arms: int = Field(
        default=2,
        ge=2,
        le=26,
        description="Number of arms including control (2 for an A/B test; 3 for A/B/C).",
    )
    daily_units: float | None = Field(
        default=None,
        gt=0,
        le=MAX_UNITS,
        description="Eligible units entering the experiment per day, all arms together; gives the duration in "
        "days. Null if unknown.",
    )
    cluster_size: float | None = Field(
        default=None,
        ge=1,
        le=MAX_UNITS,
        description="Average units per randomized cluster (e.g. users per team) for a cluster-randomized "
        "design; give icc with it. Null for individual randomization.",
    )
    icc: float | None = Field(
        default=None,
        ge=0,
        lt=1,
        description="Intra-cluster correlation of the metric, in [0, 1); required with cluster_size.",
    )
    variance_reduction: float | None = Field(
        default=None,
        ge=0,
        lt=1,
        description="Share of the metric's variance a pre-period covariate is expected to explain with CUPED "
        "(its R-squared, in [0, 1)). Null for no variance reduction.",
    )


class PowerCurvePoint(ToolResult):
    """One point of a power curve."""

    n_per_arm: int = Field(description="Units in the control arm.")
    n_total: int = Field(description="Units across all arms.")
    mde_absolute: float = Field(description="Effect in the metric's units.")
    mde_relative: float | None = Field(
        description="Effect as a fraction of the baseline (null if the baseline is not positive, or negligible "
        "beside the effect: a ratio above 1e12)."
    )
    power: float = Field(description="Chance of detecting that effect with that many units.")


class PowerResult(ToolResult):
    """The answer of the power tool: sample sizes, the minimum detectable effect, power and duration."""

    figure: ClassVar[str | None] = "power_curve"
    plot_fields: ClassVar[tuple[str, ...]] = ("curve",)

    solve_for: SolveFor = Field(description="What was computed.")
    metric: PowerMetric = Field(description="Kind of metric.")
    baseline: float = Field(description="The control arm's rate or mean, as given.")
    std_dev: float | None = Field(description="The metric's standard deviation, as given (means).")
    alternative: Alternative = Field(description="Direction of the test.")
    alpha: float = Field(description="Significance level for the whole experiment.")
    alpha_per_comparison: float = Field(description="Level of each treatment-vs-control test (Bonferroni).")
    arms: int = Field(description="Arms including control.")
    allocation_ratio: float = Field(description="Units in each treatment arm per control unit.")
    n_per_arm: int = Field(description="Units in the control arm.")
    n_treatment: int = Field(description="Units in each treatment arm.")
    n_total: int = Field(description="Units across all arms.")
    clusters_per_arm: int | None = Field(description="Clusters in the control arm (cluster designs only).")
    mde_absolute: float = Field(description="Minimum detectable effect in the metric's units (signed).")
    mde_relative: float | None = Field(
        description="The same effect as a fraction of the baseline (null if the baseline is not positive, or "
        "negligible beside the effect: a ratio above 1e12)."
    )
    standardized_effect: float = Field(
        description="The effect in standard units: Cohen's d for means, Cohen's h for proportions."
    )
    power: float = Field(description="Power of the design at the reported sample size and effect.")
    target_power: float | None = Field(description="The power asked for (null when power was solved for).")
    cluster_size: float | None = Field(description="Units per randomized cluster, as given (cluster designs).")
    icc: float | None = Field(description="Intra-cluster correlation, as given (cluster designs).")
    design_effect: float = Field(description="Variance inflation from clustering, 1 + (m - 1) * ICC.")
    variance_reduction: float = Field(description="Share of variance removed by CUPED that was assumed.")
    daily_units: float | None = Field(description="Units entering per day, as given.")
    duration_days: int | None = Field(description="Days to collect n_total, rounded up (null without daily_units).")
    method: str = Field(description="The exact formula used, in words.")
    curve_kind: CurveKind = Field(
        description="'power_vs_n': power against control-arm size at the fixed effect; 'mde_vs_n': the minimum "
        "detectable effect against control-arm size at the target power."
    )
    curve: list[PowerCurvePoint] = Field(description="Points for a plot, ordered by n_per_arm.")
    checks: list[Check] = Field(description="Diagnostics of the design and the assumptions behind it.")
    warnings: list[str] = Field(description="Things the user should know before relying on the numbers.")
    summary: str = Field(description="One sentence stating the answer, built from the numbers above.")
