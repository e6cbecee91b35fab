"""The aa_test tool: can the experiment system and this metric's analysis be trusted?

Two checks (Kohavi, Tang & Xu 2020, ch. 19 and 21). With ``arm_column``, the A/A test that ran is analysed by
``ab_test`` itself (the sample-ratio check and each metric's comparison of the two A arms). And always, the data are
re-randomised ``simulations`` times (:mod:`tools.aa_test.simulate`): ab_test's analysis of each metric on each random
split, from which the false-positive rate (exact binomial interval), the uniformity of the p-values
(Kolmogorov-Smirnov) and the ratio of the mean analytic standard error to the spread of the simulated differences.
A ratio well below 1 is the signature of rows analysed as if independent while they are not — sessions of the same
user: when no ``cluster_column`` is given but an ID column (or one named as a unit, such as "Workspace":
:mod:`tools.aa_test.units`) repeats across rows, the splits assign that column's values
(as a real experiment assigns users) while the rows are analysed as given, and the same metrics analysed per unit
(``by_unit``) show the fix.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import stats

from tools.aa_test.models import (
    P_BINS,
    AaTestRequest,
    AaTestResult,
    FalsePositiveRate,
    SimulatedMetric,
)
from tools.aa_test.refusals import refuse_unused_fields
from tools.aa_test.simulate import AnalysedMetric, SplitTests, group_sums, per_unit, run_splits
from tools.aa_test.units import MIN_UNITS, named_unit, repeated_unit
from tools.ab_test.ids import ID_COLUMN
from tools.ab_test.metric_columns import read_metric
from tools.ab_test.models import AbTestRequest, ArmShare, Comparison, MetricSpec, SrmResult
from tools.data import Dataset
from tools.data.columns import column
from tools.data.names import display_name
from tools.errors import ToolError
from tools.literals import Status
from tools.results import Check

__all__ = ["aa_test"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]
Progress = Callable[[int, int, str], None]

#: A false-positive rate this far from alpha (two-sided exact binomial p-value) fails the check.
FPR_P = 0.001
#: p-values this far from uniform (Kolmogorov-Smirnov p-value) fail the check.
KS_P = 0.001
#: The standard-error ratio fails below 1 minus this (or 3.5 Monte Carlo errors, if larger).
SE_TOLERANCE = 0.1


def aa_test(
    request: AaTestRequest,
    data: pd.DataFrame | Dataset | None,
    *,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> AaTestResult:
    """Check ``request.metrics`` on ``data``: the observed A/A (with arms) and the re-randomised one."""
    refuse_unused_fields(request)
    if data is None:
        raise ToolError(
            "no_data",
            "aa_test needs the rows: one per unit, or per session with the unit's ID.",
            "Attach the data (historical rows of the metric, or the A/A test's rows) and give its name in `dataset`.",
        )
    if isinstance(data, Dataset) and data.engine is not None:
        from tools.aa_test.engine import analysed_in_engine

        engine = data.engine
        for name, role in ((request.arm_column, "arm"), (request.cluster_column, "cluster")):
            if name is not None:
                engine.require(name, role)
        repeated = _repeated_in_engine(request, data)
        unit = request.cluster_column or repeated
        if unit is None:  # rows randomised one by one: the columns the check needs are pulled
            return aa_test(request, engine.load_columns(_needed(request)), progress=progress, cancel=cancel)
        srm, observed, observed_notes = _observed(request, data)
        found = analysed_in_engine(engine, request.metrics, unit, cluster=request.cluster_column is not None,
                                   fixed=_per_unit(request) if repeated is not None else [])  # fmt: skip
        return _simulate(request, engine.n_rows, srm, observed, observed_notes, repeated, unit, *found,
                         progress=progress, cancel=cancel)  # fmt: skip
    frame = data.frame if isinstance(data, Dataset) else data
    for name, role in ((request.arm_column, "arm"), (request.cluster_column, "cluster")):
        if name is not None:
            column(frame, name, role)
    srm, observed, observed_notes = _observed(request, frame)
    repeated = _repeated_unit(request, frame)
    unit = request.cluster_column or repeated
    codes, n_groups = _unit_codes(frame, unit) if unit is not None else (None, len(frame))
    as_requested = [_analysed(frame, spec, codes, n_groups, cluster=request.cluster_column is not None)
                    for spec in request.metrics]  # fmt: skip
    fixed = (
        [_analysed(frame, spec, codes, n_groups, cluster=True) for spec in _per_unit(request)]
        if repeated is not None and codes is not None
        else []
    )
    return _simulate(request, len(frame), srm, observed, observed_notes, repeated, unit, n_groups, as_requested,
                     fixed, progress=progress, cancel=cancel)  # fmt: skip


def _simulate(
    request: AaTestRequest,
    n_rows: int,
    srm: SrmResult | None,
    observed: list[Comparison],
    observed_notes: list[str],
    repeated: str | None,
    unit: str | None,
    n_groups: int,
    as_requested: list[tuple[AnalysedMetric, int]],
    fixed: list[tuple[AnalysedMetric, int]],
    *,
    progress: Progress | None,
    cancel: threading.Event | None,
) -> AaTestResult:
    """The re-randomisation of the metrics as requested (and per unit, with a repeated unit), and the result."""
    kept = _kept_units(as_requested, n_groups)
    if kept < MIN_UNITS:
        raise ToolError(
            "too_few_units",
            f"{kept:,} randomised unit(s) have the metrics; an A/A simulation needs at least {MIN_UNITS}.",
            "Use more historical data (a longer window), or fewer metrics with missing values.",
        )
    total = request.simulations * (2 if fixed else 1)
    step = _Steps(progress, total)
    splits = run_splits([m for m, _ in as_requested], n_groups, request.simulations, request.split, request.seed,
                        progress=step.at(0), cancel=cancel)  # fmt: skip
    unit_label = f"'{display_name(unit)}' unit" if unit is not None else "row"
    rows_label = f"'{display_name(request.cluster_column)}' unit" if request.cluster_column else "row"
    simulated = [
        _summarise(spec, metric, tests, request, analysed_per=request.cluster_column, randomised_by=unit, n_units=n)
        for spec, (metric, n), tests in zip(request.metrics, as_requested, splits, strict=True)
    ]
    by_unit: list[SimulatedMetric] = []
    if fixed:
        unit_splits = run_splits([m for m, _ in fixed], n_groups, request.simulations, request.split, request.seed,
                                 progress=step.at(request.simulations), cancel=cancel)  # fmt: skip
        by_unit = [
            _summarise(spec, metric, tests, request, analysed_per=unit, randomised_by=unit, n_units=n)
            for spec, (metric, n), tests in zip(_per_unit(request), fixed, unit_splits, strict=True)
        ]
    checks, reasons = _checks(request, srm, observed, simulated, by_unit, repeated)
    verdict = "investigate" if any(c.status == "fail" for c in checks) else "trustworthy"
    warnings = _warnings(request, simulated, repeated, by_unit) + observed_notes
    if verdict == "trustworthy":
        reasons.insert(0, "Every check passed: " + _checked(request, simulated))
    return AaTestResult(
        estimand="Whether the experiment system splits traffic as planned and ab_test's analysis of each metric "
        "keeps its false-positive rate at alpha on these data (no effect exists between A and A).",
        method=_method(request, unit_label, rows_label),
        dataset=request.dataset,
        arm_column=request.arm_column,
        cluster_column=request.cluster_column,
        repeated_unit=repeated,
        n_rows=n_rows,
        simulations=request.simulations,
        split=request.split,
        seed=request.seed,
        alpha=request.alpha,
        srm=srm,
        observed=observed,
        simulated=simulated,
        by_unit=by_unit,
        verdict=verdict,
        reasons=reasons,
        checks=checks,
        warnings=warnings,
        summary=_summary(verdict, simulated, by_unit, repeated, srm, request),
    )


class _Steps:
    """Progress over both simulations (as requested, then per unit)."""

    def __init__(self, progress: Progress | None, total: int) -> None:
        self.progress, self.total = progress, total

    def at(self, offset: int) -> Progress | None:
        if self.progress is None:
            return None
        progress = self.progress

        def report(done: int, _total: int, label: str) -> None:
            progress(offset + done, self.total, label)

        return report


# -- the observed A/A -------------------------------------------------------------------------------------------


def _observed(
    request: AaTestRequest, data: pd.DataFrame | Dataset
) -> tuple[SrmResult | None, list[Comparison], list[str]]:
    """ab_test on the observed arms (none without arm_column): its SRM check and comparisons, and its warnings (an
    engine table: ab_test runs in the engine)."""
    if request.arm_column is None:
        return None, [], []
    from tools.ab_test.inputs import label_text
    from tools.ab_test.tool import ab_test

    if isinstance(data, Dataset) and data.engine is not None:
        arm = data.engine.quote(request.arm_column)
        found = data.engine.execute(f"SELECT DISTINCT {arm} FROM {data.engine.relation} WHERE {arm} IS NOT NULL")
        labels = sorted({label_text(row[0]) for row in found})
    else:
        frame = data.frame if isinstance(data, Dataset) else data
        labels = sorted({str(v) for v in frame[request.arm_column].dropna().unique()})
    if len(labels) != 2:
        raise ToolError(
            "not_two_arms",
            f"The arm column '{display_name(request.arm_column)}' has {len(labels)} value(s); an A/A test has two.",
            "Give the column with the two A arms, or leave arm_column out to only re-randomise the data.",
        )
    split = None
    if request.split != 0.5:
        split = [ArmShare(arm=labels[0], share=request.split), ArmShare(arm=labels[1], share=1 - request.split)]
    ab = AbTestRequest(
        dataset=request.dataset,
        arm_column=request.arm_column,
        control=labels[0],
        cluster_column=request.cluster_column,
        metrics=request.metrics,
        expected_split=split,
        alpha=request.alpha,
    )
    result = ab_test(ab, data)
    return result.srm, result.comparisons, [f"Observed A/A: {w}" for w in result.warnings[:3]]


# -- the units and what each metric's analysis sums -------------------------------------------------------------


def _repeated_unit(request: AaTestRequest, frame: pd.DataFrame) -> str | None:
    """The repeated unit (:func:`tools.aa_test.units.repeated_unit`), when no cluster_column is given."""
    if request.cluster_column is not None:
        return None
    return repeated_unit(frame, used=set(_needed(request)))


def _repeated_in_engine(request: AaTestRequest, data: Dataset) -> str | None:
    """:func:`_repeated_unit` counted in the engine."""
    if request.cluster_column is not None or data.engine is None:
        return None
    engine = data.engine
    found = next((name for name in engine.columns if ID_COLUMN.search(name) and engine.repeats(name)), None)
    if found is not None:
        return found
    used = set(_needed(request))
    schema = engine.schema()
    for name in engine.columns:
        if name in used or not named_unit(name) or _FLOAT_TYPE.search(schema.get(name, "")):
            continue
        quoted = engine.quote(name)
        rows, distinct = engine.execute(f"SELECT COUNT({quoted}), COUNT(DISTINCT {quoted}) FROM {engine.relation}")[0]
        if MIN_UNITS <= int(distinct or 0) < int(rows or 0):
            return name
    return None


#: Engine column types that hold measurements, never a unit.
_FLOAT_TYPE = re.compile(r"float|double|real|decimal|numeric", re.I)


def _per_unit(request: AaTestRequest) -> list[MetricSpec]:
    """The metrics that can be shown analysed per unit beside their per-row analysis (CUPED per unit is not
    supported by ab_test, so a metric with a covariate has no per-unit fix shown)."""
    return [spec for spec in request.metrics if spec.covariate_column is None]


def _needed(request: AaTestRequest) -> list[str]:
    """The columns the check reads: the arm, the cluster, and each metric's value, denominator and covariate."""
    names = [request.arm_column, request.cluster_column]
    for spec in request.metrics:
        names += [spec.column or spec.name, spec.denominator_column, spec.covariate_column]
    return list(dict.fromkeys(n for n in names if n is not None))


