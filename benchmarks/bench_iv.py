"""Instrumental variables benchmark: the whole instrumental_variables tool on 1M rows.

Run:  .venv/bin/python benchmarks/bench_iv.py [--rows 1000000] [--runs 5] [--no-linearmodels]
Target (issue 20): 1M rows, one instrument, 10 covariates, robust (HC1) standard errors and the Anderson-Rubin
interval: <= 0.3 s warm.

The data: a seeded binary invite (the instrument), 10 normal covariates, a 0/1 take-up that depends on the invite,
the covariates and an unobserved confounder, and an outcome. Timed: ``instrumental_variables`` end to end (reading
the columns from the frame, validation, partialling out, 2SLS, OLS, first stage, AR set, plot bins, the result
model), and ``headline`` (the refute path). Warm: the median of ``--runs`` runs after one untimed run.

linearmodels' ``IV2SLS(...).fit(cov_type="robust", debiased=True)`` is timed beside, from arrays already built (its
fit alone; it computes no AR interval), plus its first-stage diagnostics.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from tools.iv import InstrumentalVariablesRequest, headline, instrumental_variables

N_COVARIATES = 10


def frame(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, N_COVARIATES))
    invite = rng.integers(0, 2, rows)
    confounder = rng.normal(size=rows)
    chance = np.clip(0.1 + 0.3 * invite + 0.05 * x[:, 0] + 0.1 * confounder, 0, 1)
    used = (rng.uniform(size=rows) < chance).astype(np.int64)
    outcome = 5 + 2 * used + x @ np.linspace(0.1, 1, N_COVARIATES) + confounder + rng.normal(size=rows)
    data = pd.DataFrame({f"x{j}": x[:, j] for j in range(N_COVARIATES)})
    data["invite"], data["used"], data["outcome"] = invite, used, outcome
    return data


def median_time(fn: Callable[[], object], runs: int) -> float:
    fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-linearmodels", action="store_true")
    options = parser.parse_args()
    data = frame(options.rows)
    request = InstrumentalVariablesRequest(
        dataset="bench",
        outcome="outcome",
        treatment="used",
        instruments=["invite"],
        covariates=[f"x{j}" for j in range(N_COVARIATES)],
        standard_errors="robust",
    )
    print(f"instrumental_variables: {options.rows:,} rows, 1 instrument, {N_COVARIATES} covariates, robust SEs + AR")
    print(f"python {platform.python_version()}, numpy {np.__version__}, {platform.machine()}")
    result = instrumental_variables(request, data)
    print(
        f"  2SLS {result.effect.estimate:.4f} ({result.effect.std_error:.4f}), first-stage F "
        f"{result.first_stage.f_statistic:.1f}, AR {result.anderson_rubin.kind} "
        f"[{result.anderson_rubin.ci_lower:.4f}, {result.anderson_rubin.ci_upper:.4f}]"
    )
    tool = median_time(lambda: instrumental_variables(request, data), options.runs)
    lean = median_time(lambda: headline(request, data), options.runs)
    print(f"  whyscope instrumental_variables (warm, median of {options.runs}): {tool:.3f} s  (target <= 0.3 s)")
    print(f"  whyscope headline (2SLS coefficient only):        {lean:.3f} s")
    if options.no_linearmodels:
        return
    try:
        from linearmodels.iv import IV2SLS
    except ImportError:
        print("  linearmodels not installed: skipped")
        return
    exog = data[[f"x{j}" for j in range(N_COVARIATES)]].assign(const=1.0)
    model = IV2SLS(data["outcome"], exog, data["used"], data["invite"])
    fit = model.fit(cov_type="robust", debiased=True)
    assert abs(fit.params["used"] - result.effect.estimate) < 1e-8 * abs(result.effect.estimate)
    theirs = median_time(
        lambda: IV2SLS(data["outcome"], exog, data["used"], data["invite"]).fit(cov_type="robust", debiased=True),
        options.runs,
    )

    def with_diagnostics() -> object:
        return model.fit(cov_type="robust", debiased=True).first_stage.diagnostics  # type: ignore[attr-defined]

    diagnostics = median_time(with_diagnostics, options.runs)
    print(f"  linearmodels IV2SLS fit (robust, debiased; no AR):  {theirs:.3f} s")
    print(f"  linearmodels fit + first-stage diagnostics:         {diagnostics:.3f} s")


if __name__ == "__main__":
    main()
