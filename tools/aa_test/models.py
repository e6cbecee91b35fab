"""Request and result models of the aa_test tool."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from tools.ab_test.models import Comparison, MetricSpec, SrmResult
from tools.literals import Status
from tools.results import Check, ToolRequest, ToolResult

__all__ = ["MAX_AA_METRICS", "P_BINS", "AaTestRequest", "AaTestResult", "FalsePositiveRate", "SimulatedMetric"]

MAX_AA_METRICS = 10
#: Bins of the p-value histogram (each 0.05 wide: the first bin is the rejections at alpha 0.05).
P_BINS = 20


class AaTestRequest(ToolRequest):
    """Check the experiment system and a metric before trusting an A/B result: analyse an A/A test that ran
    (arm_column), and re-randomise the data many times to check that ab_test's analysis rejects at alpha (false
    positives, p-value uniformity, standard errors). Never compute these numbers yourself."""

    dataset: str = Field(min_length=1, description="Attached dataset: rows per unit (or per session).")
    arm_column: str | None = Field(default=None, description="The A/A arms' column; null: historical data.")
    metrics: list[MetricSpec] = Field(min_length=1, max_length=MAX_AA_METRICS, description="Metrics, as in ab_test.")
    cluster_column: str | None = Field(default=None, description="The randomised unit when rows are finer.")
    simulations: int = Field(default=1000, ge=100, le=20_000, description="Random re-splits, 100 to 20,000.")
    split: float = Field(default=0.5, gt=0.01, lt=0.99, description="Share of units in the first arm.")
    seed: int = Field(default=0, ge=0, le=2**32 - 1, description="Random seed of the re-splits.")
    alpha: float = Field(default=0.05, ge=1e-10, le=0.5, description="Significance level.")


class FalsePositiveRate(ToolResult):
    """The share of random splits the analysis called significant, with its exact binomial interval."""

    rate: float = Field(ge=0, le=1, description="Rejections over simulations; a valid analysis gives about alpha.")
    ci_lower: float = Field(ge=0, le=1, description="Lower end of the Clopper-Pearson interval.")
    ci_upper: float = Field(ge=0, le=1, description="Upper end of the Clopper-Pearson interval.")
    rejections: int = Field(ge=0, description="Splits with p < alpha.")
    p_value: float = Field(ge=0, le=1, description="Exact binomial test of rate = alpha (two-sided).")


class SimulatedMetric(ToolResult):
    """One metric's A/A simulation: the analysis as requested, run on many random splits of the same units."""

    plot_fields: ClassVar[tuple[str, ...]] = ("p_histogram",)

    metric: str = Field(description="The metric's name.")
    analysed_per: str | None = Field(description="The column whose units the analysis counts; null: each row.")
    randomised_by: str | None = Field(description="The column whose values the re-splits assign; null: each row.")
    n_units: int = Field(description="Units analysed (rows when rows are analysed).")
    test: str = Field(description="The test ab_test runs on the metric.")
    false_positive_rate: FalsePositiveRate = Field(description="Share of splits called significant at alpha.")
    ks_p_value: float = Field(ge=0, le=1, description="Kolmogorov-Smirnov test of uniform p-values (small: not).")
    se_ratio: float = Field(
        description="Mean analytic standard error over the standard deviation of the simulated differences: about "
        "1 when the analysis measures the noise right; well below 1 when it counts rows that are not independent."
    )
    se_ratio_mc_error: float = Field(description="Monte Carlo standard error of se_ratio.")
    mean_std_error: float = Field(description="Mean analytic standard error of the difference.")
    sd_difference: float = Field(description="Standard deviation of the simulated differences.")
    p_histogram: list[int] = Field(description="Counts of p-values in 20 bins of width 0.05 (plot data).")
    status: Status = Field(description="fail: the analysis is not calibrated here; warn: conservative.")


class AaTestResult(ToolResult):
    """The answer of the aa_test tool."""

    figure: ClassVar[str | None] = "aa_test"

    estimand: str = Field(description="What is checked, in words.")
    method: str = Field(description="How: the observed comparison, the re-randomisation and the tests, in words.")
    dataset: str = Field(description="The dataset checked.")
    arm_column: str | None = Field(description="The A/A arms' column (null: simulation only).")
    cluster_column: str | None = Field(description="The randomised unit's column given (null: rows are units).")
    repeated_unit: str | None = Field(
        description="An ID column whose values repeat across rows while no cluster_column was given: the splits "
        "assign its values, as a real experiment would, and the rows are analysed as given."
    )
    n_rows: int = Field(description="Rows read.")
    simulations: int = Field(description="Random re-splits.")
    split: float = Field(description="Share of units in the first arm of each split.")
    seed: int = Field(description="Random seed.")
    alpha: float = Field(description="Significance level.")
    srm: SrmResult | None = Field(description="Sample-ratio check of the observed A/A arms (null: no arms).")
    observed: list[Comparison] = Field(description="ab_test's comparison of the observed A/A arms, per metric.")
    simulated: list[SimulatedMetric] = Field(description="Per metric: the analysis as requested, re-randomised.")
    by_unit: list[SimulatedMetric] = Field(
        description="With a repeated unit: the same metrics analysed per unit (cluster_column set): the fix."
    )
    verdict: Literal["trustworthy", "investigate"] = Field(description="Whether to trust the analysis here.")
    reasons: list[str] = Field(description="Why the verdict: each problem found, or what was checked.")
    checks: list[Check] = Field(description="Sample ratio, observed A/A, false positives, p-values, SE ratio.")
    warnings: list[str] = Field(description="Caveats, most important first.")
    summary: str = Field(description="One sentence with the verdict and the headline numbers.")
