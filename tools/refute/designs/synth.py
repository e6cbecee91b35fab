"""The synthetic control design: the synthetic_control tool's ATT (synthetic DiD, synthetic control, DiD) or the
interrupted time series' average post-period gap.

The battery follows Abadie (2021, "Using Synthetic Controls", *JEL* 59(2), section 7) and Abadie, Diamond &
Hainmueller (2010, 2015):

- ``placebo_time`` (in-time placebo, "backdating"): the change moved ``min(post periods, pre periods // 2)``
  periods earlier and the whole tool rerun on the rows before the real start only (weights, penalties, covariates
  and inference all from that window); a sound analysis finds no effect where there was none.
- ``placebo_treatment`` (in-space placebos): each donor treated as if it got the change, the real treated units
  dropped (with several treated units, random sets of as many donors), refitted with the original's estimator and
  penalties, as the tool's own placebo inference does (with one treated unit these are the tool's own placebo
  fits, read from its result: no refit). The placebo effects must centre on 0 (else the method makes effects up
  for units like these); the real effect's rank among the placebos whose pre-period fit is comparable (MSPE at
  most 5 times the treated's, ADH 2010's middle cut) is the permutation p-value.
- ``leave_one_out`` (leave-one-donor-out, ADH 2015): each donor with positive weight dropped in turn (the largest
  weights first, at most ``simulations``) and the estimator refitted; fails when an estimate leaves the original
  interval or changes sign.
- ``data_subset`` (donor-pool restriction): each draw keeps a random share of the donors (the treated units
  always) and refits the estimator.

Refits run the estimator on the tool's units x periods matrix (``tools.synth.estimators``), not the whole tool:
a refit costs milliseconds. The interrupted time series has no donors: only the in-time placebo applies and the
other checks say why not.
"""

from __future__ import annotations

import functools
import math
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import pandas as pd

from tools.data.columns import column, numeric
from tools.data.names import display_name
from tools.did.panel import adoption_indicator, read_periods
from tools.errors import ToolError
from tools.refute.checks import CENTRE_Z, distribution
from tools.refute.designs.base import Design, Draw, parse_target, random_name
from tools.refute.engine import Draws, Runner
from tools.refute.models import RefuteCheck
from tools.synth.estimators import Estimator, SynthFit, fit, fit_donor_placebos
from tools.synth.its import interrupted_time_series
from tools.synth.models import SyntheticControlRequest
from tools.synth.panel import SynthPanel, prepare_synth_panel
from tools.synth.tool import WEIGHT_SHOWN, synthetic_control

__all__ = ["SyntheticControlDesign"]

Array = npt.NDArray[np.float64]
NAN = float("nan")
#: Donors below which random subsets of the donor pool say nothing.
MIN_DONORS = 5
#: In-space placebos count in the rank when their pre-period MSPE is at most this multiple of the treated's.
FIT_MULTIPLE = 5.0
ITS_REASON = (
    "An interrupted time series has no donors (it compares the treated series with its own pre-period trend): there "
    "is no donor to drop, treat as a placebo or subset."
)


