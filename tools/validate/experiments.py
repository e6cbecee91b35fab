"""Calibration of the experiment tools: power's formula against simulated experiments, ab_test's intervals and A/A
false-positive rates (binary, continuous, CUPED, ratio, clustered), and ab_test's sequential looks. The row-level
adjustments, quantile metrics and bootstrap intervals are in :mod:`tools.validate.covariate_rows`.

Many experiments go through one ``ab_test`` call, each as a metric of its own (correction 'none', so every metric is
tested at alpha as it would be alone): arms have fixed sizes and rows are independent draws, so experiments sharing
the arm column are still exactly independent.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.proportion import proportions_ztest

from tools.ab_test.models import AbTestResult, Comparison
from tools.errors import ToolError
from tools.power import PowerResult
from tools.results import ToolResult
from tools.validate.designs import (
    ARMS,
    BINARY_CONTROL,
    BINARY_TREATMENT,
    CONTROL_REVENUE,
    CONTROL_SPEND,
    EXPERIMENT_COLUMNS,
    clustered_sessions,
    experiment_columns,
    looked_experiment,
)
from tools.validate.models import Rate, Size, ValidationRow, build_row
from tools.validate.references import (
    AB_TEST_PINNED,
    ARMITAGE_NAIVE_RATE,
    check_power_references,
    check_sequential_boundaries,
)
from tools.validate.simulate import Simulator, stream

__all__ = ["ab_test_rows", "power_rows", "sequential_rows"]

ALPHA = 0.05
#: Experiments per ab_test call (at most 50 metrics a call).
PER_CALL = 12


def _batches(total: int, per_call: int) -> Iterator[int]:
    """Batch sizes that add up to ``total``, each at most ``per_call``."""
    while total > 0:
        yield min(per_call, total)
        total -= per_call


def _comparisons(outcome: ToolResult | ToolError, expected: int) -> list[Comparison] | None:
    """The comparisons of an ab_test run, or None when it failed (its experiments count as failed)."""
    if not isinstance(outcome, AbTestResult) or len(outcome.comparisons) != expected:
        return None
    return outcome.comparisons


def _arm_labels(treated: np.ndarray) -> np.ndarray:
    labels: np.ndarray = np.array(ARMS)[treated]
    return labels


def power_rows(sim: Simulator, seed: int, size: Size) -> list[ValidationRow]:
    """At the sample size power gives for 80% power, ab_test rejects as often as the formula promised."""
    quick = size == "quick"
    mde, replications = (0.10, 200) if quick else (0.05, 2_000)
    outcome = sim.call("power", {"metric": "proportion", "baseline": 0.20, "mde": mde, "power": 0.8})
    if not isinstance(outcome, PowerResult):
        raise RuntimeError(f"power refused its own design: {outcome}")
    n_control, n_treatment = outcome.n_per_arm, outcome.n_treatment
    treated = np.repeat(np.array([0, 1]), [n_control, n_treatment])
    rate = np.where(treated == 1, 0.20 + mde, 0.20)
    rng = stream(seed, "power")
    rejected, failed = Rate(), 0
    sim.start("power: formula vs simulation", replications)
    for batch in _batches(replications, 4 * PER_CALL):
        frame = {"arm": _arm_labels(treated)} | {
            f"conversion@{r}": (rng.random(len(treated)) < rate).astype(np.float64) for r in range(batch)
        }
        metrics = [{"name": f"conversion@{r}", "kind": "binary"} for r in range(batch)]
        request = {"arm_column": "arm", "control": ARMS[0], "metrics": metrics, "correction": "none"}
        comparisons = _comparisons(sim.run("ab_test", pd.DataFrame(frame), request), batch)
        if comparisons is None:
            failed += batch
        else:
            for c in comparisons:
                rejected.add(c.p_value_raw < ALPHA)
        sim.step(batch)
    reference, agrees = check_power_references(sim)
    return [
        build_row(
            "power",
            f"proportion 20% -> {20 + 100 * mde:.0f}%: ab_test's rejections at power's n",
            n_control + n_treatment,
            alpha=ALPHA,
            power=rejected,
            power_planned=outcome.power,
            failed=failed,
            reference=reference,
            reference_ok=agrees,
        )
    ]


#: (row label, metric request, column of the estimate's truth) for the four experiment metrics.
METRICS: list[tuple[str, dict[str, Any], float]] = [
    (
        f"binary ({BINARY_CONTROL:.0%} -> {BINARY_TREATMENT:.0%}), absolute lift",
        {"column": "signup", "kind": "binary"},
        BINARY_TREATMENT - BINARY_CONTROL,
    ),
    ("continuous (lognormal spend, +10%), absolute lift", {"column": "spend"}, 0.1 * CONTROL_SPEND),
    (
        "continuous with CUPED (pre-period covariate, r = 0.7)",
        {"column": "spend", "covariate_column": "spend_pre"},
        0.1 * CONTROL_SPEND,
    ),
    (
        "ratio (revenue per session, +10%)",
        {"column": "session_revenue", "kind": "ratio", "denominator_column": "sessions"},
        0.1 * CONTROL_REVENUE,
    ),
]


def _experiment_frame(
    rng: np.random.Generator, treated: np.ndarray, batch: int, lift: bool
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """``batch`` experiments on the same arms, and the ab_test metrics that analyse each one (four per experiment)."""
    frame: dict[str, np.ndarray] = {"arm": _arm_labels(treated)}
    metrics: list[dict[str, Any]] = []
    for r in range(batch):
        frame |= {f"{name}@{r}": values for name, values in experiment_columns(rng, treated, lift).items()}
        for m, (_, spec, _) in enumerate(METRICS):
            at = {key: f"{value}@{r}" for key, value in spec.items() if key.endswith("column")}
            metrics.append({**spec, **at, "name": f"m{m}@{r}"})
    return pd.DataFrame(frame), metrics


def _experiment_parity(frame: pd.DataFrame, comparisons: list[Comparison]) -> list[tuple[str, bool]]:
    """whyscope's p-values of the first experiment in a batch against statsmodels' pooled two-proportion z-test
    (binary) and scipy's Welch t-test (continuous), recomputed here on the same rows, in the order of METRICS."""
    treated = (frame["arm"] == ARMS[1]).to_numpy()
    signup = frame[f"{EXPERIMENT_COLUMNS[0]}@0"].to_numpy()
    spend = frame[f"{EXPERIMENT_COLUMNS[2]}@0"].to_numpy()
    counts = np.array([signup[treated].sum(), signup[~treated].sum()])
    pooled = float(proportions_ztest(counts, np.array([treated.sum(), (~treated).sum()]))[1])
    welch = float(stats.ttest_ind(spend[treated], spend[~treated], equal_var=False).pvalue)
    binary, continuous = comparisons[0].p_value_raw, comparisons[1].p_value_raw
    return [
        (
            f"statsmodels pooled z-test p {pooled:.6f} (whyscope {binary:.6f})",
            math.isclose(pooled, binary, rel_tol=1e-8),
        ),
        (
            f"scipy Welch t-test p {welch:.6f} (whyscope {continuous:.6f})",
            math.isclose(welch, continuous, rel_tol=1e-8),
        ),
    ]


