"""The data-generating processes of the calibration run: seeded frames with a known effect, as a user would attach.

Each generator mirrors a seeded simulation of the test suite (``tests/tools/test_*_simulation.py``), rewritten here
because the product never imports from ``tests/``. Every generator takes a ``numpy.random.Generator`` and returns a
frame (and the true effect where it is not a constant of the design); the effect is a parameter, so the same design
gives the coverage run (an effect) and the A/A run (none).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import special

__all__ = [
    "ARMS",
    "BINARY_CONTROL",
    "BINARY_TREATMENT",
    "CONTROL_REVENUE",
    "CONTROL_SPEND",
    "EXPERIMENT_COLUMNS",
    "PROPENSITY_COEFFICIENTS",
    "PROPENSITY_INTERCEPT",
    "att_of_propensity_design",
    "clustered_sessions",
    "confounded_units",
    "experiment_columns",
    "factor_panel",
    "iv_units",
    "looked_experiment",
    "randomized_units",
    "rd_units",
    "staggered_panel",
]

#: Arm labels of the simulated experiments, control first.
ARMS = ("control", "treatment")

BINARY_CONTROL, BINARY_TREATMENT = 0.20, 0.23
BINARY_RHO = 0.8  # correlation of the pre-period score with the conversion latent
SPEND_SIGMA, SPEND_RHO = 0.8, 0.76  # lognormal spend and its pre-period value: correlation 0.70
SESSION_SIGMA = 0.8  # lognormal revenue per session
#: Mean control spend, exp(sigma^2 / 2): a lift of L moves it by L * CONTROL_SPEND.
CONTROL_SPEND = math.exp(SPEND_SIGMA**2 / 2)
#: Mean revenue per session in control: the ratio metric's control value.
CONTROL_REVENUE = math.exp(SESSION_SIGMA**2 / 2)
#: The columns one experiment of :func:`experiment_columns` fills.
EXPERIMENT_COLUMNS = ("signup", "signup_score", "spend", "spend_pre", "sessions", "session_revenue")

#: The propensity design's index: -0.3 + 0.8 x1 - 0.5 x2 + 0.3 x3 with x ~ N(0, I).
PROPENSITY_INTERCEPT = -0.3
PROPENSITY_COEFFICIENTS = (0.8, -0.5, 0.3)


def _lognormal_pair(rng: np.random.Generator, n: int, sigma: float, rho: float) -> tuple[np.ndarray, np.ndarray]:
    """A pre-period value and a metric, both lognormal(0, sigma), whose logs have correlation ``rho``."""
    z = rng.standard_normal(n)
    w = rho * z + math.sqrt(1 - rho**2) * rng.standard_normal(n)
    return np.exp(sigma * z), np.exp(sigma * w)


def experiment_columns(rng: np.random.Generator, treated: np.ndarray, lift: bool) -> dict[str, np.ndarray]:
    """One randomized experiment's metrics per unit (``treated``: 0/1 per unit), with or without the effect.

    - ``signup``: binary, P = 0.20 in control and 0.23 treated (a probit latent; ``signup_score`` is a pre-period
      score correlated 0.8 with the latent, a CUPED covariate);
    - ``spend``: lognormal(0, 0.8), skewness about 3, multiplied by 1.1 when treated; ``spend_pre`` its pre-period
      value (correlation 0.70);
    - ``session_revenue`` over ``sessions``: a ratio metric; sessions are overdispersed counts, revenue per session
      lognormal(0, 0.8) multiplied by 1.1 when treated.

    Without ``lift`` both arms are drawn from control's distribution (an A/A experiment)."""
    n = len(treated)
    on = (treated == 1) & lift
    score = rng.standard_normal(n)
    latent = BINARY_RHO * score + math.sqrt(1 - BINARY_RHO**2) * rng.standard_normal(n)
    threshold = special.ndtri(1 - np.where(on, BINARY_TREATMENT, BINARY_CONTROL))
    spend_pre, spend = _lognormal_pair(rng, n, SPEND_SIGMA, SPEND_RHO)
    sessions = 1.0 + rng.poisson(rng.gamma(2.0, 1.0, size=n))
    factor = np.where(on, 1.1, 1.0)
    return {
        "signup": (latent > threshold).astype(np.float64),
        "signup_score": score,
        "spend": spend * factor,
        "spend_pre": spend_pre,
        "sessions": sessions,
        "session_revenue": sessions * rng.lognormal(0.0, SESSION_SIGMA, size=n) * factor,
    }


