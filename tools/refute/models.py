"""Request and result models of the refute tool."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, WithJsonSchema, computed_field, field_validator

from tools import jsontext
from tools.literals import CheckVerdict, RefuteVerdict, TargetTool
from tools.results import Check, Estimate, ToolRequest, ToolResult

__all__ = [
    "CHECK_NAMES",
    "CheckName",
    "Distribution",
    "EValue",
    "GammaBound",
    "OmittedVariableBounds",
    "ParallelTrendsBounds",
    "RefuteCheck",
    "RefuteRequest",
    "RefuteResult",
    "RefuteTarget",
    "RosenbaumBounds",
    "Sensitivity",
    "TargetTool",
]

CheckName = Literal[
    "placebo_treatment",
    "random_common_cause",
    "data_subset",
    "bootstrap",
    "dummy_outcome",
    "placebo_time",
    "placebo_cutoff",
    "leave_one_out",
    "e_value",
    "omitted_variable_bounds",
    "parallel_trends_sensitivity",
    "sample_ratio",
    "covariate_balance",
    "overlap",
    "pre_trends",
    "density_test",
    "covariate_continuity",
    "bandwidth_sensitivity",
    # last: a check's position seeds its draws (engine.Runner.rng), so new names go at the end
    "weak_instrument",
    "rosenbaum_bounds",
]
CHECK_NAMES: tuple[str, ...] = CheckName.__args__  # type: ignore[attr-defined]

#: Draws per simulation check. Each draw refits the whole target analysis: about 50 ms for rdd or propensity and
#: 125 ms for diff_in_diff on the bundled example datasets (measured on two shared cores), so 500 draws cost about
#: 25-60 s, the most one chat turn can wait for; 2,000 took 84 s and more. 100 (the default) already resolves a
#: simulated p-value to 0.01.
MAX_SIMULATIONS = 500
#: The target request as JSON text: as long as the whole arguments of any tool call may be (the registry's bound).
MAX_TARGET_CHARS = 100_000


class RefuteTarget(ToolRequest):
    """The analysis to challenge: a tool name and the request that tool takes."""

    tool: TargetTool = Field(
        description="The estimation tool: 'ab_test', 'diff_in_diff', 'synthetic_control', 'propensity', 'rdd' or "
        "'instrumental_variables'."
    )
    # The model sends the request as JSON text (strict schemas cannot hold a free-form object); library and CLI
    # callers may pass the object itself.
    request: Annotated[dict[str, Any], WithJsonSchema({"type": "string"})] = Field(
        description="The request that tool takes, as JSON text, exactly as you would send it to the tool (it names "
        "the dataset). It is validated by that tool."
    )

    @field_validator("request", mode="before")
    @classmethod
    def _parse_json_text(cls, value: Any) -> Any:
        """Accept the request as JSON text too (for callers whose schemas cannot hold a free-form object)."""
        try:
            if isinstance(value, str):
                return jsontext.loads(value, max_chars=MAX_TARGET_CHARS)
            jsontext.check_depth(value)
        except jsontext.JsonTextError as exc:
            raise ValueError(f"the target request is not valid JSON: {exc}") from None
        return value


class RefuteRequest(ToolRequest):
    """Challenge an estimate: run the refutation and sensitivity checks that fit its design and say whether it is
    robust, fragile or failed.

    Give the analysis as `target` (the tool and its request). `checks: ["auto"]` runs the battery for the design:
    A/B test -> sample ratio, covariate balance, A/A-style placebo, bootstrap; diff-in-diff -> pre-trends, placebo in
    time, leave-one-out, parallel-trends sensitivity (Rambachan-Roth), placebo treatment; synthetic control -> placebo
    in time, leave-one-donor-out, in-space placebos (each donor treated in turn); RDD -> density test,
    covariate continuity, placebo cutoffs, bandwidth sensitivity; propensity -> overlap, balance, placebo treatment,
    random common cause, data subsets, E-value, omitted-variable bounds (Cinelli-Hazlett); instrumental variables ->
    covariate balance (each covariate as a placebo outcome), weak instrument (Anderson-Rubin set against the 2SLS
    interval), leave-one-instrument-out, dummy outcome, bootstrap. Every simulation refits the whole analysis. Each
    check states its null, the numbers and a pass / fail / inconclusive verdict. Never compute these numbers yourself.
    """

    target: RefuteTarget = Field(description="The analysis to challenge: {tool, request}.")
    checks: list[CheckName | Literal["auto"]] = Field(
        default_factory=lambda: list[CheckName | Literal["auto"]](["auto"]),
        min_length=1,
        max_length=len(CHECK_NAMES) + 1,
        description="['auto'] for the design's battery, or check names (e.g. ['placebo_treatment', 'e_value']; "
        "'rosenbaum_bounds' for 1:1 matching).",
    )
    simulations: int = Field(
        default=100,
        ge=10,
        le=MAX_SIMULATIONS,
        description="Draws per simulation check (placebo, random common cause, subsets, bootstrap, dummy outcome); "
        f"at most {MAX_SIMULATIONS}, because each draw refits the whole analysis (about 0.05-0.15 s each: "
        f"{MAX_SIMULATIONS} draws take up to a minute).",
    )
    subset_fraction: float = Field(
        default=0.8, gt=0.1, lt=1, description="Share of units kept in each data_subset draw."
    )
    seed: int = Field(default=0, ge=0, le=2**32 - 1, description="Random seed; the same seed gives the same result.")
    alpha: float = Field(default=0.05, ge=1e-10, le=0.5, description="Significance level of the checks, 1e-10 to 0.5.")

    @property
    def dataset(self) -> str | None:
        """The dataset the target analysis names (the frame ``refute`` receives)."""
        name = self.target.request.get("dataset")
        return name if isinstance(name, str) else None


class Distribution(ToolResult):
    """Summary of the re-estimates drawn by a simulation check."""

    draws: int = Field(description="Simulations that produced an estimate.")
    failed_draws: int = Field(description="Simulations the target tool refused (e.g. a subset without treated units).")
    mean: float = Field(description="Mean of the re-estimates.")
    std_dev: float = Field(description="Standard deviation of the re-estimates.")
    lower: float = Field(description="alpha/2 quantile of the re-estimates.")
    upper: float = Field(description="1 - alpha/2 quantile of the re-estimates.")
    minimum: float = Field(description="Smallest re-estimate.")
    maximum: float = Field(description="Largest re-estimate.")


class RefuteCheck(ToolResult):
    """One refutation or sensitivity check."""

    name: CheckName = Field(description="The check.")
    null: str = Field(description="The null hypothesis (what a sound analysis should show), in words.")
    procedure: str = Field(description="What was done.")
    estimate: float | None = Field(description="The check's own estimate (e.g. the placebo-period effect), if any.")
    distribution: Distribution | None = Field(description="The re-estimates of a simulation check.")
    p_value: float | None = Field(description="p-value where one is defined.", ge=0, le=1)
    verdict: CheckVerdict = Field(description="pass, fail, or inconclusive (with the reason).")
    detail: str = Field(description="The numbers behind the verdict.")
    explanation: str = Field(description="What the verdict means for the decision, in one sentence.")


class EValue(ToolResult):
    """VanderWeele & Ding (2017) E-value."""

    scale: Literal["risk_ratio", "standardized_difference"] = Field(
        description="risk_ratio (binary outcome) or standardized_difference (continuous outcome, RR ~ exp(0.91 d))."
    )
    risk_ratio: float = Field(description="The estimate as a risk ratio (approximate for continuous outcomes).")
    point: float = Field(description="E-value of the point estimate.")
    ci: float = Field(description="E-value of the confidence limit closest to no effect (1 when it includes it).")


class OmittedVariableBounds(ToolResult):
    """Cinelli & Hazlett (2020) sensitivity of a regression estimate."""

    estimate: float = Field(description="Treatment coefficient of the outcome regression on treatment + covariates.")
    std_error: float = Field(description="Its standard error.")
    dof: int = Field(description="Residual degrees of freedom.")
    partial_r2_treatment: float = Field(description="Partial R-squared of the treatment with the outcome.")
    robustness_value: float = Field(description="RV: confounder strength (partial R2 with both) that zeroes it.")
    robustness_value_alpha: float = Field(description="RV_alpha: strength that makes it insignificant at alpha.")
    benchmark_covariate: str | None = Field(description="The observed covariate used as benchmark.")
    benchmark_r2_treatment: float | None = Field(description="Bound on the confounder's partial R2 with treatment.")
    benchmark_r2_outcome: float | None = Field(description="Bound on the confounder's partial R2 with outcome.")
    benchmark_adjusted_estimate: float | None = Field(
        description="The estimate if a confounder as strong as the benchmark were added."
    )
    benchmark_adjusted_ci_lower: float | None = Field(description="Its lower confidence limit.")
    benchmark_adjusted_ci_upper: float | None = Field(description="Its upper confidence limit.")


class ParallelTrendsBounds(ToolResult):
    """Rambachan & Roth (2023) relative-magnitudes robust interval at one M-bar."""

    mbar: float = Field(description="Post-period violations up to M-bar times the largest pre-period one.")
    ci_lower: float = Field(description="Lower limit of the robust confidence interval.")
    ci_upper: float = Field(description="Upper limit of the robust confidence interval.")


class GammaBound(ToolResult):
    """The upper-bound p-value at one Gamma."""

    gamma: float = Field(description="Gamma: a hidden bias multiplying the odds of treatment by up to this.")
    p_value_upper: float = Field(description="Upper bound of the one-sided signed-rank p-value.", ge=0, le=1)


class RosenbaumBounds(ToolResult):
    """Rosenbaum (2002) bounds for the matched pairs' Wilcoxon signed-rank test."""

    pairs: int = Field(description="Matched pairs.")
    zero_differences: int = Field(description="Pairs with a zero difference (dropped).")
    statistic: float = Field(description="Signed-rank statistic T (average ranks for ties).")
    direction: Literal["positive", "negative"] = Field(description="The effect's sign tested.")
    method: Literal["exact", "normal"] = Field(description="Bound distribution: exact, or normal approximation.")
    critical_gamma: float | None = Field(
        description="Largest Gamma at which the effect stays significant (null: not significant at Gamma 1; 1000: "
        "beyond the search)."
    )
    grid: list[GammaBound] = Field(description="Upper-bound p-values over Gamma.")


