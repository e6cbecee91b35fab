"""Pre-specified subgroups: the effect in each level, Holm across every level of every column, and one interaction
test per column.

The effect in a level is the mean of the cross-fitted doubly robust scores of its units (the AIPW estimate within
the level), with the standard error sd / sqrt(n) (HC2 of the regression of phi on level indicators). Holm's
step-down adjustment over all levels of all columns controls the family-wise error of "this level has an effect".
The interaction test of a column is the Wald test that its levels share one effect: sum of w_l (theta_l -
theta_bar)^2 with w_l = 1 / se_l^2 and theta_bar their weighted mean, chi-square with levels - 1 degrees of freedom.

Searching for the segment that "lights up" after looking at the data is not offered: with enough slices one always
does, and no adjustment can count the slices that were looked at and not reported.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from tools.ab_test.decision import adjust
from tools.heterogeneity.inputs import Subgroup
from tools.heterogeneity.models import InteractionTest, SubgroupLevel
from tools.results import Estimate

__all__ = ["subgroup_effects"]

FloatArray = NDArray[np.float64]


def subgroup_effects(
    phi: FloatArray, subgroups: list[Subgroup], alpha: float
) -> tuple[list[SubgroupLevel], list[InteractionTest]]:
    """Each level's effect with Holm-adjusted p-values, and each column's interaction test."""
    raw: list[tuple[str, str, int, Estimate]] = []
    tests: list[InteractionTest] = []
    for group in subgroups:
        k = len(group.levels)
        counts = np.bincount(group.codes, minlength=k).astype(np.float64)
        means = np.bincount(group.codes, weights=phi, minlength=k) / counts
        squares = np.bincount(group.codes, weights=(phi - means[group.codes]) ** 2, minlength=k)
        se = np.sqrt(squares / (counts - 1.0) / counts)
        for j, level in enumerate(group.levels):
            raw.append((group.column, level, int(counts[j]), Estimate.normal(float(means[j]), float(se[j]), alpha)))
        if k >= 2 and np.all(se > 0):
            weights = 1.0 / se**2
            pooled = float(weights @ means) / float(weights.sum())
            statistic = float(weights @ (means - pooled) ** 2)
            tests.append(
                InteractionTest(
                    column=group.column,
                    statistic=statistic,
                    df=k - 1,
                    p_value=float(stats.chi2.sf(statistic, k - 1)),
                )
            )
    adjusted = adjust([e.p_value for _, _, _, e in raw], "holm")
    levels = [
        SubgroupLevel(column=column, level=level, n_obs=n, adjusted_p_value=p, **estimate.model_dump())
        for (column, level, n, estimate), p in zip(raw, adjusted, strict=True)
    ]
    return levels, tests
