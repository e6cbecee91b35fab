"""Request and result models of the synthetic_control tool (not registered yet: the wrapper comes later)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, computed_field

from tools.did.models import MAX_ADOPTIONS, Adoption, PeriodLabel
from tools.literals import ItsErrors, Status, SynthEstimator, SynthInference
from tools.results import Check, Estimate, ToolRequest, ToolResult

__all__ = [
    "MAX_COVARIATES",
    "MAX_PLACEBO_GAPS",
    "MAX_REPLICATIONS",
    "EstimatorPoint",
    "PeriodLabel",
    "PlaceboGap",
    "PlaceboTest",
    "PredictorWeight",
    "SyntheticControlRequest",
    "SyntheticControlResult",
    "TimeWeight",
    "TrajectoryPoint",
    "UnitWeight",
]

MAX_COVARIATES = 20
MAX_REPLICATIONS = 10_000
#: Placebo gap paths a result carries for the gap plot (the donors with the best pre-period fit).
MAX_PLACEBO_GAPS = 200
MAX_SEASON = 366


class SyntheticControlRequest(ToolRequest):
    """Synthetic control for a change that reached one or a few units (one market, region, customer) at one date,
    with untreated units to compare: what did it do?

    Builds the treated unit's counterfactual as a weighted blend of untreated donor units that tracks it before the
    change. 'synthetic_did' (synthetic difference-in-differences, Arkhangelsky et al. 2021) is the default and the
    most robust; 'synthetic_control' (Abadie, Diamond & Hainmueller) and 'did' are reported beside it. With no
    comparable units at all, 'interrupted_time_series' projects the treated series' own pre-period trend. For many
    treated units or staggered starts use diff_in_diff. Never compute these numbers yourself.
    """

    dataset: str = Field(min_length=1, description="Name of an attached dataset with one row per unit and period.")
    outcome: str = Field(min_length=1, description="Column with the outcome per unit and period.")
    unit: str | None = Field(
        default=None,
        min_length=1,
        description="Column identifying the unit (market, region, customer). Null only for one series with "
        "'interrupted_time_series'.",
    )
    time: str = Field(
        min_length=1,
        description="Column with the period: integers (year, 202103), ISO dates, or text quarters, months or "
        "weeks ('2010Q4', '2010-04', '2010-W05').",
    )
    treatment: str | None = Field(
        default=None,
        min_length=1,
        description="Column with 0/1 per row: 1 in the treated units' periods from the change on. Every treated "
        "unit must start in the same period. Give this or `adoptions`.",
    )
    adoptions: list[Adoption] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_ADOPTIONS,
        description="When no column says who was treated: the treated units with their first treated period (all "
        "the same); units not listed are donors.",
    )
    estimator: SynthEstimator = Field(
        default="synthetic_did",
        description="'synthetic_did' (default), 'synthetic_control', 'did', or 'interrupted_time_series' (no "
        "donors: the treated series against its own trend).",
    )
    covariates: list[str] | None = Field(
        default=None,
        max_length=MAX_COVARIATES,
        description="'synthetic_control' only: predictor columns, averaged over the pre-period and weighted to fit "
        "the pre-period outcome. Null: the pre-period outcomes are the predictors.",
    )
    inference: SynthInference = Field(
        default="placebo",
        description="'placebo' (each donor in turn treated as if it were the treated unit), or 'jackknife' / "
        "'bootstrap' (need two or more treated units).",
    )
    replications: int = Field(
        default=200,
        ge=50,
        le=MAX_REPLICATIONS,
        description="Bootstrap draws, or placebo permutations with several treated units.",
    )
    season_period: int | None = Field(
        default=None,
        ge=2,
        le=MAX_SEASON,
        description="'interrupted_time_series' only: periods per season for seasonal terms (12 for months, 52 "
        "for weeks, 7 for days). Null for none.",
    )
    se_method: ItsErrors = Field(
        default="ar1_gls",
        description="'interrupted_time_series' only: 'ar1_gls' (AR(1) errors, small-sample intervals; default) or "
        "'newey_west' (least squares with HAC standard errors).",
    )
    alpha: float = Field(
        default=0.05, ge=1e-10, le=0.5, description="Significance level (0.05 gives 95% intervals), 1e-10 to 0.5."
    )
    seed: int = Field(default=0, ge=0, le=2**32 - 1, description="Random seed (same seed, same numbers).")


class EstimatorPoint(ToolResult):
    """One estimator's point estimate on the same data."""

    estimator: SynthEstimator = Field(description="The estimator.")
    estimate: float = Field(description="Its ATT.")


class UnitWeight(ToolResult):
    """A donor's weight in the synthetic unit."""

    unit: str = Field(description="The donor, as in the unit column.")
    weight: float = Field(ge=0, le=1, description="Its weight (the weights sum to 1).")


class TimeWeight(ToolResult):
    """A pre-period's weight in synthetic DiD's baseline."""

    period: PeriodLabel = Field(description="The pre-period.")
    weight: float = Field(ge=0, le=1, description="Its weight (the weights sum to 1).")


