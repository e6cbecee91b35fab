"""The synthetic_control tool: one or a few units got the change at one date; what did it do?

Pure function of the request and the frame: ``prepare_synth_panel`` builds the balanced units x periods matrix, the
chosen estimator is fitted (the other two alongside, for ``comparison``), the chosen inference gives the interval,
the in-space placebos give the rank test and the grey gap paths of the plot, and ``report`` adds the checks, the
method and the summary. ``estimator="interrupted_time_series"`` fits ``its.interrupted_time_series`` on the treated
units' average series instead (no donors). Deterministic for a given ``seed``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from tools.errors import ToolError
from tools.results import Estimate, require_inference
from tools.synth.estimators import ESTIMATORS, Estimator, SynthFit, fit, fit_donor_placebos
from tools.synth.inference import Interval, bootstrap, jackknife, placebo
from tools.synth.its import interrupted_time_series
from tools.synth.models import (
    MAX_PLACEBO_GAPS,
    EstimatorPoint,
    PlaceboGap,
    PlaceboTest,
    PredictorWeight,
    SyntheticControlRequest,
    SyntheticControlResult,
    TimeWeight,
    TrajectoryPoint,
    UnitWeight,
)
from tools.synth.panel import SynthPanel, prepare_synth_panel
from tools.synth.report import checks_and_warnings, method, period_sentence, summary

__all__ = ["ESTIMAND", "WEIGHT_SHOWN", "synthetic_control"]

Array = npt.NDArray[np.float64]

ESTIMAND = "ATT"
#: Weights below this are left out of ``unit_weights`` / ``time_weights`` (the solvers' zeros).
WEIGHT_SHOWN = 1e-10


@dataclass(frozen=True)
class _RankTest:
    """The in-space placebo rank test and the placebo gap paths."""

    test: PlaceboTest
    gaps: Array  # donors x periods
    pre_rmspe: Array


def synthetic_control(request: SyntheticControlRequest, data: pd.DataFrame) -> SyntheticControlResult:
    """Estimate the effect of the change described by ``request`` on ``data`` (see the module docstring)."""
    panel = prepare_synth_panel(request, data)
    if request.estimator == "interrupted_time_series":
        return _its(request, panel)
    if request.inference in ("jackknife", "bootstrap") and panel.n_treated < 2:
        raise ToolError(
            "needs_several_treated",
            f"The {request.inference} needs more than one treated unit; here only "
            f"'{panel.treated_units[0]}' got the change.",
            'Use inference "placebo" (the default: each donor in turn treated as if it got the change).',
        )
    if request.inference == "placebo" and panel.n_donors < 2:
        raise ToolError(
            "too_few_donors",
            f"Placebo inference treats each donor in turn as if it got the change, but there is only "
            f"{panel.n_donors} donor ('{panel.donors[0]}').",
            'Add comparison units, or, with no comparable units, use estimator "interrupted_time_series".',
        )
    estimator: Estimator = request.estimator
    chosen = fit(panel.y, panel.n_treated, panel.n_pre, estimator, predictors=panel.predictors)
    fits = {
        name: chosen if name == estimator else fit(panel.y, panel.n_treated, panel.n_pre, name) for name in ESTIMATORS
    }
    interval, rank_test, inference_text = _inference(request, panel, chosen)
    scale = float(np.abs(panel.y).max())
    require_inference(
        interval.std_error,
        chosen.tau,
        scale,
        what="the effect",
        reason=f"the {interval.method} replicates do not vary",
        hint="Add donors or periods, or use another inference.",
    )
    effect = Estimate.normal(chosen.tau, interval.std_error, request.alpha)
    placebo_test = rank_test.test if rank_test is not None else None
    checks, warnings = checks_and_warnings(request, panel, chosen, placebo_test)
    poor_fit = any(c.name == "pre_period_fit" and c.status == "fail" for c in checks)
    comparison: dict[str, float] = {name: float(f.tau) for name, f in fits.items()}
    return SyntheticControlResult(
        estimand=ESTIMAND,
        estimator=estimator,
        method=method(request, panel, chosen, inference_text),
        dataset=request.dataset,
        outcome=request.outcome,
        effect=effect,
        inference=request.inference,
        comparison=[EstimatorPoint(estimator=name, estimate=value) for name, value in comparison.items()],
        unit_weights=_unit_weights(panel, chosen.unit_weights),
        time_weights=_time_weights(panel, chosen.time_weights),
        predictor_weights=_predictor_weights(panel, chosen.predictor_weights),
        pre_rmspe=chosen.pre_rmspe,
        post_rmspe=chosen.post_rmspe,
        placebo=placebo_test,
        treatment_start=panel.start,
        trajectory=_trajectory(panel, chosen.observed, chosen.synthetic),
        placebo_gaps=_placebo_gaps(panel, rank_test),
        alpha=request.alpha,
        n_obs=panel.n_obs,
        n_units=panel.n_units,
        n_treated_units=panel.n_treated,
        n_donors=panel.n_donors,
        n_pre_periods=panel.n_pre,
        n_post_periods=panel.n_post,
        checks=checks,
        warnings=warnings,
        summary=summary(
            request, effect, comparison, placebo_test, panel.n_post, chosen.pre_rmspe, poor_fit, panel.treated_units
        ),
    )


# --- inference --------------------------------------------------------------------------------------------------------


def _placebo_test(treated_ratio: float, ratios: Array, gaps: Array, n_pre: int, alpha: float) -> _RankTest:
    n = int(ratios.size)
    rank = int(np.sum(ratios >= treated_ratio)) + 1
    p_value = rank / (n + 1)
    finite = treated_ratio if np.isfinite(treated_ratio) else float(np.finfo(np.float64).max)
    test = PlaceboTest(
        p_value=p_value,
        rank=rank,
        n_placebos=n,
        min_p_value=1.0 / (n + 1),
        rmspe_ratio=finite,
        status="pass" if p_value < alpha else "fail",
    )
    return _RankTest(test, gaps, np.sqrt(np.mean(gaps[:, :n_pre] ** 2, axis=1)))


def _inference(
    request: SyntheticControlRequest, panel: SynthPanel, chosen: SynthFit
) -> tuple[Interval, _RankTest | None, str]:
    """The chosen interval, the placebo rank test (with at least two donors) and the inference in words."""
    y, n_treated, n_pre = panel.y, panel.n_treated, panel.n_pre
    level = f"{1 - request.alpha:.0%}"
    rank_test: _RankTest | None = None
    if request.inference == "placebo":
        result = placebo(
            y,
            n_treated,
            n_pre,
            chosen,
            alpha=request.alpha,
            seed=request.seed,
            replications=request.replications,
            predictors=panel.predictors,
        )
        rank_test = _placebo_test(result.treated_ratio, result.ratios, result.gaps, n_pre, request.alpha)
        if n_treated == 1:
            how = f"the standard deviation of the {result.n_placebos} donors' placebo effects"
        else:
            how = (
                f"the standard deviation of the effects of {request.replications} random sets of {n_treated} donors "
                f"playing the treated units (seed {request.seed})"
            )
        text = (
            f"Inference: in-space placebos (each donor in turn treated as if it got the change, refitted with the "
            f"same estimator and penalties); the treated units' post/pre RMSPE ratio is ranked among the donors' "
            f"(p = rank / (donors + 1)), and the {level} interval is normal with the placebo standard error "
            f"(Arkhangelsky et al. 2021, Algorithm 4: {how})."
        )
        return result.interval, rank_test, text
    if request.inference == "jackknife":
        interval = jackknife(y, n_treated, n_pre, chosen, alpha=request.alpha)
        text = (
            f"Inference: jackknife standard error (Arkhangelsky et al. 2021, Algorithm 3: each unit left out in turn, "
            f"the weights held fixed) and a normal {level} interval."
        )
    else:
        interval = bootstrap(
            y, n_treated, n_pre, chosen, alpha=request.alpha, seed=request.seed, replications=request.replications
        )
        text = (
            f"Inference: bootstrap standard error (Arkhangelsky et al. 2021, Algorithm 2: {request.replications} "
            f"resamples of the units, seed {request.seed}, weights re-estimated) and a normal {level} interval."
        )
    if panel.n_donors >= 2:
        if chosen.predictor_weights is not None:
            result = placebo(y, n_treated, n_pre, chosen, alpha=request.alpha, predictors=panel.predictors)
            rank_test = _placebo_test(result.treated_ratio, result.ratios, result.gaps, n_pre, request.alpha)
        else:
            singles = np.arange(panel.n_donors, dtype=np.intp)[:, None]
            donor_fits = fit_donor_placebos(y, n_treated, n_pre, chosen, singles)
            with np.errstate(divide="ignore", invalid="ignore"):
                ratios = np.where(
                    donor_fits.pre_rmspe > 0, donor_fits.post_rmspe / np.maximum(donor_fits.pre_rmspe, 1e-300), np.inf
                )
            rank_test = _placebo_test(chosen.rmspe_ratio, ratios, donor_fits.gap, n_pre, request.alpha)
        text += (
            " Beside it, the in-space placebo rank test: the treated units' post/pre RMSPE ratio ranked among the "
            "donors' (each refitted as if it got the change), p = rank / (donors + 1)."
        )
    return interval, rank_test, text


# --- the result's lists -----------------------------------------------------------------------------------------------


def _unit_weights(panel: SynthPanel, omega: Array) -> list[UnitWeight]:
    order = sorted(range(panel.n_donors), key=lambda j: (-float(omega[j]), j))
    return [
        UnitWeight(unit=panel.units[j], weight=float(np.clip(omega[j], 0.0, 1.0)))
        for j in order
        if omega[j] > WEIGHT_SHOWN
    ]


def _time_weights(panel: SynthPanel, lam: Array | None) -> list[TimeWeight]:
    if lam is None:
        return []
    order = sorted(range(panel.n_pre), key=lambda t: (-float(lam[t]), t))
    return [
        TimeWeight(period=panel.periods[t], weight=float(np.clip(lam[t], 0.0, 1.0)))
        for t in order
        if lam[t] > WEIGHT_SHOWN
    ]


def _predictor_weights(panel: SynthPanel, v: Array | None) -> list[PredictorWeight]:
    if v is None:
        return []
    total = float(np.sum(v))
    scaled = v / total if total > 0 else v
    return [
        PredictorWeight(predictor=name, weight=float(w)) for name, w in zip(panel.covariate_names, scaled, strict=True)
    ]


def _trajectory(panel: SynthPanel, observed: Array, synthetic: Array) -> list[TrajectoryPoint]:
    return [
        TrajectoryPoint(
            period=panel.periods[t],
            post=t >= panel.n_pre,
            observed=float(observed[t]),
            synthetic=float(synthetic[t]),
            gap=float(observed[t] - synthetic[t]),
        )
        for t in range(panel.n_periods)
    ]


def _placebo_gaps(panel: SynthPanel, rank_test: _RankTest | None) -> list[PlaceboGap]:
    if rank_test is None:
        return []
    order = np.argsort(rank_test.pre_rmspe, kind="stable")[:MAX_PLACEBO_GAPS]
    return [
        PlaceboGap(
            unit=panel.units[int(j)],
            gaps=[float(g) for g in rank_test.gaps[int(j)]],
            pre_rmspe=float(rank_test.pre_rmspe[int(j)]),
        )
        for j in order
    ]


# --- interrupted time series ------------------------------------------------------------------------------------------


def _its(request: SyntheticControlRequest, panel: SynthPanel) -> SyntheticControlResult:
    """The treated units' average series against its own projected pre-period trend (donors unused)."""
    treated = panel.y[panel.n_donors :].mean(axis=0)
    its = interrupted_time_series(
        treated,
        float(panel.n_pre),
        season_period=request.season_period,
        se_method=request.se_method,
        alpha=request.alpha,
    )
    notes = list(panel.notes)
    if panel.n_donors:
        notes.append(
            f"The interrupted time series uses the treated series only: the {panel.n_donors:,} untreated unit(s) in "
            'the data were not used (estimator "synthetic_did" compares with them).'
        )
    if panel.n_treated > 1:
        notes.append(f"The series is the average of the {panel.n_treated} treated units.")
    if panel.period_kind == "integer" and panel.n_periods > 2:
        steps = np.diff(panel.period_keys)
        if np.unique(steps).size > 1:
            notes.append(
                "The periods are not equally spaced (steps of "
                + ", ".join(str(int(s)) for s in np.unique(steps)[:5])
                + "): the trend is fitted per observed period, as if they were."
            )
    traj = its.trajectory
    gap = np.asarray(traj.gap, dtype=np.float64)
    pre_rmspe = float(np.sqrt(np.mean(gap[: panel.n_pre] ** 2)))
    post_rmspe = float(np.sqrt(np.mean(gap[panel.n_pre :] ** 2)))
    effect = its.average_gap
    checks = list(its.checks)
    warnings = notes + list(its.warnings)
    treated_names = ", ".join(f"'{u}'" for u in panel.treated_units[:5])
    text = (
        f"{its.method} The periods are numbered 0, 1, 2, ... in calendar order as observed; the change starts at "
        f"{panel.start}. Series: {treated_names}.{period_sentence(panel)}"
    )
    return SyntheticControlResult(
        estimand=ESTIMAND,
        estimator="interrupted_time_series",
        method=text,
        dataset=request.dataset,
        outcome=request.outcome,
        effect=effect,
        inference=None,
        comparison=[],
        unit_weights=[],
        time_weights=[],
        predictor_weights=[],
        pre_rmspe=pre_rmspe,
        post_rmspe=post_rmspe,
        placebo=None,
        level_change=its.level_change,
        slope_change=its.slope_change,
        treatment_start=panel.start,
        trajectory=_trajectory(panel, np.asarray(traj.observed), np.asarray(traj.counterfactual)),
        placebo_gaps=[],
        alpha=request.alpha,
        n_obs=panel.n_treated * panel.n_periods,
        n_units=panel.n_treated,
        n_treated_units=panel.n_treated,
        n_donors=0,
        n_pre_periods=panel.n_pre,
        n_post_periods=panel.n_post,
        checks=checks,
        warnings=warnings,
        summary=summary(
            request,
            effect,
            {},
            None,
            panel.n_post,
            pre_rmspe,
            False,
            panel.treated_units if request.unit is not None else [],
            level_change=its.level_change,
            slope_change=its.slope_change,
        ),
    )
