"""The data-generating processes of the covariate-adjusted calibration rows: randomized experiments with
pre-assignment covariates (Lin's regression adjustment, logistic standardisation, ratio CUPED, post-stratification)
and a staggered panel whose parallel trends hold only conditional on a covariate (Callaway-Sant'Anna with
covariates).

Like :mod:`tools.validate.designs`, each generator takes a ``numpy.random.Generator`` and returns columns (and the
true effect where it depends on the draw); without the effect the same design is an A/A experiment.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import special

__all__ = [
    "LIN_EFFECT",
    "LOGIT_EFFECT",
    "RATIO_USER_SIGMA",
    "STRATA",
    "adjusted_columns",
    "conditional_trends_panel",
    "logistic_risk_difference",
    "ratio_lift",
    "stratified_experiment",
]

#: Lin's design: y(0) = 1 + x1 + 0.5 x2 - 0.5 x3 + e, effect 0.3 + 0.5 x1 - 0.3 x2 (x ~ N(0, I), e ~ N(0, 1)).
LIN_EFFECT = (0.3, 0.5, -0.3)
#: The logistic design: P(y = 1) = expit(-1.2 + 0.8 x1 - 0.5 x2 + 0.4 treated).
LOGIT_INTERCEPT, LOGIT_SLOPES, LOGIT_EFFECT = -1.2, (0.8, -0.5), 0.4
#: The ratio design's user value lognormal(0, 0.6) and per-period noise lognormal (sd 0.5 on the log scale).
RATIO_USER_SIGMA, RATIO_NOISE_SIGMA = 0.6, 0.5
#: The post-stratification design: (share, control mean, effect) per stratum.
STRATA = ((0.4, 0.0, 0.2), (0.3, 1.0, 0.4), (0.2, 2.0, 0.0), (0.1, 4.0, 1.0))


def logistic_risk_difference(effect: float = LOGIT_EFFECT) -> float:
    """The population risk difference of the logistic design, E[expit(a + b'x + effect)] - E[expit(a + b'x)], by
    Gauss-Hermite quadrature over the index b'x ~ N(0, |b|^2) (Gelman & Hill 2007, section 5.7: the average
    predictive comparison)."""
    scale = math.sqrt(sum(b * b for b in LOGIT_SLOPES))
    nodes, weights = np.polynomial.hermite_e.hermegauss(80)
    index = LOGIT_INTERCEPT + scale * nodes
    return float(np.sum(weights * (special.expit(index + effect) - special.expit(index))) / np.sum(weights))


def ratio_lift() -> float:
    """The ratio design's true difference of revenue per session, treatment minus control: a 10% lift of
    E[revenue] / E[sessions] = E[user value] = exp(sigma^2 / 2) (sessions, user value and noise are independent, the
    noise has mean 1)."""
    return 0.1 * math.exp(RATIO_USER_SIGMA**2 / 2)


def adjusted_columns(rng: np.random.Generator, treated: np.ndarray, lift: bool) -> tuple[dict[str, np.ndarray], float]:
    """One randomized experiment's columns for the row-level adjustments, and Lin's true effect on this sample.

    - ``lin_y`` with covariates ``x1``, ``x2``, ``x3``: the effect 0.3 + 0.5 x1 - 0.3 x2 varies across units; the
      truth returned is its mean over the sample's units (the conditional ATE that Lin's HC2 interval targets: its
      variance treats the covariates' sample mean as fixed);
    - ``logit_y``: 0/1 from a logistic model in ``x1``, ``x2`` and treatment (truth: :func:`logistic_risk_difference`,
      a population figure: the influence-function variance counts the covariates' sampling);
    - ``revenue`` over ``sessions`` with their pre-period values ``revenue_pre`` and ``sessions_pre``: a user's
      session rate (gamma) and value per session (lognormal) persist across periods (truth: :func:`ratio_lift`).

    Without ``lift`` no unit has any effect."""
    n = len(treated)
    on = (treated == 1) & lift
    x = rng.standard_normal((n, 3))
    tau = LIN_EFFECT[0] + LIN_EFFECT[1] * x[:, 0] + LIN_EFFECT[2] * x[:, 1]
    lin_y = 1.0 + x[:, 0] + 0.5 * x[:, 1] - 0.5 * x[:, 2] + np.where(on, tau, 0.0) + rng.standard_normal(n)
    index = LOGIT_INTERCEPT + LOGIT_SLOPES[0] * x[:, 0] + LOGIT_SLOPES[1] * x[:, 1] + np.where(on, LOGIT_EFFECT, 0.0)
    logit_y = (rng.random(n) < special.expit(index)).astype(np.float64)
    rate = rng.gamma(2.0, 1.0, size=n)
    value = rng.lognormal(0.0, RATIO_USER_SIGMA, size=n)
    shift = -(RATIO_NOISE_SIGMA**2) / 2  # noise of mean 1
    sessions_pre, sessions = 1.0 + rng.poisson(rate), 1.0 + rng.poisson(rate)
    revenue_pre = sessions_pre * value * rng.lognormal(shift, RATIO_NOISE_SIGMA, size=n)
    revenue = sessions * value * rng.lognormal(shift, RATIO_NOISE_SIGMA, size=n) * np.where(on, 1.1, 1.0)
    columns = {
        "lin_y": lin_y,
        "x1": x[:, 0],
        "x2": x[:, 1],
        "x3": x[:, 2],
        "logit_y": logit_y,
        "revenue": revenue,
        "sessions": sessions,
        "revenue_pre": revenue_pre,
        "sessions_pre": sessions_pre,
    }
    return columns, float(tau.mean()) if lift else 0.0


def stratified_experiment(
    rng: np.random.Generator, per_arm: int, experiments: int, lift: bool
) -> tuple[pd.DataFrame, list[float]]:
    """Stacked experiments for post-stratification: experiment r has ``per_arm`` units per arm of its own (completely
    randomized, not blocked) and fills column ``y@r`` only (missing on the others' rows); its units fall in the four
    :data:`STRATA` by their shares, with stratum means and effects that differ.

    Returns the frame (``arm``, ``stratum``, ``y@r``) and each experiment's truth: the stratum effects weighted by the
    experiment's realized stratum shares (the estimand of the post-stratified difference, whose Neyman variance
    treats those shares as fixed)."""
    shares = np.array([s[0] for s in STRATA])
    means = np.array([s[1] for s in STRATA])
    effects = np.array([s[2] for s in STRATA])
    n = 2 * per_arm
    arm = np.repeat(np.array([0, 1]), per_arm)
    arms, strata, blocks, truths = [], [], [], []
    for r in range(experiments):
        stratum = rng.choice(len(STRATA), size=n, p=shares)
        y = np.full((n, experiments), np.nan)
        y[:, r] = means[stratum] + np.where((arm == 1) & lift, effects[stratum], 0.0) + rng.standard_normal(n)
        arms.append(arm)
        strata.append(stratum)
        blocks.append(y)
        truths.append(float(effects[stratum].mean()) if lift else 0.0)
    values = np.concatenate(blocks)
    frame: dict[str, np.ndarray] = {
        "arm": np.array(["control", "treatment"])[np.concatenate(arms)],
        "stratum": np.array(["a", "b", "c", "d"])[np.concatenate(strata)],
    }
    frame |= {f"y@{r}": values[:, r] for r in range(experiments)}
    return pd.DataFrame(frame), truths


def conditional_trends_panel(
    rng: np.random.Generator, n_units: int, n_periods: int, effect: float, growth: float = 0.3
) -> tuple[pd.DataFrame, float]:
    """A staggered panel (cohorts adopting in periods 3 and 5, and never-treated units) whose trends depend on a
    time-invariant covariate ``x``: y = unit + period effects + 0.5 t x + effect + noise. Units with larger ``x``
    adopt more often (multinomial logit, so each cohort against the never-treated is a logit in ``x``): parallel
    trends hold only conditional on ``x``, and the outcome model (linear in ``x``) and the propensity model are both
    right, as the doubly robust estimator of Sant'Anna & Zhao (2020) needs one of them to be.

    Returns the frame (``unit``, ``period`` from 1, ``y``, ``cohort``: first treated period, 0 for never, ``x``) and
    the true ATT: the effect ``effect + growth * (periods since adoption)`` averaged over treated unit-periods."""
    x = rng.standard_normal(n_units)
    logits = np.column_stack([np.zeros(n_units), 0.6 * x - 0.3, 0.6 * x - 0.3])  # never, period 3, period 5
    probability = special.softmax(logits, axis=1)
    pick = (probability.cumsum(axis=1) < rng.random(n_units)[:, None]).sum(axis=1)
    first_by_unit = np.array([0, 3, 5])[pick]  # 1-based first treated period; 0 = never
    unit = np.repeat(np.arange(n_units), n_periods)
    period = np.tile(np.arange(1, n_periods + 1), n_units)
    first = first_by_unit[unit]
    treated = (first > 0) & (period >= first)
    tau = np.where(treated, effect + growth * (period - first), 0.0)
    y = (
        rng.normal(0, 1, n_units)[unit]
        + rng.normal(0, 1, n_periods)[period - 1]
        + 0.5 * period * x[unit]
        + tau
        + rng.normal(0, 1, len(unit))
    )
    truth = float(tau[treated].mean()) if treated.any() else 0.0
    frame = pd.DataFrame({"unit": unit, "period": period, "y": y, "cohort": first, "x": x[unit]})
    return frame, truth


def matched_units(rng: np.random.Generator, n: int, intercept: float) -> pd.DataFrame:
    """Observational units without any effect for matched-pair analyses: take-up logistic in three covariates
    (``intercept`` sets how rare the treated are, so how often 1:1 matching with replacement reuses a control), the
    outcome linear in them plus noise."""
    x = rng.normal(size=(n, 3))
    treated = rng.random(n) < special.expit(intercept + x @ np.array([0.8, -0.5, 0.3]))
    y = 1.0 + x[:, 0] + 0.5 * x[:, 1] - 0.5 * x[:, 2] + rng.normal(size=n)
    return pd.DataFrame({"y": y, "d": treated.astype(np.int64), "x1": x[:, 0], "x2": x[:, 1], "x3": x[:, 2]})
