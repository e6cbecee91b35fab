"""Request and result models of the propensity tool."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, computed_field, field_validator

from tools.literals import Estimand, PropensityMethod
from tools.results import Check, Estimate, ToolRequest, ToolResult, label_of_number

__all__ = [
    "BalanceRow",
    "DroppedRows",
    "MethodEstimate",
    "ModelTerm",
    "Overlap",
    "PropensityModel",
    "PropensityRequest",
    "PropensityResult",
    "ScoreHistogram",
]

MAX_TERMS = 100
ALL_METHODS: tuple[PropensityMethod, ...] = ("ipw", "matching", "aipw")


class PropensityRequest(ToolRequest):
    """Estimate the effect of a treatment that people chose (opted into), not one that was randomized.

    Use for observational data where a 0/1 treatment (an opt-in feature, a programme people joined) was
    self-selected and the reasons for choosing it are measured in pre-treatment covariates. Fits an
    unpenalised logistic propensity model and reports inverse-probability weighting, nearest-neighbour matching
    on the score and doubly robust AIPW side by side, beside the naive difference, with covariate balance before
    and after adjustment and the overlap of the scores. Covariates must be measured before the treatment: a
    variable the treatment could have changed biases every estimate. Refuses when the arms do not overlap.
    Never compute these numbers yourself.
    """

    dataset: str = Field(description="Name of an attached dataset with one row per unit (user, account, person).")
    outcome: str = Field(description="Column holding the outcome (numeric; 0/1 for a binary outcome).")
    treatment: str = Field(
        description="Column holding the treatment: 0/1, true/false, or any two values with treated_value naming the "
        "treated one."
    )
    treated_value: str | None = Field(
        default=None,
        description="The treatment column's value (as text) that marks treated units, e.g. 'yes'. Null when the "
        "column is 0/1 or true/false.",
        max_length=200,
    )
    covariates: list[str] = Field(
        description="Pre-treatment covariate terms for the propensity (and outcome) models: a column ('age'), a "
        "power ('age^2'), a product ('age*educ'), an indicator ('income==0') or 'log(income)'. Text columns are "
        "one-hot encoded (first level dropped). Never include anything measured after the treatment started.",
        min_length=1,
        max_length=MAX_TERMS,
    )
    estimand: Estimand = Field(
        default="ATT",
        description="'ATT': the effect on those who were treated (opted in); 'ATE': the average effect had "
        "everyone been treated versus no one.",
    )
    methods: list[PropensityMethod] = Field(
        default_factory=lambda: list(ALL_METHODS),
        description="Estimators to run, reported side by side: 'ipw' (normalised inverse-probability weights), "
        "'matching' (nearest neighbours on the score, with replacement), 'aipw' (doubly robust). The headline is "
        "AIPW when requested, else the first listed.",
        min_length=1,
        max_length=3,
    )
    trim: float | None = Field(
        default=None,
        ge=0.001,
        le=0.2,
        description="Drop units whose propensity score is outside [trim, 1 - trim] and refit (e.g. 0.05); the "
        "count is reported. Null: no trimming unless scores reach 0.01 or 0.99 (then 0.01, with a failed check).",
    )
    caliper: float | None = Field(
        default=None,
        gt=0,
        le=10,
        description="Matching only: the largest allowed distance to a match, in standard deviations of the logit "
        "of the score (0.2 is common). Units without a match within it are dropped and counted. Null: no caliper.",
    )
    neighbors: int = Field(default=1, ge=1, le=20, description="Matching: neighbours per unit (ties all count).")
    alpha: float = Field(
        default=0.05, ge=1e-10, le=0.5, description="Significance level (0.05 gives 95% intervals), 1e-10 to 0.5."
    )
    seed: int = Field(
        default=0,
        ge=0,
        le=2**32 - 1,
        description="Random seed (the estimators are deterministic; kept for reproducible reruns).",
    )

    _treated_number = field_validator("treated_value", mode="before")(label_of_number)


class MethodEstimate(Estimate):
    """One estimator's answer."""

    method: PropensityMethod = Field(description="ipw, matching or aipw.")
    n_obs: int = Field(description="Units the estimate uses (after trimming and, for matching, the caliper).")
    detail: str = Field(description="The estimator and its standard error, in words.")


class ModelTerm(ToolResult):
    """One coefficient of the logistic propensity model."""

    term: str = Field(description="The covariate term ('(intercept)' for the constant).")
    coefficient: float = Field(description="Log-odds coefficient.")
    std_error: float = Field(description="Standard error (inverse Fisher information).")


