"""The synthetic_control tool's checks, method text and summary (the numbers it quotes are the result's own)."""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from tools.data.names import display_name
from tools.results import Check, Estimate
from tools.synth.estimators import SynthFit
from tools.synth.models import PlaceboTest, SyntheticControlRequest
from tools.synth.panel import SynthPanel

__all__ = [
    "CONCENTRATED",
    "FEW_DONORS",
    "FIT_FAIL",
    "FIT_WARN",
    "GOOD_PRE_PERIODS",
    "MIN_PRE_PERIODS",
    "SPILLOVERS",
    "checks_and_warnings",
    "fit_scale",
    "method",
    "period_sentence",
    "summary",
]

Array = npt.NDArray[np.float64]

#: Pre-period RMSPE relative to the outcome's scale (the standard deviation of every unit's pre-period outcomes, the
#: spread a counterfactual picked at random among the units would miss by): above FIT_FAIL the synthetic unit does
#: not track the treated one, above FIT_WARN only roughly.
FIT_WARN: Final = 0.15
FIT_FAIL: Final = 0.30
#: The largest donor weight above which one donor is the synthetic unit (warn).
CONCENTRATED: Final = 0.80
#: Pre-periods below which the weights rest on too few points to trust (fail), and below which they are few (warn).
MIN_PRE_PERIODS: Final = 3
GOOD_PRE_PERIODS: Final = 10
#: Donors below which the placebo distribution (and the placebo variance) rests on few units (warn).
FEW_DONORS: Final = 10
#: Share of pre-periods with the treated path outside the donors' range above which ADH's warning is a fail.
OUTSIDE_FAIL: Final = 0.5
#: Below this share of pre-periods outside the donors' range, the excursions are noise-sized: a pass that says so.
OUTSIDE_WARN: Final = 0.1

SPILLOVERS: Final = (
    "The donors are assumed untouched by the change: if it spilled over to them (customers moving between markets, "
    "shared marketing, competitors reacting, a supply shared with the treated unit), the synthetic counterfactual "
    "moves with the effect and the estimate is biased, usually towards zero. The data cannot test this: drop donors "
    "that could have been affected (neighbours, shared channels) and check the estimate does not move."
)

_NAMES: Final = {
    "synthetic_did": "synthetic difference-in-differences",
    "synthetic_control": "synthetic control",
    "did": "difference-in-differences",
    "interrupted_time_series": "interrupted time series",
}


def period_sentence(panel: SynthPanel) -> str:
    """How the time column was read, as a sentence with a leading space ('' for integer periods)."""
    note = panel.period_note
    return f" {note[0].upper()}{note[1:]}." if note else ""


def fit_scale(panel: SynthPanel) -> float:
    """The outcome's scale for the fit check: the standard deviation of all units' pre-period outcomes."""
    return float(np.std(panel.y[:, : panel.n_pre]))


def _range_outside(panel: SynthPanel, demean: bool) -> tuple[int, int]:
    """Pre-periods in which the treated average lies above every donor (first) or below every donor (second);
    with ``demean`` each path minus its own pre-period mean (what an estimator with an intercept has to fit)."""
    pre = panel.y[:, : panel.n_pre]
    if demean:
        pre = pre - pre.mean(axis=1, keepdims=True)
    donors, treated = pre[: panel.n_donors], pre[panel.n_donors :].mean(axis=0)
    return int(np.sum(treated > donors.max(axis=0))), int(np.sum(treated < donors.min(axis=0)))


