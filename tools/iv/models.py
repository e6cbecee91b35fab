"""Request and result models of the instrumental_variables tool (not registered yet: the lead wires it in)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from tools.literals import IVStandardErrors
from tools.results import Check, Estimate, ToolRequest, ToolResult

__all__ = [
    "MAX_BINS",
    "MAX_COVARIATES",
    "MAX_INSTRUMENTS",
    "ARInterval",
    "ARKind",
    "AndersonRubin",
    "FirstStage",
    "IVBin",
    "InstrumentCoefficient",
    "InstrumentalVariablesRequest",
    "InstrumentalVariablesResult",
    "OverIdentification",
]

MAX_INSTRUMENTS = 20
MAX_COVARIATES = 50
#: Bins of the instrument in the plot data (a two-valued instrument has two: the Wald picture).
MAX_BINS = 20

#: The shape of the Anderson-Rubin confidence set: one finite interval, a set reaching infinity (a half-line or the
#: whole line), a union of disjoint pieces (two half-lines around a gap, or finite pieces), or no value at all (the
#: over-identifying restrictions are rejected at every value).
ARKind = Literal["bounded", "unbounded", "union", "empty"]


class InstrumentalVariablesRequest(ToolRequest):
    """Instrumental variables (2SLS) when something else moved the treatment: an encouragement or invite that was
    randomised while use was optional, a rollout decided by shard or lottery, a nudge. Estimates the effect of the
    treatment for those the instrument moved (LATE for 0/1 instrument and treatment), beside the naive regression,
    the first stage and the weak-instrument-robust Anderson-Rubin interval. Never compute these numbers yourself.
    """

    dataset: str = Field(min_length=1, description="Name of an attached dataset with one row per unit.")
    outcome: str = Field(min_length=1, description="Column with the outcome (numeric).")
    treatment: str = Field(
        min_length=1,
        description="The treatment whose effect is wanted, chosen by the units (used the feature 0/1, hours of use).",
    )
    instruments: list[str] = Field(
        min_length=1,
        max_length=MAX_INSTRUMENTS,
        description="Numeric column(s) that moved the treatment but affect the outcome only through it (the "
        "randomised invite, the shard's rollout date).",
    )
    covariates: list[str] | None = Field(
        default=None,
        max_length=MAX_COVARIATES,
        description="Numeric controls measured before the instrument; a constant is always included. Null for none.",
    )
    standard_errors: IVStandardErrors = Field(
        default="robust",
        description="'robust' (heteroskedasticity-robust HC1, default), 'classical', or 'cluster' (give `cluster`).",
    )
    cluster: str | None = Field(
        default=None,
        min_length=1,
        description="Column to cluster on (e.g. the shard or team the instrument was assigned by); only with "
        "standard_errors 'cluster'.",
    )
    alpha: float = Field(
        default=0.05, ge=1e-10, le=0.5, description="Significance level (0.05 gives 95% intervals), 1e-10 to 0.5."
    )


class InstrumentCoefficient(ToolResult):
    """One instrument's coefficient in the first stage (the treatment regressed on instruments and covariates)."""

    instrument: str = Field(description="The instrument column.")
    estimate: float = Field(description="Change in the treatment per unit of the instrument.")
    std_error: float = Field(ge=0, description="Its standard error (the requested kind).")
    p_value: float = Field(ge=0, le=1, description="Two-sided p-value of no first-stage effect (normal).")


class FirstStage(ToolResult):
    """How strongly the instruments move the treatment."""

    f_statistic: float = Field(
        ge=0,
        description="Wald F of the instruments in the first stage, with the requested standard errors (the "
        "classical F with 'classical'); below 10 the instruments are weak.",
    )
    df_num: int = Field(description="Numerator degrees of freedom (the number of instruments).")
    df_denom: int = Field(description="Denominator degrees of freedom (residual, or clusters - 1).")
    p_value: float = Field(
        ge=0, le=1, description="p-value of the F test that the instruments do not move the treatment."
    )
    partial_r2: float = Field(
        ge=0,
        le=1,
        description="Share of the treatment's variance left after the covariates that the instruments explain.",
    )
    coefficients: list[InstrumentCoefficient] = Field(description="Each instrument's first-stage coefficient.")


class ARInterval(ToolResult):
    """One piece of the Anderson-Rubin confidence set; a null end is infinite."""

    lower: float | None = Field(description="Lower end; null for minus infinity.")
    upper: float | None = Field(description="Upper end; null for plus infinity.")