class Sensitivity(ToolResult):
    """The sensitivity figures that apply to the design."""

    e_value: EValue | None = Field(description="E-value, when computed.")
    omitted_variable_bounds: OmittedVariableBounds | None = Field(description="Cinelli-Hazlett figures.")
    parallel_trends: list[ParallelTrendsBounds] | None = Field(description="Robust intervals over a grid of M-bar.")
    breakdown_mbar: float | None = Field(
        description="Smallest M-bar at which the robust interval includes 0 (null when it never does on the grid)."
    )
    rosenbaum_bounds: RosenbaumBounds | None = Field(default=None, description="Rosenbaum bounds, when computed.")


class RefuteResult(ToolResult):
    """The answer of the refute tool."""

    legacy_fields: ClassVar[tuple[str, ...]] = ("headline", "original")

    target_tool: TargetTool = Field(description="The tool whose estimate was challenged.")
    estimand: str = Field(description="What the challenged estimate estimates.")
    method: str = Field(description="How the checks were run.")
    effect_label: str = Field(description="Which estimate `effect` is (metric and arm, method, or estimator).")
    effect: Estimate = Field(
        description="The headline estimate: the challenged estimate, the target tool's own `effect` (its estimate, "
        "standard error, interval and p-value) as that tool reports it."
    )
    n_obs: int = Field(description="Rows analysed by the target tool.")
    checks: list[RefuteCheck] = Field(description="The checks, in the order run.")
    sensitivity: Sensitivity = Field(description="E-value, robustness value and breakdown M-bar, as they apply.")
    verdict: RefuteVerdict = Field(description="robust, fragile or failed.")
    decided_by: list[str] = Field(
        description="The checks that decided the verdict; the target analysis's own failed design checks as "
        "'tool:check' (e.g. 'diff_in_diff:clusters')."
    )
    design_failures: list[Check] = Field(
        description="The target analysis's own design checks that failed (its checks with status 'fail': a rejected "
        "pre-trend test, a single treated cluster, no overlap, a sample-ratio mismatch against the planned split, "
        "manipulation at the cutoff). Any of them caps the verdict: never 'robust'."
    )
    simulations: int = Field(description="Draws per simulation check.")
    seed: int = Field(description="Random seed.")
    alpha: float = Field(description="Significance level.")
    warnings: list[str] = Field(description="What the user should know before relying on the verdict.")
    summary: str = Field(description="One paragraph a product manager can read, built from the numbers above.")

    @computed_field(description="The old name of `effect`, kept readable.")  # type: ignore[prop-decorator]
    @property
    def original(self) -> Estimate:
        """The old name of :attr:`effect`."""
        return self.effect

    @computed_field(description="The old name of `effect_label`, kept readable.")  # type: ignore[prop-decorator]
    @property
    def headline(self) -> str:
        """The old name of :attr:`effect_label`."""
        return self.effect_label
