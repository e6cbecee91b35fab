"""Request and result models of the diff_in_diff tool."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, computed_field

from tools.literals import BasePeriod, ControlGroup, Estimator, EstimatorChoice, EventSource, Status
from tools.results import Check, Estimate, ToolRequest, ToolResult

__all__ = [
    "Adoption",
    "CohortEffect",
    "CohortInfo",
    "DiffInDiffRequest",
    "DiffInDiffResult",
    "EventTimeEstimate",
    "GroupTimeEstimate",
    "PretrendTest",
]

#: A period as the data gives it: an integer, or an ISO date for date columns.
PeriodLabel = int | str

MAX_COVARIATES = 50
MAX_WINDOW = 1000
MAX_BOOTSTRAP = 100_000
MAX_ADOPTIONS = 1000

#: How Callaway-Sant'Anna standard errors are computed.
Inference = Literal["analytic", "bootstrap"]
#: The multiplier bootstrap's weights.
BootstrapWeights = Literal["mammen", "rademacher"]
#: Callaway-Sant'Anna's covariate adjustment (R did's ``est_method``).
CovariateMethod = Literal["dr", "ipw", "reg"]


class Adoption(ToolRequest):
    """A treated unit and the period its treatment started."""

    unit: str = Field(min_length=1, max_length=500, description="The unit as written in the unit column.")
    first_period: int | str = Field(
        description="Its first treated period, in the time column's form (2011, '2011Q3', '2024-03-01')."
    )


class DiffInDiffRequest(ToolRequest):
    """Difference-in-differences on a panel (units observed over periods) when a change reached some units and not
    others, at one date or rolled out over time (region by region, market by market): what did it do?

    Give the outcome, the unit and time columns, and one of `treatment` (0/1 per row: treated in this period),
    `cohort` (per row, the first period the unit was treated; empty or 0 if never) or `adoptions` (when no column
    says who was treated when). `auto` runs the two-way
    fixed-effects regression and its event study when everyone adopted at once, and Callaway-Sant'Anna when
    adoption was staggered (two-way fixed effects is biased then, and is reported beside it). Reports the pre-trend
    test, a placebo in time, cluster-robust inference and the event study for the plot. Never compute these
    numbers yourself.
    """

    dataset: str = Field(description="Name of an attached dataset with one row per unit and period.")
    outcome: str = Field(description="Column with the outcome measured per unit and period.")
    unit: str = Field(description="Column identifying the panel unit (region, store, user...).")
    time: str = Field(
        description="Column with the period: integers (year, week number, 202103), dates that parse "
        "unambiguously (ISO like 2024-03-01), or periods written as text, one kind per column: quarters ('Q42010', "
        "'2010Q4', '2010-Q4', 'Q4 2010'), half-years ('2010H1'), months ('2010-04', 'Apr 2010') or ISO weeks "
        "('2010-W05'). Read in calendar order."
    )
    treatment: str | None = Field(
        default=None,
        description="Column with 0/1 per row: 1 when the unit is treated in that period (stays 1 once it starts). "
        "Give one of this, `cohort` or `adoptions`.",
    )
    cohort: str | None = Field(
        default=None,
        description="Column with, per row, the first period in which the row's unit is treated, in the same form "
        "as `time` (integers, dates, or the same kind of text period such as 'Q32011'); empty, 0 or 'never' for "
        "never-treated units. Give one of this, `treatment` or `adoptions`.",
    )
    adoptions: list[Adoption] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_ADOPTIONS,
        description="The treated units with their first treated period, when no column says it; units not "
        "listed are never treated.",
    )
    estimator: EstimatorChoice = Field(
        default="auto",
        description="'auto' (TWFE when all treated units adopt at once, Callaway-Sant'Anna when adoption is "
        "staggered), 'twfe' (static two-way fixed effects), 'event_study' (TWFE with relative-time indicators; "
        "the ATT is their average after adoption) or 'callaway_santanna'.",
    )
    control_group: ControlGroup = Field(
        default="never_treated",
        description="Callaway-Sant'Anna comparison units: 'never_treated' or 'not_yet_treated' (never-treated plus "
        "units adopting later).",
    )
    cluster: str | None = Field(
        default=None, description="Column to cluster standard errors on; null clusters on the unit column."
    )
    weights: str | None = Field(
        default=None,
        description="Column of analytic weights (e.g. population); positive. Callaway-Sant'Anna needs them "
        "constant within a unit. Null for equal weights.",
    )
    covariates: list[str] | None = Field(
        default=None,
        max_length=MAX_COVARIATES,
        description="Control columns, any estimator (Callaway-Sant'Anna: values in each comparison's earlier "
        "period). Null for none.",
    )
    covariate_method: CovariateMethod = Field(
        default="dr",
        description="Callaway-Sant'Anna with covariates: 'dr' (doubly robust, R did's default), 'ipw' or 'reg'.",
    )
    reference_period: int = Field(
        default=-1,
        ge=-MAX_WINDOW,
        le=-1,
        description="Event time left out of the regression event study (periods relative to adoption; -1 is the "
        "period just before).",
    )
    leads: int | None = Field(
        default=None,
        ge=1,
        le=MAX_WINDOW,
        description="Pre-adoption periods shown in the event study (earlier ones are binned into the first); "
        "null for all available.",
    )
    lags: int | None = Field(
        default=None,
        ge=0,
        le=MAX_WINDOW,
        description="Post-adoption periods shown in the event study after period 0 (later ones are binned into "
        "the last); null for all available.",
    )
    base_period: BasePeriod = Field(
        default="varying",
        description="Callaway-Sant'Anna pre-period comparisons: 'varying' (each period against the one before, as "
        "the R did package does by default) or 'universal' (every period against the one before adoption).",
    )
    alpha: float = Field(
        default=0.05, ge=1e-10, le=0.5, description="Significance level (0.05 gives 95% intervals), 1e-10 to 0.5."
    )
    inference: Inference = Field(
        default="analytic",
        description="Callaway-Sant'Anna standard errors: 'analytic' (influence functions, clustered; t(G - 1) "
        "intervals for G clusters) or 'bootstrap' (the multiplier bootstrap of the R did package: one weight per "
        "cluster on the influence functions). Both give a simultaneous band for the event study.",
    )
    bootstrap: int = Field(
        default=999, ge=99, le=MAX_BOOTSTRAP, description="Bootstrap replications when inference='bootstrap'."
    )
    bootstrap_weights: BootstrapWeights = Field(
        default="mammen",
        description="Multiplier weights: 'mammen' (R did's default) or 'rademacher' (+1 / -1).",
    )
    seed: int = Field(
        default=0,
        ge=0,
        le=2**32 - 1,
        description="Random seed of the bootstrap and of the simultaneous band's critical value (same seed, same "
        "numbers).",
    )


class EventTimeEstimate(Estimate):
    """One point of the event study: the effect at a number of periods relative to adoption.

    At the reference period the effect is fixed, not estimated: estimate, std_error and both interval bounds are 0
    and p_value is 1.
    """

    relative_period: int = Field(description="Periods since adoption (0 = first treated period, -1 = the one before).")
    n_obs: int = Field(description="Treated unit-period observations at this relative period.")
    reference: bool = Field(description="True for the omitted reference period (fixed at 0).")
    band_lower: float | None = Field(
        default=None,
        description="Lower bound of the simultaneous (sup-t) band: covers all event-time effects jointly with "
        "probability 1 - alpha; null without a band.",
    )
    band_upper: float | None = Field(default=None, description="Upper bound of the simultaneous band.")


class GroupTimeEstimate(Estimate):
    """Callaway-Sant'Anna ATT(g, t): the effect in period t on the units first treated in period g, with its standard
    error from the influence function (clustered) and a pointwise interval."""

    cohort: PeriodLabel = Field(description="First treated period of the cohort.")
    period: PeriodLabel = Field(description="Calendar period.")
    relative_period: int = Field(description="Periods since the cohort's adoption.")
    post: bool = Field(description="True when period >= cohort (an effect); False for a pre-period placebo.")


class CohortEffect(ToolResult):
    """Callaway-Sant'Anna 'group' aggregation: the average effect on one cohort after it adopted."""

    cohort: PeriodLabel = Field(description="First treated period of the cohort.")
    effect: Estimate = Field(description="Average of the cohort's post-adoption ATT(g, t).")