class PropensityModel(ToolResult):
    """The fitted propensity model."""

    terms: list[ModelTerm] = Field(description="Coefficients, intercept first.")
    converged: bool = Field(description="Whether Newton's method converged to the maximum likelihood.")
    iterations: int = Field(description="Newton iterations on the full data.")
    log_likelihood: float = Field(description="Log-likelihood at the fit.")
    n_obs: int = Field(description="Units the model was fitted on.")


class BalanceRow(ToolResult):
    """Balance of one covariate term between the arms; the rows together are the love plot."""

    term: str = Field(description="The covariate term.")
    mean_treated: float = Field(description="Mean among treated units (unweighted).")
    mean_control: float = Field(description="Mean among control units (unweighted).")
    smd_before: float = Field(description="Standardized mean difference before adjustment.")
    variance_ratio_before: float | None = Field(description="Variance ratio treated / control before adjustment.")
    smd_weighted: float | None = Field(description="SMD after inverse-probability weighting (null if not run).")
    variance_ratio_weighted: float | None = Field(description="Variance ratio after weighting.")
    smd_matched: float | None = Field(description="SMD after matching (null if matching did not run).")
    variance_ratio_matched: float | None = Field(description="Variance ratio after matching.")


class Overlap(ToolResult):
    """Common support of the propensity scores."""

    min_treated: float = Field(description="Smallest score among treated units.")
    max_treated: float = Field(description="Largest score among treated units.")
    min_control: float = Field(description="Smallest score among control units.")
    max_control: float = Field(description="Largest score among control units.")
    share_below_05: float = Field(description="Share of units with a score below 0.05.")
    share_above_95: float = Field(description="Share of units with a score above 0.95.")
    effective_sample_size_treated: float = Field(description="Kish effective sample size of the treated weights.")
    effective_sample_size_control: float = Field(description="Kish effective sample size of the control weights.")
    largest_weight_share: float = Field(description="The largest single weight's share of its arm's total weight.")


class ScoreHistogram(ToolResult):
    """Propensity scores by arm, binned on shared edges (the overlap plot)."""

    bin_edges: list[float] = Field(description="Bin edges from 0 to 1 (one more than the counts).")
    treated: list[int] = Field(description="Treated units per bin.")
    control: list[int] = Field(description="Control units per bin.")


class DroppedRows(ToolResult):
    """Rows left out, with the reason."""

    reason: str = Field(description="Why the rows were left out.")
    count: int = Field(description="How many rows.")


class PropensityResult(ToolResult):
    """The answer of the propensity tool."""

    figure: ClassVar[str | None] = "overlap"
    plot_fields: ClassVar[tuple[str, ...]] = ("score_histogram",)
    legacy_fields: ClassVar[tuple[str, ...]] = ("headline",)

    estimand: str = Field(description="What is estimated, in words (ATT or ATE, on which population).")
    method: str = Field(description="The propensity model, estimators and standard errors, in words.")
    dataset: str = Field(description="The dataset analysed.")
    outcome: str = Field(description="The outcome column.")
    treatment: str = Field(description="The treatment column.")
    treated_value: str = Field(description="The treatment value counted as treated.")
    covariates: list[str] = Field(description="The covariate terms as requested.")
    alpha: float = Field(description="Significance level.")
    effect: MethodEstimate = Field(
        description="The headline estimate: the `estimand` by AIPW (doubly robust) when it ran, else by the first "
        "requested method; the same entry as in `estimates`."
    )
    estimates: list[MethodEstimate] = Field(description="One estimate per requested method, in request order.")
    naive: Estimate = Field(description="Naive difference in mean outcome, treated minus control (Welch).")
    propensity_model: PropensityModel = Field(description="The logistic propensity model.")
    balance: list[BalanceRow] = Field(description="Balance per covariate term before and after adjustment.")
    overlap: Overlap = Field(description="Overlap of the scores between the arms.")
    score_histogram: ScoreHistogram = Field(description="Scores by arm on shared bins, for the overlap plot.")
    n_obs: int = Field(description="Units analysed (after dropped rows and trimming).")
    n_treated: int = Field(description="Treated units analysed.")
    n_control: int = Field(description="Control units analysed.")
    n_dropped: int = Field(description="Rows left out in total (missing values, trimming).")
    dropped: list[DroppedRows] = Field(description="Rows left out, by reason (matching's unmatched units too).")
    trim: float | None = Field(description="The trimming threshold applied, if any.")
    checks: list[Check] = Field(description="Overlap, balance, model convergence, and the untestable assumptions.")
    warnings: list[str] = Field(description="Caveats, most important first.")
    summary: str = Field(description="One sentence with the headline numbers.")

    @computed_field(description="The old name of `effect`, kept readable.")  # type: ignore[prop-decorator]
    @property
    def headline(self) -> MethodEstimate:
        """The old name of :attr:`effect`."""
        return self.effect
