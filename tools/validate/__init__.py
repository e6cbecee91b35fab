"""whyscope's own calibration, rerunnable: seeded simulations of every estimator, run the way a user runs them.

Each design draws data sets with a known effect and without one, attaches each to a catalog from a file and analyses
it through :func:`tools.registry.dispatch`, then reports per estimator and design the interval coverage and the A/A
false-positive rate with their Monte Carlo standard errors, and the reference-parity figures the test suite pins
(recomputed where that needs no test-only package). ``whyscope validate`` prints the table.

Where the rows are built: :mod:`~tools.validate.experiments` (power, ab_test's metric kinds, clustered sessions,
sequential looks); :mod:`~tools.validate.covariate_rows` (ab_test's Lin, logistic, ratio-CUPED and post-stratified
adjustments, quantile and bootstrap intervals; Callaway-Sant'Anna with covariates);
:mod:`~tools.validate.quasi_rows` (power's simulated DiD power against diff_in_diff's rejections: in the
diff_in_diff group); :mod:`~tools.validate.sensitivity_rows` (refute's Rosenbaum bounds at Gamma 1: in the
propensity group, whose matched pairs they read); :mod:`~tools.validate.observational` (the other observational and
panel designs). The data-generating processes are in :mod:`~tools.validate.designs` and
:mod:`~tools.validate.covariate_designs`.

Usage::

    from tools.validate import format_report, run_validation

    report = run_validation("quick", only=["rdd"])
    print(format_report(report))
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from tools.errors import ToolError
from tools.validate.covariate_rows import adjusted_ab_test_rows, conditional_did_rows, resampled_ab_test_rows
from tools.validate.experiments import ab_test_rows, power_rows, sequential_rows
from tools.validate.models import BAND, Size, ValidationReport, ValidationRow
from tools.validate.observational import (
    did_rows,
    heterogeneity_rows,
    iv_rows,
    propensity_rows,
    rdd_rows,
    synth_rows,
)
from tools.validate.quasi_rows import did_power_rows
from tools.validate.sensitivity_rows import rosenbaum_rows
from tools.validate.simulate import Progress, Simulator
from tools.validate.table import format_report

__all__ = [
    "BAND",
    "DEFAULT_SEED",
    "GROUPS",
    "Progress",
    "Size",
    "ValidationReport",
    "ValidationRow",
    "format_report",
    "run_validation",
]

#: The base seed of the published table: same seed, same numbers.
DEFAULT_SEED = 20_260_523

Group = Callable[[Simulator, int, Size], list[ValidationRow]]


def _joined(*groups: Group) -> Group:
    """One group of several row builders, their rows in order."""

    def rows(sim: Simulator, seed: int, size: Size) -> list[ValidationRow]:
        return [row for group in groups for row in group(sim, seed, size)]

    return rows


#: The designs by the name ``--only`` takes, in the table's order ('sequential' is ab_test at several looks).
GROUPS: dict[str, Group] = {
    "power": power_rows,
    "ab_test": _joined(ab_test_rows, adjusted_ab_test_rows, resampled_ab_test_rows),
    "sequential": sequential_rows,
    "diff_in_diff": _joined(did_rows, conditional_did_rows, did_power_rows),
    "synthetic_control": synth_rows,
    "propensity": _joined(propensity_rows, rosenbaum_rows),
    "rdd": rdd_rows,
    "instrumental_variables": iv_rows,
    "heterogeneity": heterogeneity_rows,
}


def run_validation(
    size: Size = "default",
    *,
    only: Iterable[str] | None = None,
    seed: int = DEFAULT_SEED,
    progress: Progress | None = None,
) -> ValidationReport:
    """Run the calibration simulations of ``size`` ('quick': about a minute; 'default': several minutes) for every
    group, or the groups named in ``only`` (keys of :data:`GROUPS`), and return the table's rows.

    ``progress(done, total, label)`` is called as the replications of each design go. An unknown group name is a
    :class:`~tools.errors.ToolError`; a tool that refuses a replication is counted in the row's ``failed``."""
    names = list(GROUPS) if only is None else [only] if isinstance(only, str) else list(dict.fromkeys(only))
    unknown = [name for name in names if name not in GROUPS]
    if unknown or not names:
        raise ToolError(
            "unknown_estimator",
            f"Nothing to validate under {', '.join(repr(n) for n in unknown) or 'an empty selection'}.",
            f"Choose from: {', '.join(GROUPS)}.",
        )
    rows: list[ValidationRow] = []
    # many small fits: BLAS threads only add overhead, and a laptop's cores stay free
    with tempfile.TemporaryDirectory(prefix="whyscope-validate-") as directory, threadpool_limits(1):
        sim = Simulator(Path(directory), progress)
        for name in (n for n in GROUPS if n in names):
            rows += GROUPS[name](sim, seed, size)
    return ValidationReport(size=size, seed=seed, rows=rows)
