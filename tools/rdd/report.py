"""The words of an RD result: estimand, method, checks, warnings and the summary sentence."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tools.data.names import display_name
from tools.literals import Side
from tools.rdd.bandwidth import MASS_POINT_SHARE
from tools.rdd.models import (
    BandwidthChoice,
    CovariateBalance,
    DensityTest,
    FirstStage,
    PlaceboCutoff,
    RddRequest,
    SensitivityRow,
)
from tools.results import Check, Estimate

__all__ = ["PerfectCompliance", "Scope", "checks_and_warnings", "density_detail", "estimand", "method", "summary"]

MIN_EFFECTIVE = 20
FEW_DISTINCT = 30
FEW_CLUSTERS = 20
WEAK_F = 10.0
DENSITY_FAIL = 0.01

_WHERE: dict[Side, str] = {"below": "below", "above": "at or above"}


#: How far perfect compliance reaches: every row analysed; every row within the bandwidths behind the reported
#: numbers; or only within one of them (the other first stage is estimated, with a standard error).
Scope = Literal["everywhere", "bandwidths", "partly"]


@dataclass(frozen=True)
class PerfectCompliance:
    """A fuzzy request whose take-up switches exactly from 0 to 1 at the cutoff: the design is sharp.

    ``taken`` is the side where every row takes the treatment; ``estimated`` is, when ``scope`` is "partly", the
    bandwidth ("estimation" or "bias-correction") over which take-up does vary, with its jump there (0 to 1
    across the cutoff)."""

    take_up: str
    taken: Side
    scope: Scope
    estimated: tuple[str, Estimate] | None = None

    @property
    def verdict(self) -> str:
        """The one sentence every surface repeats."""
        if self.scope == "everywhere":
            return "compliance is perfect on both sides: the design is sharp; the fuzzy estimate equals the sharp one"
        if self.scope == "bandwidths":
            return (
                "compliance is perfect on both sides near the cutoff: the design is sharp there; the fuzzy estimate "
                "equals the sharp one at these bandwidths"
            )
        return (
            "compliance is perfect on both sides close to the cutoff: the design is nearly sharp; the fuzzy "
            "estimate is close to the sharp one"
        )

    @property
    def evidence(self) -> str:
        """What the data show, as the start of a sentence."""
        other: Side = "above" if self.taken == "below" else "below"
        rows = (
            f"take-up '{display_name(self.take_up)}' is 1 on every row {_WHERE[self.taken]} the cutoff and 0 on "
            f"every row {_WHERE[other]} it"
        )
        if self.scope == "everywhere":
            return rows[0].upper() + rows[1:]
        if self.scope == "bandwidths":
            return f"Within the bandwidths, {rows} (farther away some rows differ)"
        assert self.estimated is not None
        which, jump = self.estimated
        narrow = "estimation" if which == "bias-correction" else "bias-correction"
        return (
            f"Within the {narrow} bandwidth, {rows}; over the {which} bandwidth take-up jumps by "
            f"{jump.estimate:+.4g} (SE {jump.std_error:.2g})"
        )

    def side_note(self, said: Side) -> str:
        """The warning when treatment_side names the other side."""
        return (
            f"treatment_side says the units {_WHERE[said]} the cutoff are treated, but every row "
            f"{_WHERE[self.taken]} it takes the treatment ('{display_name(self.take_up)}' = 1) and none on the other "
            f"side: the effect is reported with the side {_WHERE[self.taken]} the cutoff as treated (a fuzzy "
            "estimate, a ratio of two jumps, is the same either way)."
        )


def estimand(request: RddRequest, compliance: PerfectCompliance | None = None) -> str:
    running = display_name(request.running)
    if request.fuzzy is None or (compliance is not None and compliance.scope != "partly"):
        text = (
            f"Effect of the treatment on '{display_name(request.outcome)}' for units at the cutoff ({running} = "
            f"{request.cutoff:g}): the jump in the mean outcome there, treated side minus untreated side."
        )
        if compliance is not None:
            text += f" {compliance.evidence}, so {compliance.verdict}."
        return text
    late = (
        f"Local average treatment effect (LATE) at the cutoff ({running} = {request.cutoff:g}): the jump in "
        f"'{display_name(request.outcome)}' divided by the jump in take-up '{display_name(request.fuzzy)}', for "
        "units at the cutoff whose treatment follows the cutoff (compliers)."
    )
    return late if compliance is None else f"{late} {compliance.evidence}, so {compliance.verdict}."


_RULES = {
    "mserd": "MSE-optimal bandwidths (mserd: one h and one b for both sides",
    "msetwo": "MSE-optimal bandwidths (msetwo: h and b per side",
    "cerrd": "coverage-error-optimal bandwidths (cerrd: one h and one b for both sides",
    "certwo": "coverage-error-optimal bandwidths (certwo: h and b per side",
    "cerrd_rho": "coverage-error-optimal bandwidths (cerrd's h, b scaled alike: one h and one b for both sides",
    "certwo_rho": "coverage-error-optimal bandwidths (certwo's h, b scaled alike: h and b per side",
}


def _pair(choice: BandwidthChoice) -> str:
    """h below (and above, when it differs), as the sentences quote it."""
    return f"{choice.h_below:.4g}" + (f"/{choice.h_above:.4g}" if choice.h_above != choice.h_below else "")


def _bandwidths(choice: BandwidthChoice) -> str:
    if choice.selector == "manual":
        return f"bandwidth h given ({choice.h_below:.4g}; b = h)"
    pair = f"h = {_pair(choice)}"
    mass = ", pilots widened for mass points" if choice.mass_points_adjusted else ""
    return f"{_RULES[choice.selector]}{mass}; {pair})"


def _b_note(inference: BandwidthChoice) -> str:
    if inference.selector in ("cerrd_rho", "certwo_rho"):
        return " for h and b alike (rdrobust's CER factor, keeping rho = h/b fixed as the CER theory does"
    return f" for h, b unchanged (rdrobust's {inference.selector}"


def _inference(request: RddRequest, bandwidth: BandwidthChoice, inference: BandwidthChoice) -> str:
    """Which bandwidths gave which number: the point estimate and the reported robust effect."""
    reported = "the reported effect (bias-corrected estimate, robust standard error, interval and p-value)"
    if inference != bandwidth:
        factor = inference.h_below / bandwidth.h_below
        return (
            f"the conventional estimate at these bandwidths; {reported} at the {_bandwidths(inference)}: the "
            f"estimation bandwidths times n^(-p/((p+3)(2p+3))) = {factor:.4g}" + _b_note(inference) + "; Calonico, "
            "Cattaneo & Farrell 2020: the MSE-optimal h gives the most accurate point estimate, the smaller "
            "CER-optimal h the interval whose coverage is closest to nominal)"
        )
    if bandwidth.selector == "manual":
        return f"{reported} and the conventional estimate at the given bandwidth"
    if bandwidth.selector in ("cerrd", "certwo"):
        return f"{reported} and the conventional estimate at these coverage-error-optimal bandwidths"
    why = (
        "inference_bandwidth='same': robust intervals at MSE-optimal bandwidths can cover less than nominal"
        if request.inference_bandwidth == "same"
        else "for a polynomial of order 0 the CER-optimal bandwidths equal the MSE-optimal ones"
        if request.polynomial == 0
        else "the CER-optimal bandwidths could not be fitted"
    )
    return f"{reported} and the conventional estimate at these bandwidths ({why})"


def method(
    request: RddRequest,
    bandwidth: BandwidthChoice,
    inference: BandwidthChoice,
    clustered: bool,
    compliance: PerfectCompliance | None = None,
) -> str:
    p = request.polynomial
    how = f"{_bandwidths(bandwidth)}; {_inference(request, bandwidth, inference)}"
    variance = (
        f"cluster-robust variance (CR1) by '{display_name(request.cluster)}'"
        if clustered and request.cluster is not None
        else "heteroskedasticity-robust nearest-neighbour variance (3 neighbours)"
    )
    parts = [
        f"Local polynomial regression of order {p} on each side with a {request.kernel} kernel (Calonico, Cattaneo "
        f"& Titiunik 2014; as rdrobust computes it), {how}",
        f"bias correction from a local polynomial of order {p + 1} at bandwidth b and robust bias-corrected "
        f"confidence intervals; {variance}",
    ]
    if compliance is not None:
        parts.append(
            "fuzzy design asked for, but take-up switches from 0 to 1 exactly at the cutoff"
            + {"everywhere": "", "bandwidths": " within the bandwidths", "partly": " within one of the bandwidths"}[
                compliance.scope
            ]
            + (
                ": the take-up jump is exactly 1, so the outcome jump over it is the sharp estimate (no first stage "
                "to test)"
                if compliance.scope != "partly"
                else ": the outcome jump over the take-up jump, with the delta-method variance (no first-stage F: "
                "within that bandwidth take-up jumps by exactly 1)"
            )
        )
    elif request.fuzzy is not None:
        parts.append("fuzzy design: the outcome jump over the take-up jump, with the delta-method variance")
    parts.append(
        "manipulation test: Cattaneo-Jansson-Ma local polynomial density test (rddensity's defaults); "
        "falsification: the same RD on each covariate, at placebo cutoffs (the median of each side) and at 0.5-2 "
        "times the inference bandwidths"
    )
    return "; ".join(parts) + "."


def checks_and_warnings(
    request: RddRequest,
    *,
    robust: Estimate,
    n_effective: tuple[int, int],
    distinct: tuple[int, int],
    near: tuple[tuple[int, int], tuple[int, int]] | None = None,
    bandwidth: BandwidthChoice,
    first_stage: FirstStage | None,
    density: DensityTest | None,
    covariates: list[CovariateBalance],
    placebos: list[PlaceboCutoff],
    sensitivity: list[SensitivityRow],
    n_clusters: int | None,
    notes: list[str],
    compliance: PerfectCompliance | None = None,
) -> tuple[list[Check], list[str]]:
    alpha = request.alpha
    checks = [
        Check(
            name="continuity_at_cutoff",
            status="not_tested",
            detail="The design assumes nothing but the treatment changes at the cutoff (the outcome's mean would "
            "be continuous without it). This cannot be tested directly; the density, covariate and placebo "
            "checks below speak to it.",
        )
    ]
    warnings = list(notes)
    if density is None:
        checks.append(Check(name="density", status="not_tested", detail="Too few observations for the density test."))
    else:
        status = "fail" if density.p_value < DENSITY_FAIL else "warn" if density.p_value < alpha else "pass"
        checks.append(
            Check(
                name="density",
                status=status,
                detail=density_detail(density, request.treatment_side)
                + (" Units may be sorting around the cutoff." if status != "pass" else ""),
            )
        )
        if status != "pass":
            warnings.append(
                f"The running variable's density jumps at the cutoff (p = {density.p_value:.3g}): units may "
                "manipulate their score to land on one side, which would bias the estimate."
            )
    if request.covariates:
        flagged = [c for c in covariates if c.status == "warn"]
        tested = [c for c in covariates if c.status != "not_tested"]
        status = "not_tested" if not tested else "warn" if flagged else "pass"
        checks.append(
            Check(
                name="covariate_continuity",
                status=status,
                detail=" ".join(c.detail for c in covariates) or "Covariate checks were skipped (diagnostics=false).",
            )
        )
        if flagged:
            warnings.append(
                f"{len(flagged)} of {len(tested)} covariate(s) jump at the cutoff "
                f"({', '.join(repr(c.covariate) for c in flagged)}): the two sides may differ by more than the "
                "treatment (with several covariates, one may jump by chance)."
            )
    else:
        checks.append(
            Check(
                name="covariate_continuity",
                status="not_tested",
                detail="No pre-determined covariates were given; give `covariates` to test that they are "
                "continuous at the cutoff.",
            )
        )
    if placebos:
        flagged_p = [p for p in placebos if p.status == "warn"]
        tested_p = [p for p in placebos if p.status != "not_tested"]
        checks.append(
            Check(
                name="placebo_cutoffs",
                status="not_tested" if not tested_p else "warn" if flagged_p else "pass",
                detail=" ".join(p.detail for p in placebos),
            )
        )
    estimates = [r.robust for r in sensitivity if r.robust is not None]
    if estimates:
        flips = [e for e in estimates if e.estimate * robust.estimate < 0 and e.p_value < alpha]
        spread = ", ".join(f"{r.multiplier:g}h: {r.robust.estimate:+.4g}" for r in sensitivity if r.robust is not None)
        checks.append(
            Check(
                name="bandwidth_sensitivity",
                status="warn" if flips else "pass",
                detail=f"Robust estimates by bandwidth: {spread}."
                + (" Some bandwidths give a significant effect of the opposite sign." if flips else ""),
            )
        )
    smallest = min(n_effective)
    checks.append(
        Check(
            name="effective_sample",
            status="pass" if smallest >= MIN_EFFECTIVE else "warn",
            detail=f"{n_effective[0]:,} observations within h below and {n_effective[1]:,} above the cutoff "
            f"(warning below {MIN_EFFECTIVE}).",
        )
    )
    if smallest < MIN_EFFECTIVE:
        warnings.append(f"Only {smallest} observations within the bandwidth on one side: the estimate is fragile.")
    (n_below, d_below), (n_above, d_above) = near or ((0, distinct[0]), (0, distinct[1]))
    # discrete where it matters: few distinct values within h, or many rows sharing one (rdrobust's mass-point share)
    repeats = max((1 - d / n if n else 0.0) for n, d in ((n_below, d_below), (n_above, d_above)))
    discrete = min(d_below, d_above) < FEW_DISTINCT or repeats >= MASS_POINT_SHARE
    within = (
        f"; within h, {d_below:,} among {n_below:,} rows below and {d_above:,} among {n_above:,} above" if near else ""
    )
    widened = ""
    if bandwidth.mass_points_adjusted:
        widened = " Many rows share a value (rdrobust's mass-point rule), so the pilot bandwidths were widened" + (
            "." if discrete else "; near the cutoff the values are distinct enough."
        )
    checks.append(
        Check(
            name="running_variable_distinct_values",
            status="warn" if discrete else "pass",
            detail=f"{distinct[0]:,} distinct running-variable values below and {distinct[1]:,} above the "
            f"cutoff{within}." + widened,
        )
    )
    if discrete:
        warnings.append(
            "The running variable is discrete near the cutoff (few distinct values, or many rows sharing one): the "
            "RD extrapolates between the values nearest the cutoff, so the estimate leans on the polynomial's shape."
        )
    if compliance is not None:
        checks.append(
            Check(
                name="first_stage",
                status="pass",
                detail=f"{compliance.evidence}, so {compliance.verdict} "
                + (
                    "(take-up jumps by exactly 1: there is no first stage to estimate, and none is weak)."
                    if compliance.scope != "partly"
                    else "(a first stage as strong as one can be, not a weak one)."
                ),
            )
        )
    if first_stage is not None:
        checks.append(
            Check(
                name="first_stage",
                status="warn" if first_stage.weak else "pass",
                detail=f"Take-up jumps by {first_stage.conventional.estimate:+.3g} at the cutoff (F = "
                f"{first_stage.f_statistic:.3g}; weak below {WEAK_F:g}).",
            )
        )
        if first_stage.weak:
            warnings.append(
                f"Weak first stage (F = {first_stage.f_statistic:.3g}): take-up barely changes at the cutoff, so the "
                "LATE and its interval are unreliable."
            )
        if first_stage.conventional.estimate < 0:
            warnings.append(
                "Take-up is lower on the treated side than on the other: check treatment_side and the take-up column."
            )
    if n_clusters is not None and n_clusters < FEW_CLUSTERS:
        warnings.append(
            f"Only {n_clusters} clusters within the bandwidths: cluster-robust standard errors are unreliable with "
            "so few."
        )
    return checks, warnings


def density_detail(density: DensityTest, treatment_side: Side) -> str:
    """The density check's sentence: each estimate next to its side, each side named treated or untreated."""
    below, above = ("treated", "untreated") if treatment_side == "below" else ("untreated", "treated")
    return (
        f"The running variable's estimated density is {density.density_below:.4g} just below the cutoff, on the "
        f"{below} side, and {density.density_above:.4g} just above it, on the {above} side; t = "
        f"{density.t_statistic:.3g}, p = {density.p_value:.3g}."
    )


