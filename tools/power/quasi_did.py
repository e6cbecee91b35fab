"""Difference-in-differences power: the two-way fixed effects estimate with unit-clustered standard errors, simulated
on a balanced panel whose outcome has a unit level (ICC, compound symmetry) and AR(1) shocks.

The outcome of unit ``i`` in period ``t`` is ``y_it = τ D_it + e_it`` (unit and period means are absorbed by the
fixed effects), with ``Cov(e_i) = sigma² [icc + (1 - icc) rho^|t - s|]``; ``D_it`` is 1 from the unit's adoption
period on. With adoption all at once the estimate is the post-minus-pre difference of the treated-minus-control
means; with staggered cohorts it is the TWFE coefficient, unbiased here because the effect is the same for every
cohort and period (with effects that vary over cohorts or time it is a weighted average that can mislead:
Goodman-Bacon 2021).

For a balanced panel the TWFE estimate is ``Σ D̃ y / Σ D̃²`` with ``D̃`` the two-way demeaned treatment, so its
exact variance is ``Σ_i d̃_i' Σ d̃_i / (Σ D̃²)²``: with adoption all at once and compound symmetry that is
sigma²(1 - icc)(1/pre + 1/post)(1/n_T + 1/n_C) (Frison & Pocock 1992), and with AR(1) shocks the general serially
correlated formula of Burlig, Preonas & Woerman (2020). The closed-form power beside the simulated one uses that
variance with a t distribution on G - 1 degrees of freedom.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special

from tools.errors import ToolError
from tools.literals import Alternative
from tools.power.formulas import t_test_power
from tools.power.quasi_sim import FloatArray, ShiftTest, chunks

__all__ = ["DidPanel", "cohort_counts", "simulate_did", "twfe_clustered"]


def cohort_counts(treated: int, adoption: list[float] | None, post: int) -> list[int]:
    """Treated units starting in each post period (largest remainders of the shares)."""
    if adoption is None:
        return [treated] + [0] * (post - 1)
    if len(adoption) > post:
        raise ToolError(
            "adoption_too_long",
            f"adoption has {len(adoption)} shares but there are {post} post periods.",
            "Give one share per post period at most (the first is the first post period).",
        )
    if any(share < 0 for share in adoption) or not math.isclose(sum(adoption), 1.0, abs_tol=1e-6):
        raise ToolError(
            "adoption_shares_invalid",
            f"adoption shares must be non-negative and sum to 1; they sum to {sum(adoption):g}.",
            "Give each post period's share of treated units, e.g. [0.5, 0.5] for half in each of the first two.",
        )
    shares = [*adoption, *[0.0] * (post - len(adoption))]
    exact = [share * treated for share in shares]
    counts = [math.floor(x) for x in exact]
    order = sorted(range(post), key=lambda k: counts[k] - exact[k])
    for k in order[: treated - sum(counts)]:
        counts[k] += 1
    return counts


@dataclass(frozen=True)
class DidPanel:
    """A balanced panel's design, by group of identical units (each adoption cohort, then the controls): their two-way
    demeaned treatment row, their number, and the outcome's covariance over periods."""

    demeaned: FloatArray  # (groups, periods)
    sizes: FloatArray  # (groups,)
    covariance: FloatArray  # (periods, periods)

    @classmethod
    def build(
        cls, control: int, pre: int, post: int, icc: float, ar1: float, sigma: float, counts: list[int]
    ) -> DidPanel:
        periods = pre + post
        rows, sizes = [], []
        for k, count in enumerate(counts):
            if count > 0:
                row = np.zeros(periods)
                row[pre + k :] = 1.0
                rows.append(row)
                sizes.append(float(count))
        rows.append(np.zeros(periods))
        sizes.append(float(control))
        treatment, size = np.array(rows), np.array(sizes)
        period_mean = size @ treatment / size.sum()
        demeaned = treatment - treatment.mean(axis=1, keepdims=True) - period_mean + period_mean.mean()
        lags = np.abs(np.subtract.outer(np.arange(periods), np.arange(periods)))
        covariance = sigma**2 * (icc + (1.0 - icc) * np.power(ar1, lags))
        return cls(demeaned=demeaned, sizes=size, covariance=covariance)

    @property
    def clusters(self) -> int:
        return round(float(self.sizes.sum()))

    @property
    def sum_squares(self) -> float:
        return float(self.sizes @ np.sum(self.demeaned**2, axis=1))

    def std_error(self) -> float:
        """The TWFE estimate's exact standard error: sqrt(Σ_i d̃_i' Σ d̃_i) / Σ D̃²."""
        quadratic = self.sizes @ np.einsum("gt,ts,gs->g", self.demeaned, self.covariance, self.demeaned)
        return math.sqrt(float(quadratic)) / self.sum_squares

    def analytic_power(self, effect: float, alpha: float, alternative: Alternative) -> float:
        """Power from the exact variance, with the t distribution on G - 1 degrees of freedom the test uses."""
        df = np.array([self.clusters - 1.0])
        critical = np.asarray(special.stdtrit(df, 1.0 - (alpha / 2 if alternative == "two-sided" else alpha)), float)
        return float(t_test_power(alternative, df, critical, np.array([effect / self.std_error()]))[0])