def checks_and_warnings(
    request: SyntheticControlRequest,
    panel: SynthPanel,
    result_fit: SynthFit,
    placebo_test: PlaceboTest | None,
) -> tuple[list[Check], list[str]]:
    """The issue's checks: pre-period fit, weight concentration, the treated unit against the donors' range,
    pre-periods, donors for placebo inference, spillovers (not testable)."""
    checks: list[Check] = []
    warnings: list[str] = list(panel.notes)
    estimator = result_fit.estimator

    # --- pre-period fit -------------------------------------------------------------------------------------------
    scale = fit_scale(panel)
    relative = result_fit.pre_rmspe / scale if scale > 0 else 0.0
    if relative > FIT_FAIL:
        status, verdict = (
            "fail",
            "the synthetic unit does not track the treated one: the counterfactual is not credible",
        )
        warnings.append(
            f"POOR PRE-PERIOD FIT: the synthetic unit misses the treated outcome by {result_fit.pre_rmspe:.4g} on "
            f"average before the change ({relative:.0%} of the outcome's spread across units), so its path after the "
            "change is not a credible counterfactual and the estimate should not be relied on. Look for donors more "
            "like the treated unit, a longer or cleaner pre-period, or another design."
        )
    elif relative > FIT_WARN:
        status, verdict = "warn", "the synthetic unit tracks the treated one only roughly"
        warnings.append(
            f"The pre-period fit is rough (RMSPE {result_fit.pre_rmspe:.4g}, {relative:.0%} of the outcome's spread "
            "across units): read the gap plot's pre-period before trusting the estimate."
        )
    else:
        status, verdict = "pass", "the synthetic unit tracks the treated one closely"
    what = {
        "synthetic_did": " (synthetic DiD's path includes its level offset, the time-weighted pre-period gap)",
        "did": " (DiD's comparison is the donors' plain average shifted by the time-averaged pre-period gap)",
        "synthetic_control": "",
    }[estimator]
    checks.append(
        Check(
            name="pre_period_fit",
            status=status,
            detail=f"Pre-period RMSPE {result_fit.pre_rmspe:.4g}{what}, {relative:.1%} of the standard deviation of "
            f"the outcome over all units and pre-periods ({scale:.4g}): {verdict} (warn above {FIT_WARN:.0%}, fail "
            f"above {FIT_FAIL:.0%}).",
        )
    )

    # --- weight concentration -------------------------------------------------------------------------------------
    omega = result_fit.unit_weights
    top = int(np.argmax(omega))
    largest = float(omega[top])
    effective = 1.0 / float(np.sum(omega**2))
    if estimator == "did":
        checks.append(
            Check(
                name="weight_concentration",
                status="pass",
                detail=f"DiD weighs all {panel.n_donors:,} donors equally ({largest:.3g} each).",
            )
        )
    else:
        concentrated = largest >= CONCENTRATED
        checks.append(
            Check(
                name="weight_concentration",
                status="warn" if concentrated else "pass",
                detail=f"The largest donor weight is {largest:.3f} ('{display_name(panel.units[top], 40)}'); "
                f"effective number of donors (1 / sum of squared weights) {effective:.1f}"
                + (
                    f": one donor is almost the whole synthetic unit (warn at {CONCENTRATED:.2f}), so anything that "
                    "happened to it after the start reads as an effect."
                    if concentrated
                    else "."
                ),
            )
        )
        if concentrated:
            warnings.append(
                f"One donor, '{display_name(panel.units[top], 40)}', carries {largest:.0%} of the weight: the "
                "estimate is essentially a comparison with that unit alone."
            )

    # --- the treated unit against the donors' range ------------------------------------------------------------------
    demean = estimator != "synthetic_control"
    above, below = _range_outside(panel, demean)
    outside = above + below
    share = outside / panel.n_pre
    paths = "paths net of each unit's pre-period mean (the estimator fits a level offset)" if demean else "levels"
    if outside == 0:
        range_status = "pass"
        range_detail = f"In every pre-period the treated outcome ({paths}) lies within the donors' range."
    elif share < OUTSIDE_WARN:
        range_status = "pass"
        range_detail = (
            f"The treated outcome ({paths}) lies within the donors' range in {panel.n_pre - outside} of "
            f"{panel.n_pre} pre-periods; the {outside} excursion(s) outside it are too few to matter for the fit."
        )
    else:
        range_status = "fail" if share >= OUTSIDE_FAIL and not demean else "warn"
        range_detail = (
            f"In {outside} of {panel.n_pre} pre-periods the treated outcome ({paths}) lies outside the donors' range "
            f"({above} above every donor, {below} below every donor): no weighted average of the donors (weights "
            "between 0 and 1 summing to 1) can reach it there"
            + (
                ", so the synthetic unit cannot fit it (ADH's warning); synthetic_did, which fits a level offset, "
                "may fit better."
                if range_status == "fail"
                else "."
            )
        )
        warnings.append(
            f"The treated unit lies outside the donors' range in {outside} of {panel.n_pre} pre-periods: the "
            "synthetic unit cannot match it there."
        )
    checks.append(Check(name="treated_within_donor_range", status=range_status, detail=range_detail))

    # --- pre-periods --------------------------------------------------------------------------------------------------
    if panel.n_pre < MIN_PRE_PERIODS:
        pre_status, pre_verdict = (
            "fail",
            "too few to tell a unit that tracks the treated one from one that matches by chance",
        )
    elif panel.n_pre < GOOD_PRE_PERIODS:
        pre_status, pre_verdict = "warn", "few: a donor blend can match so short a path by chance (overfitting)"
    else:
        pre_status, pre_verdict = "pass", "enough to judge the fit"
    checks.append(
        Check(
            name="pre_periods",
            status=pre_status,
            detail=f"{panel.n_pre} pre-periods: {pre_verdict} (at least {GOOD_PRE_PERIODS} recommended).",
        )
    )
    if pre_status != "pass":
        warnings.append(
            f"Only {panel.n_pre} pre-periods: a good pre-period fit over so few periods says little about the "
            "counterfactual."
        )

    # --- donors for placebo inference ---------------------------------------------------------------------------------
    min_p = 1.0 / (panel.n_donors + 1)
    unreachable = min_p >= request.alpha
    few = panel.n_donors < FEW_DONORS
    donor_detail = (
        f"{panel.n_donors:,} donors: the in-space placebo p-value cannot go below 1/({panel.n_donors:,} + 1) = "
        f"{min_p:.3g}"
    )
    if unreachable:
        donor_detail += (
            f", which is not below alpha = {request.alpha:g}: the placebo test cannot find an effect significant at "
            "that level however large it is"
        )
    if few:
        donor_detail += f"; the placebo distribution (and the placebo standard error) rests on fewer than {FEW_DONORS}"
    checks.append(
        Check(name="donors_for_placebo", status="warn" if unreachable or few else "pass", detail=donor_detail + ".")
    )
    if unreachable:
        warnings.append(
            f"With {panel.n_donors:,} donors the placebo p-value is at least {min_p:.3g}: it cannot reach "
            f"significance at alpha = {request.alpha:g}."
        )
    elif few:
        warnings.append(f"Only {panel.n_donors:,} donors: placebo inference rests on few units.")

    # --- spillovers --------------------------------------------------------------------------------------------------
    checks.append(Check(name="donors_unaffected", status="not_tested", detail=SPILLOVERS))
    if placebo_test is not None and placebo_test.status == "fail":
        pass  # the placebo rank is reported in `placebo`; a non-significant rank is a finding, not a problem
    return checks, warnings