class SyntheticControlDesign(Design):
    tool = "synthetic_control"
    unit_word = "donors"
    placebo_how = "over the donors (each donor treated as if it got the change)"
    #: Simulation checks computed here exactly instead of by random draws: the in-space placebos enumerate donors.
    exact_checks: ClassVar[tuple[str, ...]] = ("placebo_treatment",)

    def __init__(self, payload: dict[str, Any], frame: pd.DataFrame, alpha: float) -> None:
        super().__init__(frame, alpha)
        request: SyntheticControlRequest = parse_target(
            "synthetic_control", payload, SyntheticControlRequest, "tools.synth.tool:synthetic_control"
        )
        self.request = request
        self.result = synthetic_control(request, frame)
        self.panel: SynthPanel = prepare_synth_panel(request, frame)
        self.estimator: Estimator | None = None
        if request.estimator != "interrupted_time_series":
            self.estimator = request.estimator
        self.original = self.result.effect
        self.headline = f"ATT ({self.result.estimator}) on '{display_name(request.outcome)}'"
        self.estimand = self.result.estimand
        self.n_obs = self.result.n_obs
        self.outcome_column = request.outcome
        self.warnings = [f"Target analysis: {w}" for w in self.result.warnings]

    @functools.cached_property
    def fitted(self) -> SynthFit:
        """The original fit on the matrix (the tool's own, recomputed: the placebo refits start from it)."""
        assert self.estimator is not None
        panel = self.panel
        return fit(panel.y, panel.n_treated, panel.n_pre, self.estimator, predictors=panel.predictors)

    # --- re-estimates ------------------------------------------------------------------------------------------

    def estimate(self, frame: pd.DataFrame, request: Any | None = None) -> Draw:
        """The headline of the analysis on ``frame``: the estimator (or the ITS) without its inference."""
        chosen: SyntheticControlRequest = request or self.request
        panel = prepare_synth_panel(chosen, frame)
        if chosen.estimator == "interrupted_time_series":
            series = panel.y[panel.n_donors :].mean(axis=0)
            its = interrupted_time_series(
                series, float(panel.n_pre), season_period=chosen.season_period, alpha=chosen.alpha
            )
            return float(its.average_gap.estimate), NAN
        return fit(panel.y, panel.n_treated, panel.n_pre, chosen.estimator, predictors=panel.predictors).tau, NAN

    def _refit(self, donors: npt.NDArray[np.intp]) -> float:
        """The estimator refitted with only ``donors`` (indices into the donor rows) beside the treated units."""
        assert self.estimator is not None
        panel = self.panel
        rows = np.r_[donors, np.arange(panel.n_donors, panel.n_units)]
        predictors = None if panel.predictors is None else panel.predictors[:, rows]
        return fit(panel.y[rows], panel.n_treated, panel.n_pre, self.estimator, predictors=predictors).tau

    def data_subset(self, rng: np.random.Generator, fraction: float) -> Draw:
        n_donors = self.panel.n_donors
        kept = np.sort(rng.choice(n_donors, size=max(2, round(n_donors * fraction)), replace=False))
        return self._refit(kept.astype(np.intp)), NAN

    def too_few_units(self) -> str | None:
        if self.estimator is None:
            return ITS_REASON
        if self.panel.n_donors < MIN_DONORS:
            return f"Only {self.panel.n_donors} donors; subsets of the donor pool need at least {MIN_DONORS}."
        return None

    def procedure(self, name: str, fraction: float) -> str:
        if name == "data_subset" and self.estimator is None:
            return "Random subsets of the donor pool (none here)."
        if name == "data_subset":
            return (
                f"Kept a random {fraction:.0%} of the donor pool (the treated units always) and refitted the "
                f"{self.result.estimator} estimator each time."
            )
        return super().procedure(name, fraction)

    # --- checks computed once ----------------------------------------------------------------------------------

    def steps(self, name: str, simulations: int) -> int:
        if self.estimator is None:
            return 1
        if name == "leave_one_out":
            return max(1, len(self._leave_one_out_donors(simulations)))
        if name == "placebo_treatment" and self._placebo_loop():
            return self._placebo_count(simulations)
        return 1

    def diagnostic(self, name: str, runner: Runner, simulations: int) -> RefuteCheck:
        if name == "placebo_time":
            return self._placebo_time()
        if name == "placebo_treatment":
            return self._placebo_space(runner, simulations)
        return self._leave_one_out(runner, simulations)

    def _check(self, name: str, null: str, procedure: str, **fields: Any) -> RefuteCheck:
        fields.setdefault("estimate", None)
        fields.setdefault("p_value", None)
        fields.setdefault("distribution", None)
        return RefuteCheck(name=name, null=null, procedure=procedure, **fields)

    def _not_applicable(self, name: str, null: str, procedure: str) -> RefuteCheck:
        return self._check(
            name,
            null,
            procedure,
            verdict="inconclusive",
            detail=f"Not applicable: {ITS_REASON}",
            explanation="This check does not apply to an interrupted time series; the in-time placebo does.",
        )

    # --- in-time placebo -----------------------------------------------------------------------------------------

    def _placebo_time(self) -> RefuteCheck:
        panel = self.panel
        shift = min(panel.n_post, panel.n_pre // 2)
        null = "Before the change, a change moved earlier has no effect: the backdated placebo effect is 0."
        procedure = (
            f"Moved the start {shift} period(s) earlier (to {panel.periods[max(panel.n_pre - shift, 0)]}), kept only "
            f"the {panel.n_pre} periods before the real start, and reran the whole {self.result.estimator} analysis "
            + ("(trend and inference" if self.estimator is None else "(weights, penalties and inference")
            + " from that window)."
        )
        if panel.n_pre < 3:
            return self._check(
                "placebo_time",
                null,
                procedure,
                verdict="inconclusive",
                detail=f"Only {panel.n_pre} period(s) before the change; a placebo in time needs at least 3 (two to "
                "fit on, one to test).",
                explanation="This check cannot speak for or against the estimate here; rely on the others.",
            )
        frame, placebo_request = self._backdated(shift)
        try:
            placebo = synthetic_control(placebo_request, frame)
        except ToolError as error:
            return self._check(
                "placebo_time",
                null,
                procedure,
                verdict="inconclusive",
                detail=f"The analysis could not run on the pre-period alone: {error.message}",
                explanation="This check cannot speak for or against the estimate here; rely on the others.",
            )
        effect, o = placebo.effect, self.original
        ok = effect.p_value >= self.test_alpha
        share = f", {abs(effect.estimate / o.estimate):.0%} of the real effect's size" if o.estimate != 0 else ""
        return self._check(
            "placebo_time",
            null,
            procedure,
            estimate=effect.estimate,
            p_value=effect.p_value,
            verdict="pass" if ok else "fail",
            detail=f"Placebo effect over {placebo.n_post_periods} fake post-period(s) from {placebo.treatment_start}: "
            f"{effect.estimate:.4g} (CI {effect.ci_lower:.4g} to {effect.ci_upper:.4g}{share}; real effect "
            f"{o.estimate:.4g}), p = {effect.p_value:.3g} (fails below {self.test_alpha:.3g}{self.test_note}).",
            explanation="No effect appears before the change, so the comparison tracked the treated units when "
            "nothing happened."
            if ok
            else "An 'effect' appears before the change happened: the treated units broke away from their synthetic "
            "counterpart early (anticipation, another event, or a poor fit), so the estimate is suspect.",
        )

    def _backdated(self, shift: int) -> tuple[pd.DataFrame, SyntheticControlRequest]:
        """The rows before the real start, with a 0/1 column that starts the treated units ``shift`` periods early."""
        panel, request, frame = self.panel, self.request, self.frame
        keys = read_periods(column(frame, request.time, "time"), request.time).keys
        has_time = frame[request.time].notna().to_numpy()
        start, fake = int(panel.period_keys[panel.n_pre]), int(panel.period_keys[panel.n_pre - shift])
        if request.treatment is not None:
            given = numeric(column(frame, request.treatment, "treatment"), request.treatment, "treatment")
        else:
            given = adoption_indicator(request, frame)
        if request.unit is None:
            treated_unit = np.ones(len(frame), dtype=bool)
        else:
            codes, _ = pd.factorize(frame[request.unit], use_na_sentinel=True)
            treated_codes = np.unique(codes[(given == 1) & (codes >= 0)])
            treated_unit = np.isin(codes, treated_codes) & (codes >= 0)
        placebo = np.where(np.isnan(given), np.nan, (treated_unit & (keys >= fake)).astype(np.float64))
        keep = has_time & (keys < start)
        name = random_name(frame, "placebo_treated")
        backdated = frame.loc[keep].assign(**{name: placebo[keep]}).reset_index(drop=True)
        return backdated, request.model_copy(update={"treatment": name, "adoptions": None})

    # --- in-space placebos ---------------------------------------------------------------------------------------

    def _placebo_loop(self) -> bool:
        """Placebos refitted one by one (ADH's nested predictor search), not read from the result or batched."""
        return self.panel.predictors is not None and not self._placebos_in_result()

    def _placebos_in_result(self) -> bool:
        """With one treated unit the tool's result holds every donor's placebo gap path (up to its cap)."""
        return self.panel.n_treated == 1 and len(self.result.placebo_gaps) == self.panel.n_donors

    def _placebo_count(self, simulations: int) -> int:
        return self.panel.n_donors if self.panel.n_treated == 1 else simulations

    def _placebo_sets(self, runner: Runner, simulations: int) -> npt.NDArray[np.intp]:
        n_donors, n_treated = self.panel.n_donors, self.panel.n_treated
        if n_treated == 1:
            return np.arange(n_donors, dtype=np.intp)[:, None]
        rng = runner.rng("placebo_treatment")
        return np.array([np.sort(rng.choice(n_donors, n_treated, replace=False)) for _ in range(simulations)])

    def _placebos(self, runner: Runner, simulations: int) -> tuple[Array, Array]:
        """Each placebo's effect and pre-period RMSPE."""
        panel, n_pre = self.panel, self.panel.n_pre
        if self._placebos_in_result():
            gaps = np.array([p.gaps for p in self.result.placebo_gaps], dtype=np.float64)
            return gaps[:, n_pre:].mean(axis=1), np.sqrt(np.mean(gaps[:, :n_pre] ** 2, axis=1))
        sets = self._placebo_sets(runner, simulations)
        if panel.predictors is None:
            placebos = fit_donor_placebos(panel.y, panel.n_treated, n_pre, self.fitted, sets)
            return placebos.tau, placebos.pre_rmspe
        donors, predictors = panel.y[: panel.n_donors], panel.predictors[:, : panel.n_donors]

        def one(chosen: npt.NDArray[np.intp]) -> tuple[float, float]:
            order = np.r_[np.setdiff1d(np.arange(panel.n_donors), chosen), chosen]
            refit = fit(donors[order], len(chosen), n_pre, "synthetic_control", predictors=predictors[:, order])
            return refit.tau, refit.pre_rmspe

        draws = runner.run("placebo_treatment", [functools.partial(one, s) for s in sets])
        done = np.isfinite(draws.values[:, 0])
        return draws.values[done, 0], draws.values[done, 1]

    def _placebo_space(self, runner: Runner, simulations: int) -> RefuteCheck:
        panel = self.panel
        null = (
            "Donors that did not get the change show no effect: their placebo effects centre on 0, and the real "
            "effect stands out among them."
        )
        if self.estimator is None:
            return self._not_applicable("placebo_treatment", null, "In-space placebos: each donor treated in turn.")
        several = panel.n_treated > 1
        who = (
            f"{simulations} random sets of {panel.n_treated} donors each played the treated units"
            if several
            else f"each of the {panel.n_donors} donors in turn played the treated unit"
        )
        procedure = (
            f"In-space placebos: {who} (the real treated units dropped), refitted with the original "
            f"{self.result.estimator} estimator and penalties; the real effect is ranked by size among the placebos "
            f"whose pre-period fit is comparable (MSPE at most {FIT_MULTIPLE:g} times the treated's; Abadie, Diamond "
            "& Hainmueller 2010)."
        )
        if panel.n_donors < 2 or panel.n_donors <= panel.n_treated:
            return self._check(
                "placebo_treatment",
                null,
                procedure,
                verdict="inconclusive",
                detail=f"Only {panel.n_donors} donor(s) for {panel.n_treated} treated unit(s): too few to permute.",
                explanation="This check cannot speak for or against the estimate here; rely on the others.",
            )
        taus, pre_rmspe = self._placebos(runner, simulations)
        values = np.column_stack([taus, np.full(len(taus), NAN)])
        dist = distribution(Draws(values), self.alpha)
        if dist is None:
            return self._check(
                "placebo_treatment",
                null,
                procedure,
                verdict="inconclusive",
                detail=f"Only {len(taus)} placebo(s) could be fitted; too few to judge.",
                explanation="This check cannot speak for or against the estimate here; rely on the others.",
            )
        o, treated_pre = self.original, self.result.pre_rmspe
        mc_se = dist.std_dev / math.sqrt(dist.draws)
        centred = abs(dist.mean) <= CENTRE_Z * mc_se
        comparable = pre_rmspe**2 <= FIT_MULTIPLE * treated_pre**2
        if comparable.all():
            pool = (
                f"all {len(taus)} placebos (each fits the pre-period within {FIT_MULTIPLE:g} times the treated's MSPE)"
            )
        elif comparable.any():
            pool = f"the {int(comparable.sum())} of {len(taus)} placebos with a comparable pre-period fit"
        else:
            comparable = np.ones(len(taus), dtype=bool)
            pool = f"all {len(taus)} placebos (none fits the pre-period as well as the treated units)"
        n_comparable = int(comparable.sum())
        rank = int(1 + np.sum(np.abs(taus[comparable]) >= abs(o.estimate)))
        p_value = rank / (n_comparable + 1)
        floor = 1 / (n_comparable + 1)
        detail = (
            f"{dist.draws} placebo effects: mean {dist.mean:.4g} (SE of the mean {mc_se:.2g}; fails beyond "
            f"{CENTRE_Z} SEs from 0), middle {1 - self.alpha:.0%} from {dist.lower:.4g} to {dist.upper:.4g}. The real "
            f"effect {o.estimate:.4g} ranks {rank} of {n_comparable + 1} by size among {pool}: p = {p_value:.3g} "
            f"(passes below {self.alpha:g}"
            + (f"; the smallest attainable is {floor:.3g}" if floor >= self.alpha else "")
            + ")"
        )
        if n_comparable < len(taus):
            p_all = (1 + np.sum(np.abs(taus) >= abs(o.estimate))) / (len(taus) + 1)
            detail += f"; among all {len(taus)}, p = {p_all:.3g}"
        detail += "."
        test = self.result.placebo
        if test is not None and not several:
            detail += (
                f" The tool's post/pre RMSPE-ratio rank: {test.rank} of {test.n_placebos + 1} (p = {test.p_value:.3g})."
            )
        if not centred:
            verdict, explanation = (
                "fail",
                "The method finds effects in donors that did not get the change, so its estimate is biased for units "
                "like these: do not act on it until that is explained.",
            )
        elif p_value < self.alpha:
            verdict, explanation = (
                "pass",
                "No donor given a pretend change shows an effect this large, so the estimate is not an artefact of "
                "the method.",
            )
        else:
            verdict, explanation = (
                "inconclusive",
                "The placebo effects centre on 0, but the real effect is within their range: it is not "
                "distinguishable from what a unit without the change shows"
                + (" (too few comparable donors for a small p-value)." if floor >= self.alpha else "."),
            )
        return self._check(
            "placebo_treatment",
            null,
            procedure,
            estimate=dist.mean,
            distribution=dist,
            p_value=p_value,
            verdict=verdict,
            detail=detail,
            explanation=explanation,
        )

    # --- leave one donor out -----------------------------------------------------------------------------------

    def _leave_one_out_donors(self, simulations: int) -> list[tuple[int, str, float]]:
        """(donor row, label, weight) of the donors with positive weight, largest first, at most ``simulations``."""
        rows = {label: j for j, label in reversed(list(enumerate(self.panel.donors)))}
        donors = [(rows[w.unit], w.unit, w.weight) for w in self.result.unit_weights if w.weight > WEIGHT_SHOWN]
        return donors[:simulations]

    def _leave_one_out(self, runner: Runner, simulations: int) -> RefuteCheck:
        null = "No single donor drives the estimate."
        if self.estimator is None:
            return self._not_applicable("leave_one_out", null, "Dropped each donor with positive weight in turn.")
        panel = self.panel
        donors = self._leave_one_out_donors(simulations)
        positive = sum(w.weight > WEIGHT_SHOWN for w in self.result.unit_weights)
        capped = f" (the {len(donors)} largest of {positive})" if len(donors) < positive else ""
        procedure = (
            f"Dropped each donor with positive weight in turn{capped} ({len(donors)} refits of the "
            f"{self.result.estimator} estimator on the remaining {panel.n_donors - 1} donors)."
        )
        if panel.n_donors < 2 or not donors:
            return self._check(
                "leave_one_out",
                null,
                procedure,
                verdict="inconclusive",
                detail=f"Only {panel.n_donors} donor(s): dropping one leaves no comparison.",
                explanation="With a single donor the estimate rests on it entirely.",
            )
        everyone = np.arange(panel.n_donors, dtype=np.intp)

        def task(row: int) -> Draw:
            return self._refit(np.delete(everyone, row)), NAN

        draws = runner.run("leave_one_out", [functools.partial(task, row) for row, _, _ in donors])
        estimates = draws.values[:, 0]
        done = np.isfinite(estimates)
        if not done.any():
            return self._check(
                "leave_one_out",
                null,
                procedure,
                verdict="inconclusive",
                detail="No refit succeeded" + (f" ({draws.failures[0]})" if draws.failures else "") + ".",
                explanation="This check cannot speak for or against the estimate here; rely on the others.",
            )
        values = estimates[done]
        labels = [label for (_, label, _), ok in zip(donors, done, strict=True) if ok]
        low, high = int(np.argmin(values)), int(np.argmax(values))
        o = self.original
        outside = int(np.sum((values < o.ci_lower) | (values > o.ci_upper)))
        flipped = int(np.sum(np.sign(values) != np.sign(o.estimate)))
        ok = outside == 0 and flipped == 0
        significant = o.ci_lower > 0 or o.ci_upper < 0
        half_width = (o.ci_upper - o.ci_lower) / 2
        kept = int(np.sum(np.abs(values) > half_width)) if significant else 0
        significance = (
            f"; {kept} of {len(values)} would still exclude 0 with the original interval's half-width"
            if significant
            else ""
        )
        failed = f" ({len(donors) - len(values)} refits failed)" if len(values) < len(donors) else ""
        return self._check(
            "leave_one_out",
            null,
            procedure,
            estimate=float(values.mean()),
            verdict="pass" if ok else "fail",
            detail=f"Estimates without one donor range from {values[low]:.4g} (without "
            f"'{display_name(labels[low], 40)}') to {values[high]:.4g} (without '{display_name(labels[high], 40)}') "
            f"against the original {o.estimate:.4g} (CI {o.ci_lower:.4g} to {o.ci_upper:.4g}){failed}; {outside} of "
            f"{len(values)} fall outside the original interval and {flipped} change sign (fails when any does)"
            f"{significance}.",
            explanation="No single donor drives the estimate."
            if ok
            else "Dropping a single donor moves the estimate outside its interval or flips it, so the synthetic "
            "counterpart leans on that donor: check whether it had shocks of its own.",
        )