def ab_test_rows(sim: Simulator, seed: int, size: Size) -> list[ValidationRow]:
    """Coverage of the true absolute lift and the A/A false-positive rate per metric kind; clustered sessions
    analysed by user (right) and by row (the mistake the table must flag)."""
    quick = size == "quick"
    per_arm, replications = (400, 240) if quick else (1_000, 2_004)
    treated = np.repeat(np.array([0, 1]), per_arm)
    coverage = [Rate() for _ in METRICS]
    fpr = [Rate() for _ in METRICS]
    failed = 0
    parity: list[tuple[str, bool]] | None = None
    for lift, rates, name in ((True, coverage, "coverage"), (False, fpr, "A/A")):
        rng = stream(seed, f"ab_test {name}")
        sim.start(f"ab_test: {name}", replications)
        for batch in _batches(replications, PER_CALL):
            frame, metrics = _experiment_frame(rng, treated, batch, lift)
            request = {"arm_column": "arm", "control": ARMS[0], "metrics": metrics, "correction": "none"}
            comparisons = _comparisons(sim.run("ab_test", frame, request), len(metrics))
            if comparisons is None:
                failed += batch
                sim.step(batch)
                continue
            if parity is None:
                parity = _experiment_parity(frame, comparisons)
            for i, c in enumerate(comparisons):
                m = i % len(METRICS)
                if lift:
                    truth = METRICS[m][2]
                    rates[m].add(c.absolute.ci_lower <= truth <= c.absolute.ci_upper)
                else:
                    rates[m].add(c.p_value_raw < ALPHA)
            sim.step(batch)
    rows = []
    for m, (label, _, _) in enumerate(METRICS):
        pinned: tuple[str, bool | None] = (AB_TEST_PINNED[m], None)
        reference, agrees = parity[m] if m < 2 and parity is not None else pinned
        rows.append(
            build_row(
                "ab_test",
                label,
                2 * per_arm,
                coverage=coverage[m],
                fpr=fpr[m],
                failed=failed,
                reference=reference,
                reference_ok=agrees,
            )
        )
    return rows + _clustered_rows(sim, seed, quick)