def twfe_clustered(outcome: FloatArray, demeaned: FloatArray) -> tuple[float, float]:
    """The TWFE estimate and its CR1 unit-clustered standard error on one balanced panel (units x periods), given
    each unit's two-way demeaned treatment row: what :func:`simulate_did` draws without building the panel."""
    units, periods = outcome.shape
    per_unit = np.sum((outcome - outcome.mean(axis=0)) * demeaned, axis=1)
    sum_squares = float(np.sum(demeaned**2))
    estimate = float(per_unit.sum()) / sum_squares
    scores = per_unit - estimate * np.sum(demeaned**2, axis=1)
    return estimate, math.sqrt(_small_sample(units, periods) * float(np.sum(scores**2))) / sum_squares


def _small_sample(units: float, periods: int) -> float:
    """CR1's factor as fixest and pyfixest apply it with unit effects nested in the unit clusters:
    G/(G - 1) · (NT - 1)/(NT - K), K = T + 1 (the period effects, the slope, and one for the nested unit effects)."""
    observations = units * periods
    return units / (units - 1.0) * (observations - 1.0) / (observations - periods - 1.0)


def simulate_did(panel: DidPanel, simulations: int, seed: int, alpha: float, alternative: Alternative) -> ShiftTest:
    """The TWFE estimate and its CR1 unit-clustered standard error (:func:`twfe_clustered`) in ``simulations``
    panels drawn under no effect; the test uses the t distribution on G - 1 degrees of freedom.

    Drawn from sufficient statistics, exactly in distribution for Gaussian outcomes, so the cost does not grow with
    the number of units: units of a group g (a cohort, or the controls) share the demeaned row d̃_g, so the estimate
    needs only each group's mean outcome path ē_g ~ N(0, Σ / n_g), and each group's share of the clustered
    variance is n_g (d̃_g·(ē_g - ē) - β̂ |d̃_g|²)² plus Σ_i∈g (d̃_g·(e_i - ē_g))², which is d̃_g'Σd̃_g times an
    independent χ² on n_g - 1 degrees of freedom.
    """
    rng = np.random.default_rng(seed)
    groups, periods = panel.demeaned.shape
    units = float(panel.sizes.sum())
    factor = np.linalg.cholesky(panel.covariance + 1e-12 * panel.covariance[0, 0] * np.eye(periods))
    row_squares = np.sum(panel.demeaned**2, axis=1)
    within = np.einsum("gt,ts,gs->g", panel.demeaned, panel.covariance, panel.demeaned)
    sum_squares = panel.sum_squares
    scale = np.sqrt(panel.sizes)[None, :, None]
    estimates, std_errors = [], []
    for size in chunks(simulations, groups * (periods + 1)):
        group_means = rng.standard_normal((size, groups, periods)) @ factor.T / scale
        spread = within * rng.chisquare(np.maximum(panel.sizes - 1.0, 1.0), (size, groups))
        spread[:, panel.sizes <= 1.0] = 0.0
        overall = np.einsum("g,sgt->st", panel.sizes, group_means) / units
        projection = np.einsum("sgt,gt->sg", group_means - overall[:, None, :], panel.demeaned)
        estimate = projection @ panel.sizes / sum_squares
        scores = panel.sizes * (projection - estimate[:, None] * row_squares) ** 2 + spread
        std_errors.append(np.sqrt(_small_sample(units, periods) * scores.sum(axis=1)) / sum_squares)
        estimates.append(estimate)
    critical = float(special.stdtrit(units - 1.0, 1.0 - (alpha / 2 if alternative == "two-sided" else alpha)))
    return ShiftTest(np.concatenate(estimates), np.concatenate(std_errors), critical, alternative)
