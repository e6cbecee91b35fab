"""Request and result models of the assign tool."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from tools.results import Check, ToolRequest, ToolResult

__all__ = [
    "ArmCount",
    "AssignMethod",
    "AssignRequest",
    "AssignResult",
    "AssignedUnit",
    "AssignmentPlan",
    "BalanceRow",
    "StratumCount",
]

AssignMethod = Literal["complete", "stratified", "cluster"]


class AssignRequest(ToolRequest):
    """Randomise an attached unit list into arms before an experiment: complete, stratified (blocked) or cluster
    randomisation, reproducible from a salt (hash of salt and unit id), with a covariate balance table and optional
    rerandomisation (Morgan & Rubin 2012). Returns counts, a preview and the plan entry."""

    dataset: str = Field(min_length=1, description="Attached unit list, one row per unit.")
    unit_column: str = Field(min_length=1, description="Unit id column.")
    salt: str = Field(min_length=1, max_length=200, description="Fixed text that seeds the hash, e.g. test name.")
    arms: list[str] = Field(
        default=["control", "treatment"], min_length=2, max_length=20, description="Arm labels; first = control."
    )
    shares: list[float] | None = Field(default=None, description="Share per arm (sum 1); null: equal.")
    method: AssignMethod | None = Field(default=None, description="null: from strata/cluster_column given.")
    strata: list[str] | None = Field(default=None, max_length=5, description="Columns to stratify (block) on.")
    strata_bins: int = Field(default=4, ge=2, le=10, description="Quantile bins for a numeric stratum column.")
    cluster_column: str | None = Field(default=None, description="Randomise whole clusters of this column.")
    balance_covariates: list[str] | None = Field(
        default=None, max_length=20, description="Numeric columns to check; null: numeric non-id columns."
    )
    rerandomize_acceptance: float | None = Field(
        default=None, gt=0, lt=1, description="Rerandomise: keep draws whose imbalance is in this lowest share."
    )
    max_draws: int = Field(default=1000, ge=1, le=10_000, description="Most draws when rerandomising.")


class ArmCount(ToolResult):
    """Units (and clusters) assigned to one arm."""

    arm: str = Field(description="The arm.")
    target_share: float = Field(description="The share asked for.")
    n_units: int = Field(description="Units assigned.")
    share: float = Field(description="Share of units assigned.")
    n_clusters: int | None = Field(description="Clusters assigned (cluster design), else null.")


class StratumCount(ToolResult):
    """Units per arm in one stratum."""

    stratum: str = Field(description="The stratum: its columns' values (numeric ones as quantile bins).")
    n_units: int = Field(description="Units in the stratum.")
    counts: list[int] = Field(description="Units per arm, in the order of arms.")


class BalanceRow(ToolResult):
    """One covariate's balance between an arm and the control arm."""

    covariate: str = Field(description="The covariate.")
    arm: str = Field(description="The arm compared with the control arm.")
    mean: float = Field(description="The covariate's mean in the arm.")
    control_mean: float = Field(description="Its mean in the control arm (the first arm).")
    smd: float = Field(description="Standardised mean difference: (mean - control mean) / sqrt((var + var_c) / 2).")
    n_missing: int = Field(description="Units with the covariate missing (left out of its means).")


class AssignedUnit(ToolResult):
    """One unit's arm."""

    unit: str = Field(description="The unit id.")
    arm: str = Field(description="Its arm.")
    stratum: str | None = Field(description="Its stratum, or null.")
    cluster: str | None = Field(description="Its cluster, or null.")


class AssignmentPlan(ToolResult):
    """What a pre-registration states about the assignment: enough to redraw it exactly."""

    method: AssignMethod = Field(description="complete, stratified or cluster randomisation.")
    unit_column: str = Field(description="The unit id column.")
    arms: list[str] = Field(description="Arm labels.")
    shares: list[float] = Field(description="Target share per arm.")
    salt: str = Field(description="The salt.")
    draw_salt: str = Field(description="The salt of the accepted draw (the salt itself without rerandomisation).")
    hash_rule: str = Field(description="How the salt and a unit id give the unit's position.")
    strata: list[str] = Field(description="Stratification columns (empty: none).")
    strata_bins: int | None = Field(description="Quantile bins of numeric strata, or null.")
    cluster_column: str | None = Field(description="The cluster column, or null.")
    balance_covariates: list[str] = Field(description="Covariates of the balance check.")
    rerandomize_acceptance: float | None = Field(description="Acceptance probability p_a, or null.")
    threshold: float | None = Field(description="Largest Mahalanobis distance accepted, or null.")
    n_units: int = Field(description="Units assigned.")
    assignment_digest: str = Field(description="SHA-256 of the full assignment CSV (unit,arm,stratum,cluster).")
    text: str = Field(description="The plan in one paragraph, for the pre-registration's assignment item.")


class AssignResult(ToolResult):
    """The answer of the assign tool."""

    figure: ClassVar[str | None] = "assign_balance"

    dataset: str = Field(description="The unit list.")
    method: AssignMethod = Field(description="complete, stratified or cluster randomisation.")
    arms: list[str] = Field(description="Arm labels; the first is the control.")
    shares: list[float] = Field(description="Target share per arm.")
    salt: str = Field(description="The salt.")
    draw_salt: str = Field(description="Salt of the accepted draw: salt, or salt#d for rerandomisation draw d.")
    n_units: int = Field(description="Units assigned.")
    n_clusters: int | None = Field(description="Clusters (cluster design), else null.")
    n_strata: int = Field(description="Strata (1 without stratification).")
    arm_counts: list[ArmCount] = Field(description="Units (clusters) per arm.")
    strata_counts: list[StratumCount] = Field(description="Units per arm in each stratum (the 50 largest).")
    balance: list[BalanceRow] = Field(description="Per covariate and arm: means and standardised mean difference.")
    mahalanobis: float | None = Field(
        description="Omnibus imbalance: sum over arms of n_a (mean_a - mean)' S^-1 (mean_a - mean); null: none."
    )
    mahalanobis_df: int | None = Field(description="Its chi-square degrees of freedom: covariates x (arms - 1).")
    p_value: float | None = Field(description="P(chi-square(df) >= mahalanobis): a chance imbalance this large.")
    rerandomize_acceptance: float | None = Field(description="Acceptance probability p_a, or null.")
    threshold: float | None = Field(description="Chi-square(df) p_a-quantile: the largest distance accepted.")
    draws: int = Field(description="Draws made (1 without rerandomisation).")
    variance_reduction: float | None = Field(
        description="Morgan & Rubin's factor v_a by which rerandomisation shrinks each covariate's mean-difference "
        "variance, else null."
    )
    assignments: list[AssignedUnit] = Field(description="The first 20 units' arms (the full list: CSV export).")
    assignment_digest: str = Field(description="SHA-256 of the full assignment CSV.")
    plan: AssignmentPlan = Field(description="The pre-registration's assignment entry.")
    n_obs: int = Field(description="Units assigned.")
    checks: list[Check] = Field(description="Counts per arm, strata, clusters and covariate balance.")
    warnings: list[str] = Field(description="How the analysis must follow the design, and caveats.")
    summary: str = Field(description="One sentence from the numbers above.")