def summary(
    request: RddRequest,
    robust: Estimate,
    conventional: Estimate,
    bandwidth: BandwidthChoice,
    n_effective: tuple[int, int],
    first_stage: FirstStage | None,
    density: DensityTest | None,
    estimation: BandwidthChoice | None = None,
    *,
    compliance: PerfectCompliance | None = None,
) -> str:
    """One sentence; ``bandwidth`` and ``n_effective`` are those of the reported effect (the inference bandwidths),
    ``estimation`` the conventional estimate's bandwidths when they differ."""
    level = f"{1 - request.alpha:.0%}"
    what = (
        f"crossing into treatment changes '{request.outcome}' by"
        if request.fuzzy is None or (compliance is not None and compliance.scope != "partly")
        else f"the treatment changes '{request.outcome}' for compliers by"
    )
    text = (
        f"At the cutoff {request.cutoff:g} of '{request.running}', {what} {robust.estimate:+.4g} (robust {level} CI "
        f"{robust.ci_lower:+.4g} to {robust.ci_upper:+.4g}, p = {robust.p_value:.3g}; conventional estimate "
        f"{conventional.estimate:+.4g}"
        + (f" at h = {_pair(estimation)}" if estimation is not None and estimation != bandwidth else "")
        + f"), with h = {_pair(bandwidth)} and {n_effective[0]:,} + {n_effective[1]:,} observations within it"
    )
    if first_stage is not None:
        text += f"; take-up jumps by {first_stage.robust.estimate:+.3g}"
    if compliance is not None:
        text += f"; {compliance.verdict}"
    if density is not None:
        text += f"; density test p = {density.p_value:.3g}"
    return text + "."