class PredictorWeight(ToolResult):
    """A covariate's weight (V) in synthetic control's fit."""

    predictor: str = Field(description="The covariate column.")
    weight: float = Field(ge=0, description="Its weight (the weights sum to 1).")


class TrajectoryPoint(ToolResult):
    """One period of the treated average against its synthetic counterpart."""

    period: PeriodLabel = Field(description="The period.")
    post: bool = Field(description="True from the change on.")
    observed: float = Field(description="The treated units' average outcome.")
    synthetic: float = Field(description="The synthetic (counterfactual) outcome.")
    gap: float = Field(description="observed - synthetic.")


class PlaceboGap(ToolResult):
    """A donor treated as if it got the change: its gap path, for the grey lines of the gap plot."""

    unit: str = Field(description="The donor.")
    gaps: list[float] = Field(description="Its observed - synthetic per period, in `trajectory`'s order.")
    pre_rmspe: float = Field(ge=0, description="Its pre-period RMSPE.")


class PlaceboTest(ToolResult):
    """In-space placebo test: the treated unit's post/pre RMSPE ratio ranked among the donors'."""

    p_value: float = Field(ge=0, le=1, description="rank / (n_placebos + 1).")
    rank: int = Field(ge=1, description="The treated unit's rank (1 = largest ratio).")
    n_placebos: int = Field(ge=0, description="Donors refitted as placebos.")
    min_p_value: float = Field(ge=0, le=1, description="Smallest attainable p-value, 1 / (n_placebos + 1).")
    rmspe_ratio: float = Field(ge=0, description="The treated unit's post/pre RMSPE ratio.")
    status: Status = Field(description="'pass' when p_value < alpha, 'fail' otherwise.")


class SyntheticControlResult(ToolResult):
    """The answer of the synthetic_control tool."""

    figure: ClassVar[str | None] = "synthetic_control"
    plot_fields: ClassVar[tuple[str, ...]] = ("trajectory", "placebo_gaps")
    legacy_fields: ClassVar[tuple[str, ...]] = ("att",)

    estimand: str = Field(description="'ATT': the average effect on the treated units over the post-period.")
    estimator: SynthEstimator = Field(description="The estimator behind `effect`.")
    method: str = Field(description="The estimator, weights and inference used, in words.")
    dataset: str = Field(description="The dataset analysed.")
    outcome: str = Field(description="The outcome column.")
    effect: Estimate = Field(
        description="The headline estimate: the ATT of `estimator`, the mean post-period gap between the treated "
        "units and their synthetic counterpart (for the ITS, against the projected pre-period trend)."
    )
    inference: SynthInference | None = Field(description="How the interval was computed; null for the ITS (HAC).")
    comparison: list[EstimatorPoint] = Field(
        description="The ATT of synthetic_did, synthetic_control and did on the same data (empty for the ITS)."
    )
    unit_weights: list[UnitWeight] = Field(description="Donor weights, largest first; zero weights left out.")
    time_weights: list[TimeWeight] = Field(description="synthetic_did's pre-period weights, largest first; else empty.")
    predictor_weights: list[PredictorWeight] = Field(description="synthetic_control's covariate weights; else empty.")
    pre_rmspe: float = Field(ge=0, description="Root mean squared gap before the change (the fit).")
    post_rmspe: float = Field(ge=0, description="Root mean squared gap after the change.")
    placebo: PlaceboTest | None = Field(description="The in-space placebo test; null without donors to permute.")
    level_change: Estimate | None = Field(
        default=None, description="'interrupted_time_series': the jump at the start; else null."
    )
    slope_change: Estimate | None = Field(
        default=None, description="'interrupted_time_series': the change in per-period trend; else null."
    )
    treatment_start: PeriodLabel = Field(description="The first treated period.")
    trajectory: list[TrajectoryPoint] = Field(description="Per period: observed, synthetic and their gap.")
    placebo_gaps: list[PlaceboGap] = Field(
        description=f"Placebo gap paths for the gap plot (at most {MAX_PLACEBO_GAPS}, best pre-period fit first)."
    )
    alpha: float = Field(description="Significance level.")
    n_obs: int = Field(description="Unit-period rows used.")
    n_units: int = Field(description="Units used (donors and treated).")
    n_treated_units: int = Field(description="Treated units.")
    n_donors: int = Field(description="Donor (never-treated) units used.")
    n_pre_periods: int = Field(description="Periods before the change.")
    n_post_periods: int = Field(description="Periods from the change on.")
    checks: list[Check] = Field(description="Fit, weights, range, pre-periods, donors and spillovers, with evidence.")
    warnings: list[str] = Field(description="What the user should know before relying on the numbers.")
    summary: str = Field(description="One sentence stating the answer, built from the numbers above.")

    @computed_field(description="The ATT (the same as `effect`).")  # type: ignore[prop-decorator]
    @property
    def att(self) -> Estimate:
        """The issue's name of :attr:`effect`."""
        return self.effect
