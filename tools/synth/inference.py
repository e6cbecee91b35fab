"""Inference for synthetic DiD, synthetic control and DiD: placebos, jackknife, bootstrap (all seeded).

- ``placebo``: in-space placebos (ADH 2010): each donor in turn is treated as if it were the treated unit, the real
  treated units dropped, and refitted with the same estimator; the treated average's post/pre RMSPE ratio is ranked
  among the donors' (rank 1 = the largest; ties count against the treated), p = rank / (donors + 1). Beside it the
  placebo variance of Arkhangelsky et al. (2021, Algorithm 4): with one treated unit the donors' placebo effects
  are used exhaustively (their population variance, what the algorithm's random draws estimate); with N1 > 1
  treated units, ``replications`` random permutations of the donors, the last N1 of each playing the treated units.
- ``jackknife``: Algorithm 3, with the weights held fixed (omega renormalised when a donor is left out), as synthdid.
- ``bootstrap``: Algorithm 2, units resampled with replacement (draws with no donor or no treated unit redrawn),
  weights re-estimated from the original's as starting values, with the original's penalties.

Placebo refits are batched (``estimators.fit_donor_placebos``) and warm-started, as synthdid's are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import stats

from tools.errors import ToolError
from tools.synth.estimators import SynthFit, check_panel, fit, fit_donor_placebos

__all__ = ["Interval", "Placebo", "bootstrap", "jackknife", "placebo"]

Array = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Interval:
    """A standard error and the normal interval tau -/+ z(1 - alpha/2) * se built on it."""

    method: Literal["placebo", "jackknife", "bootstrap"]
    estimate: float
    std_error: float
    ci_lower: float
    ci_upper: float
    alpha: float
    replications: int
    replicates: Array


@dataclass(frozen=True)
class Placebo:
    """In-space placebos: the rank test on RMSPE ratios and the placebo variance (``interval``)."""

    treated_ratio: float
    ratios: Array
    rank: int
    n_placebos: int
    p_value: float
    taus: Array
    gaps: Array
    interval: Interval

    @property
    def min_p_value(self) -> float:
        """The smallest p-value this many donors can give: 1 / (donors + 1)."""
        return 1.0 / (self.n_placebos + 1)


def _interval(
    method: Literal["placebo", "jackknife", "bootstrap"], estimate: float, se: float, alpha: float, replicates: Array
) -> Interval:
    z = float(stats.norm.ppf(1.0 - alpha / 2.0))
    return Interval(method, estimate, se, estimate - z * se, estimate + z * se, alpha, int(replicates.size), replicates)


def _ratio(pre: Array | float, post: Array | float) -> Array:
    pre_a, post_a = np.asarray(pre, dtype=np.float64), np.asarray(post, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(np.where(pre_a > 0, post_a / np.where(pre_a > 0, pre_a, 1.0), np.inf), dtype=np.float64)


def _check_alpha(alpha: float) -> None:
    if not 0.0 < alpha < 1.0:
        raise ToolError("bad_alpha", f"alpha must lie strictly between 0 and 1, got {alpha}.", "Use e.g. 0.05.")


def placebo(
    y: Array,
    n_treated: int,
    n_pre: int,
    original: SynthFit,
    *,
    alpha: float = 0.05,
    seed: int = 0,
    replications: int = 200,
    predictors: Array | None = None,
) -> Placebo:
    """In-space placebos for ``original`` (fitted on ``y``); see the module docstring.

    With ADH predictors (``original.predictor_weights`` set) pass the same ``predictors``: each placebo reruns the
    nested optimisation (a loop; meant for the tens of donors of a classic application).
    """
    _check_alpha(alpha)
    matrix = check_panel(y, n_treated, n_pre)
    n_donors = matrix.shape[0] - n_treated
    if n_donors < 2:
        raise ToolError(
            "too_few_donors", "Placebo inference needs at least two donors.", "Add donors or use another inference."
        )
    singles = np.arange(n_donors, dtype=np.intp)[:, None]
    if original.predictor_weights is not None:
        if predictors is None:
            raise ToolError("missing_covariates", "This fit used predictors: pass them to the placebos too.", "")
        taus, gaps = _adh_placebos(matrix[:n_donors], np.asarray(predictors, dtype=np.float64)[:, :n_donors], n_pre)
    else:
        donor_fits = fit_donor_placebos(matrix, n_treated, n_pre, original, singles)
        taus, gaps = donor_fits.tau, donor_fits.gap
    pre_rmspe = np.sqrt(np.mean(gaps[:, :n_pre] ** 2, axis=1))
    post_rmspe = np.sqrt(np.mean(gaps[:, n_pre:] ** 2, axis=1))
    ratios = _ratio(pre_rmspe, post_rmspe)
    treated_ratio = float(_ratio(original.pre_rmspe, original.post_rmspe))
    rank = int(np.sum(ratios >= treated_ratio)) + 1
    if n_treated == 1 or original.predictor_weights is not None:
        replicates = taus
    else:
        if n_donors <= n_treated:
            raise ToolError(
                "too_few_donors",
                f"The placebo variance needs more donors ({n_donors}) than treated units ({n_treated}).",
                'Use inference "jackknife" or "bootstrap".',
            )
        rng = np.random.default_rng(seed)
        sets = np.array([rng.permutation(n_donors)[-n_treated:] for _ in range(replications)], dtype=np.intp)
        replicates = fit_donor_placebos(matrix, n_treated, n_pre, original, sets).tau
    se = float(np.std(replicates))  # sqrt((r - 1) / r) * sd, as synthdid
    return Placebo(
        treated_ratio=treated_ratio,
        ratios=ratios,
        rank=rank,
        n_placebos=n_donors,
        p_value=rank / (n_donors + 1),
        taus=taus,
        gaps=gaps,
        interval=_interval("placebo", original.tau, se, alpha, replicates),
    )


def _adh_placebos(donors: Array, predictors: Array, n_pre: int) -> tuple[Array, Array]:
    n_donors = donors.shape[0]
    taus, gaps = np.zeros(n_donors), np.zeros_like(donors)
    for j in range(n_donors):
        order = np.r_[np.delete(np.arange(n_donors), j), j]
        placebo_fit = fit(donors[order], 1, n_pre, "synthetic_control", predictors=predictors[:, order])
        taus[j], gaps[j] = placebo_fit.tau, placebo_fit.gap
    return taus, gaps


def _needs_several_treated(n_treated: int, method: str) -> None:
    if n_treated < 2:
        raise ToolError(
            "needs_several_treated",
            f"The {method} needs more than one treated unit: with one, leaving it out leaves nothing to estimate.",
            'Use inference "placebo" (in-space placebos) with a single treated unit.',
        )


def jackknife(y: Array, n_treated: int, n_pre: int, original: SynthFit, *, alpha: float = 0.05) -> Interval:
    """Algorithm 3 with fixed weights: leave each unit out in turn, omega renormalised, lambda kept."""
    _check_alpha(alpha)
    matrix = check_panel(y, n_treated, n_pre)
    _needs_several_treated(n_treated, "jackknife")
    n_donors = matrix.shape[0] - n_treated
    omega = original.unit_weights
    if original.estimator != "did" and np.count_nonzero(omega) == 1:
        raise ToolError(
            "jackknife_undefined",
            "One donor carries all the unit weight, so leaving it out is undefined (synthdid returns NA here).",
            'Use inference "bootstrap" or "placebo".',
        )
    donors, treated = matrix[:n_donors], matrix[n_donors:]
    lam = original.time_weights
    synthetic = omega @ donors
    rest = 1.0 - omega
    without = np.where(
        (rest > 1e-15)[:, None],
        (synthetic[None, :] - omega[:, None] * donors) / np.where(rest > 1e-15, rest, 1.0)[:, None],
        (donors.sum(axis=0)[None, :] - donors) / max(n_donors - 1, 1),
    )
    treated_mean = treated.mean(axis=0)
    paths_donor_out = treated_mean[None, :] - without
    treated_out = (n_treated * treated_mean[None, :] - treated) / (n_treated - 1)
    paths_treated_out = treated_out - synthetic[None, :]
    gaps = np.vstack([paths_donor_out, paths_treated_out])
    offsets = np.zeros(gaps.shape[0]) if lam is None else gaps[:, :n_pre] @ lam
    u = gaps[:, n_pre:].mean(axis=1) - offsets
    n = u.size
    se = float(np.sqrt((n - 1) / n * np.sum((u - u.mean()) ** 2)))
    return _interval("jackknife", original.tau, se, alpha, u)


def bootstrap(
    y: Array,
    n_treated: int,
    n_pre: int,
    original: SynthFit,
    *,
    alpha: float = 0.05,
    seed: int = 0,
    replications: int = 200,
) -> Interval:
    """Algorithm 2: resample units with replacement and refit (weights re-estimated, warm-started)."""
    _check_alpha(alpha)
    matrix = check_panel(y, n_treated, n_pre)
    _needs_several_treated(n_treated, "bootstrap")
    if original.predictor_weights is not None:
        raise ToolError(
            "bootstrap_with_covariates",
            "The bootstrap is not offered with ADH predictors (each draw would rerun the nested optimisation).",
            'Use inference "placebo" or "jackknife".',
        )
    n_units = matrix.shape[0]
    n_donors = n_units - n_treated
    rng = np.random.default_rng(seed)
    estimates = np.zeros(replications)
    count = 0
    while count < replications:
        draw = np.sort(rng.integers(0, n_units, n_units))
        k_donors = int(np.sum(draw < n_donors))
        if k_donors in (0, n_units):
            continue
        picked_omega = original.unit_weights[draw[:k_donors]]
        start = picked_omega / picked_omega.sum() if picked_omega.sum() > 0 else None
        refit = fit(
            matrix[draw],
            n_units - k_donors,
            n_pre,
            original.estimator,
            penalties=original.penalties,
            omega_start=start,
            lambda_start=original.time_weights,
        )
        estimates[count] = refit.tau
        count += 1
    se = float(np.std(estimates))  # sqrt((r - 1) / r) * sd, as synthdid
    return _interval("bootstrap", original.tau, se, alpha, estimates)
