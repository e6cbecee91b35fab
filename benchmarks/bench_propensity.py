"""Propensity tool benchmark: IPW, matching and AIPW with every diagnostic, at 100k and 1M rows x 10 covariates.

Run:  .venv/bin/python benchmarks/bench_propensity.py [--sizes 100000,1000000] [--runs 5]
Targets (issue 9): 1M rows, 10 covariates, all three methods <= 1 s after imports; 100k rows <= 0.15 s.

The data (seeded) has ten numeric covariates (eight normal, one skewed, one 0/1), a treatment chosen with
probability logistic in them (about 30% treated) and an outcome linear in them with a treatment effect of 1. The
frame is in memory; the timed call is ``propensity(request, frame)`` with the default methods (IPW, matching
with one neighbour, AIPW), the ATT, the balance table, overlap summary and histogram. Also timed: ``headline``
(the lean path the refute tool calls repeatedly) and, for comparison, a scikit-learn pipeline doing the same
estimation work: ``LogisticRegression(C=inf)`` (unpenalised), ``NearestNeighbors`` on the score, IPW and AIPW with
``LinearRegression`` (point estimates only, no standard errors or diagnostics). Median and minimum of ``--runs``
calls after one warm-up.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable
from functools import partial
from importlib.metadata import version

import numpy as np
import pandas as pd

from tools.propensity import PropensityRequest, headline, propensity

SEED = 20_260_925
COVARIATES = [f"x{i}" for i in range(10)]
TARGETS = {100_000: 0.15, 1_000_000: 1.0}


def generate(n: int, seed: int = SEED) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 10))
    x[:, 8] = rng.gamma(2.0, 1.0, size=n)
    x[:, 9] = (rng.random(n) < 0.4).astype(float)
    coefficients = np.array([0.4, -0.3, 0.2, 0.1, -0.2, 0.15, 0.0, 0.05, 0.2, 0.5])
    treated = rng.random(n) < 1.0 / (1.0 + np.exp(-(-1.3 + x @ coefficients)))
    outcome = 2.0 + x @ np.linspace(0.5, -0.5, 10) + treated + rng.normal(size=n)
    frame = pd.DataFrame(x, columns=COVARIATES)
    frame["treated"] = treated.astype(np.int64)
    frame["outcome"] = outcome
    return frame


def timed(func: Callable[[], object], runs: int) -> tuple[float, float]:
    func()  # warm-up
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        func()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples), min(samples)


def sklearn_pipeline(frame: pd.DataFrame) -> tuple[float, float, float]:
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.neighbors import NearestNeighbors

    x = frame[COVARIATES].to_numpy()
    d = frame["treated"].to_numpy() == 1
    y = frame["outcome"].to_numpy()
    model = LogisticRegression(C=np.inf, solver="lbfgs", max_iter=1_000).fit(x, d)  # C=inf: unpenalised
    score = model.predict_proba(x)[:, 1]
    logit = np.log(score / (1 - score))
    neighbours = NearestNeighbors(n_neighbors=1).fit(logit[~d, None])
    _, index = neighbours.kneighbors(logit[d, None])
    matching = float(np.mean(y[d] - y[~d][index[:, 0]]))
    weights = score[~d] / (1 - score[~d])
    ipw = float(y[d].mean() - np.average(y[~d], weights=weights))
    m0 = LinearRegression().fit(x[~d], y[~d]).predict(x)
    aipw = float(np.mean((y - m0)[d]) - np.average((y - m0)[~d], weights=weights))
    return ipw, matching, aipw


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(
        f"propensity benchmark — python {platform.python_version()}, numpy {np.__version__}, pandas {pd.__version__}, "
        f"scikit-learn {version('scikit-learn')}; {os.cpu_count()} CPU(s); "
        f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}"
    )
    request = PropensityRequest(dataset="bench", outcome="outcome", treatment="treated", covariates=COVARIATES)
    for n in (int(s) for s in args.sizes.split(",")):
        frame = generate(n)
        result = propensity(request, frame)
        figures = ", ".join(f"{e.method} {e.estimate:.4f}" for e in result.estimates)
        full = timed(partial(propensity, request, frame), args.runs)
        lean = timed(partial(headline, request, frame), args.runs)
        reference = timed(partial(sklearn_pipeline, frame), max(1, args.runs // 2))
        target = TARGETS.get(n)
        verdict = "" if target is None else (f"target <= {target:g} s: " + ("met" if full[0] <= target else "MISSED"))
        print(f"\n{n:,} rows x {len(COVARIATES)} covariates, {result.n_treated:,} treated ({figures})")
        print(f"  propensity (3 methods, SEs, diagnostics)  median {full[0]:.3f} s  min {full[1]:.3f} s   {verdict}")
        print(f"  headline (AIPW point estimate, lean)      median {lean[0]:.3f} s  min {lean[1]:.3f} s")
        print(f"  scikit-learn pipeline (points only)       median {reference[0]:.3f} s  min {reference[1]:.3f} s")


if __name__ == "__main__":
    main()