class CohortInfo(ToolResult):
    """An adoption cohort."""

    cohort: PeriodLabel = Field(description="First treated period.")
    n_units: int = Field(description="Units first treated in that period.")


class PretrendTest(ToolResult):
    """Joint test that all pre-adoption effects (leads) are zero: evidence about parallel trends.

    With G clusters and q leads, the cluster-robust Wald statistic W is referred to an F distribution with the
    Hotelling-type small-sample correction F = W (G - q) / (q (G - 1)) ~ F(q, G - q), which keeps the test's size
    near alpha when q is not small relative to G (the plain W / q against F(q, G - 1) over-rejects there).
    """

    source: EventSource = Field(
        description="Which leads were tested: the regression event study's, or Callaway-Sant'Anna's event-time "
        "effects before adoption."
    )
    wald: float = Field(description="Cluster-robust Wald statistic b' V^-1 b of the leads.")
    statistic: float = Field(description="F statistic W (G - q) / (q (G - 1)).")
    df: int = Field(description="Number of leads tested, q (numerator degrees of freedom).")
    df_denominator: int = Field(description="Denominator degrees of freedom, clusters - q.")
    p_value: float = Field(ge=0, le=1, description="p-value; small values reject parallel pre-trends.")
    excluded_periods: list[int] = Field(
        default_factory=list,
        description="Pre-adoption event times left out of the test because fewer than two treated clusters are "
        "behind them: their standard error has no treated-side variance, so they would dominate the statistic.",
    )
    status: Status = Field(description="'pass', or 'fail' when p_value < alpha (never 'warn' or 'not_tested').")


