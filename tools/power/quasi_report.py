"""What a quasi-experimental power result says besides its numbers: checks, warnings, assumptions, the method and the
summary sentence."""

from __future__ import annotations

from dataclasses import dataclass, field

from tools.literals import Alternative
from tools.power.models import PowerRequest
from tools.power.quasi_models import QuasiDesign
from tools.power.quasi_synth import rejections_allowed
from tools.results import Check

__all__ = ["Findings", "did_findings", "method_text", "rdd_findings", "summary", "synth_findings"]

MIN_CLUSTERS = 20
MIN_UNITS_PER_SIDE = 50
#: The simulated and closed-form powers agree when they differ by at most this many Monte Carlo standard errors
#: (plus a hundredth for the closed form's own approximations).
AGREEMENT_SE = 3.0


@dataclass
class Findings:
    """Checks, warnings and assumptions collected for one result."""

    checks: list[Check] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    assumptions: list[str] = field(default_factory=list)

    def gate(self, name: str, ok: bool, detail: str, warning: str | None = None) -> None:
        self.checks.append(Check(name=name, status="pass" if ok else "warn", detail=detail))
        if not ok and warning:
            self.warnings.append(warning)

    def untested(self, name: str, detail: str) -> None:
        self.checks.append(Check(name=name, status="not_tested", detail=detail))


def _agreement(found: Findings, power: float, analytic: float, mc_se: float, what: str) -> None:
    gap = abs(power - analytic)
    found.gate(
        "closed_form_agreement",
        gap <= AGREEMENT_SE * mc_se + 0.01,
        f"Simulated power {power:.3f} (± {mc_se:.3f}) against the closed form's {analytic:.3f} ({what}).",
        f"The simulated power differs from the closed form by {gap:.3f}: the closed form's large-sample "
        "approximation is off for this small design; trust the simulation.",
    )


def did_findings(
    design: QuasiDesign, treated: int, control: int, power: float, analytic: float, mc_se: float
) -> Findings:
    found = Findings()
    clusters = treated + control
    found.gate(
        "clusters",
        clusters >= MIN_CLUSTERS and min(treated, control) >= 5,
        f"{clusters} units (clusters): {treated} treated, {control} control.",
        f"Only {clusters} clusters ({treated} treated): unit-clustered standard errors are unreliable with fewer "
        f"than about {MIN_CLUSTERS} clusters or few treated ones; plan a wild cluster bootstrap or randomization "
        "inference.",
    )
    _agreement(found, power, analytic, mc_se, "exact variance of the TWFE estimate, t on G - 1 df")
    found.untested("parallel_trends", "Assumed: without treatment both groups would move alike; check pre-trends.")
    found.assumptions += [
        "Balanced panel; Gaussian outcome with a unit level (icc) and AR(1) shocks, the same in both groups.",
        "A constant effect from adoption on, the same for every cohort and period.",
        "Unit and period fixed effects absorb levels and common shocks; unit-clustered CR1 SE, t on G - 1 df.",
    ]
    if design.adoption is not None:
        found.untested(
            "homogeneous_effects",
            "Staggered adoption is analysed by TWFE, unbiased here because the effect is constant; with effects "
            "that vary by cohort or time, plan Callaway-Sant'Anna (diff_in_diff), whose power is lower.",
        )
    return found


def rdd_findings(
    below: int,
    above: int,
    power: float,
    analytic: float,
    mc_se: float,
    linear_sd: float,
    linear_closed: float,
    reduced: bool,
) -> Findings:
    found = Findings()
    found.gate(
        "units_per_side",
        min(below, above) >= MIN_UNITS_PER_SIDE,
        f"{below} units within the bandwidth below the cutoff, {above} above.",
        f"Fewer than {MIN_UNITS_PER_SIDE} units on a side of the cutoff: local fits this small are fragile.",
    )
    _agreement(found, power, analytic, mc_se, "robust variance 10.29 sigma²(1/n_below + 1/n_above), normal test")
    found.checks.append(
        Check(
            name="local_linear_variance",
            status="pass",
            detail=f"Local-linear estimate's simulated SD {linear_sd:.4g} against the closed form "
            f"sqrt(4.8 sigma²(1/n_below + 1/n_above)) = {linear_closed:.4g}.",
        )
    )
    found.untested("continuity", "Assumed: no other change at the cutoff; no sorting (test the density).")
    found.assumptions += [
        "Running variable uniform within the bandwidth on each side (flat density near the cutoff).",
        "Gaussian outcome noise with the given SD; the robust bias-corrected test with b = h (local quadratic); "
        "rdrobust's default b > h gives a smaller robust SE, so this power is conservative.",
        "Counts are units within the bandwidth the analysis will use (e.g. rdrobust's MSE-optimal h).",
    ]
    if reduced:
        found.warnings.append(
            "A design this large ran fewer simulations to stay fast; the closed-form power beside it is accurate "
            "at this size."
        )
    return found