def method(
    request: SyntheticControlRequest,
    panel: SynthPanel,
    result_fit: SynthFit | None,
    inference_text: str,
) -> str:
    """The estimator, the weights and the inference, in words."""
    treated = ", ".join(f"'{display_name(u, 40)}'" for u in panel.treated_units[:5])
    if panel.n_treated > 5:
        treated += f" and {panel.n_treated - 5:,} more"
    who = f"Treated: {treated}, from {panel.start}.{period_sentence(panel)}"
    if request.estimator == "synthetic_did":
        core = (
            "Synthetic difference-in-differences (Arkhangelsky, Athey, Hirshberg, Imbens & Wager 2021): donor "
            "weights with an intercept and synthdid's ridge penalty, pre-period (time) weights with an intercept, "
            "both solved to their exact optimum (synthdid's own Frank-Wolfe stops early, within about 0.002 on "
            "Prop 99)."
        )
    elif request.estimator == "synthetic_control":
        if result_fit is not None and result_fit.predictor_weights is not None:
            core = (
                "Synthetic control (Abadie, Diamond & Hainmueller 2010) on the covariates averaged over the "
                "pre-period, with predictor weights (V) chosen to minimise the pre-period outcome's squared error "
                "(nested optimisation)."
            )
        else:
            core = (
                "Synthetic control (Abadie, Diamond & Hainmueller 2010) with the pre-period outcomes as predictors: "
                "non-negative donor weights summing to 1 fitted to the treated pre-period path (synthdid's "
                "sc_estimate, solved to its exact optimum)."
            )
    else:
        core = (
            "Difference-in-differences: all donors and all pre-periods weighted equally (the double difference of "
            "means)."
        )
    return f"{core} {inference_text} {who}"


def summary(
    request: SyntheticControlRequest,
    effect: Estimate,
    comparison: dict[str, float],
    placebo_test: PlaceboTest | None,
    n_post: int,
    pre_rmspe: float,
    poor_fit: bool,
    treated: list[str],  # the treated units' labels; empty for one series with no unit column
    level_change: Estimate | None = None,
    slope_change: Estimate | None = None,
) -> str:
    """One sentence built from the result's own numbers."""
    level = f"{1 - request.alpha:.0%}"
    name = _NAMES[request.estimator]
    if not treated:  # one series, no unit column
        where = "the series"
    elif len(treated) == 1:
        where = f"'{display_name(treated[0], 40)}'"
    else:
        where = f"the {len(treated)} treated units"
    text = (
        f"By {name}, the change moved '{request.outcome}' in {where} by {effect.estimate:+.4g} per period "
        f"on average over the {n_post} post-periods ({level} CI {effect.ci_lower:+.4g} to {effect.ci_upper:+.4g}, "
        f"p = {effect.p_value:.3g})"
    )
    if level_change is not None and slope_change is not None:
        text += (
            f": a jump of {level_change.estimate:+.4g} at the start and a change in trend of "
            f"{slope_change.estimate:+.4g} per period against the projected pre-period trend, with no comparison "
            "group (anything else that changed then is confounded with it)"
        )
    if placebo_test is not None:
        text += (
            f"; in-space placebo p = {placebo_test.p_value:.3g} (rank {placebo_test.rank} among "
            f"{placebo_test.n_placebos} donor placebos)"
        )
    others = [f"{_NAMES[k]} {v:+.4g}" for k, v in comparison.items() if k != request.estimator]
    if others:
        text += f"; {' and '.join(others)} on the same data"
    text += f"; pre-period RMSPE {pre_rmspe:.4g}"
    if poor_fit:
        text += " — a POOR pre-period fit: the counterfactual is not credible"
    return text + "."