def _unit_codes(frame: pd.DataFrame, unit: str) -> tuple[IntArray, int]:
    """Each row's unit as a code, the units sorted by value (as the engine orders them: the same splits either
    way), and the number of units."""
    codes, uniques = pd.factorize(frame[unit], use_na_sentinel=True, sort=True)
    if (codes < 0).any():
        raise ToolError(
            "missing_unit",
            f"{int((codes < 0).sum()):,} row(s) have no value in the unit column '{display_name(unit)}'.",
            "Drop those rows, or fill in the unit they belong to.",
        )
    return np.asarray(codes, dtype=np.intp), len(uniques)


def _analysed(
    frame: pd.DataFrame, spec: MetricSpec, codes: IntArray | None, n_groups: int, *, cluster: bool
) -> tuple[AnalysedMetric, int]:
    """The metric as ab_test analyses it, with its sums per randomised unit, and the units analysed. ``cluster``:
    the rows are summed per unit (``codes``) and analysed as a ratio of means, as ab_test does with cluster_column;
    otherwise rows are analysed, randomised by ``codes`` when given (a repeated unit) or row by row."""
    read = read_metric(frame, spec, np.ones(len(frame), dtype=bool), clustered=cluster)
    y, d, x, valid = read.y, read.d, read.x, read.valid
    rows = np.flatnonzero(valid)
    yv = y[rows]
    dv = d[rows] if d is not None else None
    xv = x[rows] if x is not None else None
    groups = codes[rows] if codes is not None else None
    if cluster:
        assert groups is not None
        # sum the metric (and the denominator, or the row count) per unit: a ratio of means over units
        y_unit = np.bincount(groups, weights=yv, minlength=n_groups).astype(np.float64)
        d_unit = np.bincount(groups, weights=dv, minlength=n_groups).astype(np.float64)
        return per_unit(spec.kind, y_unit, d_unit, np.bincount(groups, minlength=n_groups) > 0)
    if groups is None:  # rows randomised one by one: the unit of the sums is the row itself
        sums, centres = group_sums(yv, dv, xv, None, 0)
        full = np.zeros((n_groups, sums.shape[1]))
        full[rows] = sums
    else:
        full, centres = group_sums(yv, dv, xv, groups, n_groups)
    metric = AnalysedMetric(spec.kind, spec.kind == "ratio", xv is not None, full, centres)
    return metric, len(rows)