def synth_findings(design: QuasiDesign, alpha: float, alternative: Alternative) -> Findings:
    found = Findings()
    donors = design.control
    rank = rejections_allowed(donors, alpha)
    found.gate(
        "placebo_resolution",
        rank >= 2,
        f"With {donors} donors the smallest p-value is 1/{donors + 1} = {1 / (donors + 1):.3f}; the treated "
        f"unit must rank in the top {rank} of {donors + 1} post/pre RMSPE ratios.",
        f"Only the top rank of {donors + 1} is significant at alpha {alpha:g}: the test is coarse.",
    )
    found.untested(
        "placebo_fit",
        "Assumed: every donor's synthetic control fits as well as the treated unit's (post/pre ratios compare "
        "like with like; drop placebos with poor pre-fit, as Abadie et al. 2010 do).",
    )
    found.assumptions += [
        "Gaps (outcome minus synthetic) are independent Gaussian noise with SD = the pre-period RMSPE, every "
        "period, for the treated unit and every donor.",
        "A constant effect in every post period; the test ranks post/pre RMSPE ratios (two-sided by nature).",
        "In-sample overfitting makes real pre-period RMSPE optimistic, so real power is likely lower.",
    ]
    if alternative != "two-sided":
        found.warnings.append(
            f"alternative='{alternative}' does not change the placebo test: RMSPE ratios grow with an effect of "
            "either sign, so the test is two-sided."
        )
    return found


def method_text(design: QuasiDesign, simulations: int) -> str:
    seed = design.seed
    if design.kind == "did":
        return (
            f"Simulated power ({simulations:,} panels, seed {seed}) of the two-way fixed effects DiD estimate with "
            "unit-clustered CR1 standard errors and a t test on G - 1 df, drawn exactly from sufficient statistics; "
            "closed form: the estimate's exact variance (Frison & Pocock 1992; Burlig, Preonas & Woerman 2020)."
        )
    if design.kind == "rdd":
        return (
            f"Simulated power ({simulations:,} data sets, seed {seed}) of the local-linear RD estimate, triangular "
            "kernel, tested with the robust bias-corrected interval (Calonico, Cattaneo & Titiunik 2014) with b = h "
            "and HC1 variance, as rdrobust; closed form C sigma²(1/n_below + 1/n_above), C = 72/7 (robust), 4.8 "
            "(conventional)."
        )
    return (
        f"Simulated power ({simulations:,} placebo tests, seed {seed}) of the synthetic control permutation test on "
        "post/pre RMSPE ratios (Abadie, Diamond & Hainmueller 2010), gaps Gaussian with SD = the pre-period RMSPE."
    )


def summary(
    request: PowerRequest, design: QuasiDesign, control: int, treated: int, effect: float, power: float, mc_se: float
) -> str:
    if design.kind == "did":
        units = (
            f"{treated:,} treated and {control:,} control units over {design.pre} pre and {design.post} post periods"
        )
    elif design.kind == "rdd":
        units = f"{control:,} units below and {treated:,} above the cutoff within the bandwidth"
    else:
        units = f"{control:,} donors, {design.pre} pre and {design.post} post periods"
    head = "The smallest effect detected" if request.solve_for == "mde" else "An effect"
    needed = "are needed" if request.solve_for == "sample_size" else "give"
    if request.solve_for == "mde":
        return (
            f"{head} with {power:.0%} power (± {mc_se:.1%} simulation error) at alpha {request.alpha:g} with "
            f"{units} is {effect:+.4g}."
        )
    if request.solve_for == "sample_size":
        return (
            f"To detect {effect:+.4g} at alpha {request.alpha:g}, {units} {needed}: power {power:.0%} "
            f"(± {mc_se:.1%} simulation error)."
        )
    return (
        f"{head} of {effect:+.4g} is detected with power {power:.0%} (± {mc_se:.1%} simulation error) at alpha "
        f"{request.alpha:g} with {units}."
    )
