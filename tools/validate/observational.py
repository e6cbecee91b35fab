"""Calibration of the tools that estimate an effect from observational or panel data: diff_in_diff,
synthetic_control, propensity, rdd, instrumental_variables and heterogeneity.

Each design is run twice: with a known effect (does the interval cover it?) and without one (how often does the test
reject?). Every replication is one call of the tool through the dispatcher, with the request a user would send.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from tools.did import DiffInDiffResult
from tools.errors import ToolError
from tools.heterogeneity import HeterogeneityResult
from tools.iv import InstrumentalVariablesResult
from tools.propensity import PropensityResult
from tools.rdd import RddResult
from tools.results import Estimate, ToolResult
from tools.synth import SyntheticControlResult
from tools.validate.designs import (
    att_of_propensity_design,
    confounded_units,
    factor_panel,
    iv_units,
    randomized_units,
    rd_units,
    staggered_panel,
)
from tools.validate.models import Rate, Size, ValidationRow, build_row
from tools.validate.references import PINNED
from tools.validate.simulate import Simulator, stream

__all__ = [
    "did_rows",
    "heterogeneity_rows",
    "iv_rows",
    "propensity_rows",
    "rdd_rows",
    "synth_rows",
]

ALPHA = 0.05
R = TypeVar("R", bound=ToolResult)
#: One simulated data set and the true effect it was drawn with.
Draw = Callable[[np.random.Generator], tuple[pd.DataFrame, float]]


def _runs(
    sim: Simulator,
    label: str,
    replications: int,
    seed: int,
    tool: str,
    request: Mapping[str, Any],
    draw: Draw,
    kind: type[R],
) -> tuple[list[tuple[R, float]], int, int]:
    """Run ``tool`` on ``replications`` data sets from ``draw``: the results with their true effects, the number of
    replications the tool refused (a ToolError), and the rows per data set."""
    rng = stream(seed, label)
    sim.start(label, replications)
    results: list[tuple[R, float]] = []
    failed, rows = 0, 0
    for _ in range(replications):
        frame, truth = draw(rng)
        rows = len(frame)
        outcome: ToolResult | ToolError = sim.run(tool, frame, request)
        if isinstance(outcome, kind):
            results.append((outcome, truth))
        else:
            failed += 1
        sim.step()
    return results, failed, rows


def _covers(estimate: Estimate, truth: float) -> bool:
    return estimate.ci_lower <= truth <= estimate.ci_upper


def _rates(pairs: Sequence[tuple[Estimate, float]], coverage: bool) -> Rate:
    """Coverage of the truth (``coverage``) or rejections at alpha, over (estimate, truth) pairs."""
    rate = Rate()
    for estimate, truth in pairs:
        rate.add(_covers(estimate, truth) if coverage else estimate.p_value < ALPHA)
    return rate


def _pick(size: Size, quick: int, default: int) -> int:
    return quick if size == "quick" else default


def _panel(units: int, periods: int, cohorts: tuple[int, ...], effect: float, growth: float) -> Draw:
    def one(rng: np.random.Generator) -> tuple[pd.DataFrame, float]:
        return staggered_panel(rng, units, periods, cohorts, effect, growth)

    return one


def did_rows(sim: Simulator, seed: int, size: Size) -> list[ValidationRow]:
    """Callaway-Sant'Anna under staggered adoption, TWFE under a single adoption date, and TWFE under staggered,
    growing effects (the known bias: a mis-specified analysis). Callaway-Sant'Anna with covariates:
    :func:`tools.validate.covariate_rows.conditional_did_rows`."""
    base = {"outcome": "y", "unit": "unit", "time": "period", "cohort": "cohort"}
    rows: list[ValidationRow] = []
    designs: list[tuple[str, int, int, tuple[int, ...], float, float, dict[str, Any], bool]] = [
        # (label, units, periods, cohorts, effect, growth, request extras, mis-specified)
        ("Callaway-Sant'Anna, staggered adoption (cohorts 3, 5, never)", _pick(size, 60, 120), 6, (2, 4, -1), 1.0,
         0.3, {}, False),
        ("TWFE, one adoption date", _pick(size, 60, 80), 6, (3, -1), 0.5, 0.0, {}, False),
        ("TWFE under staggered, growing effects (mis-specified)", _pick(size, 150, 300), 10, (2, 5, 8, -1), 1.0,
         0.5, {"estimator": "twfe"}, True),
    ]  # fmt: skip
    for label, units, periods, cohorts, effect, growth, extra, wrong in designs:
        reps = _pick(size, 40, 200) if wrong else _pick(size, 100, 1_000)
        draw, null = _panel(units, periods, cohorts, effect, growth), _panel(units, periods, cohorts, 0.0, 0.0)
        request = {**base, **extra}
        hit, failed, n = _runs(
            sim, f"diff_in_diff: {label}", reps, seed, "diff_in_diff", request, draw, DiffInDiffResult
        )
        coverage = _rates([(r.effect, t) for r, t in hit], coverage=True)
        fpr: Rate | None = None
        if not wrong:
            aa, failed_aa, _ = _runs(
                sim, f"diff_in_diff: {label} (A/A)", reps, seed, "diff_in_diff", request, null, DiffInDiffResult
            )
            fpr, failed = _rates([(r.effect, t) for r, t in aa], coverage=False), failed + failed_aa
        reference = PINNED["diff_in_diff twfe" if "TWFE" in label else "diff_in_diff"]
        rows.append(
            build_row(
                "diff_in_diff",
                label,
                n,
                coverage=coverage,
                fpr=fpr,
                misspecified=wrong,
                failed=failed,
                reference=None if wrong else reference,
            )
        )
    return rows


def synth_rows(sim: Simulator, seed: int, size: Size) -> list[ValidationRow]:
    """Synthetic difference-in-differences on a factor-model panel, placebo inference."""
    reps = _pick(size, 60, 300)
    request = {
        "outcome": "y",
        "unit": "unit",
        "time": "period",
        "treatment": "treated",
        "replications": _pick(size, 50, 200),
    }
    label = "synthetic DiD, 5 treated of 35 units, 20 periods, placebo inference"

    def draw(effect: float) -> Draw:
        def one(rng: np.random.Generator) -> tuple[pd.DataFrame, float]:
            return factor_panel(rng, 30, 5, 20, 14, effect), effect

        return one

    hit, failed, n = _runs(sim, f"synthetic_control: {label}", reps, seed, "synthetic_control", request, draw(1.0),
                           SyntheticControlResult)  # fmt: skip
    aa, failed_aa, _ = _runs(sim, f"synthetic_control: {label} (A/A)", reps, seed, "synthetic_control", request,
                             draw(0.0), SyntheticControlResult)  # fmt: skip
    return [
        build_row(
            "synthetic_control",
            label,
            n,
            coverage=_rates([(r.effect, t) for r, t in hit], coverage=True),
            fpr=_rates([(r.effect, t) for r, t in aa], coverage=False),
            failed=failed + failed_aa,
            reference=PINNED["synthetic_control"],
        )
    ]


def propensity_rows(sim: Simulator, seed: int, size: Size) -> list[ValidationRow]:
    """The ATT under confounding by three covariates, each estimator (IPW, AIPW, matching) on the same samples."""
    n, reps = _pick(size, 600, 1_500), _pick(size, 100, 800)
    request = {"outcome": "y", "treatment": "d", "covariates": ["x1", "x2", "x3"], "estimand": "ATT"}
    att = att_of_propensity_design()

    def draw(effect: bool) -> Draw:
        def one(rng: np.random.Generator) -> tuple[pd.DataFrame, float]:
            return confounded_units(rng, n, effect), att if effect else 0.0

        return one

    label = "ATT, confounded take-up, heterogeneous effect"
    hit, failed, rows = _runs(sim, f"propensity: {label}", reps, seed, "propensity", request, draw(True),
                              PropensityResult)  # fmt: skip
    aa, failed_aa, _ = _runs(sim, f"propensity: {label} (A/A)", reps, seed, "propensity", request, draw(False),
                             PropensityResult)  # fmt: skip
    out = []
    for method in ("ipw", "aipw", "matching"):
        with_effect = [(e, t) for r, t in hit for e in r.estimates if e.method == method]
        without = [(e, t) for r, t in aa for e in r.estimates if e.method == method]
        out.append(
            build_row(
                "propensity",
                f"{label}: {method}",
                rows,
                coverage=_rates(with_effect, coverage=True),
                fpr=_rates(without, coverage=False),
                failed=failed + failed_aa,
                reference=PINNED["propensity"] if method == "ipw" else None,
            )
        )
    return out


def rdd_rows(sim: Simulator, seed: int, size: Size) -> list[ValidationRow]:
    """A sharp design with a curved conditional mean: the robust bias-corrected interval (diagnostics off)."""
    n, reps = _pick(size, 1_000, 1_500), _pick(size, 150, 800)
    request = {"outcome": "y", "running": "x", "cutoff": 0.0, "diagnostics": False}
    label = "sharp, local linear, robust bias-corrected interval"

    def draw(jump: float) -> Draw:
        def one(rng: np.random.Generator) -> tuple[pd.DataFrame, float]:
            return rd_units(rng, n, jump), jump

        return one

    hit, failed, rows = _runs(sim, f"rdd: {label}", reps, seed, "rdd", request, draw(0.5), RddResult)
    aa, failed_aa, _ = _runs(sim, f"rdd: {label} (A/A)", reps, seed, "rdd", request, draw(0.0), RddResult)
    return [
        build_row(
            "rdd",
            label,
            rows,
            coverage=_rates([(r.effect, t) for r, t in hit], coverage=True),
            fpr=_rates([(r.effect, t) for r, t in aa], coverage=False),
            failed=failed + failed_aa,
            reference=PINNED["rdd"],
        )
    ]


def _ar_covers(result: InstrumentalVariablesResult, truth: float) -> bool:
    return any(
        (piece.lower is None or piece.lower <= truth) and (piece.upper is None or piece.upper >= truth)
        for piece in result.anderson_rubin.intervals
    )


def iv_rows(sim: Simulator, seed: int, size: Size) -> list[ValidationRow]:
    """2SLS with a strong instrument; with a weak one (first-stage F about 3) the 2SLS interval under-covers (a
    mis-specified use) while the Anderson-Rubin set keeps its coverage."""
    n, reps = 400, _pick(size, 300, 1_000)
    request = {"outcome": "y", "treatment": "d", "instruments": ["z"], "covariates": ["x"]}
    rows: list[ValidationRow] = []
    for name, strength, endogeneity in (("strong", 0.5, 0.5), ("weak", math.sqrt(2 / n), 0.9)):

        def draw(effect: float, s: float = strength, rho: float = endogeneity) -> Draw:
            def one(rng: np.random.Generator) -> tuple[pd.DataFrame, float]:
                return iv_units(rng, n, effect, s, rho), effect

            return one

        label = f"instrumental_variables: {name} instrument"
        kind = InstrumentalVariablesResult
        hit, failed, _ = _runs(sim, label, reps, seed, "instrumental_variables", request, draw(1.0), kind)
        aa, failed_aa, _ = _runs(sim, f"{label} (A/A)", reps, seed, "instrumental_variables", request, draw(0.0), kind)
        failed += failed_aa
        f_stats = [r.first_stage.f_statistic for r, _ in hit + aa]
        f_mean = float(np.mean(f_stats)) if f_stats else math.nan
        tsls = build_row(
            "instrumental_variables",
            f"2SLS, {name} instrument, mean first-stage F {f_mean:.0f}"
            + (" (mis-specified)" if name == "weak" else ""),
            n,
            coverage=_rates([(r.effect, t) for r, t in hit], coverage=True),
            fpr=_rates([(r.effect, t) for r, t in aa], coverage=False),
            misspecified=name == "weak",
            failed=failed,
            reference=PINNED["instrumental_variables"] if name == "strong" else None,
        )
        rows.append(tsls)
        if name == "weak":
            ar_coverage, ar_fpr = Rate(), Rate()
            for r, t in hit:
                ar_coverage.add(_ar_covers(r, t))
            for r, _ in aa:
                ar_fpr.add(r.anderson_rubin.p_value < ALPHA)
            rows.append(
                build_row(
                    "instrumental_variables",
                    f"Anderson-Rubin set, weak instrument, mean first-stage F {f_mean:.0f}",
                    n,
                    coverage=ar_coverage,
                    fpr=ar_fpr,
                    failed=failed,
                )
            )
    return rows


def heterogeneity_rows(sim: Simulator, seed: int, size: Size) -> list[ValidationRow]:
    """A randomized experiment: the cross-fitted ATE's coverage and A/A rate, and the BLP heterogeneity test's
    rejections when the effect is constant (conservative by construction: the median over splits)."""
    n, reps = _pick(size, 500, 1_000), _pick(size, 25, 150)
    repetitions = _pick(size, 3, 10)
    request = {
        "outcome": "y",
        "treatment": "d",
        "effect_modifiers": ["x0", "x1", "x2"],
        "propensity": 0.5,
        "repetitions": repetitions,
    }

    def draw(heterogeneous: bool) -> Draw:
        def one(rng: np.random.Generator) -> tuple[pd.DataFrame, float]:
            return randomized_units(rng, n, heterogeneous), 1.0 if heterogeneous else 0.0

        return one

    label = f"heterogeneity: randomized, {repetitions} splits"
    hit, failed, rows = _runs(sim, label, reps, seed, "heterogeneity", request, draw(True), HeterogeneityResult)
    aa, failed_aa, _ = _runs(sim, f"{label} (A/A)", reps, seed, "heterogeneity", request, draw(False),
                             HeterogeneityResult)  # fmt: skip
    failed += failed_aa
    blp = Rate()
    for r, _ in aa:
        blp.add(r.blp.heterogeneity.p_value < ALPHA)
    return [
        build_row(
            "heterogeneity",
            f"ATE, randomized, effect 1 + x0 ({repetitions} sample splits)",
            rows,
            coverage=_rates([(r.effect, t) for r, t in hit], coverage=True),
            fpr=_rates([(r.effect, t) for r, t in aa], coverage=False),
            failed=failed,
            reference=PINNED["heterogeneity"],
        ),
        build_row(
            "heterogeneity",
            f"BLP heterogeneity test, no effect at all ({repetitions} sample splits)",
            rows,
            fpr=blp,
            conservative=True,
            failed=failed,
        ),
    ]
