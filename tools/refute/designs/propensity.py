"""The selection-on-observables design: the propensity tool's headline estimate."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from tools.data.names import display_name
from tools.errors import ToolError
from tools.propensity.models import PropensityRequest
from tools.propensity.tool import BOUNDS_CALIPER, bounds_pairs, propensity
from tools.propensity.tool import design as propensity_design
from tools.propensity.tool import headline as propensity_headline
from tools.refute.designs.base import Design, Draw, parse_target, random_name
from tools.refute.engine import Runner
from tools.refute.models import EValue, OmittedVariableBounds, RefuteCheck, RosenbaumBounds, Sensitivity
from tools.refute.rosenbaum import not_tested, rosenbaum_check
from tools.refute.sensitivity import e_value_difference, e_value_risk_ratio, ols_sensitivity
from tools.results import Estimate

__all__ = ["PropensityScoreDesign"]

MIN_UNITS = 20
E_VALUE_FLOOR = 1.25
NAN = float("nan")


class PropensityScoreDesign(Design):
    tool = "propensity"
    unit_word = "units"
    placebo_how = "across units (the treatment column shuffled, so the treated share is kept)"

    def __init__(self, payload: dict[str, Any], frame: pd.DataFrame, alpha: float) -> None:
        super().__init__(frame, alpha)
        request: PropensityRequest = parse_target(
            "propensity", payload, PropensityRequest, "tools.propensity.tool:propensity"
        )
        self.request = request
        self.result = propensity(request, frame)
        top = self.result.effect
        self.original = Estimate(
            estimate=top.estimate,
            std_error=top.std_error,
            ci_lower=top.ci_lower,
            ci_upper=top.ci_upper,
            p_value=top.p_value,
            alpha=top.alpha,
        )
        self.headline = f"{top.method.upper()} {request.estimand} of '{request.treatment}' on '{request.outcome}'"
        self.estimand = self.result.estimand
        self.n_obs = self.result.n_obs
        self.outcome_column = request.outcome
        self.warnings = [f"Target analysis: {w}" for w in self.result.warnings]
        self._e_value: EValue | None = None
        self._ovb: OmittedVariableBounds | None = None
        self._rosenbaum: RosenbaumBounds | None = None

    def estimate(self, frame: pd.DataFrame, request: Any | None = None) -> Draw:
        return float(propensity_headline(request or self.request, frame)), NAN

    def placebo(self, rng: np.random.Generator) -> Draw:
        column = self.request.treatment
        return self.estimate(self.frame.assign(**{column: rng.permutation(self.frame[column].to_numpy())}))

    def random_common_cause(self, rng: np.random.Generator) -> Draw:
        name = random_name(self.frame, "refute_random_cause")
        frame = self.frame.assign(**{name: rng.standard_normal(len(self.frame))})
        return self.estimate(frame, self.request.model_copy(update={"covariates": [*self.request.covariates, name]}))

    def too_few_units(self) -> str | None:
        if self.result.n_treated < MIN_UNITS or self.result.n_control < MIN_UNITS:
            return (
                f"Only {self.result.n_treated} treated and {self.result.n_control} control units; re-estimating on "
                f"altered data needs at least {MIN_UNITS} in each arm."
            )
        return None

    # --- checks computed once ------------------------------------------------------------------------------

    def diagnostic(self, name: str, runner: Runner, simulations: int) -> RefuteCheck:
        if name == "overlap":
            return self._from_target(
                name,
                ("overlap", "support", "extreme", "trim"),
                "Every unit could have been treated or not: the propensity scores of the arms overlap.",
                f"Treated scores {self.result.overlap.min_treated:.3f} to {self.result.overlap.max_treated:.3f}, "
                f"control {self.result.overlap.min_control:.3f} to {self.result.overlap.max_control:.3f}; "
                f"{self.result.overlap.share_below_05:.1%} below 0.05, {self.result.overlap.share_above_95:.1%} "
                f"above 0.95; effective sample sizes {self.result.overlap.effective_sample_size_treated:,.0f} treated"
                f", {self.result.overlap.effective_sample_size_control:,.0f} control; largest weight "
                f"{self.result.overlap.largest_weight_share:.1%} of its arm.",
                "Treated and control units are comparable, so the estimate does not extrapolate.",
                "Some units have no comparable counterpart, so the estimate rests on a few heavily weighted units "
                "or on extrapolation.",
            )
        if name == "covariate_balance":
            worst = max(
                self.result.balance,
                key=lambda row: abs(row.smd_weighted if row.smd_weighted is not None else row.smd_matched or 0.0),
            )
            after = worst.smd_weighted if worst.smd_weighted is not None else worst.smd_matched
            return self._from_target(
                name,
                ("balance",),
                "After adjustment, the covariates have the same distribution in both arms.",
                f"Largest standardized difference after adjustment: '{display_name(worst.term)}' "
                f"{after if after is not None else float('nan'):+.3f} (before {worst.smd_before:+.3f}).",
                "Adjustment made the arms comparable on the measured covariates.",
                "The arms still differ on measured covariates after adjustment, so the estimate is biased by them.",
            )
        if name == "e_value":
            return self._e_value_check()
        if name == "rosenbaum_bounds":
            return self._rosenbaum_check()
        return self._ovb_check()

    def _from_target(
        self, name: str, keys: tuple[str, ...], null: str, numbers: str, good: str, bad: str
    ) -> RefuteCheck:
        found = [c for c in self.result.checks if any(k in c.name.lower() for k in keys)]
        failed = [c for c in found if c.status == "fail"]
        warned = [c for c in found if c.status == "warn"]
        verdict = "fail" if failed else "pass" if found else "inconclusive"
        notes = " ".join(f"[{c.status}] {c.detail}" for c in failed + warned)
        return RefuteCheck(
            name=name,
            null=null,
            procedure=f"Read from the propensity result's {name.replace('_', ' ')} diagnostics.",
            estimate=None,
            distribution=None,
            p_value=None,
            verdict=verdict,
            detail=numbers + (f" {notes}" if notes else ""),
            explanation=bad if failed else good if found else "The propensity result reported no such diagnostic.",
        )

    def _e_value_check(self) -> RefuteCheck:
        est = self.original
        y = pd.to_numeric(self.frame[self.request.outcome], errors="coerce").to_numpy(dtype=float)
        present = y[np.isfinite(y)]
        binary = bool(np.isin(present, (0.0, 1.0)).all())
        design = propensity_design(self.request, self.frame)
        treated = np.asarray(design.treatment, dtype=float) > 0.5
        outcome = np.asarray(design.outcome, dtype=float)
        figures = None
        if binary:
            if self.request.estimand == "ATT":  # treated units' observed rate against their counterfactual rate
                observed = float(outcome[treated].mean())
                rates = [(observed, observed - v) for v in (est.estimate, est.ci_lower, est.ci_upper)]
            else:
                base = float(outcome[~treated].mean())
                rates = [(base + v, base) for v in (est.estimate, est.ci_lower, est.ci_upper)]
            if all(a > 0 and b > 0 for a, b in rates):
                rr, lo, hi = (a / b for a, b in rates)
                figures = e_value_risk_ratio(rr, min(lo, hi), max(lo, hi))
                scale = "risk_ratio"
        if figures is None:
            sd = float(np.sqrt((outcome[treated].var(ddof=1) + outcome[~treated].var(ddof=1)) / 2))
            figures = e_value_difference(est.estimate, est.ci_lower, est.ci_upper, sd)
            scale = "standardized_difference"
        self._e_value = EValue(scale=scale, risk_ratio=figures.risk_ratio, point=figures.point, ci=figures.ci)
        significant = est.ci_lower > 0 or est.ci_upper < 0
        how = "as a risk ratio" if scale == "risk_ratio" else "as a risk ratio via RR = exp(0.91 d), d = effect / SD"
        detail = (
            f"Estimate {how}: {figures.risk_ratio:.3f}; E-value {figures.point:.2f} for the point estimate, "
            f"{figures.ci:.2f} for the confidence limit closest to no effect (fails below {E_VALUE_FLOOR})."
        )
        if not significant:
            verdict, explanation = (
                "inconclusive",
                "The interval already includes no effect: there is nothing to explain away.",
            )
        elif figures.ci < E_VALUE_FLOOR:
            verdict, explanation = (
                "fail",
                f"A weak unmeasured confounder (risk ratio {figures.ci:.2f} with both treatment and outcome) would "
                "be enough to make the effect insignificant.",
            )
        else:
            verdict, explanation = (
                "pass",
                f"Only an unmeasured confounder tied to both treatment and outcome by a risk ratio of "
                f"{figures.ci:.2f} or more, beyond the measured covariates, could make the effect insignificant.",
            )
        return RefuteCheck(
            name="e_value",
            null="No unmeasured confounder explains the effect away (VanderWeele & Ding 2017).",
            procedure="E-value of the estimate and of its confidence limit closest to no effect.",
            estimate=figures.point,
            distribution=None,
            p_value=None,
            verdict=verdict,
            detail=detail,
            explanation=explanation,
        )

    def _ovb_check(self) -> RefuteCheck:
        design = propensity_design(self.request, self.frame)
        try:
            fit = ols_sensitivity(
                np.asarray(design.outcome, dtype=float),
                np.asarray(design.treatment, dtype=float),
                np.asarray(design.covariates, dtype=float),
                list(design.terms),
                self.alpha,
            )
        except np.linalg.LinAlgError:
            raise ToolError(
                "collinear_covariates",
                "The outcome regression on treatment and covariates is collinear, so omitted-variable bounds "
                "cannot be computed.",
                "Drop redundant covariate terms.",
            ) from None
        best = fit.strongest
        # a benchmark strong enough to imply a partial R2 of 1 with the outcome (capped there, as sensemakr does)
        # leaves no residual variance: its adjusted point is the worst case, its interval has no width to report
        capped = best is not None and best.r2_outcome >= 1.0
        self._ovb = OmittedVariableBounds(
            estimate=fit.estimate,
            std_error=fit.std_error,
            dof=fit.dof,
            partial_r2_treatment=fit.partial_r2,
            robustness_value=fit.rv,
            robustness_value_alpha=fit.rv_alpha,
            benchmark_covariate=best.covariate if best else None,
            benchmark_r2_treatment=best.r2_treatment if best else None,
            benchmark_r2_outcome=best.r2_outcome if best else None,
            benchmark_adjusted_estimate=best.estimate if best else None,
            benchmark_adjusted_ci_lower=best.ci_lower if best and not capped else None,
            benchmark_adjusted_ci_upper=best.ci_upper if best and not capped else None,
        )
        detail = (
            f"Outcome regression on treatment + covariates: {fit.estimate:.4g} (SE {fit.std_error:.3g}); partial R2 "
            f"of treatment {fit.partial_r2:.3g}; robustness value RV {fit.rv:.3f} (a confounder explaining "
            f"{fit.rv:.1%} of the residual variance of both treatment and outcome would zero it), RV at alpha "
            f"{fit.rv_alpha:.3f}."
        )
        if best is not None and capped:
            detail += (
                f" A confounder as strong as '{display_name(best.covariate)}' (partial R2 {best.r2_treatment:.3g} with "
                "treatment) would explain all the remaining variation of the outcome (its bound is capped at 1); even "
                f"then the estimate would be {best.estimate:.4g} — a worst case with no interval to report."
            )
        elif best is not None:
            detail += (
                f" A confounder as strong as '{display_name(best.covariate)}' (partial R2 {best.r2_treatment:.3g} with "
                f"treatment, {best.r2_outcome:.3g} with outcome) would leave {best.estimate:.4g} (CI "
                f"{best.ci_lower:.4g} to {best.ci_upper:.4g})."
            )
        if fit.rv_alpha == 0:
            verdict, explanation = (
                "inconclusive",
                "The regression estimate is not significant even without confounding.",
            )
        elif best is None:
            verdict, explanation = "inconclusive", "No covariate to benchmark against."
        elif capped:
            if best.estimate == 0 or np.sign(best.estimate) != np.sign(fit.estimate):
                verdict, explanation = (
                    "fail",
                    f"An unmeasured confounder as strong as '{display_name(best.covariate)}' could erase the effect, "
                    "so the conclusion rests on having measured every such variable.",
                )
            else:
                verdict, explanation = (
                    "pass",
                    f"Even a confounder as strong as '{display_name(best.covariate)}' that also explained all the "
                    "remaining variation of the outcome would leave an effect in the same direction.",
                )
        elif best.ci_lower <= 0 <= best.ci_upper or np.sign(best.estimate) != np.sign(fit.estimate):
            verdict, explanation = (
                "fail",
                f"An unmeasured confounder no stronger than '{display_name(best.covariate)}' would make the effect "
                "insignificant, so the conclusion rests on having measured every such variable.",
            )
        else:
            verdict, explanation = (
                "pass",
                f"Even a confounder as strong as the strongest measured covariate ('{display_name(best.covariate)}') "
                "would leave a significant effect.",
            )
        return RefuteCheck(
            name="omitted_variable_bounds",
            null="No omitted confounder as strong as the strongest measured covariate overturns the effect "
            "(Cinelli & Hazlett 2020).",
            procedure="OLS of the outcome on treatment and the covariate terms; robustness values; 1x bounds from "
            "each covariate, the strongest reported.",
            estimate=fit.rv,
            distribution=None,
            p_value=None,
            verdict=verdict,
            detail=detail,
            explanation=explanation,
        )

    def _rosenbaum_check(self) -> RefuteCheck:
        request = self.request
        if "matching" not in request.methods:
            return not_tested(
                f"this analysis ran {', '.join(request.methods)}, not matching: the bounds need matched pairs "
                "(add 'matching' to the propensity request's methods)."
            )
        if request.estimand != "ATT":
            return not_tested(
                "the bounds read the treated units' matched pairs, which estimate the ATT; rerun the propensity "
                "analysis with estimand 'ATT'."
            )
        if request.neighbors != 1:
            return not_tested(
                f"matching used {request.neighbors} neighbours per treated unit; the signed-rank bounds hold for 1:1 "
                "pairs (matched sets with several controls need another statistic): rerun with neighbors 1."
            )
        pairs = bounds_pairs(request, self.frame)
        gaps = pairs.gaps
        context = (
            f" Pairs: each treated unit (largest propensity score first) against its nearest control not used yet, "
            f"on the logit score, without replacement ({len(gaps):,} disjoint pairs"
        )
        caliper = request.caliper if request.caliper is not None else BOUNDS_CALIPER
        context += f", within {caliper:g} standard deviations of the logit score"
        context += "" if request.caliper is not None else " (Austin 2011)"
        if pairs.unmatched:
            context += f"; {pairs.unmatched:,} treated units left without an unused control that close"
        context += (
            "): the bounds assume independent pairs, which a control reused across pairs would break (the matching "
            "estimate itself reuses controls, and its standard error accounts for it)."
        )
        matching = next(e for e in self.result.estimates if e.method == "matching")  # the target ran matching
        if matching.estimate * self.original.estimate < 0 and self.result.effect.method != "matching":
            context += " The matching estimate has the opposite sign of the headline estimate."
        check, self._rosenbaum = rosenbaum_check(gaps, self.alpha, context=context)
        if len(gaps):
            headline = self.result.effect.method
            shown = "matching" if headline == "matching" else headline.upper()
            prefix = (
                f"For matched pairs without replacement (mean pair difference {float(np.mean(gaps)):.4g}; the "
                f"{shown} estimate is {self.original.estimate:.4g}): "
            )
            check = check.model_copy(update={"detail": prefix + check.detail})
        return check

    def sensitivity(self) -> Sensitivity:
        return Sensitivity(
            e_value=self._e_value,
            omitted_variable_bounds=self._ovb,
            parallel_trends=None,
            breakdown_mbar=None,
            rosenbaum_bounds=self._rosenbaum,
        )