class DiffInDiffResult(ToolResult):
    """The answer of the diff_in_diff tool."""

    figure: ClassVar[str | None] = "event_study"
    legacy_fields: ClassVar[tuple[str, ...]] = ("att",)

    estimand: str = Field(description="What is estimated: 'ATT', the average effect on the treated units.")
    estimator: Estimator = Field(description="The estimator behind `effect`.")
    method: str = Field(description="The estimators, comparisons and inference used, in words.")
    dataset: str = Field(description="The dataset analysed.")
    outcome: str = Field(description="The outcome column.")
    covariates: list[str] = Field(default_factory=list, description="Control columns adjusted for (empty: none).")
    effect: Estimate = Field(
        description="The headline estimate: the average effect on the treated (ATT) from `estimator`: the static "
        "two-way fixed-effects coefficient ('twfe'), the event-study effects of periods 0, 1, ... averaged with "
        "treated-row weights ('event_study'), or Callaway-Sant'Anna's post-adoption ATT(g, t) averaged with "
        "cohort-size weights ('callaway_santanna', the 'simple' aggregation)."
    )
    twfe: Estimate = Field(description="The static two-way fixed-effects coefficient, always reported.")
    att_dynamic: Estimate | None = Field(
        description="Callaway-Sant'Anna: the average of the event-study effects over periods 0, 1, ... (null "
        "otherwise)."
    )
    att_group: Estimate | None = Field(
        description="Callaway-Sant'Anna: cohort effects averaged with cohort-size weights (null otherwise)."
    )
    event_study: list[EventTimeEstimate] = Field(
        description="Effect by period relative to adoption, the plot data (reference period included at 0)."
    )
    event_study_source: EventSource = Field(description="Which estimator produced `event_study`.")
    pretrend: PretrendTest | None = Field(description="Joint test of the leads; null with no pre-period to test.")
    placebo: Estimate | None = Field(
        description="Placebo in time: TWFE on the periods before any adoption with a fake adoption half-way; "
        "should be near 0. Null when there are too few pre-periods or no never-treated units."
    )
    group_time: list[GroupTimeEstimate] = Field(description="Callaway-Sant'Anna ATT(g, t) cells (empty otherwise).")
    cohort_effects: list[CohortEffect] = Field(description="Callaway-Sant'Anna effect per cohort (empty otherwise).")
    control_group: ControlGroup = Field(description="Comparison units for Callaway-Sant'Anna.")
    reference_period: int = Field(description="Event time omitted in the regression event study.")
    alpha: float = Field(description="Significance level.")
    inference: Inference = Field(
        default="analytic",
        description="How Callaway-Sant'Anna standard errors were computed ('analytic' for the regression estimators).",
    )
    band_critical_value: float | None = Field(
        default=None,
        description="Critical value of the event study's simultaneous band (sup-t), on the normal scale (compare "
        "with 1.96 at alpha = 0.05); each event time's band uses the t quantile of its own degrees of freedom at "
        "the same level. Null without a band.",
    )
    n_obs: int = Field(description="Unit-period rows used by the estimator behind `effect`.")
    n_units: int = Field(description="Units used by the estimator behind `effect`.")
    n_periods: int = Field(description="Periods in the panel.")
    n_treated_units: int = Field(description="Units treated at some point (in the sample behind `effect`).")
    n_clusters: int = Field(description="Clusters for the standard errors.")
    n_treated_clusters: int = Field(description="Clusters containing at least one treated unit.")
    cohorts: list[CohortInfo] = Field(description="Adoption cohorts and their sizes.")
    never_treated_units: int = Field(description="Units never treated in the data.")
    balanced: bool = Field(description="Whether every unit is observed in every period.")
    checks: list[Check] = Field(description="Identifying assumptions and diagnostics, with the evidence.")
    warnings: list[str] = Field(description="What the user should know before relying on the numbers.")
    summary: str = Field(description="One sentence stating the answer, built from the numbers above.")

    @computed_field(description="The old name of `effect`, kept readable.")  # type: ignore[prop-decorator]
    @property
    def att(self) -> Estimate:
        """The old name of :attr:`effect`."""
        return self.effect
