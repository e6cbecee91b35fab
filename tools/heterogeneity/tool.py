"""The heterogeneity tool: for whom did the treatment work?

Pure function of the request and the frame: ``prepare`` validates and encodes the columns; ``learners`` cross-fits
the outcome models (and, for observational data, the propensity model) on ``folds`` stratified folds and forms
each unit's doubly robust score; the ATE is their mean. Then ``repetitions`` times: a stratified random half trains
the DR-learner (boosting of the scores on the modifiers) and the other half evaluates its predictions (``inference``:
BLP, GATES, CLAN; ``targeting``: gains and Qini), the splits combined by the median rule. The T-learner (mu1 - mu0)
is evaluated fold by fold on the nuisance folds, combined the same way. ``subgroups`` compares the levels of the
pre-specified columns; ``report`` writes the checks and the words.

``analyse`` returns the internals beside the result (the splits' halves and groups) for the simulations that check
coverage against a known effect.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tools.errors import ToolError
from tools.heterogeneity.inference import SplitEstimates, blp, clan, gates, groups_of, median_adjusted
from tools.heterogeneity.inputs import HeterogeneityData, prepare
from tools.heterogeneity.learners import Nuisance, cate_model, cross_fit, dr_scores, fit_predict, stratified_folds
from tools.heterogeneity.models import (
    BLP,
    GATES_GROUPS,
    TARGET_SHARES,
    BaselineLearner,
    ClanRow,
    GatesGroup,
    HeterogeneityRequest,
    HeterogeneityResult,
    NuisanceFit,
    QiniPoint,
    TargetingRow,
)
from tools.heterogeneity.report import Findings, checks_and_warnings, describe_estimand, describe_method, summary
from tools.heterogeneity.subgroups import subgroup_effects
from tools.heterogeneity.targeting import QINI_GRID, gains, qini, qini_curve
from tools.propensity.diagnostics import naive_difference, overlap_summary
from tools.results import Estimate, require_inference

__all__ = ["Analysis", "Split", "analyse", "heterogeneity"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]
Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class Split:
    """One sample split: the evaluation half (row indices), the DR-learner's predictions there and the GATES group
    of each of its units (0 = least affected)."""

    main: IntArray
    predicted: FloatArray
    groups: IntArray


@dataclass(frozen=True)
class Analysis:
    """What the result was computed from."""

    data: HeterogeneityData
    nuisance: Nuisance
    scores: FloatArray
    splits: list[Split]


class _Steps:
    def __init__(self, total: int, progress: Progress | None, cancel: threading.Event | None) -> None:
        self.done, self.total, self.progress, self.cancel = 0, total, progress, cancel

    def check(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise ToolError(
                "cancelled",
                f"The heterogeneity analysis was cancelled after {self.done} of {self.total} steps.",
                "Run it again when you are ready; fewer repetitions make it faster.",
            )

    def step(self, label: str) -> None:
        self.check()
        self.done += 1
        if self.progress is not None:
            self.progress(self.done, self.total, label)


def _vary(predicted: FloatArray, seed: int) -> FloatArray:
    """A prediction that is constant on the evaluation half gets a tiny seeded jitter (CDDF's remedy), so its
    loading is defined; its interval is then correspondingly wide."""
    if np.ptp(predicted) > 1e-12 * max(1.0, float(np.abs(predicted).max())):
        return predicted
    noise = np.random.default_rng(seed).normal(size=len(predicted))
    return np.asarray(predicted + 1e-6 * max(1.0, float(np.abs(predicted).max())) * noise, dtype=np.float64)


def _aggregate(estimate: FloatArray, std_error: FloatArray, alpha: float, what: str, scale: float) -> Estimate:
    return median_adjusted(SplitEstimates(estimate, std_error), alpha, what=what, scale=scale)


def heterogeneity(
    request: HeterogeneityRequest,
    data: pd.DataFrame | None,
    *,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> HeterogeneityResult:
    """How the effect of the request's treatment varies (see the module docstring). ``progress(done, total, label)``
    is called after each model fit; setting ``cancel`` stops the run with a ``cancelled`` ToolError."""
    return analyse(request, data, progress=progress, cancel=cancel)[0]


def analyse(
    request: HeterogeneityRequest,
    data: pd.DataFrame | None,
    *,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> tuple[HeterogeneityResult, Analysis]:
    """The result and the internals it was computed from."""
    prepared = prepare(request, data)
    y, treated, x = prepared.outcome, prepared.treated, prepared.modifiers
    n, k, repetitions, alpha = len(y), request.folds, request.repetitions, request.alpha
    steps = _Steps(k + repetitions, progress, cancel)
    steps.check()
    rng = np.random.default_rng(request.seed)
    folds = stratified_folds(treated, k, rng)
    seeds = rng.integers(0, 2**31 - 1, size=3 * k + repetitions)
    n_treated = int(treated.sum())
    known = (request.propensity if request.propensity is not None else n_treated / n) if request.randomized else None
    nuisance = cross_fit(prepared.features, y, treated, folds, seeds, known, step=lambda: steps.step("nuisance models"))
    phi = dr_scores(y, treated, nuisance.mu0, nuisance.mu1, nuisance.propensity)
    scale = float(np.abs(y).max())

    # --- the average effect ------------------------------------------------------------------------------------------
    ate_se = float(phi.std(ddof=1)) / float(np.sqrt(n))
    require_inference(
        ate_se,
        float(phi.mean()),
        scale,
        what="the average effect",
        reason="the outcome models reproduce every outcome exactly",
        hint="Check that the outcome is not computed from the treatment or the modifiers.",
    )
    effect = Estimate.normal(float(phi.mean()), ate_se, alpha)
    naive = naive_difference(y, treated, alpha)

    # --- repeated splits: the DR-learner trained on one half, evaluated on the other ---------------------------------
    tiebreak = rng.random(n)
    groups, shares, p = GATES_GROUPS, TARGET_SHARES, x.shape[1]
    blp_rows = np.empty((repetitions, 4))
    gates_rows = np.empty((repetitions, 4, groups))
    clan_rows = np.empty((repetitions, 4, p))
    gain_rows = np.empty((repetitions, len(shares), 4))
    qini_rows = np.empty((repetitions, 2))
    curves = np.empty((repetitions, len(QINI_GRID)))
    splits: list[Split] = []
    for r in range(repetitions):
        half = stratified_folds(treated, 2, rng)
        aux, main = np.flatnonzero(half == 0), np.flatnonzero(half == 1)
        predicted = fit_predict(cate_model, int(seeds[3 * k + r]), x[aux], phi[aux], x[main])
        predicted = _vary(predicted, int(seeds[3 * k + r]))
        labels = groups_of(predicted, tiebreak[main], groups)
        phi_main = phi[main]
        order = np.lexsort((tiebreak[main], -predicted))
        blp_rows[r] = blp(phi_main, predicted)
        gates_rows[r] = np.vstack(gates(phi_main, labels, predicted, groups))
        clan_rows[r] = np.vstack(clan(x[main], labels, groups))
        gain_rows[r] = gains(phi_main, order, shares)
        qini_rows[r] = qini(phi_main, predicted)
        curves[r] = qini_curve(phi_main, order)
        splits.append(Split(main, predicted, labels))
        steps.step("sample splits")

    blp_result = BLP(
        ate_coefficient=_aggregate(blp_rows[:, 0], blp_rows[:, 1], alpha, "the BLP intercept", scale),
        heterogeneity=_aggregate(blp_rows[:, 2], blp_rows[:, 3], alpha, "the heterogeneity loading", 1.0),
    )
    heterogeneity_found = blp_result.heterogeneity.p_value < alpha and blp_result.heterogeneity.estimate > 0
    gates_result = [
        GatesGroup(
            group=g + 1,
            predicted=float(np.median(gates_rows[:, 2, g])),
            n_obs=int(np.median(gates_rows[:, 3, g])),
            **_aggregate(gates_rows[:, 0, g], gates_rows[:, 1, g], alpha, "a GATES group", scale).model_dump(),
        )
        for g in range(groups)
    ]
    clan_result = [
        ClanRow(
            modifier=name,
            most=float(np.median(clan_rows[:, 0, j])),
            least=float(np.median(clan_rows[:, 1, j])),
            difference=_aggregate(clan_rows[:, 2, j], clan_rows[:, 3, j], alpha, f"CLAN of '{name}'", 1.0),
        )
        for j, name in enumerate(prepared.modifier_names)
    ]
    targeting = [
        TargetingRow(
            share=share,
            gain_vs_all=_aggregate(gain_rows[:, j, 0], gain_rows[:, j, 1], alpha, "a targeting gain", scale),
            gain_vs_none=_aggregate(gain_rows[:, j, 2], gain_rows[:, j, 3], alpha, "a targeting gain", scale),
        )
        for j, share in enumerate(shares)
    ]
    qini_result = _aggregate(qini_rows[:, 0], qini_rows[:, 1], alpha, "the Qini coefficient", scale)
    curve = np.median(curves, axis=0)
    qini_points = [
        QiniPoint(share=float(q), gain=float(curve[j]), random=float(q * curve[-1])) for j, q in enumerate(QINI_GRID)
    ]
    recommended = _recommended(targeting, heterogeneity_found, alpha)

    # --- the T-learner, fold by fold on the nuisance folds --------------------------------------------------------
    t_rows = np.empty((k, 4))
    for fold in range(k):
        held = np.flatnonzero(folds == fold)
        proxy = _vary(nuisance.mu1[held] - nuisance.mu0[held], int(seeds[3 * fold]))
        t_rows[fold, 0:2] = blp(phi[held], proxy)[2:]
        t_rows[fold, 2:] = qini(phi[held], proxy)
    t_learner = BaselineLearner(
        heterogeneity=_aggregate(t_rows[:, 0], t_rows[:, 1], alpha, "the T-learner's loading", 1.0),
        qini=_aggregate(t_rows[:, 2], t_rows[:, 3], alpha, "the T-learner's Qini coefficient", scale),
    )

    # --- subgroups, overlap, words ----------------------------------------------------------------------------------
    levels, interactions = subgroup_effects(phi, prepared.subgroups, alpha)
    overlap = None
    if not request.randomized:
        e = nuisance.propensity
        weights = np.where(treated, 1.0 / e, 1.0 / (1.0 - e))
        overlap = overlap_summary(e, treated, weights)
    nuisance_fit = NuisanceFit(
        outcome_r2_control=nuisance.r2_control,
        outcome_r2_treated=nuisance.r2_treated,
        propensity_auc=nuisance.auc,
        propensity_clipped=nuisance.clipped,
    )
    split_rejections = int(
        np.sum((blp_rows[:, 2] > 0) & (blp_rows[:, 2] / np.maximum(blp_rows[:, 3], 1e-300) > _z(alpha / 2)))
    )
    findings = Findings(
        effect=effect,
        blp=blp_result,
        heterogeneity_found=heterogeneity_found,
        gates=gates_result,
        targeting=targeting,
        recommended_share=recommended,
        nuisance=nuisance_fit,
        overlap=overlap,
        n_obs=n,
        n_treated=n_treated,
        known_propensity=known,
        split_rejections=split_rejections,
        group_size=min(g.n_obs for g in gates_result),
    )
    checks, warnings = checks_and_warnings(request, prepared, findings)
    result = HeterogeneityResult(
        estimand=describe_estimand(request, prepared),
        method=describe_method(request, prepared),
        dataset=request.dataset,
        outcome=request.outcome,
        treatment=request.treatment,
        treated_value=prepared.treated_value,
        effect_modifiers=list(dict.fromkeys(request.effect_modifiers)),
        covariates=prepared.covariate_columns,
        subgroup_columns=[s.column for s in prepared.subgroups],
        randomized=request.randomized,
        propensity=known,
        folds=k,
        repetitions=repetitions,
        seed=request.seed,
        alpha=alpha,
        effect=effect,
        naive=naive,
        blp=blp_result,
        heterogeneity_found=heterogeneity_found,
        gates=gates_result,
        clan=clan_result,
        subgroups=levels,
        interactions=interactions,
        targeting=targeting,
        recommended_share=recommended,
        qini=qini_result,
        qini_curve=qini_points,
        t_learner=t_learner,
        nuisance=nuisance_fit,
        overlap=overlap,
        n_obs=n,
        n_treated=n_treated,
        n_control=n - n_treated,
        n_dropped=prepared.n_dropped,
        checks=checks,
        warnings=warnings,
        summary=summary(request, findings),
    )
    return result, Analysis(prepared, nuisance, phi, splits)


def _z(alpha: float) -> float:
    from scipy import special

    return float(special.ndtri(1.0 - alpha / 2.0))


def _recommended(targeting: list[TargetingRow], found: bool, alpha: float) -> float | None:
    """The share whose gain over treating everyone is largest among those positive and significant after Holm over
    the shares; only when the BLP test found heterogeneity."""
    if not found:
        return None
    from tools.ab_test.decision import adjust

    adjusted = adjust([row.gain_vs_all.p_value for row in targeting], "holm")
    candidates = [row for row, p in zip(targeting, adjusted, strict=True) if row.gain_vs_all.estimate > 0 and p < alpha]
    if not candidates:
        return None
    return max(candidates, key=lambda row: row.gain_vs_all.estimate).share
