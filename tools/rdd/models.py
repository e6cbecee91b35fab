"""Request and result models of the rdd tool."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, computed_field

from tools.literals import BandwidthRule, BandwidthSelector, Kernel, Side, Status
from tools.results import Check, Estimate, ToolRequest, ToolResult

__all__ = [
    "BandwidthChoice",
    "CovariateBalance",
    "DensityTest",
    "FirstStage",
    "InferenceBandwidth",
    "PlaceboCutoff",
    "RdPlot",
    "RdPlotSide",
    "RdRule",
    "RdSelector",
    "RddRequest",
    "RddResult",
    "SensitivityRow",
]

MAX_COVARIATES = 20

#: rdrobust's data-driven bandwidth rules: MSE-optimal (one for both sides, or one per side) for the point estimate,
#: coverage-error-optimal (the same, shrunk for inference: Calonico, Cattaneo & Farrell 2020).
RdSelector = Literal[BandwidthSelector, "cerrd", "certwo"]
#: How a pair of bandwidths was chosen: a data-driven rule, or given. "cerrd_rho" / "certwo_rho": the CER-optimal h
#: of cerrd / certwo with b scaled by the same factor (rho = h / b kept), the default inference bandwidths.
RdRule = Literal[BandwidthRule, "cerrd", "certwo", "cerrd_rho", "certwo_rho"]
#: Which bandwidths the robust inference uses: the CER-optimal counterpart of the selector, or the same ones.
InferenceBandwidth = Literal["cer", "same"]


class RddRequest(ToolRequest):
    """Regression discontinuity: the effect of a treatment that switches on when a score crosses a cutoff.

    Use when units are treated because a running variable passes a threshold (a paywall after 10 free queries, a
    loyalty tier at 1,000 points, a model acting when its score passes 0.8, an eligibility rule). Units just either
    side of the cutoff are comparable, so the jump in the outcome there is the effect, for units at the cutoff.
    Estimates as rdrobust does: local polynomial on each side; the conventional point estimate at the MSE-optimal
    bandwidth, the robust bias-corrected estimate, confidence interval and p-value (the ones to report) at the
    coverage-error-optimal bandwidth (Calonico, Cattaneo & Farrell 2020), which keeps the interval's coverage near
    its nominal level where the MSE-optimal one under-covers. Give `fuzzy` when crossing the cutoff
    only changes the chance of treatment (the result is then the effect on those who comply). Runs the
    manipulation (density) test, covariate continuity, placebo cutoffs and bandwidth sensitivity, and returns the
    RD plot's data. Never compute these numbers yourself.
    """

    dataset: str = Field(description="Name of an attached dataset with one row per unit.", min_length=1)
    outcome: str = Field(description="Column with the outcome measured after treatment.", min_length=1)
    running: str = Field(
        description="Column with the running variable (the score compared with the cutoff).", min_length=1
    )
    cutoff: float = Field(default=0.0, description="The cutoff value of the running variable.")
    treatment_side: Side = Field(
        default="above",
        description="'above' when units at or above the cutoff are treated (the default), 'below' when units "
        "below it are. The effect is always reported as treated minus untreated.",
    )
    fuzzy: str | None = Field(
        default=None,
        description="Column with actual treatment take-up (0/1) when crossing the cutoff only changes the chance "
        "of treatment (fuzzy design: the effect on compliers, with the first stage reported). Null for a sharp "
        "design.",
    )
    polynomial: int = Field(
        default=1, ge=0, le=4, description="Order p of the local polynomial (1, local linear, is standard)."
    )
    kernel: Kernel = Field(default="triangular", description="Kernel weighting observations by distance to the cutoff.")
    bandwidth: float | None = Field(
        default=None,
        gt=0,
        description="Bandwidth h on both sides, in the running variable's units (the bias-correction bandwidth b "
        "is then h too). Null selects h and b from the data (see bandwidth_selector).",
    )
    bandwidth_selector: RdSelector = Field(
        default="mserd",
        description="Estimation bandwidths: 'mserd' (one MSE-optimal bandwidth for both sides, the default) or "
        "'msetwo' (one per side); 'cerrd' / 'certwo' estimate at the coverage-error-optimal ones too (rdrobust's "
        "bwselect of the same names).",
    )
    inference_bandwidth: InferenceBandwidth = Field(
        default="cer",
        description="Bandwidths of the robust bias-corrected estimate, interval and p-value: 'cer' (the default) "
        "uses the coverage-error-optimal counterpart of an MSE-optimal bandwidth_selector (h and b both shrunk by "
        "n^(-p/((p+3)(2p+3))), the factor of rdrobust's cerrd / certwo), while the conventional estimate stays at "
        "the MSE-optimal h; 'same' infers at the estimation bandwidths (rdrobust's default output, whose 95% "
        "intervals can cover less than 95%). A CER selector or a given `bandwidth` is used for both as it is.",
    )
    cluster: str | None = Field(
        default=None,
        description="Column identifying clusters (e.g. account for user rows) for cluster-robust standard errors. "
        "Null for none.",
    )
    covariates: list[str] | None = Field(
        default=None,
        description="Pre-determined columns (measured before treatment) to test for continuity at the cutoff; "
        "a jump in one suggests the groups differ by more than the treatment. Null for none.",
        max_length=MAX_COVARIATES,
    )
    alpha: float = Field(
        default=0.05, ge=1e-10, le=0.5, description="Significance level (0.05 gives 95% intervals), 1e-10 to 0.5."
    )
    diagnostics: bool = Field(
        default=True,
        description="Run the covariate, placebo-cutoff and bandwidth-sensitivity checks (false for the estimate "
        "alone, faster on very large data). The density test always runs.",
    )


class BandwidthChoice(ToolResult):
    """The bandwidths used on each side."""

    legacy_fields: ClassVar[tuple[str, ...]] = ("h_left", "h_right", "b_left", "b_right")

    h_below: float = Field(description="Estimation bandwidth h below the cutoff.")
    h_above: float = Field(description="Estimation bandwidth h above the cutoff.")
    b_below: float = Field(description="Bias-correction (pilot) bandwidth b below the cutoff.")
    b_above: float = Field(description="Bias-correction bandwidth b above the cutoff.")
    selector: RdRule = Field(description="How h and b were chosen.")
    mass_points_adjusted: bool = Field(
        description="True when the running variable has many repeated values and the pilot bandwidths were "
        "widened to hold at least 10 distinct values (rdrobust's masspoints='adjust')."
    )

    @computed_field(description="The old name of `h_below`, kept readable.")  # type: ignore[prop-decorator]
    @property
    def h_left(self) -> float:
        """The old name of :attr:`h_below`."""
        return self.h_below

    @computed_field(description="The old name of `h_above`, kept readable.")  # type: ignore[prop-decorator]
    @property
    def h_right(self) -> float:
        """The old name of :attr:`h_above`."""
        return self.h_above

    @computed_field(description="The old name of `b_below`, kept readable.")  # type: ignore[prop-decorator]
    @property
    def b_left(self) -> float:
        """The old name of :attr:`b_below`."""
        return self.b_below

    @computed_field(description="The old name of `b_above`, kept readable.")  # type: ignore[prop-decorator]
    @property
    def b_right(self) -> float:
        """The old name of :attr:`b_above`."""
        return self.b_above


class FirstStage(ToolResult):
    """Fuzzy designs: the jump in treatment take-up at the cutoff (treated side minus untreated side)."""

    conventional: Estimate = Field(description="Take-up jump, conventional estimate and interval.")
    robust: Estimate = Field(description="Take-up jump, bias-corrected with the robust interval.")
    f_statistic: float = Field(description="Strength of the first stage: (conventional jump / its SE) squared.")
    weak: bool = Field(description="True when f_statistic is below 10 (a weak first stage: the LATE is unreliable).")


class DensityTest(ToolResult):
    """Cattaneo-Jansson-Ma manipulation test: is the density of the running variable continuous at the cutoff?"""

    density_below: float = Field(description="Estimated density just below the cutoff.")
    density_above: float = Field(description="Estimated density just above the cutoff.")
    t_statistic: float = Field(description="Test statistic of the difference (jackknife standard error).")
    p_value: float = Field(description="p-value of no discontinuity; a small value suggests sorting around the cutoff.")
    h_below: float = Field(description="Bandwidth below the cutoff.")
    h_above: float = Field(description="Bandwidth above the cutoff.")
    n_below: int = Field(description="Observations within the bandwidth below the cutoff.")
    n_above: int = Field(description="Observations within the bandwidth above the cutoff.")


class CovariateBalance(ToolResult):
    """The RD estimate on a pre-determined covariate: it should not jump."""

    covariate: str = Field(description="The covariate.")
    robust: Estimate | None = Field(
        description="Jump at the cutoff (treated minus untreated), robust bias-corrected; null when not tested."
    )
    bandwidth: float | None = Field(
        description="The covariate's own bandwidth h below the cutoff behind `robust` (CER-optimal unless the request "
        "says inference_bandwidth='same')."
    )
    n_obs: int = Field(description="Rows with the covariate present.")
    status: Status = Field(
        description="'pass'; 'warn' when the jump is significant at alpha; 'not_tested' when it could not be "
        "estimated (never 'fail')."
    )
    detail: str = Field(description="What was found, or why it was not tested.")


class PlaceboCutoff(ToolResult):
    """The RD at a fake cutoff inside one side, where no effect should appear."""

    cutoff: float = Field(description="The placebo cutoff (the median of the running variable on that side).")
    side: Literal["treated", "untreated"] = Field(description="The side of the real cutoff it lies on.")
    robust: Estimate | None = Field(description="Outcome jump at the placebo cutoff, robust bias-corrected.")
    status: Status = Field(
        description="'pass'; 'warn' when the placebo jump is significant; 'not_tested' when it could not be "
        "estimated (never 'fail')."
    )
    detail: str = Field(description="What was found, or why it was not tested.")


class SensitivityRow(ToolResult):
    """The estimate at a multiple of the chosen bandwidth."""

    legacy_fields: ClassVar[tuple[str, ...]] = ("h_left", "h_right")

    multiplier: float = Field(description="Multiple of the inference bandwidths h and b (those behind `effect`).")
    h_below: float = Field(description="Bandwidth h below the cutoff.")
    h_above: float = Field(description="Bandwidth h above the cutoff.")
    robust: Estimate | None = Field(description="Robust bias-corrected estimate at that bandwidth.")
    detail: str = Field(description="Effective observations, or why it could not be estimated.")

    @computed_field(description="The old name of `h_below`, kept readable.")  # type: ignore[prop-decorator]
    @property
    def h_left(self) -> float:
        """The old name of :attr:`h_below`."""
        return self.h_below

    @computed_field(description="The old name of `h_above`, kept readable.")  # type: ignore[prop-decorator]
    @property
    def h_right(self) -> float:
        """The old name of :attr:`h_above`."""
        return self.h_above


class RdPlotSide(ToolResult):
    """One side of the RD plot."""

    bin_centers: list[float] = Field(description="Midpoints of the evenly spaced bins.")
    bin_means: list[float] = Field(description="Mean outcome in each bin (bins without rows are left out).")
    bin_counts: list[int] = Field(description="Rows in each bin.")
    fit_x: list[float] = Field(description="Grid of running-variable values from the cutoff to the bandwidth edge.")
    fit_y: list[float] = Field(description="The fitted local polynomial (order `polynomial`, bandwidth h) on fit_x.")


class RdPlot(ToolResult):
    """Data for the RD plot: binned means either side and the fitted polynomials meeting the cutoff."""

    cutoff: float = Field(description="The cutoff (draw a vertical line here).")
    below: RdPlotSide = Field(description="The side below the cutoff.")
    above: RdPlotSide = Field(description="The side above the cutoff.")
    n_bins_below: int = Field(description="Bins below the cutoff.")
    n_bins_above: int = Field(description="Bins above the cutoff.")
    bin_method: str = Field(description="How the number of bins was chosen.")
    jump: float = Field(description="Gap between the two fitted curves at the cutoff (above minus below).")


class RddResult(ToolResult):
    """The answer of the rdd tool."""

    figure: ClassVar[str | None] = "rd_plot"
    plot_fields: ClassVar[tuple[str, ...]] = ("bins",)
    legacy_fields: ClassVar[tuple[str, ...]] = (
        "robust",
        "n_effective_left",
        "n_effective_right",
        "n_left",
        "n_right",
    )

    estimand: str = Field(description="What is estimated.")
    method: str = Field(description="Estimator, bandwidth rule, kernel, polynomial and variance, in words.")
    design: Literal["sharp", "fuzzy"] = Field(description="Sharp (treatment switches at the cutoff) or fuzzy.")
    dataset: str = Field(description="The dataset analysed.")
    outcome: str = Field(description="The outcome column.")
    running: str = Field(description="The running-variable column.")
    cutoff: float = Field(description="The cutoff.")
    treatment_side: Side = Field(description="Which side of the cutoff is treated.")
    effect: Estimate = Field(
        description="The headline estimate, as rdrobust reports it: the bias-corrected jump at the cutoff (treated "
        "minus untreated; for a fuzzy design the effect on compliers, the outcome's jump over the take-up jump) "
        "with the robust standard error, CI and p-value, all at `bandwidth_inference` (so the interval is centred on "
        "this estimate): the one to report. `conventional` is beside it."
    )
    conventional: Estimate = Field(
        description="Conventional local polynomial estimate at `bandwidth` (the MSE-optimal point estimate when "
        "selected) with its (not bias-aware) CI."
    )
    bandwidth: BandwidthChoice = Field(
        description="Estimation bandwidths h and b on each side (of `conventional`, the plot and the effective "
        "sample) and how they were chosen."
    )
    bandwidth_inference: BandwidthChoice = Field(
        description="Bandwidths of `effect` (its estimate, robust interval and p-value): by default the "
        "coverage-error-optimal ones ('cerrd_rho' / 'certwo_rho': the estimation h and b times "
        "n^(-p/((p+3)(2p+3)))); equal to `bandwidth` with inference_bandwidth='same', a CER selector, a given "
        "`bandwidth`, or polynomial 0."
    )
    kernel: Kernel = Field(description="Kernel.")
    polynomial: int = Field(description="Order p of the local polynomial (bias correction uses p + 1).")
    n_effective_below: int = Field(description="Rows within h below the cutoff.")
    n_effective_above: int = Field(description="Rows within h above the cutoff.")
    n_inference_below: int = Field(description="Rows within the inference h below the cutoff (behind `effect`).")
    n_inference_above: int = Field(description="Rows within the inference h above the cutoff.")
    n_below: int = Field(description="Rows below the cutoff (after dropping missing values).")
    n_above: int = Field(description="Rows at or above the cutoff.")
    n_obs: int = Field(description="Rows analysed.")
    n_clusters: int | None = Field(description="Clusters within the bandwidths, when clustered.")
    first_stage: FirstStage | None = Field(description="Fuzzy designs: the take-up jump.")
    density_test: DensityTest | None = Field(description="The manipulation test (null if it could not run).")
    covariate_balance: list[CovariateBalance] = Field(description="Continuity of each pre-determined covariate.")
    placebo_cutoffs: list[PlaceboCutoff] = Field(description="Placebo cutoffs, one on each side.")
    bandwidth_sensitivity: list[SensitivityRow] = Field(description="The estimate at 0.5, 0.75, 1, 1.5 and 2 times h.")
    bins: RdPlot = Field(description="Data for the RD plot.")
    checks: list[Check] = Field(description="Diagnostics and identifying assumptions with their evidence.")
    warnings: list[str] = Field(description="What the user should know before relying on the numbers.")
    summary: str = Field(description="One sentence stating the answer, built from the numbers above.")

    @computed_field(  # type: ignore[prop-decorator]
        description="The old name of `effect` (the robust bias-corrected estimate), kept readable."
    )
    @property
    def robust(self) -> Estimate:
        """The old name of :attr:`effect`."""
        return self.effect

    @computed_field(description="The old name of `n_effective_below`, kept readable.")  # type: ignore[prop-decorator]
    @property
    def n_effective_left(self) -> int:
        """The old name of :attr:`n_effective_below`."""
        return self.n_effective_below

    @computed_field(description="The old name of `n_effective_above`, kept readable.")  # type: ignore[prop-decorator]
    @property
    def n_effective_right(self) -> int:
        """The old name of :attr:`n_effective_above`."""
        return self.n_effective_above

    @computed_field(description="The old name of `n_below`, kept readable.")  # type: ignore[prop-decorator]
    @property
    def n_left(self) -> int:
        """The old name of :attr:`n_below`."""
        return self.n_below

    @computed_field(description="The old name of `n_above`, kept readable.")  # type: ignore[prop-decorator]
    @property
    def n_right(self) -> int:
        """The old name of :attr:`n_above`."""
        return self.n_above
