"""Calibration of the estimators issue 26 added: ab_test's Lin regression adjustment, logistic standardisation,
ratio CUPED and post-stratification, its quantile metrics (Woodruff) and bootstrap intervals (BCa), and
diff_in_diff's Callaway-Sant'Anna with covariates when parallel trends hold only conditional on one (and without it:
the mis-specified analysis the table must flag).

refute's Rosenbaum bounds have no row: they are a sensitivity analysis over Gamma, not an interval or a test at
alpha whose rate the table could check.

As in :mod:`tools.validate.experiments`, many experiments go through one ``ab_test`` call, each as metrics of its
own (correction 'none'); the post-stratified experiments are stacked, each with units of its own, because the
strata column is one per request.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from tools.ab_test.models import AbTestResult, Comparison
from tools.did import DiffInDiffResult
from tools.errors import ToolError
from tools.results import ToolResult
from tools.validate.covariate_designs import (
    adjusted_columns,
    conditional_trends_panel,
    logistic_risk_difference,
    ratio_lift,
    stratified_experiment,
)
from tools.validate.designs import CONTROL_SPEND, SPEND_SIGMA
from tools.validate.models import Rate, Size, ValidationRow, build_row
from tools.validate.simulate import Simulator, stream

__all__ = ["adjusted_ab_test_rows", "conditional_did_rows", "resampled_ab_test_rows"]

ALPHA = 0.05
ARMS = ("control", "treatment")
#: Experiments per ab_test call.
PER_CALL = 12

#: The ab_test tests cited for the adjusted rows (pinned to estimatr / statsmodels by the test suite).
PINNED_LIN = (
    "Lin (2013); R estimatr lm_lin HC2/HC1 on the NSW sample (lin_reference.R), statsmodels OLS HC2 "
    "(test_ab_test_adjust.py)"
)
PINNED_LOGISTIC = (
    "statsmodels Logit + stacked M-estimator sandwich on Thornton (2008) HIV data (test_ab_test_adjust_binary.py)"
)
PINNED_RATIO = "per-unit linearised delta method, in-test (test_ab_test_adjust_binary.py)"
PINNED_STRATA = (
    "Miratrix, Sekhon & Yu (2013); R estimatr difference_in_means(blocks =) on the NSW sample (test_ab_test_strata.py)"
)
PINNED_QUANTILE = (
    "Woodruff (1952) SE against the closed form sqrt(q (1 - q) / n) / f(quantile) (test_ab_test_quantiles.py)"
)
PINNED_BOOTSTRAP = (
    "Efron (1987) BCa; R boot 1.3 boot.ci on the same resamples, scipy.stats.bootstrap (test_ab_test_bootstrap.py)"
)
PINNED_CS_COVARIATES = (
    "Sant'Anna & Zhao (2020) DR; csdid and R did att_gt(xformla = ~lpop) on mpdta (test_did_covariates.py)"
)

#: (row label, metric request) of the metrics one adjusted experiment is analysed with, in the order of the rows.
ADJUSTED_METRICS: list[tuple[str, dict[str, Any]]] = [
    (
        "Lin regression adjustment, 3 covariates, heterogeneous effect (HC2)",
        {"column": "lin_y", "covariates": ["x1", "x2", "x3"]},
    ),
    (
        "logistic standardisation, binary metric, 2 covariates (risk difference)",
        {"column": "logit_y", "kind": "binary", "covariates": ["x1", "x2"]},
    ),
    (
        "ratio CUPED (revenue per session, +10%, pre-period ratio)",
        {
            "column": "revenue",
            "kind": "ratio",
            "denominator_column": "sessions",
            "covariate_column": "revenue_pre",
            "covariate_denominator_column": "sessions_pre",
        },
    ),
]


def _batches(total: int, per_call: int) -> list[int]:
    return [min(per_call, total - start) for start in range(0, total, per_call)]


def _comparisons(outcome: ToolResult | ToolError, expected: int) -> list[Comparison] | None:
    """The comparisons of an ab_test run, or None when it failed (or ran without the adjustment asked for)."""
    if not isinstance(outcome, AbTestResult) or len(outcome.comparisons) != expected:
        return None
    if any(c.adjustment is None for c in outcome.comparisons):
        return None
    return outcome.comparisons


def _adjusted_frame(
    rng: np.random.Generator, treated: np.ndarray, batch: int, lift: bool
) -> tuple[pd.DataFrame, list[dict[str, Any]], list[list[float]]]:
    """``batch`` experiments on the same arms, their metrics, and per experiment the truth of each metric."""
    frame: dict[str, np.ndarray] = {"arm": np.array(ARMS)[treated]}
    metrics: list[dict[str, Any]] = []
    truths: list[list[float]] = []
    risk, ratio = (logistic_risk_difference(), ratio_lift()) if lift else (0.0, 0.0)
    for r in range(batch):
        columns, lin_truth = adjusted_columns(rng, treated, lift)
        frame |= {f"{name}@{r}": values for name, values in columns.items()}
        for m, (_, spec) in enumerate(ADJUSTED_METRICS):
            at: dict[str, Any] = {key: f"{value}@{r}" for key, value in spec.items() if key.endswith("column")}
            if "covariates" in spec:
                at["covariates"] = [f"{c}@{r}" for c in spec["covariates"]]
            metrics.append({**spec, **at, "name": f"a{m}@{r}"})
        truths.append([lin_truth, risk, ratio])
    return pd.DataFrame(frame), metrics, truths


def adjusted_ab_test_rows(sim: Simulator, seed: int, size: Size) -> list[ValidationRow]:
    """Coverage of the true effect and the A/A false-positive rate of each row-level adjustment of ab_test."""
    quick = size == "quick"
    per_arm, replications = (400, 240) if quick else (1_000, 2_004)
    treated = np.repeat(np.array([0, 1]), per_arm)
    coverage = [Rate() for _ in ADJUSTED_METRICS]
    fpr = [Rate() for _ in ADJUSTED_METRICS]
    failed = 0
    for lift, rates, name in ((True, coverage, "coverage"), (False, fpr, "A/A")):
        rng = stream(seed, f"ab_test adjusted {name}")
        sim.start(f"ab_test: adjustments, {name}", replications)
        for batch in _batches(replications, PER_CALL):
            frame, metrics, truths = _adjusted_frame(rng, treated, batch, lift)
            request = {"arm_column": "arm", "control": ARMS[0], "metrics": metrics, "correction": "none"}
            comparisons = _comparisons(sim.run("ab_test", frame, request), len(metrics))
            if comparisons is None:
                failed += batch
            else:
                for i, c in enumerate(comparisons):
                    r, m = divmod(i, len(ADJUSTED_METRICS))
                    if lift:
                        rates[m].add(c.absolute.ci_lower <= truths[r][m] <= c.absolute.ci_upper)
                    else:
                        rates[m].add(c.p_value_raw < ALPHA)
            sim.step(batch)
    pinned = (PINNED_LIN, PINNED_LOGISTIC, PINNED_RATIO)
    rows = [
        build_row(
            "ab_test",
            label,
            2 * per_arm,
            coverage=coverage[m],
            fpr=fpr[m],
            failed=failed,
            reference=pinned[m],
        )
        for m, (label, _) in enumerate(ADJUSTED_METRICS)
    ]
    return [*rows, _stratified_row(sim, seed, quick)]


def _stratified_row(sim: Simulator, seed: int, quick: bool) -> ValidationRow:
    per_arm, replications = (400, 240) if quick else (1_000, 2_000)
    coverage, fpr = Rate(), Rate()
    failed = 0
    for lift, rate, name in ((True, coverage, "coverage"), (False, fpr, "A/A")):
        rng = stream(seed, f"ab_test post-stratification {name}")
        sim.start(f"ab_test: post-stratification, {name}", replications)
        for batch in _batches(replications, PER_CALL):
            frame, truths = stratified_experiment(rng, per_arm, batch, lift)
            metrics = [{"name": f"y@{r}"} for r in range(batch)]
            request = {
                "arm_column": "arm",
                "control": ARMS[0],
                "metrics": metrics,
                "correction": "none",
                "strata_column": "stratum",
            }
            comparisons = _comparisons(sim.run("ab_test", frame, request), batch)
            if comparisons is None:
                failed += batch
            else:
                for c, truth in zip(comparisons, truths, strict=True):
                    rate.add(c.absolute.ci_lower <= truth <= c.absolute.ci_upper if lift else c.p_value_raw < ALPHA)
            sim.step(batch)
    return build_row(
        "ab_test",
        "post-stratification, 4 strata, effect varying by stratum",
        2 * per_arm,
        coverage=coverage,
        fpr=fpr,
        failed=failed,
        reference=PINNED_STRATA,
    )


def resampled_ab_test_rows(sim: Simulator, seed: int, size: Size) -> list[ValidationRow]:
    """A skewed metric (lognormal spend, +10%): the difference of 90th percentiles with Woodruff's interval, and the
    difference of means with the BCa bootstrap interval (``interval: "bootstrap"``)."""
    quick = size == "quick"
    per_arm, replications = (400, 240) if quick else (1_000, 1_000)  # default: about two minutes
    resamples = 1_000 if quick else 2_000
    treated = np.repeat(np.array([0, 1]), per_arm)
    p90 = 0.1 * math.exp(SPEND_SIGMA * float(special.ndtri(0.9)))  # lognormal quantile, scaled by 1.1
    designs: tuple[tuple[str, dict[str, Any], float, list[dict[str, Any]]], ...] = (
        ("quantile", {}, p90, [{"kind": "quantile", "quantile": 0.9}]),
        ("bootstrap", {"interval": "bootstrap", "bootstrap_method": "bca", "bootstrap_replicates": resamples},
         0.1 * CONTROL_SPEND, [{}]),
    )  # fmt: skip
    coverage = {name: Rate() for name, *_ in designs}
    fpr = {name: Rate() for name, *_ in designs}
    failed = 0
    for lift, rates, name in ((True, coverage, "coverage"), (False, fpr, "A/A")):
        rng = stream(seed, f"ab_test resampled {name}")
        sim.start(f"ab_test: quantile and bootstrap, {name}", replications)
        for batch in _batches(replications, PER_CALL):
            factor = np.where((treated == 1) & lift, 1.1, 1.0)
            frame = pd.DataFrame(
                {"arm": np.array(ARMS)[treated]}
                | {f"spend@{r}": np.exp(SPEND_SIGMA * rng.standard_normal(len(treated))) * factor for r in range(batch)}
            )
            for design, extra, truth, specs in designs:
                metrics = [{**spec, "name": f"spend@{r}"} for r in range(batch) for spec in specs]
                request = {"arm_column": "arm", "control": ARMS[0], "metrics": metrics, "correction": "none", **extra}
                outcome = sim.run("ab_test", frame, request)
                comparisons = outcome.comparisons if isinstance(outcome, AbTestResult) else None
                if comparisons is None or len(comparisons) != batch:
                    failed += batch
                    continue
                for c in comparisons:
                    hit = c.absolute.ci_lower <= truth <= c.absolute.ci_upper if lift else c.p_value_raw < ALPHA
                    rates[design].add(hit)
            sim.step(batch)
    return [
        build_row(
            "ab_test",
            "90th percentile of spend (lognormal, +10%), Woodruff interval",
            2 * per_arm,
            coverage=coverage["quantile"],
            fpr=fpr["quantile"],
            failed=failed,
            reference=PINNED_QUANTILE,
        ),
        build_row(
            "ab_test",
            f"bootstrap BCa ({resamples:,} resamples), mean of lognormal spend, +10%",
            2 * per_arm,
            coverage=coverage["bootstrap"],
            fpr=fpr["bootstrap"],
            failed=failed,
            reference=PINNED_BOOTSTRAP,
        ),
    ]


def conditional_did_rows(sim: Simulator, seed: int, size: Size) -> list[ValidationRow]:
    """Callaway-Sant'Anna (doubly robust) with the covariate that makes trends parallel: coverage and A/A rate; the
    same panels without it (the covariate's trend biases every ATT(g, t): a mis-specified analysis)."""
    quick = size == "quick"
    units, periods = (100, 6) if quick else (200, 6)
    reps, wrong_reps = (100, 30) if quick else (500, 200)
    base = {"outcome": "y", "unit": "unit", "time": "period", "cohort": "cohort", "estimator": "callaway_santanna"}
    rows: list[ValidationRow] = []
    designs: list[tuple[str, dict[str, Any], bool, int]] = [
        ("Callaway-Sant'Anna DR, trends parallel given x, covariates = [x]", {"covariates": ["x"]}, False, reps),
        ("Callaway-Sant'Anna without x, trends parallel only given x (mis-specified)", {}, True, wrong_reps),
    ]
    for label, extra, wrong, count in designs:
        request = {**base, **extra}
        rates: list[Rate] = []
        failed, n = 0, 0
        for effect, name in ((1.0, "coverage"), (0.0, "A/A")):
            if wrong and effect == 0.0:
                break
            rate = Rate()
            rng = stream(seed, f"diff_in_diff: {label} {name}")
            sim.start(f"diff_in_diff: {label} ({name})", count)
            for _ in range(count):
                frame, truth = conditional_trends_panel(rng, units, periods, effect, growth=0.3 if effect else 0.0)
                n = len(frame)
                outcome = sim.run("diff_in_diff", frame, request)
                if isinstance(outcome, DiffInDiffResult):
                    e = outcome.effect
                    rate.add(e.ci_lower <= truth <= e.ci_upper if effect else e.p_value < ALPHA)
                else:
                    failed += 1
                sim.step()
            rates.append(rate)
        rows.append(
            build_row(
                "diff_in_diff",
                label,
                n,
                coverage=rates[0],
                fpr=rates[1] if len(rates) > 1 else None,
                misspecified=wrong,
                failed=failed,
                reference=None if wrong else PINNED_CS_COVARIATES,
            )
        )
    return rows
