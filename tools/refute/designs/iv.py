"""The instrumental-variables design: the instrumental_variables tool's 2SLS effect.

An instrument must be as good as randomly assigned, must move the treatment, and must reach the outcome only
through it. The battery challenges what the data can speak to:

- ``covariate_balance`` (placebo outcomes measured before the instrument): each covariate the analysis kept, in turn,
  is taken as the outcome of the same 2SLS analysis (the other covariates as controls, the same rows, instruments
  and standard errors). An instrument assigned at random cannot move anything measured before it, so each such
  "effect" is 0. Each is tested by the Anderson-Rubin test of no effect — the test that the instruments do not
  predict the covariate given the other covariates, valid however weak the instruments are (with one instrument, the
  reduced-form t-test of the covariate on the instrument) — Bonferroni over the covariates.
- ``weak_instrument``: the weak-instrument-robust Anderson-Rubin set (Anderson & Rubin 1949; Dufour 1997) against the
  2SLS interval, both from the tool's result. The 2SLS interval is trustworthy only when the two tell the same
  story: it fails when the AR set is unbounded (the data cannot bound the effect: a finite 2SLS interval is then an
  artefact of the normal approximation), empty (no value fits all instruments), on the other side of 0, or when the
  two disagree on whether 0 is excluded. That last disagreement is only inconclusive with several instruments and a
  strong first stage (F of 10 or more): the AR test then also tests the over-identifying restrictions and has less
  power than the 2SLS t-test, so it misses effects the t-test finds without any weakness of the instruments.
- ``leave_one_out`` (leave-one-instrument-out, when over-identified): each instrument dropped in turn and the whole
  analysis refitted on the others. It fails when an estimate without one instrument leaves the original interval
  (or changes sign) by more than its own interval allows (that interval excludes the original estimate): the
  instruments then point at different effects. An estimate that leaves the original interval while its own
  interval still covers the original estimate is too imprecise to judge (the other instruments are too weak to
  confirm or contradict the answer): inconclusive, named. With one instrument the check does not apply.
- ``dummy_outcome``, ``bootstrap`` (pairs; whole clusters with clustered standard errors), ``data_subset`` and
  ``random_common_cause`` through the generic engine, each draw refitting through the tool's lean ``headline``.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
import pandas as pd

from tools.data.columns import column, numeric
from tools.data.names import display_name
from tools.iv.models import AndersonRubin, InstrumentalVariablesRequest, InstrumentalVariablesResult
from tools.iv.report import WEAK_F
from tools.iv.tool import headline as iv_headline
from tools.iv.tool import instrumental_variables
from tools.refute.designs.base import Design, Draw, Units, parse_target, random_name
from tools.refute.engine import Runner
from tools.refute.models import RefuteCheck
from tools.results import Estimate

__all__ = ["InstrumentalVariablesDesign"]

#: Rows (or clusters) below which resampling the analysis says nothing.
MIN_ROWS = 40
MIN_CLUSTERS = 10
NAN = float("nan")
#: Placebo outcomes named one by one in the balance check's detail (the smallest p-values).
SHOWN = 6
UNJUDGED = "This check cannot speak for or against the estimate here; rely on the others."


def _q(name: str) -> str:
    return f"'{display_name(name, 40)}'"


def _excludes_zero(estimate: Estimate) -> bool:
    return estimate.ci_lower > 0 or estimate.ci_upper < 0


def _ar_text(ar: AndersonRubin) -> str:
    """The AR set in words: its pieces, with infinite ends written as such."""
    if not ar.intervals:
        return "empty"
    pieces = [
        f"{'-inf' if piece.lower is None else f'{piece.lower:.4g}'} to "
        f"{'+inf' if piece.upper is None else f'{piece.upper:.4g}'}"
        for piece in ar.intervals
    ]
    return " and ".join(pieces)


class InstrumentalVariablesDesign(Design):
    tool = "instrumental_variables"

    def __init__(self, payload: dict[str, Any], frame: pd.DataFrame, alpha: float) -> None:
        super().__init__(frame, alpha)
        request: InstrumentalVariablesRequest = parse_target(
            "instrumental_variables", payload, InstrumentalVariablesRequest, "tools.iv.tool:instrumental_variables"
        )
        self.request = request
        self.result: InstrumentalVariablesResult = instrumental_variables(request, frame)
        self.original = self.result.effect
        what = "LATE" if self.result.estimand == "LATE" else "effect"
        self.headline = f"2SLS {what} of {_q(request.treatment)} on {_q(request.outcome)}"
        self.estimand = self.result.estimand
        self.n_obs = self.result.n_obs
        self.outcome_column = request.outcome
        self.warnings = [f"Target analysis: {w}" for w in self.result.warnings]
        self.unit_word = "rows" if request.cluster is None else f"{_q(request.cluster)} clusters"
        self._units = Units.of(frame, request.cluster)

    @property
    def units(self) -> Units:
        return self._units

    @property
    def _instruments_word(self) -> str:
        return "instrument predicts" if len(self.result.instruments) == 1 else "instruments predict"

    # --- re-estimates ------------------------------------------------------------------------------------------

    def estimate(self, frame: pd.DataFrame, request: Any | None = None) -> Draw:
        return iv_headline(request or self.request, frame), NAN

    def random_common_cause(self, rng: np.random.Generator) -> Draw:
        name = random_name(self.frame, "refute_random_cause")
        frame = self.frame.assign(**{name: rng.standard_normal(len(self.frame))})
        covariates = [*(self.request.covariates or []), name]
        return self.estimate(frame, self.request.model_copy(update={"covariates": covariates}))

    def too_few_units(self) -> str | None:
        if self.request.cluster is not None and self.result.n_clusters is not None:
            if self.result.n_clusters < MIN_CLUSTERS:
                return f"Only {self.result.n_clusters} clusters; resampling them needs at least {MIN_CLUSTERS}."
        elif self.result.n_obs < MIN_ROWS:
            return f"Only {self.result.n_obs} rows; resampling the analysis needs at least {MIN_ROWS}."
        return None

    def procedure(self, name: str, fraction: float) -> str:
        if name == "bootstrap" and self.request.cluster is not None:
            return (
                f"Resampled whole {self.unit_word} with replacement (a cluster drawn twice counts as two) and refitted "
                "the 2SLS estimate each time."
            )
        return super().procedure(name, fraction)

    # --- checks computed once ----------------------------------------------------------------------------------

    def steps(self, name: str, simulations: int) -> int:
        if name == "covariate_balance":
            return max(1, len(self.result.covariates))
        if name == "leave_one_out":
            k = len(self.result.instruments)
            return k if k > 1 else 1
        return 1

    def diagnostic(self, name: str, runner: Runner, simulations: int) -> RefuteCheck:
        if name == "covariate_balance":
            return self._balance(runner)
        if name == "weak_instrument":
            return self._weak_instrument()
        return self._leave_one_out(runner)

    def _check(self, name: str, null: str, procedure: str, **fields: Any) -> RefuteCheck:
        fields.setdefault("estimate", None)
        fields.setdefault("p_value", None)
        return RefuteCheck(name=name, null=null, procedure=procedure, distribution=None, **fields)

    # --- placebo outcomes: the covariates ------------------------------------------------------------------------

    def _analysed_rows(self) -> pd.DataFrame:
        """The frame without the rows whose outcome or treatment is missing: with the covariates' and instruments'
        own missing rows dropped by the tool, the placebo analyses use exactly the original analysis's rows."""
        request = self.request
        y = numeric(column(self.frame, request.outcome, "outcome"), request.outcome, "outcome")
        d = numeric(column(self.frame, request.treatment, "treatment"), request.treatment, "treatment")
        present = ~(np.isnan(y) | np.isnan(d))
        return self.frame if present.all() else self.frame.loc[present].reset_index(drop=True)

    def _placebo(self, frame: pd.DataFrame, covariate: str) -> Draw:
        """The 2SLS 'effect' on one covariate (the others as controls) and its Anderson-Rubin p-value."""
        others = [c for c in self.result.covariates if c != covariate]
        request = self.request.model_copy(update={"outcome": covariate, "covariates": others or None})
        result = instrumental_variables(request, frame)
        return result.effect.estimate, result.anderson_rubin.p_value

    def _balance(self, runner: Runner) -> RefuteCheck:
        null = (
            "The instrument is as good as randomly assigned: covariates measured before it, each taken as the outcome "
            "(the other covariates as controls), show no effect."
        )
        procedure = (
            "Each covariate in turn as the outcome of the same 2SLS analysis (same rows, instruments and standard "
            "errors; the other covariates as controls), tested by the Anderson-Rubin test of no effect (do the "
            "instruments predict the covariate? valid however weak they are), Bonferroni over the covariates."
        )
        covariates = list(self.result.covariates)
        if not covariates:
            return self._check(
                "covariate_balance",
                null,
                procedure,
                verdict="inconclusive",
                detail="No covariate measured before the instrument was given, so there is no placebo outcome: give "
                "pre-instrument `covariates` in the instrumental_variables request (traits, past behaviour).",
                explanation="Whether the instrument was as good as random cannot be checked from these data.",
            )
        frame = self._analysed_rows()
        draws = runner.run("covariate_balance", [functools.partial(self._placebo, frame, c) for c in covariates])
        failed = iter(draws.failures)
        k = len(covariates)
        tested: list[tuple[float, str, float, float]] = []  # (adjusted p, covariate, its 'effect', p)
        skipped: list[str] = []
        for name, (estimate, p_value) in zip(covariates, draws.values, strict=True):
            if math.isfinite(estimate):
                tested.append((min(1.0, float(p_value) * k), name, float(estimate), float(p_value)))
            else:
                skipped.append(f"{_q(name)} ({next(failed, 'refused')})")
        tested.sort(key=lambda row: row[0])
        parts = [
            f"{_q(name)}: 'effect' {estimate:.4g}, AR p = {p_value:.3g} (adjusted {adjusted:.3g})"
            for adjusted, name, estimate, p_value in tested[:SHOWN]
        ]
        if len(tested) > SHOWN:
            parts.append(f"{len(tested) - SHOWN} more with adjusted p {tested[SHOWN][0]:.3g} or above")
        if not tested:
            return self._check(
                "covariate_balance",
                null,
                procedure,
                verdict="inconclusive",
                detail="No covariate could be analysed as an outcome: " + "; ".join(skipped) + ".",
                explanation=UNJUDGED,
            )
        worst_p, worst_name, worst_estimate, _ = tested[0]
        ok = worst_p >= self.test_alpha
        detail = f"{len(tested)} covariate(s) as outcomes, smallest adjusted p first: " + "; ".join(parts)
        if skipped:
            detail += ". Not analysed: " + "; ".join(skipped)
        detail += f". Fails when a Bonferroni-adjusted p is below {self.test_alpha:.3g}{self.test_note}."
        return self._check(
            "covariate_balance",
            null,
            procedure,
            estimate=worst_estimate,
            p_value=worst_p,
            verdict="pass" if ok else "fail",
            detail=detail,
            explanation="The instrument shows no 'effect' on anything measured before it, as a randomly assigned one "
            "would."
            if ok
            else f"The {self._instruments_word} {_q(worst_name)}, measured before it, so it was not randomly "
            "assigned (or that covariate was measured after it): units it moved differ from the others in ways the "
            "covariates may not capture, and the estimate may carry those differences. If it was randomised (an "
            "invite, a lottery), assignment is broken.",
        )

    # --- the weak-instrument-robust view -------------------------------------------------------------------------

    def _weak_instrument(self) -> RefuteCheck:
        ar, o = self.result.anderson_rubin, self.original
        first = self.result.first_stage
        null = (
            "The instruments are strong enough for the 2SLS interval: the weak-instrument-robust Anderson-Rubin set "
            "is bounded and tells the same story (whether 0 is excluded, and on which side)."
        )
        procedure = (
            f"The Anderson-Rubin {1 - ar.alpha:.0%} confidence set (valid however weak the instruments are) against "
            "the 2SLS interval, both from the instrumental_variables result."
        )
        numbers = (
            f"2SLS {o.estimate:.4g} (CI {o.ci_lower:.4g} to {o.ci_upper:.4g}); Anderson-Rubin set {_ar_text(ar)} "
            f"(p = {ar.p_value:.3g} for no effect); first-stage F {first.f_statistic:.3g} on {first.df_num} and "
            f"{first.df_denom} df"
        )
        bounded = ar.kind != "empty" and ar.ci_lower is not None and ar.ci_upper is not None
        contains_zero = any(
            (piece.lower is None or piece.lower <= 0) and (piece.upper is None or piece.upper >= 0)
            for piece in ar.intervals
        )
        over_identified = first.df_num > 1
        if ar.kind == "empty":
            verdict, explanation = (
                "fail",
                "No effect value fits all the instruments at once: they disagree (some may affect the outcome "
                "directly), so the 2SLS estimate averages incompatible answers.",
            )
        elif not bounded:
            verdict, explanation = (
                "fail",
                "The instruments are too weak to bound the effect: the finite 2SLS interval is an artefact of the "
                "normal approximation; report the Anderson-Rubin set instead, or find a stronger instrument.",
            )
        elif _excludes_zero(o) == contains_zero and over_identified and first.f_statistic >= WEAK_F:
            verdict, explanation = (
                "inconclusive",
                "The 2SLS interval and the Anderson-Rubin set disagree about whether there is an effect, but with "
                "several strong instruments the AR test also tests that the instruments agree, and so has less power "
                "than the 2SLS test: the disagreement does not show that the instruments are weak.",
            )
        elif _excludes_zero(o) == contains_zero:
            verdict, explanation = (
                "fail",
                "The 2SLS interval and the weak-instrument-robust set disagree about whether there is an effect, so "
                "the conclusion rests on the normal approximation that weak instruments break: trust the "
                "Anderson-Rubin set.",
            )
        elif _excludes_zero(o) and (o.estimate > 0) != (ar.ci_lower is not None and ar.ci_lower > 0):
            verdict, explanation = (
                "fail",
                "The weak-instrument-robust set puts the effect on the other side of 0 from the 2SLS interval: trust "
                "the Anderson-Rubin set.",
            )
        else:
            assert ar.ci_lower is not None and ar.ci_upper is not None
            width = (ar.ci_upper - ar.ci_lower) / (o.ci_upper - o.ci_lower)
            numbers += f"; the set is {width:.2f} times as wide as the 2SLS interval"
            verdict, explanation = (
                "pass",
                "The weak-instrument-robust set agrees with the 2SLS interval, so the conclusion does not rest on the "
                "instruments being strong.",
            )
        return self._check(
            "weak_instrument",
            null,
            procedure,
            estimate=first.f_statistic,
            p_value=ar.p_value,
            verdict=verdict,
            detail=numbers + " (fails when the set is unbounded or empty, on the other side of 0, or disagrees with "
            f"the 2SLS interval about whether 0 is excluded; with several instruments and a first-stage F of "
            f"{WEAK_F:g} or more, that last disagreement is inconclusive).",
            explanation=explanation,
        )

    # --- leave one instrument out --------------------------------------------------------------------------------

    def _leave_one_out(self, runner: Runner) -> RefuteCheck:
        instruments = list(self.result.instruments)
        null = "No single instrument drives the estimate: without any one of them, the others give the same effect."
        procedure = (
            f"Dropped each of the {len(instruments)} instruments in turn and refitted the whole 2SLS analysis on the "
            "others (same rows, covariates and standard errors)."
        )
        if len(instruments) < 2:
            return self._check(
                "leave_one_out",
                null,
                "Leave-one-instrument-out: each instrument dropped in turn (needs two or more instruments).",
                verdict="inconclusive",
                detail=f"Not applicable: the analysis has one instrument ({_q(instruments[0])}); without it nothing "
                "identifies the effect.",
                explanation="With a single instrument the estimate rests on it entirely; only its story (random "
                "assignment, no direct effect on the outcome) can support it.",
            )
        # each refit's interval and first-stage F, kept beside the estimate the runner carries
        limits: dict[str, Estimate] = {}
        strength: dict[str, float] = {}

        def task(dropped: str) -> Draw:
            request = self.request.model_copy(update={"instruments": [z for z in instruments if z != dropped]})
            result = instrumental_variables(request, self.frame)
            limits[dropped], strength[dropped] = result.effect, result.first_stage.f_statistic
            return result.effect.estimate, NAN

        draws = runner.run("leave_one_out", [functools.partial(task, z) for z in instruments])
        o = self.original
        failed = iter(draws.failures)
        parts: list[str] = []
        skipped: list[str] = []
        disagree: list[str] = []
        imprecise: list[str] = []
        for name, estimate in zip(instruments, draws.values[:, 0], strict=True):
            if not math.isfinite(estimate) or name not in limits:
                skipped.append(f"without {_q(name)}: {next(failed, 'refused')}")
                continue
            own = limits[name]
            parts.append(
                f"without {_q(name)}: {own.estimate:.4g} (CI {own.ci_lower:.4g} to {own.ci_upper:.4g}, first-stage "
                f"F {strength[name]:.3g})"
            )
            moved = not (o.ci_lower <= own.estimate <= o.ci_upper) or np.sign(own.estimate) != np.sign(o.estimate)
            if moved and not (own.ci_lower <= o.estimate <= own.ci_upper):
                disagree.append(name)
            elif moved:
                imprecise.append(name)
        if not parts:
            return self._check(
                "leave_one_out",
                null,
                procedure,
                verdict="inconclusive",
                detail="No refit succeeded: " + "; ".join(skipped) + ".",
                explanation=UNJUDGED,
            )
        detail = (
            f"Original {o.estimate:.4g} (CI {o.ci_lower:.4g} to {o.ci_upper:.4g}); "
            + "; ".join(parts)
            + (". Could not refit " + "; ".join(skipped) if skipped else "")
            + ". Fails when an estimate leaves the original interval or changes sign and its own interval excludes "
            "the original estimate."
        )
        values = draws.estimates
        if disagree:
            verdict = "fail"
            explanation = (
                f"Without {', '.join(_q(n) for n in disagree)} the other instruments point at a different effect, "
                "beyond their own uncertainty: the instruments disagree (one may affect the outcome directly, or "
                "each moves different people), so the estimate rests on which instruments are used."
            )
        elif imprecise:
            verdict = "inconclusive"
            explanation = (
                f"Without {', '.join(_q(n) for n in imprecise)} the estimate leaves the original interval, but the "
                "remaining instruments are too imprecise to confirm or contradict it: the answer rests on "
                f"{'that instrument' if len(imprecise) == 1 else 'those instruments'}."
            )
        else:
            verdict = "pass"
            explanation = (
                "Without any one instrument the others give an effect inside the original interval: no single "
                "instrument drives it."
            )
        return self._check(
            "leave_one_out",
            null,
            procedure,
            estimate=float(values.mean()),
            verdict=verdict,
            detail=detail,
            explanation=explanation,
        )
