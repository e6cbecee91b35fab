"""The regression-discontinuity design: the rdd tool's robust bias-corrected jump."""

from __future__ import annotations

from typing import Any

import pandas as pd

from tools.data.names import display_name
from tools.rdd.models import RddRequest
from tools.rdd.tool import headline as rdd_headline
from tools.rdd.tool import rdd
from tools.refute.designs.base import Design, Draw, Units, parse_target
from tools.refute.engine import Runner
from tools.refute.models import RefuteCheck

__all__ = ["RddDesign"]

MIN_UNITS = 40
NAN = float("nan")


class RddDesign(Design):
    tool = "rdd"

    def __init__(self, payload: dict[str, Any], frame: pd.DataFrame, alpha: float) -> None:
        super().__init__(frame, alpha)
        request: RddRequest = parse_target("rdd", payload, RddRequest, "tools.rdd.tool:rdd")
        self.request = request
        self.result = rdd(request.model_copy(update={"diagnostics": True}), frame)
        self.original = self.result.effect
        self.headline = f"robust bias-corrected jump in '{request.outcome}' at {request.running} = {request.cutoff:g}"
        self.estimand = self.result.estimand
        self.n_obs = self.result.n_obs
        self.outcome_column = request.outcome
        self.warnings = [f"Target analysis: {w}" for w in self.result.warnings]
        self.unit_word = "rows" if request.cluster is None else f"'{request.cluster}' clusters"
        self._units = Units.of(frame, request.cluster)

    @property
    def units(self) -> Units:
        return self._units

    def estimate(self, frame: pd.DataFrame, request: Any | None = None) -> Draw:
        return float(rdd_headline(request or self.request, frame)), NAN

    def too_few_units(self) -> str | None:
        if self._units.n < MIN_UNITS:
            return f"Only {self._units.n} units; resampling a discontinuity needs at least {MIN_UNITS}."
        return None

    def _check(self, name: str, null: str, procedure: str, **fields: Any) -> RefuteCheck:
        fields.setdefault("estimate", None)
        fields.setdefault("p_value", None)
        return RefuteCheck(name=name, null=null, procedure=procedure, distribution=None, **fields)

    def diagnostic(self, name: str, runner: Runner, simulations: int) -> RefuteCheck:
        if name == "density_test":
            return self._density()
        if name == "covariate_continuity":
            return self._covariates()
        if name == "placebo_cutoff":
            return self._placebo_cutoffs()
        return self._bandwidths()

    def _density(self) -> RefuteCheck:
        null = "Units could not sort themselves around the cutoff: the running variable's density is continuous there."
        procedure = "Cattaneo-Jansson-Ma local-polynomial density test (from the rdd result)."
        test = self.result.density_test
        if test is None:
            return self._check(
                "density_test",
                null,
                procedure,
                verdict="inconclusive",
                detail="The density test could not run (too few observations near the cutoff).",
                explanation="Manipulation of the running variable cannot be ruled out from the data.",
            )
        ok = test.p_value >= self.test_alpha
        return self._check(
            "density_test",
            null,
            procedure,
            estimate=test.t_statistic,
            p_value=test.p_value,
            verdict="pass" if ok else "fail",
            detail=f"Density {test.density_below:.4g} just below and {test.density_above:.4g} just above the cutoff "
            f"(n {test.n_below:,} and {test.n_above:,} within bandwidth); t = {test.t_statistic:.3g}, p = "
            f"{test.p_value:.3g} (fails below {self.test_alpha:.3g}{self.test_note}).",
            explanation="No sign that units sorted themselves across the cutoff."
            if ok
            else "Units bunch on one side of the cutoff, so those just above and below are not comparable and the "
            "jump is not a clean effect.",
        )

    def _covariates(self) -> RefuteCheck:
        null = "Pre-determined covariates do not jump at the cutoff."
        procedure = "The same RD estimator on each covariate (from the rdd result), Bonferroni over covariates."
        tested = [c for c in self.result.covariate_balance if c.robust is not None]
        if not tested:
            return self._check(
                "covariate_continuity",
                null,
                procedure,
                verdict="inconclusive",
                detail="No pre-determined covariate was given (or none could be estimated): give `covariates` in the "
                "rdd request.",
                explanation="Whether the groups differ by more than the treatment cannot be checked.",
            )
        k = len(tested)
        parts = []
        worst = 1.0
        for c in tested:
            assert c.robust is not None
            adjusted = min(1.0, c.robust.p_value * k)
            worst = min(worst, adjusted)
            parts.append(f"'{display_name(c.covariate)}': jump {c.robust.estimate:.4g}, p = {c.robust.p_value:.3g}")
        ok = worst >= self.test_alpha
        return self._check(
            "covariate_continuity",
            null,
            procedure,
            p_value=worst,
            verdict="pass" if ok else "fail",
            detail="; ".join(parts)
            + f" (smallest Bonferroni-adjusted p {worst:.3g}, fails below {self.test_alpha:.3g}{self.test_note}).",
            explanation="Units on either side look alike apart from the treatment."
            if ok
            else "A covariate jumps at the cutoff too, so part of the outcome jump may come from it.",
        )

    def _placebo_cutoffs(self) -> RefuteCheck:
        null = "At fake cutoffs away from the real one, the outcome does not jump."
        procedure = (
            "The RD estimator at the median of the running variable on each side (from the rdd result), Bonferroni "
            "over the cutoffs."
        )
        tested = [p for p in self.result.placebo_cutoffs if p.robust is not None]
        if not tested:
            reasons = "; ".join(p.detail for p in self.result.placebo_cutoffs) or "no placebo cutoff could be placed"
            return self._check(
                "placebo_cutoff",
                null,
                procedure,
                verdict="inconclusive",
                detail=reasons + ".",
                explanation="This check cannot speak for or against the estimate here; rely on the others.",
            )
        k = len(tested)
        parts = []
        worst = 1.0
        for p in tested:
            assert p.robust is not None
            worst = min(worst, min(1.0, p.robust.p_value * k))
            parts.append(
                f"{p.side} side at {p.cutoff:.4g}: jump {p.robust.estimate:.4g} (CI {p.robust.ci_lower:.4g} to "
                f"{p.robust.ci_upper:.4g}), p = {p.robust.p_value:.3g}"
            )
        ok = worst >= self.test_alpha
        return self._check(
            "placebo_cutoff",
            null,
            procedure,
            p_value=worst,
            verdict="pass" if ok else "fail",
            detail="; ".join(parts)
            + f" (smallest Bonferroni-adjusted p {worst:.3g}, fails below {self.test_alpha:.3g}{self.test_note}).",
            explanation="The outcome only jumps where the treatment starts."
            if ok
            else "The outcome also jumps where nothing happens, so the real jump may reflect a curved trend rather "
            "than the treatment.",
        )

    def _bandwidths(self) -> RefuteCheck:
        null = "The estimate does not depend on the bandwidth: at 0.5 to 2 times h, each interval still covers it."
        procedure = (
            "The robust estimate at 0.5, 0.75, 1, 1.5 and 2 times the bandwidths behind the headline (from the rdd "
            "result)."
        )
        rows = [r for r in self.result.bandwidth_sensitivity if r.robust is not None]
        if len(rows) < 2:
            return self._check(
                "bandwidth_sensitivity",
                null,
                procedure,
                verdict="inconclusive",
                detail="Fewer than two bandwidths could be estimated.",
                explanation="This check cannot speak for or against the estimate here; rely on the others.",
            )
        o = self.original.estimate
        parts, misses = [], 0
        for r in rows:
            assert r.robust is not None
            covers = r.robust.ci_lower <= o <= r.robust.ci_upper
            misses += not covers
            parts.append(
                f"{r.multiplier:g}h: {r.robust.estimate:.4g} ({r.robust.ci_lower:.4g} to {r.robust.ci_upper:.4g})"
            )
        ok = misses == 0
        return self._check(
            "bandwidth_sensitivity",
            null,
            procedure,
            estimate=float(
                max(r.robust.estimate for r in rows if r.robust) - min(r.robust.estimate for r in rows if r.robust)
            ),
            verdict="pass" if ok else "fail",
            detail="; ".join(parts) + f". {misses} interval(s) exclude the headline {o:.4g} (fails when any does).",
            explanation="The answer does not hinge on the bandwidth choice."
            if ok
            else "The answer changes with the bandwidth, so it reflects the functional form as much as the data.",
        )