def _clustered_rows(sim: Simulator, seed: int, quick: bool) -> list[ValidationRow]:
    users, replications = (150, 240) if quick else (300, 2_000)
    per_call = 10
    by_user, by_row = Rate(), Rate()
    failed, rows = 0, 0
    rng = stream(seed, "ab_test clustered")
    sim.start("ab_test: clustered sessions", replications)
    for batch in _batches(replications, per_call):
        frame = clustered_sessions(rng, users, batch)
        rows += len(frame)
        metrics = [{"name": f"minutes@{r}"} for r in range(batch)]
        request = {"arm_column": "arm", "control": ARMS[0], "metrics": metrics, "correction": "none"}
        right = _comparisons(sim.run("ab_test", frame, {**request, "cluster_column": "user_id"}), batch)
        wrong = _comparisons(sim.run("ab_test", frame, request), batch)
        if right is None or wrong is None:
            failed += batch
        else:
            for rate, comparisons in ((by_user, right), (by_row, wrong)):
                for c in comparisons:
                    rate.add(c.p_value_raw < ALPHA)
        sim.step(batch)
    mean_rows = round(rows / max(replications, 1))
    pinned = "statsmodels OLS with cluster-robust (CR0, CR1) errors by user (test_ab_test_reference.py)"
    return [
        build_row(
            "ab_test",
            "clustered sessions, cluster_column = user (A/A)",
            mean_rows,
            fpr=by_user,
            failed=failed,
            reference=pinned,
        ),
        build_row(
            "ab_test",
            "clustered sessions analysed per row (mis-specified, A/A)",
            mean_rows,
            fpr=by_row,
            misspecified=True,
            failed=failed,
        ),
    ]


def sequential_rows(sim: Simulator, seed: int, size: Size) -> list[ValidationRow]:
    """A/A experiments watched at 5 equally spaced looks: the O'Brien-Fleming plan and the always-valid confidence
    sequence keep the false-positive rate at alpha; a fixed-horizon test at every look does not (about 14%)."""
    quick = size == "quick"
    per_look, replications = (200, 250) if quick else (1_000, 2_000)
    looks, per_call = 5, 25
    planned = 2 * looks * per_look
    plan, always, naive = Rate(), Rate(), Rate()
    failed = 0
    rng = stream(seed, "sequential")
    sim.start("ab_test: sequential looks", replications)
    for batch in _batches(replications, per_call):
        frame = looked_experiment(rng, looks * per_look, batch)
        metrics = [{"name": f"m@{r}"} for r in range(batch)]
        base = {"arm_column": "arm", "control": ARMS[0], "metrics": metrics, "correction": "none"}
        crossed = np.zeros((3, batch), dtype=bool)
        ok = True
        for look in range(1, looks + 1):
            rows = frame.iloc[: 2 * look * per_look]
            grouped = _comparisons(
                sim.run(
                    "ab_test", rows, {**base, "sequential": {"looks": looks, "look": look}, "planned_n_total": planned}
                ),
                batch,
            )
            valid = _comparisons(
                sim.run("ab_test", rows, {**base, "monitoring": "always_valid", "planned_n_total": planned}), batch
            )
            if grouped is None or valid is None:
                ok = False
                break
            crossed[0] |= [c.sequential is not None and c.sequential.crossed for c in grouped]
            crossed[1] |= [c.always_valid is not None and c.always_valid.absolute.crossed for c in valid]
            crossed[2] |= [c.p_value_raw < ALPHA for c in grouped]
        if ok:
            for rate, hits in zip((plan, always, naive), crossed, strict=True):
                for hit in hits:
                    rate.add(bool(hit))
        else:
            failed += batch
        sim.step(batch)
    boundaries, agrees = check_sequential_boundaries(sim)
    naive_agrees = naive.trials > 0 and abs(naive.value - ARMITAGE_NAIVE_RATE) <= 3.5 * naive.mc_se + 0.005
    return [
        build_row(
            "ab_test",
            "sequential: 5 looks, O'Brien-Fleming plan (A/A)",
            planned,
            fpr=plan,
            failed=failed,
            reference=boundaries,
            reference_ok=agrees,
        ),
        build_row(
            "ab_test",
            "sequential: 5 looks, always-valid confidence sequence (A/A)",
            planned,
            fpr=always,
            conservative=True,
            failed=failed,
        ),
        build_row(
            "ab_test",
            "sequential: 5 looks, fixed-horizon test at each (mis-specified, A/A)",
            planned,
            fpr=naive,
            misspecified=True,
            failed=failed,
            reference=f"Armitage, McPherson & Rowe (1969): {ARMITAGE_NAIVE_RATE:.1%} at 5 looks "
            f"(this run {naive.value:.1%})",
            reference_ok=naive_agrees,
        ),
    ]
