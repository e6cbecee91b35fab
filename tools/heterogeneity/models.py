"""Request and result models of the heterogeneity tool."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, computed_field, field_validator

from tools.propensity.models import Overlap
from tools.results import Check, Estimate, ToolRequest, ToolResult, label_of_number

__all__ = [
    "GATES_GROUPS",
    "MAX_COVARIATES",
    "MAX_LEVELS",
    "MAX_MODIFIERS",
    "MAX_SUBGROUP_COLUMNS",
    "TARGET_SHARES",
    "BaselineLearner",
    "ClanRow",
    "GatesGroup",
    "HeterogeneityRequest",
    "HeterogeneityResult",
    "InteractionTest",
    "NuisanceFit",
    "QiniPoint",
    "SubgroupLevel",
    "TargetingRow",
]

MAX_MODIFIERS = 50
MAX_COVARIATES = 100
MAX_SUBGROUP_COLUMNS = 10
#: Most levels of a text modifier or a subgroup column (more: bin it first).
MAX_LEVELS = 20
#: GATES groups: quintiles of the predicted effect.
GATES_GROUPS = 5
#: The shares of units, ranked by predicted effect, whose targeting is evaluated.
TARGET_SHARES: tuple[float, ...] = (0.1, 0.2, 0.4, 0.6, 0.8, 0.9)


class HeterogeneityRequest(ToolRequest):
    """For whom did it work: how a 0/1 treatment's effect varies with the units' traits (after an A/B test, or an
    opt-in analysis with randomized false). Reports the tests that hold under cross-fitting (BLP, GATES, CLAN),
    pre-specified subgroups and the gain of targeting. Never compute these numbers yourself."""

    dataset: str = Field(min_length=1, description="Name of an attached dataset with one row per unit.")
    outcome: str = Field(min_length=1, description="Column with the outcome (numeric; 0/1 for yes/no).")
    treatment: str = Field(min_length=1, description="Column with the 0/1 (or two-valued) treatment.")
    treated_value: str | None = Field(
        default=None, max_length=200, description="The treated value when the column is not 0/1 or true/false."
    )
    effect_modifiers: list[str] = Field(
        min_length=1,
        max_length=MAX_MODIFIERS,
        description="Pre-treatment columns the effect may vary with (tenure, plan); text is one-hot encoded.",
    )
    covariates: list[str] | None = Field(
        default=None,
        max_length=MAX_COVARIATES,
        description="Pre-treatment confounders for the outcome and propensity models; null: the modifiers.",
    )
    randomized: bool = Field(
        default=True,
        description="True for an A/B test (constant assignment probability); false: a cross-fitted propensity model.",
    )
    propensity: float | None = Field(
        default=None,
        ge=0.001,
        le=0.999,
        description="Randomized only: the designed share assigned to treatment; null: the observed share.",
    )
    subgroups: list[str] | None = Field(
        default=None,
        max_length=MAX_SUBGROUP_COLUMNS,
        description="Pre-specified columns whose levels are compared (Holm-adjusted); null for none.",
    )
    folds: int = Field(default=5, ge=2, le=10, description="Cross-fitting folds, 2 to 10.")
    repetitions: int = Field(default=10, ge=1, le=50, description="Random sample splits (median-combined), 1 to 50.")
    seed: int = Field(default=0, ge=0, le=2**32 - 1, description="Random seed for folds, splits and models.")
    alpha: float = Field(
        default=0.05, ge=1e-10, le=0.5, description="Significance level (0.05 gives 95% intervals), 1e-10 to 0.5."
    )

    _treated_number = field_validator("treated_value", mode="before")(label_of_number)


class BLP(ToolResult):
    """The best linear predictor of the effect from the model's predicted effect (Chernozhukov et al.)."""

    ate_coefficient: Estimate = Field(description="Intercept: the average effect on the evaluation halves.")
    heterogeneity: Estimate = Field(
        description="Loading on the centred predicted effect: 0 means no heterogeneity the model finds, 1 a "
        "perfectly calibrated prediction; its p-value is the heterogeneity test."
    )


class GatesGroup(Estimate):
    """The average effect in one fifth of the units ranked by predicted effect (GATES)."""

    group: int = Field(description="1 = the fifth with the smallest predicted effect, 5 = the largest.")
    predicted: float = Field(description="Mean predicted effect in the group (the model's own guess).")
    n_obs: int = Field(description="Units in the group in each evaluation half.")


class ClanRow(ToolResult):
    """How the fifths the model ranks most and least affected differ in one modifier (CLAN): it describes the
    model's groups, so read it beside GATES."""

    modifier: str = Field(description="The modifier ('plan=pro' is the share with that level).")
    most: float = Field(description="Mean in the most affected fifth.")
    least: float = Field(description="Mean in the least affected fifth.")
    difference: Estimate = Field(description="Most minus least.")


class SubgroupLevel(Estimate):
    """The average effect in one level of a pre-specified subgroup column."""

    column: str = Field(description="The subgroup column.")
    level: str = Field(description="The level.")
    n_obs: int = Field(description="Units in the level.")
    adjusted_p_value: float = Field(ge=0, le=1, description="Holm-adjusted over every level of every column.")


