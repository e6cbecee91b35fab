"""The instrumental_variables tool's checks, interpretation, method text and summary (numbers quoted are the
result's own)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from tools.data.names import display_name
from tools.iv.models import AndersonRubin, ARInterval, FirstStage, InstrumentalVariablesRequest, OverIdentification
from tools.results import Check, Estimate

__all__ = [
    "FEW_CLUSTERS",
    "WEAK_F",
    "Compliance",
    "ar_text",
    "checks_and_warnings",
    "interpretation",
    "method",
    "summary",
]

#: Staiger & Stock's rule of thumb, from Stock & Yogo's tables: a first-stage F below 10 is a weak instrument.
WEAK_F: Final = 10.0
#: Clusters below which clustered standard errors are unreliable (warn).
FEW_CLUSTERS: Final = 30


@dataclass(frozen=True)
class Compliance:
    """Take-up by instrument value, for a 0/1 treatment and a two-valued instrument."""

    encouraged: float  # the instrument value with the higher take-up
    not_encouraged: float
    takeup_encouraged: float
    takeup_not_encouraged: float

    @property
    def one_sided(self) -> bool:
        """Nobody took the treatment without the encouragement."""
        return self.takeup_not_encouraged == 0.0

    @property
    def full_takeup(self) -> bool:
        """Everybody encouraged took the treatment."""
        return self.takeup_encouraged == 1.0


def _q(name: str) -> str:
    return f"'{display_name(name, 40)}'"


def _names(names: list[str]) -> str:
    return ", ".join(_q(n) for n in names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")


def _end(value: float | None) -> str:
    return "unbounded" if value is None else f"{value:+.4g}"


def ar_text(ar: AndersonRubin) -> str:
    """The Anderson-Rubin set in words."""
    if ar.kind == "empty":
        return "empty (no effect is compatible with all the instruments at once)"
    pieces = []
    for piece in ar.intervals:
        pieces.append(_piece(piece))
    return " or ".join(pieces)


def _piece(piece: ARInterval) -> str:
    if piece.lower is None and piece.upper is None:
        return "every value (unbounded)"
    if piece.lower is None:
        return f"at most {piece.upper:+.4g} (unbounded below)"
    if piece.upper is None:
        return f"at least {piece.lower:+.4g} (unbounded above)"
    return f"{piece.lower:+.4g} to {piece.upper:+.4g}"


def interpretation(
    request: InstrumentalVariablesRequest, late: bool, compliance: Compliance | None, n_covariates: int
) -> str:
    """Whom the estimate speaks for, in words."""
    treatment, outcome = _q(request.treatment), _q(request.outcome)
    instruments = _names(list(dict.fromkeys(request.instruments)))
    if not late or compliance is None:
        return (
            f"The effect on {outcome} of one more unit of {treatment}, for the units whose {treatment} the "
            f"instrument(s) {instruments} moved (a weighted average over them when effects differ); it says nothing "
            "about units the instruments do not move."
        )
    text = (
        f"LATE: the effect of {treatment} on {outcome} for compliers, the units that take {treatment} when "
        f"{instruments} is {compliance.encouraged:g} and not when it is {compliance.not_encouraged:g} (users who "
        "used the feature because of the nudge). It is not the effect for units that would use it anyway "
        "(always-takers) or never (never-takers)."
    )
    if compliance.one_sided:
        text += (
            f" Nobody with {instruments} at {compliance.not_encouraged:g} took {treatment} (one-sided "
            "non-compliance), so every treated unit is a complier or was encouraged anyway: the LATE is the effect "
            "on the treated (ATT)."
        )
    elif compliance.full_takeup:
        text += (
            f" Everybody with {instruments} at {compliance.encouraged:g} took {treatment}, so the LATE is the effect "
            "on the untreated (those who did not take it without the encouragement)."
        )
    if n_covariates:
        text += (
            " With covariates, 2SLS weights the compliers' effects by covariate cell; it is their exact average only "
            "when the first stage is saturated in the covariates."
        )
    return text


def checks_and_warnings(
    request: InstrumentalVariablesRequest,
    first_stage: FirstStage,
    ar: AndersonRubin,
    overid: OverIdentification | None,
    compliance: Compliance | None,
    n_clusters: int | None,
    notes: list[str],
) -> tuple[list[Check], list[str]]:
    """The issue's checks: strength, exclusion, monotonicity, over-identification, non-compliance, clusters."""
    checks: list[Check] = []
    warnings = list(notes)
    treatment, outcome = _q(request.treatment), _q(request.outcome)
    instruments = _names(list(dict.fromkeys(request.instruments)))
    level = f"{1 - request.alpha:.0%}"
    f_stat = first_stage.f_statistic
    kind = {"robust": "heteroskedasticity-robust", "classical": "classical", "cluster": "cluster-robust"}[
        request.standard_errors
    ]
    sy = (
        "Stock & Yogo (2005): below about 10 the 2SLS estimate is biased towards the naive regression and its "
        "interval covers the truth far less often than it claims"
    )
    if f_stat < WEAK_F:
        checks.append(
            Check(
                name="instrument_strength",
                status="fail",
                detail=f"First-stage F = {f_stat:.4g} ({kind}, partial R-squared {first_stage.partial_r2:.3g}), below "
                f"{WEAK_F:g}: the instruments are weak. {sy}. Trust the Anderson-Rubin {level} set, "
                f"{ar_text(ar)}, which stays valid however weak the instruments are.",
            )
        )
        warnings.append(
            f"WEAK INSTRUMENTS (first-stage F = {f_stat:.4g} < {WEAK_F:g}): the 2SLS interval is not reliable; the "
            f"Anderson-Rubin {level} set is {ar_text(ar)}."
        )
    else:
        checks.append(
            Check(
                name="instrument_strength",
                status="pass",
                detail=f"First-stage F = {f_stat:.4g} ({kind}, partial R-squared {first_stage.partial_r2:.3g}), at "
                f"least {WEAK_F:g} ({sy}).",
            )
        )
    if ar.kind in ("unbounded", "union", "empty"):
        warnings.append(
            f"The Anderson-Rubin {level} set is {ar.kind} ({ar_text(ar)}): the data cannot pin the effect down "
            "to one finite interval."
            if ar.kind != "empty"
            else f"The Anderson-Rubin {level} set is empty: no single effect fits every instrument."
        )
    checks.append(
        Check(
            name="exclusion_restriction",
            status="not_tested",
            detail=f"{instruments} must change {outcome} only by changing {treatment} (the nudge must change "
            "conversion only by changing use): if the invite itself persuades, or the shards or groups it picked "
            "differ in other ways, the estimate is biased and no test on these data can show it. Check an outcome "
            "measured before the instrument (it must show no effect) and, with several instruments, the "
            "over-identification test.",
        )
    )
    if compliance is not None and compliance.one_sided:
        checks.append(
            Check(
                name="monotonicity",
                status="pass",
                detail=f"Nobody took {treatment} without the encouragement, so nobody can be pushed away from it by "
                "the encouragement (no defiers): monotonicity holds by design.",
            )
        )
    else:
        checks.append(
            Check(
                name="monotonicity",
                status="not_tested",
                detail=f"{instruments} must move everybody's {treatment} in the same direction: nobody uses the "
                "feature because they were not invited and would skip it if invited (no defiers). The data cannot "
                "test it; it is usually safe for an invite or a rollout that only adds access.",
            )
        )
    if overid is not None:
        name = "Sargan" if overid.test == "sargan" else "Hansen J"
        rejected = overid.p_value < request.alpha
        checks.append(
            Check(
                name="overidentification",
                status="fail" if rejected else "pass",
                detail=f"{name} = {overid.statistic:.4g} on {overid.df} df, p = {overid.p_value:.3g}: "
                + (
                    "the instruments disagree about the effect, so at least one of them breaks the exclusion "
                    "restriction (or effects differ by instrument)."
                    if rejected
                    else "the instruments agree; this cannot detect instruments that are all invalid the same way."
                ),
            )
        )
        if rejected:
            warnings.append(
                f"The over-identification test rejects ({name} p = {overid.p_value:.3g}): the instruments point to "
                "different effects; run each alone and ask which story holds."
            )
    if compliance is not None:
        detail = (
            f"Take-up of {treatment} is {compliance.takeup_encouraged:.1%} with {instruments} at "
            f"{compliance.encouraged:g} and {compliance.takeup_not_encouraged:.1%} at {compliance.not_encouraged:g}"
        )
        if compliance.one_sided:
            detail += ": one-sided non-compliance (nobody used it without the encouragement), so the LATE is the "
            detail += "effect on the treated."
        else:
            detail += ": two-sided non-compliance, so the LATE speaks for compliers only, not for every user."
        checks.append(Check(name="noncompliance", status="pass", detail=detail))
    if n_clusters is not None:
        few = n_clusters < FEW_CLUSTERS
        checks.append(
            Check(
                name="clusters",
                status="warn" if few else "pass",
                detail=f"{n_clusters:,} clusters"
                + (f": fewer than {FEW_CLUSTERS}, clustered standard errors can be too small." if few else "."),
            )
        )
        if few:
            warnings.append(f"Only {n_clusters:,} clusters: clustered standard errors may understate the uncertainty.")
    return checks, warnings


