"""The difference-in-differences design: the diff_in_diff tool's ATT."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pandas as pd

from tools.did.models import DiffInDiffRequest
from tools.did.panel import adoption_indicator, period_codes
from tools.did.tool import diff_in_diff, event_study_fit
from tools.did.tool import headline as did_headline
from tools.errors import ToolError
from tools.refute.designs.base import Design, Draw, Units, parse_target, random_name
from tools.refute.engine import Runner
from tools.refute.honest import breakdown_mbar, rm_interval
from tools.refute.models import ParallelTrendsBounds, RefuteCheck, Sensitivity

__all__ = ["DiffInDiffDesign"]

MIN_UNITS = 10
MBARS = (0.0, 0.5, 1.0, 1.5, 2.0)
NAN = float("nan")


class DiffInDiffDesign(Design):
    tool = "diff_in_diff"
    unit_word = "panel units (all their periods)"
    placebo_how = "across panel units (each unit's adoption date given to another unit, so cohorts keep their sizes)"

    def __init__(self, payload: dict[str, Any], frame: pd.DataFrame, alpha: float) -> None:
        super().__init__(frame, alpha)
        request: DiffInDiffRequest = parse_target(
            "diff_in_diff", payload, DiffInDiffRequest, "tools.did.tool:diff_in_diff"
        )
        self.result = diff_in_diff(request, frame)
        if request.adoptions is not None:
            # the refits resample and relabel units: they run on the 0/1 column the adoptions stand for (the same
            # panel, so the same numbers), added under a name the data do not use
            treated = random_name(frame, "treated")
            frame = frame.assign(**{treated: adoption_indicator(request, frame)})
            request = request.model_copy(update={"adoptions": None, "treatment": treated})
            self.frame = frame
        self.request = request
        self.original = self.result.effect
        self.headline = f"ATT ({self.result.estimator}) on '{request.outcome}'"
        self.estimand = self.result.estimand
        self.n_obs = self.result.n_obs
        self.outcome_column = request.outcome
        self.warnings = [f"Target analysis: {w}" for w in self.result.warnings]
        self.cluster = request.cluster or request.unit
        self._units = Units.of(frame, self.cluster)
        self._bounds: list[ParallelTrendsBounds] | None = None
        self._breakdown: float | None = None
        # each unit's adoption, as a code: the rank of its first treated period, -1 for never treated
        unit_codes, self.unit_labels = pd.factorize(frame[request.unit], use_na_sentinel=True)
        self.unit_codes = unit_codes
        self.time_codes = period_codes(frame, request.time)  # calendar order ('Q42010' before 'Q12011')
        self.adoption = self._adoption()

    def _adoption(self) -> np.ndarray:
        n_units = len(self.unit_labels)
        adoption = np.full(n_units, -1, dtype=np.int64)
        valid = self.unit_codes >= 0
        if self.request.treatment is not None:
            d = pd.to_numeric(self.frame[self.request.treatment], errors="coerce").to_numpy(dtype=float)
            on = valid & (d == 1) & (self.time_codes >= 0)
            first = np.full(n_units, np.iinfo(np.int64).max, dtype=np.int64)
            np.minimum.at(first, self.unit_codes[on], self.time_codes[on])
            adoption = np.where(first == np.iinfo(np.int64).max, -1, first)
        return adoption

    @property
    def units(self) -> Units:
        return self._units

    def estimate(self, frame: pd.DataFrame, request: Any | None = None) -> Draw:
        return float(did_headline(request or self.request, frame)), NAN

    def placebo(self, rng: np.random.Generator) -> Draw:
        request = self.request
        valid = self.unit_codes >= 0
        if request.cohort is not None:
            first_row = pd.Series(np.arange(len(self.frame)))[valid].groupby(self.unit_codes[valid]).first()
            cohorts = self.frame[request.cohort].to_numpy()[first_row.to_numpy()]
            shuffled = rng.permutation(cohorts)
            new = self.frame[request.cohort].to_numpy().copy()
            new[valid] = shuffled[self.unit_codes[valid]]
            return self.estimate(self.frame.assign(**{request.cohort: new}))
        assert request.treatment is not None
        adoption = rng.permutation(self.adoption)
        row_adoption = np.where(valid, adoption[np.maximum(self.unit_codes, 0)], -1)
        treated = (row_adoption >= 0) & (self.time_codes >= row_adoption)
        return self.estimate(self.frame.assign(**{request.treatment: treated.astype(np.int64)}))

    def bootstrap(self, rng: np.random.Generator) -> Draw:
        units = self._units
        chosen = rng.integers(0, units.n, size=units.n)
        rows, slot = units.rows(chosen)
        sample = self.frame.take(rows).reset_index(drop=True)
        # a cluster drawn twice becomes two clusters, and so do its units
        sample[self.cluster] = slot
        if self.cluster != self.request.unit:
            sample[self.request.unit] = slot * (len(self.unit_labels) + 1) + self.unit_codes[rows]
        return self.estimate(sample)

    def too_few_units(self) -> str | None:
        if self._units.n < MIN_UNITS:
            return f"Only {self._units.n} clusters; re-assigning or resampling them needs at least {MIN_UNITS}."
        return None

    # --- checks computed once ------------------------------------------------------------------------------

    def steps(self, name: str, simulations: int) -> int:
        return len(self._leave_one_out_groups(simulations)[0]) if name == "leave_one_out" else 1

    def diagnostic(self, name: str, runner: Runner, simulations: int) -> RefuteCheck:
        if name == "pre_trends":
            return self._pre_trends()
        if name == "placebo_time":
            return self._placebo_time()
        if name == "leave_one_out":
            return self._leave_one_out(runner, simulations)
        return self._parallel_trends()

    def _check(self, name: str, null: str, procedure: str, **fields: Any) -> RefuteCheck:
        fields.setdefault("estimate", None)
        fields.setdefault("p_value", None)
        return RefuteCheck(name=name, null=null, procedure=procedure, distribution=None, **fields)

    def _pre_trends(self) -> RefuteCheck:
        test = self.result.pretrend
        null = "Before adoption, treated and comparison units moved in parallel (all leads are 0)."
        procedure = "Joint test of the event study's pre-adoption effects (from the diff_in_diff result)."
        if test is None:
            return self._check(
                "pre_trends",
                null,
                procedure,
                verdict="inconclusive",
                detail="No pre-adoption period to test (one pre-period or none).",
                explanation="Parallel trends cannot be checked here; the parallel-trends sensitivity speaks to it.",
            )
        ok = test.p_value >= self.test_alpha
        return self._check(
            "pre_trends",
            null,
            procedure,
            estimate=test.statistic,
            p_value=test.p_value,
            verdict="pass" if ok else "fail",
            detail=f"Joint test of {test.df} leads ({test.source}): statistic {test.statistic:.3g}, "
            f"p = {test.p_value:.3g} (fails below {self.test_alpha:.3g}{self.test_note}).",
            explanation="The groups moved together before the change, which supports the comparison."
            if ok
            else "The groups were already drifting apart before the change, so the estimate mixes that drift with "
            "the effect.",
        )

    def _placebo_time(self) -> RefuteCheck:
        placebo = self.result.placebo
        null = "In the periods before any adoption, a fake adoption half-way has no effect."
        procedure = "Two-way fixed effects on the pre-adoption periods only, with adoption moved half-way into them."
        if placebo is None:
            return self._check(
                "placebo_time",
                null,
                procedure,
                verdict="inconclusive",
                detail="Too few pre-adoption periods, or no never-treated units, for a placebo in time.",
                explanation="This check cannot speak for or against the estimate here; rely on the others.",
            )
        ok = placebo.p_value >= self.test_alpha
        return self._check(
            "placebo_time",
            null,
            procedure,
            estimate=placebo.estimate,
            p_value=placebo.p_value,
            verdict="pass" if ok else "fail",
            detail=f"Placebo effect {placebo.estimate:.4g} (CI {placebo.ci_lower:.4g} to {placebo.ci_upper:.4g}), "
            f"p = {placebo.p_value:.3g} (fails below {self.test_alpha:.3g}{self.test_note}).",
            explanation="No effect appears where there can be none."
            if ok
            else "An 'effect' appears before the change happened, so trends differ and the estimate is suspect.",
        )

    def _unit_cohorts(self) -> np.ndarray:
        """Per unit, a key of its adoption cohort; -1 for never treated."""
        if self.request.cohort is None:
            return self.adoption
        valid = self.unit_codes >= 0
        first_row = pd.Series(np.arange(len(self.frame)))[valid].groupby(self.unit_codes[valid]).first().to_numpy()
        values = self.frame[self.request.cohort].iloc[first_row]
        text = values.astype("string").str.strip()
        never = (values.isna() | text.isin(["", "0", "0.0"])).to_numpy(dtype=bool)
        keys, _ = pd.factorize(text, use_na_sentinel=True)
        return np.where(never | (keys < 0), -1, keys)

    def _leave_one_out_groups(self, simulations: int) -> tuple[list[np.ndarray], str]:
        """Row positions to drop per refit: each cohort when adoption is staggered, else each treated unit."""
        cohorts = self._unit_cohorts()
        keys = np.unique(cohorts[cohorts >= 0])
        row_cohort = np.where(self.unit_codes >= 0, cohorts[np.maximum(self.unit_codes, 0)], -1)
        if len(keys) > 1:
            return [np.flatnonzero(row_cohort == k) for k in keys], "cohort"
        chosen = np.flatnonzero(cohorts >= 0)
        if len(chosen) > simulations:
            chosen = np.sort(np.random.default_rng(0).choice(chosen, size=simulations, replace=False))
        return [np.flatnonzero(self.unit_codes == u) for u in chosen], "treated unit"

    def _leave_one_out(self, runner: Runner, simulations: int) -> RefuteCheck:
        groups, kind = self._leave_one_out_groups(simulations)
        null = "No single treated unit (or cohort) drives the estimate."
        procedure = f"Dropped each {kind} in turn ({len(groups)} refits) and re-estimated."
        if len(groups) < 2:
            return self._check(
                "leave_one_out",
                null,
                procedure,
                verdict="inconclusive",
                detail=f"Only {len(groups)} {kind}(s): dropping it leaves no treated units.",
                explanation="With a single treated unit or cohort, the estimate rests on it entirely.",
            )
        n = len(self.frame)

        def task(rows: np.ndarray) -> Draw:
            keep = np.ones(n, dtype=bool)
            keep[rows] = False
            return self.estimate(self.frame.loc[keep].reset_index(drop=True))

        draws = runner.run("leave_one_out", [functools.partial(task, rows) for rows in groups])
        values = draws.estimates
        if len(values) < 2:
            return self._check(
                "leave_one_out",
                null,
                procedure,
                verdict="inconclusive",
                detail=f"Only {len(values)} refits succeeded"
                + (f" ({draws.failures[0]})" if draws.failures else "")
                + ".",
                explanation="This check cannot speak for or against the estimate here; rely on the others.",
            )
        low, high = float(values.min()), float(values.max())
        o = self.original
        outside = int(np.sum((values < o.ci_lower) | (values > o.ci_upper)))
        flipped = int(np.sum(np.sign(values) != np.sign(o.estimate)))
        if kind == "cohort":
            # each cohort is a large share of the treated units and cohorts differ in how long they have been
            # treated: their estimates may differ (heterogeneity) without any one of them making the effect
            ok = flipped == 0
            rule = "fails when leaving one out changes the effect's sign"
            if not ok:
                explanation = "Without one cohort the effect changes sign, so the conclusion rests on that cohort."
            elif outside:
                explanation = (
                    "Every cohort points the same way, but the size differs by cohort: report the cohort effects "
                    "beside the average."
                )
            else:
                explanation = "No single cohort drives the estimate."
        else:
            ok = outside == 0 and flipped == 0
            rule = "fails when any falls outside it"
            explanation = (
                f"No single {kind} drives the estimate."
                if ok
                else f"Dropping a single {kind} moves the estimate outside its interval, so a few units drive it."
            )
        return self._check(
            "leave_one_out",
            null,
            procedure,
            estimate=float(values.mean()),
            verdict="pass" if ok else "fail",
            detail=f"Estimates without one {kind} range from {low:.4g} to {high:.4g} (original {o.estimate:.4g}, CI "
            f"{o.ci_lower:.4g} to {o.ci_upper:.4g}); {outside} of {len(values)} fall outside the original interval "
            f"and {flipped} change sign ({rule}).",
            explanation=explanation,
        )

    def _parallel_trends(self) -> RefuteCheck:
        null = (
            "The first post-adoption effect stays away from 0 even if parallel trends fail after adoption by as much "
            "as M-bar = 1 times the largest change in pre-period violations (Rambachan & Roth 2023)."
        )
        procedure = (
            "Relative-magnitudes robust confidence intervals (conditional least-favourable hybrid) for the first "
            "post-adoption event-study coefficient at M-bar 0 to 2, and the breakdown M-bar where 0 enters."
        )
        fit = event_study_fit(self.request, self.frame)
        periods = list(fit.relative_periods)
        n_pre = int(fit.n_pre)
        if n_pre < 1 or fit.reference_period != -1 or not periods or periods[n_pre] != 0:
            return self._check(
                "parallel_trends_sensitivity",
                null,
                procedure,
                verdict="inconclusive",
                detail="Needs at least one pre-period coefficient, reference period -1 and a period-0 coefficient "
                f"(got relative periods {periods}, reference {fit.reference_period}).",
                explanation="The sensitivity of the estimate to parallel-trend violations cannot be measured here.",
            )
        beta = np.asarray(fit.coefficients, dtype=float)
        sigma = np.asarray(fit.covariance, dtype=float)
        if not (np.all(np.isfinite(beta)) and np.all(np.isfinite(sigma))):
            raise ToolError("numerical_failure", "The event study's covariance is not finite.", "Check the panel.")
        self._bounds = []
        for mbar in MBARS:
            band = rm_interval(beta, sigma, n_pre, mbar, self.alpha)
            if np.isfinite(band.ci_lower):
                self._bounds.append(ParallelTrendsBounds(mbar=mbar, ci_lower=band.ci_lower, ci_upper=band.ci_upper))
        self._breakdown = breakdown_mbar(beta, sigma, n_pre, self.alpha)
        bands = "; ".join(f"M-bar {b.mbar:g}: {b.ci_lower:.4g} to {b.ci_upper:.4g}" for b in self._bounds)
        first = beta[n_pre]
        breakdown = self._breakdown
        text = "never on the grid up to 10" if breakdown is None else f"{breakdown:.2f}"
        detail = f"Period-0 effect {first:.4g}; robust intervals {bands}; breakdown M-bar {text} (fails below 1)."
        if breakdown == 0.0:
            verdict, explanation = (
                "inconclusive",
                "The period-0 effect is not significant even under exact parallel trends; nothing to break down.",
            )
        elif breakdown is not None and breakdown < 1:
            verdict, explanation = (
                "fail",
                f"Post-adoption trend violations smaller than the pre-period ones ({breakdown:.2f} times) would "
                "explain the effect away.",
            )
        else:
            verdict, explanation = (
                "pass",
                "The effect survives trend violations after adoption as large as the largest seen before it.",
            )
        return self._check(
            "parallel_trends_sensitivity",
            null,
            procedure,
            estimate=breakdown,
            verdict=verdict,
            detail=detail,
            explanation=explanation,
        )

    def sensitivity(self) -> Sensitivity:
        return Sensitivity(
            e_value=None, omitted_variable_bounds=None, parallel_trends=self._bounds, breakdown_mbar=self._breakdown
        )
