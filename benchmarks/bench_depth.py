"""Benchmark of issue 26's analyses: regression adjustment, quantiles and the bootstrap in ab_test, assign,
Callaway-Sant'Anna with covariates, and Rosenbaum bounds — each at a size an analyst brings, warm, in one process.

Run:  .venv/bin/python benchmarks/bench_depth.py [--rows 1000000] [--runs 3]
No targets of their own in the issue beside the interactive ones (power's quasi designs: bench_power_quasi.py); the
figures are the baseline later work is measured against. Each line prints the data size, the median wall time of
``--runs`` calls after one untimed call, and the process's peak RSS so far (ru_maxrss, MB; it only grows, so a
line's peak includes the lines before it). Data are seeded: a two-arm experiment with three pre-period covariates,
a 0/1 conversion, a ratio metric and a latency per row; a balanced panel for the DiD.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from tools.ab_test.models import AbTestRequest
from tools.ab_test.tool import ab_test
from tools.assign.models import AssignRequest
from tools.assign.tool import assign
from tools.did.models import DiffInDiffRequest
from tools.did.tool import diff_in_diff
from tools.refute.rosenbaum import critical_gamma, default_method, signed_ranks

SEED = 20_261_203


def experiment(n: int, rng: np.random.Generator) -> pd.DataFrame:
    treated = rng.integers(0, 2, n)
    x1, x2, x3 = rng.normal(0, 1, n), rng.gamma(2.0, 1.0, n), rng.integers(0, 5, n).astype(float)
    revenue = 10 + 2 * x1 + x2 + 0.5 * x3 + 0.3 * treated + rng.normal(0, 3, n)
    sessions = rng.poisson(4, n) + 1.0
    pre_sessions = rng.poisson(4, n) + 1.0
    return pd.DataFrame(
        {
            "user_id": np.arange(n),
            "arm": np.where(treated == 1, "treatment", "control"),
            "revenue": revenue,
            "converted": (rng.random(n) < 0.1 + 0.01 * treated + 0.02 * (x1 > 0)).astype(float),
            "sessions": sessions,
            "pre_revenue": 10 + 2 * x1 + x2 + rng.normal(0, 1, n),
            "pre_sessions": pre_sessions,
            "x1": x1,
            "x2": x2,
            "x3": x3,
            "country": rng.choice(np.array(["DE", "FR", "US", "BR"]), n),
            "latency_ms": rng.lognormal(6.0, 0.5, n) * (1 + 0.02 * treated),
        }
    )


def panel(units: int, periods: int, rng: np.random.Generator) -> pd.DataFrame:
    x = rng.normal(0, 1, units)
    cohort = np.where(rng.random(units) < 1 / (1 + np.exp(-x)), rng.choice([4, 7], units), 0)
    unit = np.repeat(np.arange(units), periods)
    period = np.tile(np.arange(1, periods + 1), units)
    g = cohort[unit]
    treated = (g > 0) & (period >= g)
    y = rng.normal(0, 1, units)[unit] + 0.2 * period * (1 + x[unit]) + 1.0 * treated + rng.normal(0, 1, len(unit))
    return pd.DataFrame({"unit": unit, "period": period, "y": y, "cohort": g, "x": x[unit]})


def timed(runs: int, call: Callable[[], Any]) -> float:
    call()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(SEED)
    n = args.rows
    frame = experiment(n, rng)
    small = frame.iloc[: n // 10]
    print(f"# {platform.python_version()} on {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; seed {SEED}")

    def ab(data: pd.DataFrame, metrics: list[dict[str, Any]], **more: Any) -> Callable[[], Any]:
        request = AbTestRequest.model_validate({"arm_column": "arm", "metrics": metrics, **more})
        return lambda: ab_test(request, data)

    rows = f"{n:,} rows"
    ratio = {"name": "rps", "column": "revenue", "kind": "ratio", "denominator_column": "sessions"}
    cases: list[tuple[str, str, Callable[[], Any]]] = [
        ("ab_test unadjusted (Welch)", rows, ab(frame, [{"name": "revenue"}])),
        ("ab_test CUPED, 1 covariate", rows, ab(frame, [{"name": "revenue", "covariate_column": "pre_revenue"}])),
        ("ab_test Lin, 3 covariates, HC2", rows, ab(frame, [{"name": "revenue", "covariates": ["x1", "x2", "x3"]}])),
        ("ab_test logistic standardisation, 2 cov.", rows,
         ab(frame, [{"name": "converted", "kind": "binary", "covariates": ["x1", "x2"]}])),
        ("ab_test ratio CUPED", rows, ab(frame, [{**ratio, "covariate_column": "pre_revenue",
                                                  "covariate_denominator_column": "pre_sessions"}])),
        ("ab_test post-stratified (4 strata)", rows, ab(frame, [{"name": "revenue"}], strata_column="country")),
        ("ab_test p95 quantile", rows, ab(frame, [{"name": "latency_ms", "kind": "quantile", "quantile": 0.95}])),
        ("ab_test bootstrap BCa, 2,000 resamples", f"{len(small):,} rows",
         ab(small, [{"name": "revenue"}], interval="bootstrap")),
    ]  # fmt: skip
    units = frame[["user_id", "country", "x1", "x2", "x3"]]
    stratified = AssignRequest.model_validate(
        {"dataset": "u", "unit_column": "user_id", "salt": "bench", "strata": ["country"]}
    )
    rerandomised = AssignRequest.model_validate(
        {"dataset": "u", "unit_column": "user_id", "salt": "bench", "rerandomize_acceptance": 0.1}
    )
    cases += [
        ("assign stratified + balance table", f"{n:,} units", lambda: assign(stratified, units)),
        ("assign rerandomised, p_a 0.1", f"{len(small):,} units", lambda: assign(rerandomised, units.iloc[: n // 10])),
    ]
    did_panel = panel(10_000, 10, rng)
    dr = DiffInDiffRequest.model_validate(
        {"dataset": "p", "outcome": "y", "unit": "unit", "time": "period", "cohort": "cohort", "covariates": ["x"]}
    )
    plain = dr.model_copy(update={"covariates": None})
    cases += [
        ("diff_in_diff CS, no covariates", "10,000 units x 10 periods", lambda: diff_in_diff(plain, did_panel)),
        (
            "diff_in_diff CS doubly robust, 1 covariate",
            "10,000 units x 10 periods",
            lambda: diff_in_diff(dr, did_panel),
        ),
    ]
    for pairs in (50, 10_000):
        ranked = signed_ranks(rng.normal(0.2, 1, pairs))
        method = default_method(ranked)
        bound = lambda r=ranked, m=method: critical_gamma(r, 0.025, m)  # noqa: E731
        cases.append((f"Rosenbaum critical Gamma ({method})", f"{pairs:,} pairs", bound))
    print(f"{'analysis':<44} {'data':<26} {'median s':>9} {'peak MB':>8}")
    for name, size, call in cases:
        seconds = timed(args.runs, call)
        print(f"{name:<44} {size:<26} {seconds:>9.3f} {peak_mb():>8.0f}")


if __name__ == "__main__":
    main()