class InteractionTest(ToolResult):
    """Does the effect differ between the levels of one subgroup column (Wald chi-square)."""

    column: str = Field(description="The subgroup column.")
    statistic: float = Field(ge=0, description="Chi-square statistic of equal effects across its levels.")
    df: int = Field(description="Degrees of freedom (levels - 1).")
    p_value: float = Field(ge=0, le=1, description="p-value (not adjusted).")


class TargetingRow(ToolResult):
    """Treating only the top share of units by predicted effect, per unit of the whole population."""

    share: float = Field(description="Share treated (the units with the largest predicted effects).")
    gain_vs_all: Estimate = Field(description="Outcome per unit versus treating everyone (>0: targeting is better).")
    gain_vs_none: Estimate = Field(description="Outcome per unit versus treating no one.")


class QiniPoint(ToolResult):
    """One point of the Qini curve."""

    share: float = Field(description="Share treated, top predicted effects first.")
    gain: float = Field(description="Cumulative gain per unit of the population.")
    random: float = Field(description="The same share treated at random.")


class BaselineLearner(ToolResult):
    """The two-model uplift (T-learner) evaluated the same way, for comparison."""

    heterogeneity: Estimate = Field(description="Its BLP heterogeneity loading.")
    qini: Estimate = Field(description="Its Qini coefficient.")


class NuisanceFit(ToolResult):
    """Out-of-fold fit of the nuisance models."""

    outcome_r2_control: float = Field(description="R-squared of the control-arm outcome model (out of fold).")
    outcome_r2_treated: float = Field(description="R-squared of the treated-arm outcome model (out of fold).")
    propensity_auc: float | None = Field(description="AUC of the propensity model; null when randomized.")
    propensity_clipped: int = Field(description="Units whose propensity was clipped to [0.01, 0.99].")


class HeterogeneityResult(ToolResult):
    """The answer of the heterogeneity tool."""

    figure: ClassVar[str | None] = "heterogeneity"
    plot_fields: ClassVar[tuple[str, ...]] = ("qini_curve",)
    legacy_fields: ClassVar[tuple[str, ...]] = ("ate",)

    estimand: str = Field(description="What is estimated, in words.")
    method: str = Field(description="Learners, cross-fitting, splits and tests, in words.")
    dataset: str = Field(description="The dataset analysed.")
    outcome: str = Field(description="The outcome column.")
    treatment: str = Field(description="The treatment column.")
    treated_value: str = Field(description="The treatment value counted as treated.")
    effect_modifiers: list[str] = Field(description="The modifier columns.")
    covariates: list[str] = Field(description="The confounder columns used by the nuisance models.")
    subgroup_columns: list[str] = Field(description="The pre-specified subgroup columns.")
    randomized: bool = Field(description="Whether a constant assignment probability was used.")
    propensity: float | None = Field(description="The assignment probability used (randomized), else null.")
    folds: int = Field(description="Cross-fitting folds.")
    repetitions: int = Field(description="Random sample splits.")
    seed: int = Field(description="Random seed.")
    alpha: float = Field(description="Significance level.")
    effect: Estimate = Field(
        description="The headline estimate: the average effect (ATE), cross-fitted doubly robust (AIPW)."
    )
    naive: Estimate = Field(description="Difference in mean outcome, treated minus control (Welch).")
    blp: BLP = Field(description="The heterogeneity test.")
    heterogeneity_found: bool = Field(description="True when the heterogeneity loading is positive and significant.")
    gates: list[GatesGroup] = Field(description="Effects by fifth of predicted effect, least affected first.")
    clan: list[ClanRow] = Field(description="Most versus least affected fifth, per modifier.")
    subgroups: list[SubgroupLevel] = Field(description="Effect per level of the pre-specified subgroups.")
    interactions: list[InteractionTest] = Field(description="Per subgroup column: do its levels differ?")
    targeting: list[TargetingRow] = Field(description="Gains of treating the top shares.")
    recommended_share: float | None = Field(
        description="The share worth targeting (only with heterogeneity found and a significant gain over "
        "treating everyone); else null."
    )
    qini: Estimate = Field(description="Qini coefficient: area between the Qini curve and random targeting.")
    qini_curve: list[QiniPoint] = Field(description="Plot data: the Qini curve.")
    t_learner: BaselineLearner = Field(description="The T-learner baseline.")
    nuisance: NuisanceFit = Field(description="Fit of the nuisance models.")
    overlap: Overlap | None = Field(description="Overlap of the propensity scores (observational only).")
    n_obs: int = Field(description="Units analysed.")
    n_treated: int = Field(description="Treated units.")
    n_control: int = Field(description="Control units.")
    n_dropped: int = Field(description="Rows dropped for missing values.")
    checks: list[Check] = Field(description="Overlap, model fit, group sizes, split stability, assumptions.")
    warnings: list[str] = Field(description="Caveats, most important first.")
    summary: str = Field(description="One sentence with the headline numbers.")

    @computed_field(description="The issue's name of `effect`.")  # type: ignore[prop-decorator]
    @property
    def ate(self) -> Estimate:
        """The average effect (the same as :attr:`effect`)."""
        return self.effect