class AndersonRubin(ToolResult):
    """The Anderson-Rubin test and confidence set: valid however weak the instruments are."""

    kind: ARKind = Field(
        description="'bounded' (one finite interval), 'unbounded' (reaches infinity: the data cannot bound the "
        "effect), 'union' (disjoint pieces, read `intervals`), 'empty' (no value fits: the instruments disagree)."
    )
    intervals: list[ARInterval] = Field(description="The (1 - alpha) confidence set as disjoint intervals, in order.")
    ci_lower: float | None = Field(description="Smallest value in the set; null when it extends to minus infinity.")
    ci_upper: float | None = Field(description="Largest value in the set; null when it extends to plus infinity.")
    statistic: float = Field(ge=0, description="The Anderson-Rubin F statistic of no effect (effect = 0).")
    df_num: int = Field(description="Numerator degrees of freedom (the number of instruments).")
    df_denom: int = Field(description="Denominator degrees of freedom (residual, or clusters - 1).")
    p_value: float = Field(ge=0, le=1, description="Weak-instrument-robust p-value of no effect.")
    alpha: float = Field(description="Significance level; the set covers 1 - alpha.")


class OverIdentification(ToolResult):
    """The test of over-identifying restrictions (more instruments than treatments)."""

    test: Literal["sargan", "hansen_j"] = Field(
        description="'sargan' (classical errors) or 'hansen_j' (robust or clustered; two-step efficient GMM)."
    )
    statistic: float = Field(ge=0, description="The chi-square statistic.")
    df: int = Field(description="Degrees of freedom (instruments - 1).")
    p_value: float = Field(ge=0, le=1, description="p-value; small means the instruments disagree about the effect.")


class IVBin(ToolResult):
    """Mean outcome and treatment among rows with similar instrument values (raw means, no covariates)."""

    instrument_value: float = Field(description="Mean of the instrument (or combined instrument) in the bin.")
    n: int = Field(ge=1, description="Rows in the bin.")
    treatment_mean: float = Field(description="Mean treatment (take-up): the first stage.")
    outcome_mean: float = Field(description="Mean outcome: the reduced form.")


class InstrumentalVariablesResult(ToolResult):
    """The answer of the instrumental_variables tool."""

    figure: ClassVar[str | None] = "instrumental_variables"
    plot_fields: ClassVar[tuple[str, ...]] = ("bins",)

    estimand: Literal["LATE", "IV coefficient"] = Field(
        description="'LATE' (0/1 treatment, two-valued instrument: the effect for compliers) or 'IV coefficient'."
    )
    interpretation: str = Field(description="Whom the effect is for and what it means, in words.")
    method: str = Field(description="The estimator, standard errors and tests used, in words.")
    dataset: str = Field(description="The dataset analysed.")
    outcome: str = Field(description="The outcome column.")
    treatment: str = Field(description="The treatment column.")
    instruments: list[str] = Field(description="The instrument columns.")
    covariates: list[str] = Field(description="The covariates used (constant or collinear ones dropped).")
    standard_errors: IVStandardErrors = Field(description="The kind of standard errors.")
    cluster: str | None = Field(description="The cluster column, or null.")
    effect: Estimate = Field(
        description="The headline estimate: the 2SLS effect of the treatment (the LATE for a 0/1 instrument and "
        "treatment), with a normal interval."
    )
    ols: Estimate = Field(description="The naive regression of the outcome on the treatment and covariates.")
    first_stage: FirstStage = Field(description="The instruments' strength.")
    reduced_form: Estimate | None = Field(
        description="One instrument: its effect on the outcome (the intention-to-treat effect for a two-valued "
        "instrument, high value minus low); null with several."
    )
    anderson_rubin: AndersonRubin = Field(description="The weak-instrument-robust confidence set and test.")
    overidentification: OverIdentification | None = Field(description="With several instruments; else null.")
    complier_share: Estimate | None = Field(
        description="LATE only: the share of compliers, take-up with the instrument's high value minus with its low."
    )
    one_sided_noncompliance: bool | None = Field(
        description="LATE only: true when nobody at the instrument's low value took the treatment (then the LATE "
        "is the effect on the treated)."
    )
    bins: list[IVBin] = Field(
        description=f"Plot data: raw means by instrument value (at most {MAX_BINS} bins; two for a two-valued "
        "instrument, the Wald picture)."
    )
    bins_by: str = Field(description="What the bins' instrument_value is (the instrument, or the combined one).")
    alpha: float = Field(description="Significance level.")
    n_obs: int = Field(description="Rows used.")
    n_dropped: int = Field(description="Rows dropped for missing values.")
    n_clusters: int | None = Field(description="Clusters, with clustered standard errors; else null.")
    checks: list[Check] = Field(
        description="Instrument strength, exclusion, monotonicity, over-identification, non-compliance, clusters."
    )
    warnings: list[str] = Field(description="What the user should know before relying on the numbers.")
    summary: str = Field(description="One sentence stating the answer, built from the numbers above.")
