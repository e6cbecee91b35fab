"""The refute tool: run the target analysis, then its battery of checks, then the verdict."""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from typing import Any

import pandas as pd
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from tools.errors import ToolError
from tools.refute import checks as generic
from tools.refute.designs.base import SIMULATED, Design
from tools.refute.engine import Progress, Runner
from tools.refute.models import RefuteCheck, RefuteRequest, RefuteResult
from tools.refute.verdict import overall, summary
from tools.registry import TOOLS

__all__ = ["DESIGNS", "refute"]

#: Design adapters by target tool, from each tool's spec (``battery.design``), imported on use (a target tool that
#: is not installed yet is refused cleanly).
DESIGNS: dict[str, str] = {spec.name: spec.battery.design for spec in TOOLS if spec.battery is not None}


#: Falsification checks decided by a p-value against alpha (Bonferroni-adjusted together).
P_VALUE_FALSIFICATION = frozenset(
    {"pre_trends", "placebo_time", "density_test", "covariate_continuity", "placebo_cutoff"}
)


def refute(
    request: RefuteRequest,
    data: pd.DataFrame | None = None,
    *,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    workers: int | None = None,
) -> RefuteResult:
    """Challenge the target analysis on ``data`` (the frame of the dataset its request names).

    ``progress(done, total, label)`` is called after each step (from the calling thread); setting ``cancel``
    stops the run with a ``cancelled`` ToolError; ``workers`` threads share the simulations (default: the
    machine's cores, up to 8). The result does not depend on ``workers``.
    """
    tool = request.target.tool
    if data is None:
        raise ToolError(
            "no_data",
            f"refute re-runs the {tool} analysis on its rows, but no dataset was given.",
            "Name the attached dataset in the target request's `dataset` field.",
        )
    design = _design_class(tool)(request.target.request, data, request.alpha)
    names = _resolve_checks(design, list(request.checks))
    tested = [name for name in names if name in P_VALUE_FALSIFICATION]
    if len(tested) > 1:  # keep the chance that a sound analysis "fails" some falsification test at alpha
        design.test_alpha = request.alpha / len(tested)
        design.test_note = f" = {request.alpha:g} / {len(tested)}, Bonferroni over the battery's {len(tested)} tests"
    n = request.simulations
    total = sum(n if _simulated_check(design, name) else design.steps(name, n) for name in names)
    runner = Runner(seed=request.seed, total=total, progress=progress, cancel=cancel, workers=workers)
    runner.step("original analysis", 0)
    results: list[RefuteCheck] = []
    # One BLAS thread per refit: the refits are small (n x k with k small), where OpenBLAS's own threads spin
    # and double the CPU time; the parallelism comes from running refits side by side instead.
    with threadpool_limits(limits=1, user_api="blas"):
        for name in names:
            if _simulated_check(design, name):
                results.append(_simulated(design, name, request, runner))
            else:
                before = runner.done
                results.append(design.diagnostic(name, runner, n))
                runner.step(name, max(0, design.steps(name, n) - (runner.done - before)))
    design_failures = design.failed_design_checks()
    verdict, decided_by = overall(results, design_failures, tool)
    warnings = list(design.warnings)
    if not (design.original.ci_lower > 0 or design.original.ci_upper < 0):
        warnings.append(
            "The estimate itself is not significant at this alpha: 'robust' then means the absence of a clear "
            "effect is stable, not that an effect was found."
            if verdict == "robust"
            else "The estimate itself is not significant at this alpha either: there is no clear effect to defend."
        )
    return RefuteResult(
        target_tool=tool,
        estimand=design.estimand,
        method=f"Each simulation check refits the whole {tool} analysis on altered data ({n} draws, seed "
        f"{request.seed}); design diagnostics come from the {tool} result; sensitivity analyses from closed forms "
        "(VanderWeele-Ding E-value, Cinelli-Hazlett omitted-variable bounds, Rambachan-Roth relative magnitudes, "
        "Rosenbaum bounds). "
        "Failing a falsification check makes the verdict 'failed'; failing any other check, a failed design check "
        f"of the {tool} analysis itself, or no check able to judge it makes it 'fragile'.",
        effect_label=design.headline,
        effect=design.original,
        n_obs=design.n_obs,
        checks=results,
        sensitivity=design.sensitivity(),
        verdict=verdict,
        decided_by=decided_by,
        design_failures=design_failures,
        simulations=n,
        seed=request.seed,
        alpha=request.alpha,
        warnings=warnings,
        summary=summary(design.headline, design.original, results, verdict, decided_by, design_failures, tool),
    )


def _simulated_check(design: Design, name: str) -> bool:
    """A generic simulation check, unless the design computes it itself, exactly (``exact_checks``: synthetic
    control's in-space placebos enumerate the donors instead of drawing random re-assignments)."""
    return name in SIMULATED and name not in design.exact_checks


def _design_class(tool: str) -> Callable[[dict[str, Any], pd.DataFrame, float], Design]:
    module, _, name = DESIGNS[tool].partition(":")
    try:
        design: Callable[[dict[str, Any], pd.DataFrame, float], Design] = getattr(importlib.import_module(module), name)
    except ModuleNotFoundError as exc:
        raise ToolError(
            "target_unavailable",
            f"Refuting a {tool} analysis is not available in this installation ({exc.name} is missing).",
            f"Refute an analysis of another kind ({', '.join(t for t in DESIGNS if t != tool)}).",
        ) from None
    return design


def _resolve_checks(design: Design, requested: list[str]) -> list[str]:
    names: list[str] = []
    for name in requested:
        for item in design.auto if name == "auto" else (name,):
            if item not in design.applicable:
                raise ToolError(
                    "check_not_applicable",
                    f"The check '{item}' does not apply to a {design.tool} analysis.",
                    f"Checks for {design.tool}: {', '.join(design.applicable)} (or 'auto').",
                )
            if item not in names:
                names.append(item)
    return names


def _simulated(design: Design, name: str, request: RefuteRequest, runner: Runner) -> RefuteCheck:
    n = request.simulations
    procedure = design.procedure(name, request.subset_fraction)
    reason = design.too_few_units()
    if reason is not None:
        runner.step(name, n)
        return generic.inconclusive(name, procedure, reason)
    original, alpha = design.original, request.alpha
    if name == "placebo_treatment":
        draws = runner.simulate(name, design.placebo, n)
        return generic.placebo_check(draws, original, alpha, procedure, aa_style=design.tool == "ab_test")
    if name == "random_common_cause":
        return generic.random_cause_check(
            runner.simulate(name, design.random_common_cause, n), original, alpha, procedure
        )
    if name == "data_subset":
        fraction = request.subset_fraction
        draws = runner.simulate(name, lambda rng: design.data_subset(rng, fraction), n)
        return generic.subset_check(draws, original, alpha, procedure, fraction)
    if name == "bootstrap":
        return generic.bootstrap_check(runner.simulate(name, design.bootstrap, n), original, alpha, procedure)
    return generic.dummy_outcome_check(runner.simulate(name, design.dummy_outcome, n), original, alpha, procedure)