def method(
    request: InstrumentalVariablesRequest,
    n_covariates: int,
    k_instruments: int,
    ar_df: tuple[int, int],
    overid: OverIdentification | None,
) -> str:
    """The estimator, standard errors and tests, in words."""
    se = {
        "classical": "classical standard errors (sigma^2 = e'e / (n - k))",
        "robust": "heteroskedasticity-robust HC1 standard errors (the sandwich times n / (n - k))",
        "cluster": f"cluster-robust CR1 standard errors on {_q(str(request.cluster))} (the sandwich of cluster sums "
        "times G / (G - 1) x (n - 1) / (n - k), Stata's small-sample factor)",
    }[request.standard_errors]
    text = (
        f"Two-stage least squares of {_q(request.outcome)} on {_q(request.treatment)} with {k_instruments} "
        f"instrument(s), a constant and {n_covariates} covariate(s) (partialled out), {se}; the same small-sample "
        "convention as Stata, R's AER::ivreg and linearmodels with debiased=True; normal intervals. First stage: the "
        "Wald F of the instruments with the same standard errors, and the partial R-squared. Naive regression: OLS "
        f"with the same covariates and standard errors. Anderson-Rubin: the Wald test of the instruments in the "
        f"regression of outcome - b x treatment on instruments and covariates, same standard errors, against "
        f"F({ar_df[0]}, {ar_df[1]}); the set of b it does not reject is found exactly ("
        + (
            "a quadratic inequality in b"
            if k_instruments == 1
            else "the real roots of det(c V(b) - g(b) g(b)') from a quadratic eigenvalue problem, each refined by "
            "bracketing"
        )
        + ")."
    )
    if overid is not None:
        text += (
            " Over-identification: Sargan's n R-squared of the 2SLS residuals on the instruments."
            if overid.test == "sargan"
            else " Over-identification: Hansen's J of two-step efficient GMM (weight from the 2SLS residuals, "
            "no small-sample factor); the estimate stays 2SLS."
        )
    return text