def _kept_units(analysed: list[tuple[AnalysedMetric, int]], n_groups: int) -> int:
    """The randomised units with at least one analysed unit of every metric (the smallest over metrics)."""
    return min(int((m.sums[:, 0] > 0).sum()) for m, _ in analysed) if analysed else n_groups


# -- the numbers of one metric ----------------------------------------------------------------------------------


def _summarise(
    spec: MetricSpec,
    metric: AnalysedMetric,
    tests: SplitTests,
    request: AaTestRequest,
    *,
    analysed_per: str | None,
    randomised_by: str | None,
    n_units: int,
) -> SimulatedMetric:
    valid = tests.valid
    count = int(valid.sum())
    if count < max(20, request.simulations // 2):
        raise ToolError(
            "no_variance",
            f"Metric '{display_name(spec.name)}': only {count:,} of {request.simulations:,} splits could be "
            "tested (an arm without variance or with fewer than two units).",
            "Check that the metric varies between units, and that there are enough units.",
        )
    p = tests.p_value[valid]
    rejections = int((p < request.alpha).sum())
    binomial = stats.binomtest(rejections, count, request.alpha)
    low, high = binomial.proportion_ci(0.95, method="exact")
    differences = tests.difference[valid]
    sd = float(np.std(differences, ddof=1))
    mean_se = float(np.mean(tests.std_error[valid]))
    ratio = mean_se / sd if sd > 0 else math.inf
    mc_error = ratio / math.sqrt(2 * (count - 1)) if math.isfinite(ratio) else 0.0
    histogram, _ = np.histogram(p, bins=P_BINS, range=(0.0, 1.0))
    fpr = FalsePositiveRate(
        rate=rejections / count,
        ci_lower=float(low),
        ci_upper=float(high),
        rejections=rejections,
        p_value=float(binomial.pvalue),
    )
    ks = float(stats.kstest(p, "uniform").pvalue)
    return SimulatedMetric(
        metric=spec.name,
        analysed_per=analysed_per,
        randomised_by=randomised_by,
        n_units=n_units,
        test=metric.test,
        false_positive_rate=fpr,
        ks_p_value=ks,
        se_ratio=ratio if math.isfinite(ratio) else 0.0,
        se_ratio_mc_error=mc_error,
        mean_std_error=mean_se,
        sd_difference=sd,
        p_histogram=[int(c) for c in histogram],
        status=_status(fpr, ks, ratio, mc_error, request.alpha),
    )


def _per(column: str | None) -> str:
    """What an analysis counts as its unit, in words."""
    return f"'{column}' unit" if column is not None else "row"


def _se_floor(mc_error: float) -> float:
    return 1 - max(SE_TOLERANCE, 3.5 * mc_error)


def _status(fpr: FalsePositiveRate, ks: float, ratio: float, mc_error: float, alpha: float) -> Status:
    too_many = fpr.rate > alpha and fpr.p_value < FPR_P
    understated = ratio < _se_floor(mc_error)
    if too_many or understated or ks < KS_P:
        return "fail"
    if fpr.rate < alpha and fpr.p_value < FPR_P:
        return "warn"  # conservative: valid, but the metric could be tested with more power
    return "pass"


# -- checks and words ------------------------------------------------------------------------------------------


def _checks(
    request: AaTestRequest,
    srm: SrmResult | None,
    observed: list[Comparison],
    simulated: list[SimulatedMetric],
    by_unit: list[SimulatedMetric],
    repeated: str | None,
) -> tuple[list[Check], list[str]]:
    checks: list[Check] = []
    reasons: list[str] = []
    alpha = request.alpha
    if srm is not None:
        failed = srm.status != "pass"
        checks.append(
            Check(
                name="sample_ratio",
                status="fail" if failed else "pass",
                detail=f"Observed A/A arms against the planned split: chi-square p = {srm.p_value:.3g}.",
            )
        )
        if failed:
            reasons.append(
                f"Sample-ratio mismatch in the A/A test (p = {srm.p_value:.3g}): the system does not split traffic "
                "as planned, so every experiment on it is suspect until the cause is found (assignment, logging, "
                "bots, redirects)."
            )
    for comparison in observed:
        significant = comparison.p_value_adjusted < alpha
        checks.append(
            Check(
                name="observed_aa",
                status="fail" if significant else "pass",
                detail=f"Observed A/A difference in '{comparison.metric}': p = {comparison.p_value_adjusted:.3g}.",
            )
        )
        if significant:
            reasons.append(
                f"The observed A/A shows a significant difference in '{comparison.metric}' (p = "
                f"{comparison.p_value_adjusted:.3g}); one valid A/A test in 1/alpha does this by chance, so rerun "
                "it, and read the simulation below for whether the analysis itself is at fault."
            )
    for result in simulated:
        fpr = result.false_positive_rate
        checks.append(
            Check(
                name="false_positive_rate",
                status="fail" if fpr.rate > alpha and fpr.p_value < FPR_P else "pass",
                detail=f"'{result.metric}': {fpr.rate:.1%} of {request.simulations:,} A/A splits significant at "
                f"alpha {alpha:g} (95% CI {fpr.ci_lower:.1%} to {fpr.ci_upper:.1%}).",
            )
        )
        checks.append(
            Check(
                name="p_value_uniformity",
                status="fail" if result.ks_p_value < KS_P else "pass",
                detail=f"'{result.metric}': Kolmogorov-Smirnov p = {result.ks_p_value:.3g} against uniform p-values.",
            )
        )
        understated = result.se_ratio < _se_floor(result.se_ratio_mc_error)
        checks.append(
            Check(
                name="standard_error_ratio",
                status="fail" if understated else "pass",
                detail=f"'{result.metric}': mean analytic standard error / spread of the simulated differences = "
                f"{result.se_ratio:.3g} (Monte Carlo error {result.se_ratio_mc_error:.2g}).",
            )
        )
        if result.status != "fail":
            continue
        if repeated is not None and understated:
            fix = next((u for u in by_unit if u.metric == result.metric), None)
            reasons.append(
                f"'{result.metric}' is analysed per row while '{repeated}' repeats across rows: rows of the same "
                f"unit are not independent, so the analysis understates the noise (SE ratio {result.se_ratio:.3g}) "
                f"and calls {fpr.rate:.1%} of A/A splits significant at alpha {alpha:g}. Set "
                f"cluster_column='{repeated}' (as a real experiment assigns units)"
                + (
                    f": analysed per unit, the rate is {fix.false_positive_rate.rate:.1%} and the SE ratio "
                    f"{fix.se_ratio:.3g}."
                    if fix is not None
                    else "."
                )
            )
        elif understated or fpr.rate > alpha:
            reasons.append(
                f"'{result.metric}': {fpr.rate:.1%} of A/A splits are significant at alpha {alpha:g} and the "
                f"analytic standard error is {result.se_ratio:.3g} of the real spread: the analysis understates the "
                "noise (units that are not independent, or a heavy tail at this sample size)."
            )
        else:
            reasons.append(
                f"'{result.metric}': the p-values are not uniform (Kolmogorov-Smirnov p = {result.ks_p_value:.3g}): "
                "the test's normal approximation strains at this sample size (a heavy tail, or few events); "
                "consider winsorizing, a longer test, or a metric with less skew."
            )
    return checks, reasons


def _warnings(
    request: AaTestRequest, simulated: list[SimulatedMetric], repeated: str | None, by_unit: list[SimulatedMetric]
) -> list[str]:
    warnings: list[str] = []
    if repeated is not None:
        warnings.append(
            f"'{repeated}' repeats across rows and no cluster_column was given: the splits assign its values, as a "
            "real experiment assigns units, and the rows are analysed as requested; by_unit shows the analysis "
            "per unit."
        )
    for result in [*simulated, *by_unit]:
        if result.status == "warn":
            warnings.append(
                f"'{result.metric}' (per {_per(result.analysed_per)}): fewer false positives than alpha "
                f"({result.false_positive_rate.rate:.1%}): the test is conservative here, valid but with less power "
                "than it could have."
            )
    if request.simulations < 1000:
        warnings.append(
            f"{request.simulations:,} splits give a coarse false-positive rate (its interval is wide); use 1,000 or "
            "more before relying on it."
        )
    return warnings


def _checked(request: AaTestRequest, simulated: list[SimulatedMetric]) -> str:
    parts = [
        f"'{s.metric}' {s.false_positive_rate.rate:.1%} false positives at alpha {request.alpha:g}, SE ratio "
        f"{s.se_ratio:.3g}"
        for s in simulated
    ]
    return "; ".join(parts) + f" over {request.simulations:,} random splits."


def _method(request: AaTestRequest, unit_label: str, rows_label: str) -> str:
    observed = (
        f"ab_test on the observed arms of '{request.arm_column}' (sample-ratio check, each metric compared); "
        if request.arm_column is not None
        else ""
    )
    return (
        f"{observed}{request.simulations:,} random splits by {unit_label} (each to the first arm with "
        f"probability {request.split:g}, seed {request.seed}), each metric analysed per {rows_label} by ab_test's "
        "own test on every split; the false-positive rate with its exact binomial interval, a Kolmogorov-Smirnov "
        "test of uniform p-values, and the mean analytic standard error over the standard deviation of the "
        "simulated differences. A check fails when the rate exceeds alpha with binomial p < 0.001, the p-values "
        "depart from uniform with p < 0.001, or the SE ratio falls below 0.9 (or 3.5 Monte Carlo errors below 1)."
    )


def _summary(
    verdict: str,
    simulated: list[SimulatedMetric],
    by_unit: list[SimulatedMetric],
    repeated: str | None,
    srm: SrmResult | None,
    request: AaTestRequest,
) -> str:
    head = simulated[0]
    rate = head.false_positive_rate
    text = (
        f"A/A verdict: {verdict}. '{head.metric}' analysed per {_per(head.analysed_per)}: {rate.rate:.1%} of "
        f"{request.simulations:,} random splits significant at alpha {request.alpha:g} (95% CI {rate.ci_lower:.1%} "
        f"to {rate.ci_upper:.1%}), SE ratio {head.se_ratio:.3g}"
    )
    fix = next((u for u in by_unit if u.metric == head.metric), None)
    if repeated is not None and fix is not None:
        text += (
            f"; per '{repeated}' unit: {fix.false_positive_rate.rate:.1%}, SE ratio {fix.se_ratio:.3g} — set "
            f"cluster_column='{repeated}'"
        )
    if srm is not None and srm.status != "pass":
        text += f"; sample-ratio mismatch in the observed A/A (p = {srm.p_value:.3g})"
    return text + "."
