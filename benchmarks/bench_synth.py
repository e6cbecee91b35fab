"""Synthetic control / synthetic DiD benchmark: a fit plus in-space placebo inference, small and large panels.

Run:  .venv/bin/python benchmarks/bench_synth.py [--runs 3] [--no-pysyncon]
Targets (issue 19): 50 units x 40 periods, estimate + placebo inference <= 0.5 s; 1,000 donors x 100 periods
(one treated unit), estimate + placebo inference (1,000 placebo refits) <= 10 s.

The panels are seeded factor models (unit effects, a rank-3 interactive term, noise), one treated unit, the last
20% of the periods after the change. "fit + placebo" is ``tools.synth.fit`` then ``tools.synth.placebo`` (the
RMSPE-ratio rank test over every donor and, for one treated unit, the placebo variance from the same refits), with
the default exact solver; each estimator is timed, and the three-estimator comparison (what the tool's result
carries) is timed as their sum. Warm: the median of ``--runs`` runs after one untimed run.

pysyncon, when installed, is timed beside: ``Synth.fit`` on the pre-period outcomes with V fixed to equal weights
(its weight QP, SLSQP; no V search, so the cheapest pysyncon fit) looped over the donors as placebos. On the large
panel it is timed for 2 placebo fits and extrapolated to 1,000.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np

from tools.synth import ESTIMATORS, Estimator, fit, placebo


def factor_panel(n_units: int, n_periods: int, seed: int) -> tuple[np.ndarray, int]:
    rng = np.random.default_rng(seed)
    n_pre = round(n_periods * 0.8)
    loadings = rng.normal(size=(n_units, 3))
    factors = np.cumsum(rng.normal(size=(n_periods, 3)), axis=0) * 0.5
    y = 10 + rng.normal(size=(n_units, 1)) + loadings @ factors.T + rng.normal(size=(n_units, n_periods))
    y[-1, n_pre:] += 2.0
    return y, n_pre


def median_time(fn: Callable[[], object], runs: int) -> float:
    fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def ours(y: np.ndarray, n_pre: int, runs: int) -> dict[str, float]:
    out: dict[str, float] = {}
    for estimator in ESTIMATORS:

        def run(e: Estimator = estimator) -> object:
            return placebo(y, 1, n_pre, fit(y, 1, n_pre, e))

        out[estimator] = median_time(run, runs)
    out["fit only (SDID)"] = median_time(lambda: fit(y, 1, n_pre), runs)
    return out


def pysyncon_placebos(y: np.ndarray, n_pre: int, n_placebos: int) -> float | None:
    try:
        import pandas as pd
        from pysyncon import Synth  # type: ignore[import-untyped]
    except ImportError:
        return None
    donors = y[:-1]
    start = time.perf_counter()
    for j in range(n_placebos):
        rest = np.delete(np.arange(donors.shape[0]), j)
        z0 = pd.DataFrame(donors[rest, :n_pre].T, columns=[f"u{i}" for i in rest])
        z1 = pd.Series(donors[j, :n_pre], name="treated")
        Synth().fit(X0=z0, X1=z1, Z0=z0, Z1=z1, custom_V=np.ones(n_pre))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-pysyncon", action="store_true")
    args = parser.parse_args()
    print(f"python {platform.python_version()}, numpy {np.__version__}, {platform.machine()}")
    for (n_units, n_periods, target), seed in zip([(50, 40, 0.5), (1001, 100, 10.0)], [1, 2], strict=True):
        y, n_pre = factor_panel(n_units, n_periods, seed)
        runs = args.runs if n_units < 500 else 1
        times = ours(y, n_pre, runs)
        print(f"\n{n_units - 1} donors + 1 treated x {n_periods} periods ({n_pre} before), {n_units - 1} placebos:")
        for name, seconds in times.items():
            print(f"  {name:<22} {seconds:8.3f} s" + ("" if "only" in name else "  (fit + placebo)"))
        total = sum(times[e] for e in ESTIMATORS)
        verdict = "ok" if times["synthetic_did"] <= target else "OVER"
        print(
            f"  target {target} s for SDID fit + placebo: {verdict}; all three estimators with placebos {total:.3f} s"
        )
        if not args.no_pysyncon:
            n_timed = n_units - 1 if n_units < 500 else 2
            theirs = pysyncon_placebos(y, n_pre, n_timed)
            if theirs is None:
                print("  pysyncon: not installed")
            else:
                scaled = theirs * (n_units - 1) / n_timed
                how = "" if n_timed == n_units - 1 else f" (extrapolated from {n_timed} fits)"
                print(f"  pysyncon Synth (V fixed), {n_units - 1} placebo fits: {scaled:8.3f} s{how}")


if __name__ == "__main__":
    main()