def clustered_sessions(rng: np.random.Generator, users_per_arm: int, experiments: int) -> pd.DataFrame:
    """A/A experiments randomized by user and measured per session: 1 + Poisson(2) sessions per user, a user effect
    making one user's sessions correlated (intra-user correlation 0.5).

    Experiments are stacked: experiment r has users of its own and fills column ``minutes@r`` only (missing on the
    others' rows, which ab_test leaves out of that metric)."""
    users = 2 * users_per_arm
    arm = np.repeat(np.array([0, 1]), users_per_arm)
    ids, arms, blocks = [], [], []
    for r in range(experiments):
        rows_per_user = 1 + rng.poisson(2.0, size=users)
        user = np.repeat(np.arange(users), rows_per_user)
        minutes = np.full((len(user), experiments), np.nan)
        minutes[:, r] = 5.0 + rng.standard_normal(users)[user] + rng.standard_normal(len(user))
        ids.append(r * users + user)
        arms.append(arm[user])
        blocks.append(minutes)
    frame: dict[str, np.ndarray] = {
        "user_id": np.concatenate(ids),
        "arm": np.array(ARMS)[np.concatenate(arms)],
    }
    minutes = np.concatenate(blocks)
    frame |= {f"minutes@{r}": minutes[:, r] for r in range(experiments)}
    return pd.DataFrame(frame)


def looked_experiment(rng: np.random.Generator, units: int, experiments: int) -> pd.DataFrame:
    """A/A experiments watched as their data arrive: ``units`` per arm, arms alternating row by row so that the first
    ``2k`` rows hold ``k`` units of each arm; one column ``m@r`` per experiment, normal(10, 3)."""
    frame: dict[str, np.ndarray] = {"arm": np.tile(np.array(ARMS), units)}
    frame |= {f"m@{r}": rng.normal(10.0, 3.0, size=2 * units) for r in range(experiments)}
    return pd.DataFrame(frame)


def staggered_panel(
    rng: np.random.Generator,
    n_units: int,
    n_periods: int,
    cohorts: tuple[int, ...],
    effect: float,
    growth: float = 0.0,
) -> tuple[pd.DataFrame, float]:
    """A balanced panel with unit and period effects; each unit adopts in one of ``cohorts`` (0-based period codes,
    -1 = never), with equal probability. The effect is ``effect + growth * (periods since adoption)``.

    Returns the frame (``unit``, ``period`` from 1, ``y``, ``cohort``: the first treated period, 0 for never) and the
    true ATT of the realized cohorts: the effect averaged over treated unit-periods (Callaway-Sant'Anna's 'simple'
    aggregation, which weights post cells by cohort size)."""
    unit = np.repeat(np.arange(n_units), n_periods)
    time = np.tile(np.arange(n_periods), n_units)
    drawn = rng.choice(np.array(cohorts), n_units)
    never = n_periods + 1_000
    first = np.where(drawn < 0, never, drawn)[unit]
    treated = time >= first
    tau = np.where(treated, effect + growth * (time - np.where(treated, first, 0)), 0.0)
    y = (
        rng.normal(0, 1, n_units)[unit]
        + rng.normal(0, 1, n_periods)[time]
        + tau
        + rng.normal(0, 1, len(unit))
    )  # fmt: skip
    truth = float(tau[treated].mean()) if treated.any() else 0.0
    frame = pd.DataFrame({"unit": unit, "period": time + 1, "y": y, "cohort": np.where(drawn < 0, 0, drawn + 1)[unit]})
    return frame, truth


def factor_matrix(
    rng: np.random.Generator, n_donors: int, n_treated: int, n_periods: int, n_pre: int, effect: float
) -> NDArray[np.float64]:
    """Outcomes (units x periods) with unit and time effects, a rank-2 interactive factor term and noise,
    exchangeable units; the last ``n_treated`` units get ``effect`` from period ``n_pre`` on."""
    n_units = n_donors + n_treated
    loadings = rng.normal(size=(n_units, 2))
    factors = np.cumsum(rng.normal(size=(n_periods, 2)), axis=0) * 0.5
    y = (
        rng.normal(size=(n_units, 1)) * 2.0
        + np.linspace(0, 3, n_periods)[None, :]
        + loadings @ factors.T
        + rng.normal(size=(n_units, n_periods))
    )
    y[n_donors:, n_pre:] += effect
    return np.asarray(y, dtype=np.float64)


