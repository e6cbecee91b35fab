"""Request and result models of the power tool: what the model reads and what every surface shows."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field, SerializerFunctionWrapHandler, model_serializer

from tools.bounds import MAX_MAGNITUDE, MIN_ALPHA, MIN_SCALE
from tools.literals import Alternative, CurveKind, MdeKind, PowerMetric, SolveFor, SpendingFunction
from tools.power.quasi_models import QuasiDesign, QuasiPower
from tools.results import Check, ToolRequest, ToolResult
from tools.sequential.models import SequentialBoundary

__all__ = [
    "DEFAULT_POWER",
    "MAX_LOOKS",
    "MAX_UNITS",
    "Alternative",
    "PowerCurvePoint",
    "PowerLook",
    "PowerRequest",
    "PowerResult",
    "PowerSequential",
]

DEFAULT_POWER = 0.8
MAX_UNITS = 10**12
MAX_LOOKS = 20


class PowerRequest(ToolRequest):
    """Power and sample size for a randomized A/B(/n) test on a rate or a mean, before it starts: units and days
    needed, the smallest detectable effect, or a design's power; with interim looks, a group-sequential design.
    `solve_for` is the one unknown: "sample_size" (give `mde`), "mde" (give `n_per_arm`) or "power" (give both).
    Leave what does not apply null. Never compute these numbers yourself.
    """

    metric: PowerMetric = Field(
        description="'proportion' for a rate of 0/1 outcomes; 'mean' for a continuous metric (revenue per user)."
    )
    baseline: float = Field(
        ge=-MAX_MAGNITUDE,
        le=MAX_MAGNITUDE,
        description="The control arm's expected rate as a fraction (0.12 for 12%) or mean.",
    )
    std_dev: float | None = Field(
        default=None,
        ge=MIN_SCALE,
        le=MAX_MAGNITUDE,
        description="Standard deviation of the metric per unit (required for metric='mean', else null).",
    )
    solve_for: SolveFor = Field(
        default="sample_size",
        description="The one unknown: 'sample_size', 'mde' (minimum detectable effect) or 'power'.",
    )
    mde: float | None = Field(
        default=None,
        ge=-MAX_MAGNITUDE,
        le=MAX_MAGNITUDE,
        description="The effect to detect, signed, in the units of mde_kind. Null when solve_for='mde'.",
    )
    mde_kind: MdeKind = Field(
        default="absolute",
        description="'absolute': in the metric's units (0.01 = one point of a rate); 'relative': a fraction of "
        "the baseline (0.05 = 5% lift).",
    )
    n_per_arm: int | None = Field(
        default=None,
        ge=2,
        le=MAX_UNITS,
        description="Units in the control arm (the maximum with looks > 1). Null when solve_for='sample_size'.",
    )
    power: float | None = Field(
        default=None,
        gt=0,
        lt=1,
        description="Target power (null means 0.8); null when solve_for='power'.",
    )
    alpha: float = Field(
        default=0.05,
        ge=MIN_ALPHA,
        le=0.5,
        description="Overall false-positive rate (split across treatment arms by Bonferroni).",
    )
    alternative: Alternative = Field(
        default="two-sided",
        description="'two-sided', 'larger' (only an increase) or 'smaller' (only a decrease).",
    )
    allocation_ratio: float = Field(
        default=1.0,
        ge=0.01,
        le=100,
        description="Units in each treatment arm per control unit (1 = equal split).",
    )
    arms: int = Field(
        default=2,
        ge=2,
        le=26,
        description="Arms including control (2 for an A/B test).",
    )
    daily_units: float | None = Field(
        default=None,
        gt=0,
        le=MAX_UNITS,
        description="Eligible units per day, all arms together (gives the duration); null if unknown.",
    )
    cluster_size: float | None = Field(
        default=None,
        ge=1,
        le=MAX_UNITS,
        description="Average units per randomized cluster, with icc; null for individual randomization.",
    )
    icc: float | None = Field(
        default=None,
        ge=0,
        lt=1,
        description="Intra-cluster correlation, in [0, 1); with cluster_size.",
    )
    variance_reduction: float | None = Field(
        default=None,
        ge=0,
        lt=1,
        description="Share of variance CUPED removes (a pre-period covariate's R-squared); null for none.",
    )
    looks: int = Field(
        default=1, ge=1, le=MAX_LOOKS, description="Planned analyses incl. the final one; 1 = fixed horizon."
    )
    information_fractions: list[float] | None = Field(
        default=None,
        max_length=MAX_LOOKS,
        description="Share of the maximum sample at each look, increasing, last 1; null = equal.",
    )
    spending: SpendingFunction = Field(default="obrien_fleming", description="Alpha spending when looks > 1.")
    design: QuasiDesign | None = Field(
        default=None, description="DiD, RDD or synthetic control (simulated; units from here); null = A/B test."
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


class PowerLook(SequentialBoundary):
    """One planned look of a sequential design, with its sample size."""

    n_per_arm: int = Field(description="Units in the control arm at this look.")
    n_total: int = Field(description="Units across all arms at this look.")
    cumulative_power: float = Field(description="Chance of having stopped for efficacy by this look, under the effect.")


class PowerSequential(ToolResult):
    """A group-sequential design: its looks and what they cost over the fixed design."""

    looks: int = Field(description="Planned analyses, the final one included.")
    spending: SpendingFunction = Field(description="Lan-DeMets alpha-spending function.")
    boundaries: list[PowerLook] = Field(description="Each look's boundary, alpha spent and sample size.")
    inflation_factor: float = Field(description="Maximum sample size over the fixed design's for the same power.")
    n_per_arm_fixed: int | None = Field(
        description="Control-arm units the fixed design needs for the same power (solve_for='sample_size')."
    )
    expected_n_total: float = Field(description="Expected units across all arms when the effect is real.")
    expected_n_total_h0: float = Field(description="Expected units across all arms when there is no effect.")


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
    sequential: PowerSequential | None = Field(
        default=None,
        description="The group-sequential design (looks > 1); n_per_arm, n_total and duration_days are then the "
        "maximum, reached only if no look stops the experiment.",
    )
    quasi: QuasiPower | None = Field(
        default=None,
        description="The simulation of a quasi-experimental design (DiD, RDD, synthetic control); its units fill "
        "n_per_arm (control, below the cutoff, or donors) and n_treatment.",
    )
    method: str = Field(description="The exact formula used, in words.")
    curve_kind: CurveKind = Field(
        description="'power_vs_n': power against control-arm size at the fixed effect; 'mde_vs_n': the minimum "
        "detectable effect against control-arm size at the target power."
    )
    curve: list[PowerCurvePoint] = Field(description="Points for a plot, ordered by n_per_arm.")
    checks: list[Check] = Field(description="Diagnostics of the design and the assumptions behind it.")
    warnings: list[str] = Field(description="Things the user should know before relying on the numbers.")
    summary: str = Field(description="One sentence stating the answer, built from the numbers above.")

    @model_serializer(mode="wrap")
    def _written(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return _without_none(handler(self), "quasi")


def _without_none(dumped: dict[str, Any], key: str) -> dict[str, Any]:
    """A dump without ``key`` when it is null: an A/B result is written as it was before quasi-experimental designs
    existed, so saved sessions, frozen pre-registrations and their hashes stay byte for byte the same. (A request
    keeps its null ``design``: it is what a strict call sends, every field present.)"""
    if dumped.get(key, "") is None:
        return {name: value for name, value in dumped.items() if name != key}
    return dumped
