"""Dashboard and warehouse summaries as ab_test's moments: per arm and metric, n with the mean and standard deviation
(or a binary metric's conversions), and for a ratio metric its denominator's and for CUPED its covariate's mean,
standard deviation and covariance with the metric — the sufficient statistics rows would give."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from tools.ab_test.inputs import MetricData, Prepared, choose_control
from tools.ab_test.models import AbTestRequest, ArmSummary, MetricSpec
from tools.ab_test.stats import Moments
from tools.data.names import display_name
from tools.errors import ToolError

__all__ = ["prepare_summaries"]


def prepare_summaries(request: AbTestRequest) -> Prepared:
    """Validate dashboard numbers and turn them into the same moments rows would give."""
    assert request.summaries is not None
    if request.exposure_column is not None:
        raise ToolError(
            "needs_rows",
            "exposure_column needs row-level data: the effect of using the change (CACE) needs each unit's exposure "
            "beside its metric, which summaries do not hold.",
            "Attach the experiment's rows as a dataset with arm_column, or drop exposure_column to read the ITT.",
        )
    for field_name in ("arm_column", "cluster_column", "winsorize"):
        if getattr(request, field_name) is not None:
            raise ToolError(
                "needs_rows",
                f"{field_name} needs row-level data, but only summaries were given.",
                f"Attach the rows as a dataset, or drop {field_name}.",
            )
    entries: dict[tuple[str, str], ArmSummary] = {}
    for s in request.summaries:
        key = (s.arm, s.metric)
        if key in entries:
            raise ToolError(
                "duplicate_summary",
                f"Two summaries for metric '{display_name(s.metric)}' in arm '{display_name(s.arm)}'.",
                "Give one summary per arm and metric.",
            )
        entries[key] = s
    labels = sorted({s.arm for s in request.summaries})
    arms = choose_control(labels, request.control)
    notes: list[str] = []
    metrics = []
    for spec in request.metrics:
        moments = []
        for arm in arms:
            entry = entries.get((arm, spec.name))
            if entry is None:
                raise ToolError(
                    "missing_summary",
                    f"No summary for metric '{display_name(spec.name)}' in arm '{display_name(arm)}'.",
                    "Give n with mean and std_dev (continuous) or n with conversions (binary) for every arm.",
                )
            moments.append(_summary_moments(spec, entry))
        metrics.append(MetricData(spec=spec, moments=moments, ratio=spec.kind == "ratio"))
    primary = next((m for m in metrics if m.spec.role == "primary"), metrics[0])
    units = [m.n for m in primary.moments]
    for m in metrics:
        if [x.n for x in m.moments] != units:
            notes.append(
                f"Metric '{m.spec.name}' reports different unit counts per arm than '{primary.spec.name}'; the "
                f"sample-ratio check uses '{primary.spec.name}'."
            )
    return Prepared(arms=arms, units=units, metrics=metrics, source="summaries", notes=notes)


def _summary_moments(spec: MetricSpec, s: ArmSummary) -> Moments:
    where = f"metric '{display_name(spec.name)}' in arm '{display_name(s.arm)}'"
    if spec.kind == "binary":
        if s.conversions is not None:
            if s.conversions > s.n:
                raise ToolError(
                    "invalid_summary",
                    f"{where}: {s.conversions:,} conversions out of {s.n:,} units.",
                    "Conversions cannot exceed the number of units; check the numbers.",
                )
            p = s.conversions / s.n
        elif s.mean is not None:
            if not 0 <= s.mean <= 1:
                raise ToolError(
                    "invalid_summary",
                    f"{where}: a binary metric's rate must be in [0, 1]; got {s.mean:g}.",
                    "Give the rate as a fraction (0.12 for 12%), or the conversions.",
                )
            p = s.mean
        else:
            raise ToolError("invalid_summary", f"{where}: no conversions or rate.", "Give n and conversions.")
        return _with_parts(spec, s, where, Moments(n=s.n, mean_y=p, m2_y=p * (1 - p) * s.n))
    if s.mean is None or s.std_dev is None:
        raise ToolError(
            "invalid_summary",
            f"{where}: a {spec.kind} metric needs mean and std_dev.",
            "Give n, mean and std_dev (the standard deviation per unit, not the standard error).",
        )
    return _with_parts(spec, s, where, Moments(n=s.n, mean_y=s.mean, m2_y=s.std_dev**2 * (s.n - 1)))


def _with_parts(spec: MetricSpec, s: ArmSummary, where: str, base: Moments) -> Moments:
    """The summary's denominator (ratio) and covariate (CUPED) moments added to the metric's: each part is the
    variable's mean, standard deviation and covariance with the metric per unit (n - 1), as a warehouse's
    VAR_SAMP and COVAR_SAMP give them, so a dashboard or warehouse export enters as rows would."""
    dof = s.n - 1
    parts: dict[str, Any] = {}
    if spec.kind == "ratio":
        if s.denominator is None:
            raise ToolError(
                "invalid_summary",
                f"{where}: a ratio metric's summary needs its denominator (mean, std_dev, covariance).",
                "Give denominator: the per-unit mean and standard deviation of the denominator and its covariance "
                "with the numerator, or attach the rows.",
            )
        if s.denominator.mean <= 0:
            raise ToolError(
                "zero_denominator", f"{where}: the denominator's mean is not positive.", "Check the denominator."
            )
        d = s.denominator
        parts.update(mean_d=d.mean, m2_d=d.std_dev**2 * dof, c_yd=d.covariance * dof)
    if spec.covariate_column is not None:
        if s.covariate is None:
            raise ToolError(
                "invalid_summary",
                f"{where}: CUPED's summary needs the covariate (mean, std_dev, covariance with the metric).",
                "Give covariate for every arm, or drop covariate_column.",
            )
        x = s.covariate
        parts.update(mean_x=x.mean, m2_x=x.std_dev**2 * dof, c_xy=x.covariance * dof)
    return replace(base, **parts) if parts else base
