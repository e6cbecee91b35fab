"""Heterogeneity benchmark: the whole heterogeneity tool on 100k rows and 20 effect modifiers.

Run:  .venv/bin/python benchmarks/bench_heterogeneity.py [--rows 100000] [--modifiers 20] [--runs 3] [--observational]
Target (issue 22): 100k rows x 20 modifiers, 5 folds, gradient boosting, every output (ATE, BLP, GATES, CLAN,
subgroups, targeting, Qini, T-learner): <= 20 s on the 2-core machine.

The data: a seeded 50/50 A/B test, 20 normal modifiers (the effect varies with the first two, the outcome's baseline
with the next two), one pre-specified subgroup column with four levels. Timed: ``heterogeneity`` end to end with the
default 10 repetitions (validation, 5-fold nuisance models, 10 DR-learner fits, every output, the result model); the
median of ``--runs`` runs. With ``--observational`` the propensity is not known and a propensity model is cross-fitted
too. EconML's DRLearner (if installed; it is not a dependency: it pulls numba, llvmlite, shap and lightgbm) is timed
beside it with the same boosting models and folds: its fit and ``ate`` only.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from tools.heterogeneity import HeterogeneityRequest, heterogeneity


def frame(rows: int, modifiers: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, modifiers))
    treated = rng.integers(0, 2, rows)
    tau = 1.0 + x[:, 0] + 0.5 * (x[:, 1] > 0)
    y = 2.0 + x[:, 2] + 0.5 * x[:, 3] + tau * treated + rng.normal(size=rows)
    data = pd.DataFrame({f"x{j}": x[:, j] for j in range(modifiers)})
    data["segment"] = rng.choice(np.array(["a", "b", "c", "d"]), size=rows)
    data["treated"], data["y"] = treated, y
    return data


def median_time(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def econml_time(data: pd.DataFrame, modifiers: int) -> str:
    try:
        from econml.dr import DRLearner  # type: ignore[import-not-found]
    except ImportError:
        return "EconML not installed (not a dependency: it pulls numba, llvmlite, shap and lightgbm)"
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    x = data[[f"x{j}" for j in range(modifiers)]].to_numpy()
    learner = DRLearner(
        model_regression=HistGradientBoostingRegressor(early_stopping=True, random_state=0),
        model_propensity=HistGradientBoostingClassifier(early_stopping=True, random_state=0),
        model_final=HistGradientBoostingRegressor(early_stopping=True, random_state=0),
        cv=5,
        random_state=0,
    )
    start = time.perf_counter()
    learner.fit(data["y"].to_numpy(), data["treated"].to_numpy(), X=x)
    ate = learner.ate(x)
    return f"EconML DRLearner fit + ate: {time.perf_counter() - start:.2f} s (ATE {float(ate):.4f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--modifiers", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--observational", action="store_true")
    options = parser.parse_args()
    data = frame(options.rows, options.modifiers)
    request = HeterogeneityRequest(
        dataset="bench",
        outcome="y",
        treatment="treated",
        effect_modifiers=[f"x{j}" for j in range(options.modifiers)],
        subgroups=["segment"],
        randomized=not options.observational,
        propensity=None if options.observational else 0.5,
    )
    kind = "observational (propensity model)" if options.observational else "randomized, p = 0.5"
    print(f"heterogeneity: {options.rows:,} rows, {options.modifiers} modifiers, 5 folds, 10 repetitions, {kind}")
    print(f"python {platform.python_version()}, numpy {np.__version__}, {platform.machine()}")
    result = heterogeneity(request, data)
    print(
        f"  ATE {result.effect.estimate:.4f} ({result.effect.std_error:.4f}); heterogeneity loading "
        f"{result.blp.heterogeneity.estimate:.3f} (p {result.blp.heterogeneity.p_value:.2g}); GATES "
        + ", ".join(f"{g.estimate:+.2f}" for g in result.gates)
    )
    elapsed = median_time(lambda: heterogeneity(request, data), options.runs)
    print(f"  whyscope heterogeneity (median of {options.runs}): {elapsed:.2f} s  (target <= 20 s)")
    print("  " + econml_time(data, options.modifiers))


if __name__ == "__main__":
    main()