def summary(
    request: InstrumentalVariablesRequest,
    late: bool,
    effect: Estimate,
    ols: Estimate,
    first_stage: FirstStage,
    reduced_form: Estimate | None,
    complier_share: Estimate | None,
    ar: AndersonRubin,
) -> str:
    """One sentence from the result's own numbers."""
    level = f"{1 - request.alpha:.0%}"
    treatment, outcome = _q(request.treatment), _q(request.outcome)
    numbers = f"({level} CI {effect.ci_lower:+.4g} to {effect.ci_upper:+.4g}, p = {effect.p_value:.3g})"
    if late:
        text = ""
        if complier_share is not None and reduced_form is not None:
            instrument = _q(request.instruments[0])
            text = (
                f"The instrument {instrument} changed take-up of {treatment} by {complier_share.estimate:+.1%} of "
                f"units (the compliers' share) and {outcome} by {reduced_form.estimate:+.4g} (intention to treat: "
                "the effect of the instrument itself); "
            )
        text += (
            f"for the compliers (units that take it up because of the instrument), {treatment} changed {outcome} by "
            f"{effect.estimate:+.4g} {numbers} (the LATE)"
        )
        text = text[0].upper() + text[1:]
    else:
        text = (
            f"By two-stage least squares, one more unit of {treatment} changed {outcome} by {effect.estimate:+.4g} "
            f"{numbers}"
        )
    text += f"; the naive regression gives {ols.estimate:+.4g}; first-stage F {first_stage.f_statistic:.4g}"
    if first_stage.f_statistic < WEAK_F:
        text += f" — WEAK instruments: trust the Anderson-Rubin {level} set, {ar_text(ar)}"
    else:
        text += f"; Anderson-Rubin {level} set {ar_text(ar)}"
    return text + "."