def factor_panel(
    rng: np.random.Generator, n_donors: int, n_treated: int, n_periods: int, n_pre: int, effect: float
) -> pd.DataFrame:
    """A panel for synthetic control from :func:`factor_matrix` (column ``treated``: 0/1 per row)."""
    n_units = n_donors + n_treated
    y = factor_matrix(rng, n_donors, n_treated, n_periods, n_pre, effect)
    treated = np.zeros((n_units, n_periods), dtype=np.int64)
    treated[n_donors:, n_pre:] = 1
    return pd.DataFrame(
        {
            "unit": np.repeat(np.arange(n_units), n_periods),
            "period": np.tile(np.arange(1, n_periods + 1), n_units),
            "y": y.ravel(),
            "treated": treated.ravel(),
        }
    )


def confounded_units(rng: np.random.Generator, n: int, effect: bool) -> pd.DataFrame:
    """Observational units: treatment take-up logistic in three covariates, the outcome linear in them, and (with
    ``effect``) a heterogeneous effect 1 + 0.5 x1, so the ATT differs from the ATE (see
    :func:`att_of_propensity_design`)."""
    x = rng.normal(size=(n, 3))
    index = PROPENSITY_INTERCEPT + x @ np.array(PROPENSITY_COEFFICIENTS)
    treated = rng.random(n) < special.expit(index)
    tau = (1.0 + 0.5 * x[:, 0]) if effect else 0.0
    y = 1.0 + x[:, 0] + 0.5 * x[:, 1] - 0.5 * x[:, 2] + treated * tau + rng.normal(size=n)
    return pd.DataFrame({"y": y, "d": treated.astype(np.int64), "x1": x[:, 0], "x2": x[:, 1], "x3": x[:, 2]})


def att_of_propensity_design() -> float:
    """The ATT of :func:`confounded_units` with its effect: 1 + 0.5 E[x1 | treated], by Gauss-Hermite quadrature over
    the propensity index L ~ N(m, v): E[x1 | treated] = (0.8 / v) E[(L - m) e(L)] / E[e(L)]."""
    coefficients = np.array(PROPENSITY_COEFFICIENTS)
    variance = float(coefficients @ coefficients)
    nodes, weights = np.polynomial.hermite_e.hermegauss(80)
    index = PROPENSITY_INTERCEPT + math.sqrt(variance) * nodes
    score = special.expit(index)
    conditional_x1 = coefficients[0] / variance * (index - PROPENSITY_INTERCEPT)
    return float(1.0 + 0.5 * np.sum(weights * conditional_x1 * score) / np.sum(weights * score))


def rd_units(rng: np.random.Generator, n: int, jump: float) -> pd.DataFrame:
    """A sharp regression discontinuity at 0: x uniform on [-1, 1], a curved conditional mean 1 + x + 0.5 x^2, noise
    sd 1, and ``jump`` for x >= 0."""
    x = rng.uniform(-1, 1, n)
    y = 1 + x + 0.5 * x**2 + jump * (x >= 0) + rng.normal(0, 1, n)
    return pd.DataFrame({"x": x, "y": y})


def iv_units(rng: np.random.Generator, n: int, effect: float, strength: float, endogeneity: float) -> pd.DataFrame:
    """One instrument ``z``, a covariate ``x``, an endogenous treatment ``d = strength z + 0.5 x + v`` and an outcome
    ``effect d + x + u`` whose error is correlated ``endogeneity`` with v (so OLS is biased)."""
    z = rng.normal(size=n)
    x = rng.normal(size=n)
    v = rng.normal(size=n)
    u = endogeneity * v + math.sqrt(1 - endogeneity**2) * rng.normal(size=n)
    d = strength * z + 0.5 * x + v
    return pd.DataFrame({"y": effect * d + x + u, "d": d, "z": z, "x": x})


def randomized_units(rng: np.random.Generator, n: int, heterogeneous: bool) -> pd.DataFrame:
    """A 50/50 randomized experiment with three pre-treatment columns: the effect is 1 + x0 (ATE 1) when
    ``heterogeneous``, else none at all (a constant 0)."""
    x = rng.normal(size=(n, 3))
    d = (rng.random(n) < 0.5).astype(np.int64)
    tau = 1.0 + x[:, 0] if heterogeneous else np.zeros(n)
    y = x[:, 1] + tau * d + rng.normal(size=n)
    return pd.DataFrame({"x0": x[:, 0], "x1": x[:, 1], "x2": x[:, 2], "d": d, "y": y})
