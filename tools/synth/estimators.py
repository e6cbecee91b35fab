"""Synthetic DiD, synthetic control and DiD on a units x periods outcome matrix.

``Y`` has the donors first and the treated units last; the first ``T0`` columns are the pre-periods. Following
Arkhangelsky et al. (2021, eq. 1 and Algorithm 1) and the synthdid package, with unit weights omega (donors) and time
weights lambda (pre-periods):

    tau = (treated post mean - omega' donors' post means) - lambda' (treated pre path - omega' donors' pre paths)

- ``synthetic_did``: omega with an intercept and the ridge penalty zeta = (N_treated * T_post)^(1/4) * noise, where
  noise is the standard deviation of the donors' pre-period first differences; lambda with an intercept and the
  penalty 1e-6 * noise.
- ``synthetic_control``: omega without intercept, penalty 1e-6 * noise (synthdid's ``sc_estimate``), lambda = 0, so
  tau is the post-period mean gap. With ``predictors`` it is ADH's estimator with nested predictor weights V.
- ``did``: equal unit and time weights.

The synthetic trajectory is omega' donors + offset, the offset being lambda' (pre-period gaps) (0 for synthetic
control), so the mean post-period gap equals tau.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from tools.errors import ToolError
from tools.synth import weights as wt

__all__ = [
    "ESTIMATORS",
    "DonorPlacebos",
    "Estimator",
    "Penalties",
    "SynthFit",
    "check_panel",
    "fit",
    "fit_donor_placebos",
]

Array = npt.NDArray[np.float64]
Estimator = Literal["synthetic_did", "synthetic_control", "did"]
ESTIMATORS: tuple[Estimator, ...] = ("synthetic_did", "synthetic_control", "did")


@dataclass(frozen=True)
class Penalties:
    """The regularisation and stopping settings of one fit; placebo and bootstrap refits reuse them (as synthdid)."""

    noise_level: float
    zeta_omega: float
    zeta_lambda: float
    min_decrease: float
    solver: wt.Solver

    @classmethod
    def for_panel(
        cls, donor_pre: Array, n_treated: int, n_post: int, estimator: Estimator, solver: wt.Solver
    ) -> Penalties:
        noise = wt.noise_level(donor_pre)
        eta_omega = (n_treated * n_post) ** 0.25 if estimator == "synthetic_did" else 1e-6
        return cls(noise, eta_omega * noise, 1e-6 * noise, 1e-5 * noise, solver)


@dataclass(frozen=True)
class SynthFit:
    """One estimate: the effect, the weights, the treated average against its synthetic counterpart."""

    estimator: Estimator
    tau: float
    unit_weights: Array
    time_weights: Array | None
    predictor_weights: Array | None
    offset: float
    observed: Array
    synthetic: Array
    gap: Array
    pre_rmspe: float
    post_rmspe: float
    n_donors: int
    n_treated: int
    n_pre: int
    n_post: int
    penalties: Penalties
    iterations: int

    @property
    def rmspe_ratio(self) -> float:
        return self.post_rmspe / self.pre_rmspe if self.pre_rmspe > 0 else float("inf")


def check_panel(y: Array, n_treated: int, n_pre: int) -> Array:
    """Validate the matrix and the split; returns it as float64."""
    matrix = np.asarray(y, dtype=np.float64)
    if matrix.ndim != 2:
        raise ToolError("bad_panel", "The outcome must be a units x periods matrix.", "Pass a 2-D array.")
    n_units, n_periods = matrix.shape
    if not np.isfinite(matrix).all():
        raise ToolError("missing_values", "The outcome matrix has missing or infinite values.", "Balance the panel.")
    if n_treated < 1:
        raise ToolError("no_treated", "No treated unit.", "Mark at least one unit as treated.")
    if n_units - n_treated < 1:
        raise ToolError("no_donor", "No untreated (donor) unit.", "Add units that never got the change.")
    if n_pre < 1:
        raise ToolError("no_pre_period", "No period before the change.", "The panel must start before the change.")
    if n_pre >= n_periods:
        raise ToolError("no_post_period", "No period after the change.", "The panel must go on after the change.")
    return matrix


def _time_problem_batch(
    donors: Array, n_pre: int, excluded: npt.NDArray[np.intp], zeta: float, intercept: bool
) -> wt.SimplexProblem:
    """Time-weight problems, one per row of ``excluded`` (donor indices left out of that problem's controls)."""
    z = np.column_stack([donors[:, :n_pre], donors[:, n_pre:].mean(axis=1)])
    n_donors = z.shape[0]
    total = z.T @ z
    n_prob = excluded.shape[0]
    scatter = np.broadcast_to(total, (n_prob, *total.shape)).copy()
    sums = np.broadcast_to(z.sum(axis=0), (n_prob, z.shape[1])).copy()
    for j in range(excluded.shape[1]):
        rows = z[excluded[:, j]]
        scatter -= np.einsum("pi,pj->pij", rows, rows)
        sums -= rows
    count = float(n_donors - excluded.shape[1])
    if intercept:
        scatter -= np.einsum("pi,pj->pij", sums, sums) / count
    return wt.SimplexProblem(
        gram=np.ascontiguousarray(scatter[:, :n_pre, :n_pre]),
        cross=np.ascontiguousarray(scatter[:, n_pre, :n_pre]),
        target_ss=np.ascontiguousarray(scatter[:, n_pre, n_pre]),
        rows=np.full(n_prob, count),
        zeta=zeta,
        allowed=np.ones((n_prob, n_pre), dtype=np.bool_),
    )


def _normalised(start: Array, allowed: npt.NDArray[np.bool_]) -> Array:
    x = np.where(allowed, start, 0.0)
    total = x.sum(axis=1, keepdims=True)
    uniform = allowed / np.maximum(allowed.sum(axis=1, keepdims=True), 1)
    return np.asarray(np.where(total > 0, x / np.where(total > 0, total, 1.0), uniform), dtype=np.float64)


@dataclass(frozen=True)
class _Batch:
    omega: Array  # problems x donors
    lam: Array | None  # problems x pre-periods
    tau: Array
    gap: Array  # problems x periods
    synthetic: Array
    offset: Array
    iterations: npt.NDArray[np.int64]


def _solve_batch(
    donors: Array,
    targets: Array,
    excluded: npt.NDArray[np.intp],
    n_pre: int,
    estimator: Estimator,
    penalties: Penalties,
    omega_start: Array | None,
    lambda_start: Array | None,
    fixed: bool = False,
) -> _Batch:
    """Weights and effects for a batch of problems that share the donor matrix.

    Problem p fits ``targets[p]`` (a path over all periods) with the donors not in ``excluded[p]``.
    With ``fixed`` the starts are used as they are (renormalised over the allowed donors), as synthdid does when
    weights are given.
    """
    n_prob = targets.shape[0]
    n_donors = donors.shape[0]
    allowed = np.ones((n_prob, n_donors), dtype=np.bool_)
    if excluded.shape[1]:
        np.put_along_axis(allowed, excluded, False, axis=1)
    iterations = np.zeros(n_prob, dtype=np.int64)
    lam: Array | None
    if estimator == "did":
        omega = _normalised(np.ones((n_prob, n_donors)), allowed)
        lam = np.full((n_prob, n_pre), 1.0 / n_pre)
    else:
        intercept = estimator == "synthetic_did"
        start = None if omega_start is None else _normalised(omega_start, allowed)
        if fixed and start is not None:
            omega = start
        else:
            problem = wt.unit_problem(donors[:, :n_pre], targets[:, :n_pre], penalties.zeta_omega, intercept)
            problem = wt.SimplexProblem(
                problem.gram, problem.cross, problem.target_ss, problem.rows, problem.zeta, allowed
            )
            solution = wt.solve(problem, penalties.solver, start, penalties.min_decrease)
            omega, iterations = solution.weights, iterations + solution.iterations
        if estimator == "synthetic_control":
            lam = None
        elif fixed and lambda_start is not None:
            lam = np.broadcast_to(lambda_start, (n_prob, n_pre)).copy()
        else:
            tproblem = _time_problem_batch(donors, n_pre, excluded, penalties.zeta_lambda, True)
            tstart = None if lambda_start is None else np.broadcast_to(lambda_start, (n_prob, n_pre)).copy()
            tsolution = wt.solve(tproblem, penalties.solver, tstart, penalties.min_decrease)
            lam, iterations = tsolution.weights, iterations + tsolution.iterations
    synthetic = omega @ donors
    raw_gap = targets - synthetic
    offset = np.zeros(n_prob) if lam is None else np.einsum("pt,pt->p", lam, raw_gap[:, :n_pre])
    synthetic = synthetic + offset[:, None]
    gap = raw_gap - offset[:, None]
    return _Batch(omega, lam, gap[:, n_pre:].mean(axis=1), gap, synthetic, offset, iterations)


def _rmspe(gap: Array) -> Array:
    return np.asarray(np.sqrt(np.mean(gap**2, axis=-1)), dtype=np.float64)


def fit(
    y: Array,
    n_treated: int,
    n_pre: int,
    estimator: Estimator = "synthetic_did",
    *,
    solver: wt.Solver = "exact",
    predictors: Array | None = None,
    penalties: Penalties | None = None,
    omega_start: Array | None = None,
    lambda_start: Array | None = None,
) -> SynthFit:
    """Fit one estimator. ``predictors`` (k x units, same row order as ``y``) only with synthetic control.

    ``solver``: "exact" (default) solves each weight problem to its optimum; "frank_wolfe" reproduces synthdid
    (its early-stopped Frank-Wolfe, 0.002 from the optimum on Prop 99 SDID, 0.11 for SC).
    ``penalties`` defaults to the estimator's own (computed from ``y``); refits pass the original's.
    """
    matrix = check_panel(y, n_treated, n_pre)
    if estimator not in ESTIMATORS:
        raise ToolError("bad_estimator", f"Unknown estimator {estimator!r}.", f"Use one of {', '.join(ESTIMATORS)}.")
    n_donors = matrix.shape[0] - n_treated
    donors, treated = matrix[:n_donors], matrix[n_donors:].mean(axis=0)
    n_post = matrix.shape[1] - n_pre
    settings = penalties or Penalties.for_panel(donors[:, :n_pre], n_treated, n_post, estimator, solver)
    v: Array | None = None
    if predictors is not None:
        if estimator != "synthetic_control":
            raise ToolError(
                "covariates_need_synthetic_control",
                "Predictors (covariates) are used by the synthetic control estimator only.",
                'Set estimator to "synthetic_control" or drop the covariates.',
            )
        x = np.asarray(predictors, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != matrix.shape[0] or not np.isfinite(x).all():
            raise ToolError("bad_covariates", "Predictors must be a finite (k x units) matrix.", "Check covariates.")
        x = np.column_stack([x[:, :n_donors], x[:, n_donors:].mean(axis=1)])
        pre = np.vstack([donors[:, :n_pre], treated[:n_pre]])
        omega_adh, v, _ = wt.adh_weights(x, pre, n_donors)
        omega_start = omega_adh
        batch = _solve_batch(
            donors,
            treated[None, :],
            np.zeros((1, 0), dtype=np.intp),
            n_pre,
            estimator,
            settings,
            omega_adh[None, :],
            None,
            fixed=True,
        )
    else:
        batch = _solve_batch(
            donors,
            treated[None, :],
            np.zeros((1, 0), dtype=np.intp),
            n_pre,
            estimator,
            settings,
            None if omega_start is None else np.asarray(omega_start, dtype=np.float64)[None, :],
            None if lambda_start is None else np.asarray(lambda_start, dtype=np.float64),
        )
    gap = batch.gap[0]
    return SynthFit(
        estimator=estimator,
        tau=float(batch.tau[0]),
        unit_weights=batch.omega[0],
        time_weights=None if batch.lam is None else batch.lam[0],
        predictor_weights=v,
        offset=float(batch.offset[0]),
        observed=treated,
        synthetic=batch.synthetic[0],
        gap=gap,
        pre_rmspe=float(_rmspe(gap[:n_pre])),
        post_rmspe=float(_rmspe(gap[n_pre:])),
        n_donors=n_donors,
        n_treated=n_treated,
        n_pre=n_pre,
        n_post=n_post,
        penalties=settings,
        iterations=int(batch.iterations[0]),
    )


@dataclass(frozen=True)
class DonorPlacebos:
    """Placebo fits on the donors alone: in problem p the donors ``treated_sets[p]`` play the treated units."""

    treated_sets: npt.NDArray[np.intp]
    tau: Array
    gap: Array
    pre_rmspe: Array
    post_rmspe: Array


def fit_donor_placebos(
    y: Array,
    n_treated: int,
    n_pre: int,
    original: SynthFit,
    treated_sets: npt.NDArray[np.intp],
    chunk: int = 250,
) -> DonorPlacebos:
    """Refit the original's estimator with each set of donors as the treated units (the real ones dropped).

    Solved in batches sharing the donors' Gram matrix, warm-started from the original's weights and with its
    penalties, as synthdid's placebo refits are.
    """
    matrix = check_panel(y, n_treated, n_pre)
    donors = matrix[: matrix.shape[0] - n_treated]
    taus, gaps = [], []
    omega0 = original.unit_weights[None, :]
    warm = original.penalties.solver == "frank_wolfe"
    for lo in range(0, treated_sets.shape[0], chunk):
        sets = treated_sets[lo : lo + chunk]
        targets = donors[sets].mean(axis=1)
        batch = _solve_batch(
            donors,
            targets,
            sets,
            n_pre,
            original.estimator,
            original.penalties,
            # synthdid warm-starts its Frank-Wolfe from the original weights; the exact solver starts omega at a
            # vertex (a placebo's target is another unit) and lambda at the original's (its problem barely changes)
            np.broadcast_to(omega0, (sets.shape[0], donors.shape[0])) if warm else None,
            original.time_weights,
        )
        taus.append(batch.tau)
        gaps.append(batch.gap)
    gap = np.vstack(gaps)
    return DonorPlacebos(treated_sets, np.concatenate(taus), gap, _rmspe(gap[:, :n_pre]), _rmspe(gap[:, n_pre:]))
