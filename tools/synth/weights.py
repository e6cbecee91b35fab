"""Weight solvers for synthetic control and synthetic difference-in-differences, on numpy arrays.

Every weight problem here is a least-squares fit on the simplex, written in Gram form so that many problems that
share their data (the placebo loop) are solved together:

    minimise  zeta^2 * |x|^2 + |A x - b|^2 / rows   over x >= 0, sum(x) = 1,

given ``Q = A'A``, ``c = A'b``, ``bb = b'b`` and ``rows`` (the number of rows of A). Unit weights (omega) fit the
treated average's pre-period path with the donors' paths (A: periods x donors); time weights (lambda) fit the donors'
post-period mean with their pre-period outcomes (A: donors x pre-periods). With an intercept the columns of A and b
are centred first, which is what lets SDID match levels up to a constant.

Two solvers:

- ``frank_wolfe``: Frank-Wolfe with the exact line search and the stopping rule of Arkhangelsky et al. (2021) and
  their R package synthdid (stop once an iteration lowers the objective by no more than ``min_decrease**2``, at most
  ``max_iter`` iterations; 100 iterations, then weights at or below a quarter of the largest set to zero, then the
  main run). Batched: a (problems x coordinates) array of iterates, updated by rank-one steps so one iteration costs
  O(problems x coordinates), whatever the number of rows.
- ``exact``: the optimum. Pairwise Frank-Wolfe (mass moves from the worst coordinate in the support to the best
  one, exact line search; batched like the above), which converges linearly on these problems and stops once its
  Frank-Wolfe gap, an upper bound on the distance to the optimal objective, is below 1e-12 of the objective's
  scale; problems it has not settled (nearly unpenalised synthetic-control fits with many donors, after 400 steps)
  are finished by a primal active-set method (KKT system on the free set, the most negative multiplier enters, a
  blocking coordinate leaves; tolerance 1e-10 on the multipliers). The active set is also ADH's inner solver.

``adh_weights`` chooses ADH's diagonal predictor weights V (on the simplex, predictors standardised by their
standard deviation across units, as the R package Synth does) to minimise the pre-period outcome fit of W(V).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import optimize

__all__ = [
    "SimplexProblem",
    "WeightSolution",
    "adh_weights",
    "frank_wolfe",
    "noise_level",
    "pairwise_frank_wolfe",
    "simplex_qp_exact",
    "solve",
    "sparsify",
    "time_problem",
    "unit_problem",
]

Array = npt.NDArray[np.float64]
Solver = Literal["frank_wolfe", "exact"]

MAX_ITER = 10_000
MAX_ITER_PRE_SPARSIFY = 100
PAIRWISE_ITER = 400
_BIG = 1e300


@dataclass(frozen=True)
class SimplexProblem:
    """One or more simplex least-squares problems in Gram form (see the module docstring).

    ``gram`` is (n, n) when all problems share it, else (problems, n, n); ``cross`` (problems, n); ``target_ss``
    (problems,); ``rows`` (problems,); ``allowed`` (problems, n) marks the coordinates each problem may use.
    """

    gram: Array
    cross: Array
    target_ss: Array
    rows: Array
    zeta: float
    allowed: npt.NDArray[np.bool_]

    @property
    def n_problems(self) -> int:
        return int(self.cross.shape[0])

    def objective(self, x: Array) -> Array:
        """zeta^2 |x|^2 + |Ax - b|^2 / rows, per problem (x: problems x n)."""
        qx = x @ self.gram if self.gram.ndim == 2 else np.einsum("pij,pj->pi", self.gram, x)
        fit = np.einsum("pi,pi->p", x, qx) - 2.0 * np.einsum("pi,pi->p", self.cross, x) + self.target_ss
        return np.asarray(self.zeta**2 * np.einsum("pi,pi->p", x, x) + fit / self.rows, dtype=np.float64)


@dataclass(frozen=True)
class WeightSolution:
    """Weights (problems x n) and, per problem, the iterations the solver used and the objective reached."""

    weights: Array
    iterations: npt.NDArray[np.int64]
    objective: Array
    converged: npt.NDArray[np.bool_] | None = None


def noise_level(donor_pre: Array) -> float:
    """synthdid's noise level: the standard deviation (n - 1) of the donors' first differences over pre-periods."""
    if donor_pre.shape[1] < 2:
        return 0.0
    diffs = np.diff(donor_pre, axis=1)
    return float(np.std(diffs, ddof=1)) if diffs.size > 1 else 0.0


def _centre(matrix: Array, axis: int) -> Array:
    return np.asarray(matrix - matrix.mean(axis=axis, keepdims=True), dtype=np.float64)


def unit_problem(donor_pre: Array, targets: Array, zeta: float, intercept: bool) -> SimplexProblem:
    """Unit weights: fit each row of ``targets`` (problems x T0) with the donors' pre-periods (N0 x T0)."""
    donors = _centre(donor_pre, axis=1) if intercept else donor_pre
    aims = _centre(targets, axis=1) if intercept else targets
    gram = donors @ donors.T
    cross = aims @ donors.T
    problems = aims.shape[0]
    return SimplexProblem(
        gram=gram,
        cross=cross,
        target_ss=np.einsum("pt,pt->p", aims, aims),
        rows=np.full(problems, float(donor_pre.shape[1])),
        zeta=zeta,
        allowed=np.ones((problems, donor_pre.shape[0]), dtype=np.bool_),
    )


def time_problem(donor_pre: Array, donor_post_mean: Array, zeta: float, intercept: bool) -> SimplexProblem:
    """Time weights: fit the donors' post-period mean (N0,) with their pre-period outcomes (N0 x T0)."""
    pre = _centre(donor_pre, axis=0) if intercept else donor_pre
    post = donor_post_mean - donor_post_mean.mean() if intercept else donor_post_mean
    return SimplexProblem(
        gram=pre.T @ pre,
        cross=(post @ pre)[None, :],
        target_ss=np.array([float(post @ post)]),
        rows=np.array([float(donor_pre.shape[0])]),
        zeta=zeta,
        allowed=np.ones((1, donor_pre.shape[1]), dtype=np.bool_),
    )


def sparsify(weights: Array) -> Array:
    """synthdid's sparsification: weights at or below a quarter of the largest go to zero; renormalise (per row)."""
    kept = np.where(weights <= weights.max(axis=1, keepdims=True) / 4.0, 0.0, weights)
    return np.asarray(kept / kept.sum(axis=1, keepdims=True), dtype=np.float64)


def _uniform(allowed: npt.NDArray[np.bool_]) -> Array:
    counts = allowed.sum(axis=1, keepdims=True)
    return np.asarray(allowed / np.maximum(counts, 1), dtype=np.float64)


def frank_wolfe(problem: SimplexProblem, start: Array | None, min_decrease: float, max_iter: int) -> WeightSolution:
    """Batched Frank-Wolfe with exact line search; each problem stops on its own (synthdid's rule)."""
    gram, cross, bb, rows = problem.gram, problem.cross, problem.target_ss, problem.rows
    shared = gram.ndim == 2
    n_prob = cross.shape[0]
    eta = rows * problem.zeta**2
    x = _uniform(problem.allowed) if start is None else np.array(start, dtype=np.float64)
    x[~problem.allowed] = 0.0
    index = np.arange(n_prob)
    diag = np.diagonal(gram, axis1=-2, axis2=-1)
    blocked = np.where(problem.allowed, 0.0, np.inf)
    iterations = np.zeros(n_prob, dtype=np.int64)
    live = np.arange(n_prob)  # the problems still iterating
    previous = np.full(n_prob, np.inf)
    value = np.full(n_prob, np.nan)
    qx = cx = xqx = xx = np.empty(0)
    for t in range(max_iter):
        if live.size == 0:
            break
        if t % 200 == 0 or live.size != qx.shape[0]:
            # (re)compute the running products exactly on the live problems: bounds rounding drift
            xl = x[live]
            qx = xl @ gram if shared else np.einsum("pij,pj->pi", gram[live], xl)
            cx = np.einsum("pi,pi->p", cross[live], xl)
            xqx = np.einsum("pi,pi->p", xl, qx)
            xx = np.einsum("pi,pi->p", xl, xl)
        xl = x[live]
        eta_l = eta[live]
        half_grad = qx - cross[live] + eta_l[:, None] * xl
        gx = np.einsum("pi,pi->p", half_grad, xl)
        pick = np.argmin(half_grad + blocked[live], axis=1)
        sub = index[: live.size]
        g_i = half_grad[sub, pick]
        x_i = xl[sub, pick]
        qx_i = qx[sub, pick]
        q_ii = diag[pick] if shared else diag[live, pick]
        curvature = (q_ii - 2.0 * qx_i + xqx) + eta_l * (xx - 2.0 * x_i + 1.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            step = np.where(curvature > 0, -(g_i - gx) / curvature, 0.0)
        step = np.clip(step, 0.0, 1.0)
        keep = 1.0 - step
        xl *= keep[:, None]
        xl[sub, pick] += step
        x[live] = xl
        row_i = gram[pick] if shared else gram[live, pick]
        xqx = keep**2 * xqx + 2.0 * step * keep * qx_i + step**2 * q_ii
        qx = keep[:, None] * qx + step[:, None] * row_i
        cx = keep * cx + step * cross[live, pick]
        xx = keep**2 * xx + 2.0 * step * keep * x_i + step**2
        now = problem.zeta**2 * xx + (xqx - 2.0 * cx + bb[live]) / rows[live]
        iterations[live] += 1
        value[live] = now
        going = (t < 1) | (previous[live] - now > min_decrease**2)
        previous[live] = now
        if not going.all():
            live = live[going]
            qx, cx, xqx, xx = qx[going], cx[going], xqx[going], xx[going]
    return WeightSolution(weights=x, iterations=iterations, objective=problem.objective(x))


def pairwise_frank_wolfe(
    problem: SimplexProblem, start: Array | None = None, tol: float = 1e-12, max_iter: int = 100_000
) -> WeightSolution:
    """Batched pairwise Frank-Wolfe (mass moves from the worst support coordinate to the best one, exact line search).

    Converges linearly on these problems (Lacoste-Julien & Jaggi 2015), so it reaches the optimum: each problem stops
    once its Frank-Wolfe gap (an upper bound on its distance to the optimal objective) is at most ``tol`` times the
    objective's scale (|b|^2 / rows + zeta^2).
    """
    gram, cross, rows = problem.gram, problem.cross, problem.rows
    shared = gram.ndim == 2
    n_prob = cross.shape[0]
    eta = rows * problem.zeta**2
    diag = np.diagonal(gram, axis1=-2, axis2=-1)
    blocked = np.where(problem.allowed, 0.0, np.inf)
    if start is None:
        # the best vertex: supports grow one coordinate a step, and optimal supports are small
        x = np.zeros(cross.shape)
        vertex = np.argmin(diag - 2.0 * cross + eta[:, None] + blocked, axis=1)
        x[np.arange(n_prob), vertex] = 1.0
    else:
        x = np.array(start, dtype=np.float64)
        x[~problem.allowed] = 0.0
    threshold = tol * (problem.target_ss + eta)  # in the units of the half gradient (objective times rows)
    iterations = np.zeros(n_prob, dtype=np.int64)
    converged = np.zeros(n_prob, dtype=np.bool_)
    live = np.arange(n_prob)
    # compacted state of the live problems: iterate, half gradient (blocked coordinates pushed to +BIG)
    xl = x.copy()
    hg = np.empty((0, 0))
    big = np.where(problem.allowed, 0.0, _BIG)
    for t in range(max_iter):
        if t % 200 == 0:  # recompute the half gradient exactly: bounds the drift of the rank-two updates
            qx = xl @ gram if shared else np.einsum("pij,pj->pi", gram[live], xl)
            hg = qx - cross[live] + eta[live][:, None] * xl + big[live]
        sub = np.arange(live.size)
        best = np.argmin(hg, axis=1)
        worst = np.argmax(np.where(xl > 0, hg, -np.inf), axis=1)
        g_best, g_worst = hg[sub, best], hg[sub, worst]
        gap = np.einsum("pi,pi->p", hg, xl) - g_best
        going = gap > threshold[live]
        if not going.all():
            done = ~going
            converged[live[done]] = True
            x[live[done]] = xl[done]
            live, xl, hg = live[going], xl[going], hg[going]
            if live.size == 0:
                break
            sub = sub[: live.size]
            best, worst, g_best, g_worst = best[going], worst[going], g_best[going], g_worst[going]
        if shared:
            q_bb, q_ww, q_bw = diag[best], diag[worst], gram[best, worst]
            row_b, row_w = gram[best], gram[worst]
        else:
            q_bb, q_ww, q_bw = diag[live, best], diag[live, worst], gram[live, best, worst]
            row_b, row_w = gram[live, best], gram[live, worst]
        eta_l = eta[live]
        curvature = q_bb + q_ww - 2.0 * q_bw + 2.0 * eta_l
        limit = xl[sub, worst]
        with np.errstate(divide="ignore", invalid="ignore"):
            step = np.where(curvature > 0, (g_worst - g_best) / curvature, limit)
        step = np.where(best == worst, 0.0, np.clip(step, 0.0, limit))
        xl[sub, best] += step
        xl[sub, worst] = np.where(step >= limit, 0.0, xl[sub, worst] - step)
        row_b = row_b - row_w
        row_b *= step[:, None]
        hg += row_b
        hg[sub, best] += eta_l * step
        hg[sub, worst] -= eta_l * step
        iterations[live] += 1
    if live.size:
        x[live] = xl
    return WeightSolution(x, iterations, problem.objective(x), converged)


def simplex_qp_exact(problem: SimplexProblem, start: Array | None = None, tol: float = 1e-10) -> WeightSolution:
    """The exact optimum of each problem by a primal active-set method, one problem at a time."""
    n_prob, n = problem.cross.shape
    out = np.zeros((n_prob, n))
    iters = np.zeros(n_prob, dtype=np.int64)
    for p in range(n_prob):
        gram = problem.gram if problem.gram.ndim == 2 else problem.gram[p]
        lin = problem.cross[p] / problem.rows[p]
        x0 = None if start is None else start[p]
        out[p], iters[p] = _active_set(gram, problem.rows[p], problem.zeta**2, lin, problem.allowed[p], x0, tol)
    return WeightSolution(out, iters, problem.objective(out), np.ones(n_prob, dtype=np.bool_))


def _active_set(
    gram: Array,
    rows: float,
    ridge: float,
    lin: Array,
    allowed: npt.NDArray[np.bool_],
    start: Array | None,
    tol: float,
) -> tuple[Array, int]:
    """min x'Hx - 2 lin'x on the simplex over ``allowed``, H = gram / rows + ridge I (never formed in full).

    KKT system on the free set; if its solution is feasible, the coordinate with the most negative multiplier
    enters (or it is optimal); else move to the first blocking coordinate and drop it.
    """
    n = lin.size
    candidates = np.flatnonzero(allowed)
    diag = np.diagonal(gram) / rows + ridge
    x = np.zeros(n)
    if start is not None and start[candidates].sum() > 0:
        x[candidates] = np.maximum(start[candidates], 0.0)
        x /= x.sum()
    else:  # the best vertex
        x[candidates[int(np.argmin(diag[candidates] - 2.0 * lin[candidates]))]] = 1.0
    free = x > 0
    scale = max(float(np.abs(diag).max()), 1e-300)
    limit = 50 * n + 100
    for iteration in range(1, limit):
        idx = np.flatnonzero(free)
        k = idx.size
        kkt = np.zeros((k + 1, k + 1))
        kkt[:k, :k] = gram[np.ix_(idx, idx)] / rows + ridge * np.eye(k)
        kkt[:k, k] = 0.5
        kkt[k, :k] = 1.0
        rhs = np.concatenate([lin[idx], [1.0]])
        try:
            solution = np.linalg.solve(kkt, rhs)
        except np.linalg.LinAlgError:
            solution = np.linalg.lstsq(kkt, rhs, rcond=None)[0]
        y = np.zeros(n)
        y[idx] = solution[:k]
        if (y[idx] >= -tol).all():
            x = np.where(free, np.maximum(y, 0.0), 0.0)
            x /= x.sum()
            grad = gram[:, idx] @ x[idx] / rows + ridge * x - lin  # half gradient
            level = float(grad[idx] @ x[idx])
            slack = grad - level
            slack[free | ~allowed] = np.inf
            enter = int(np.argmin(slack))
            if slack[enter] >= -tol * scale:
                return x, iteration
            free[enter] = True
            continue
        direction = y - x
        shrinking = free & (direction < 0)
        ratios = np.where(shrinking, x / np.where(shrinking, -direction, 1.0), np.inf)
        leave = int(np.argmin(ratios))
        alpha = min(1.0, float(ratios[leave]))
        x = np.where(free, x + alpha * direction, 0.0)
        x[leave] = 0.0
        x = np.maximum(x, 0.0)
        x /= x.sum()
        free[leave] = False
        free &= x > 0
        if not free.any():
            free[leave] = True
    return x, limit


def solve(
    problem: SimplexProblem,
    solver: Solver,
    start: Array | None = None,
    min_decrease: float = 0.0,
    max_iter: int = MAX_ITER,
    max_iter_pre_sparsify: int = MAX_ITER_PRE_SPARSIFY,
) -> WeightSolution:
    """synthdid's weight step (Frank-Wolfe, sparsify, Frank-Wolfe again) or the exact optimum."""
    if solver == "exact":
        # pairwise Frank-Wolfe; the few problems it has not settled in PAIRWISE_ITER steps (typically sparse, nearly
        # singular synthetic-control fits) are finished by the active-set method from its iterate
        # with a real ridge (SDID) the problem is strongly convex and pairwise Frank-Wolfe converges linearly, dense
        # supports and all; nearly unpenalised fits (synthetic control) have sparse optima the active set finds fast
        diag = np.diagonal(problem.gram, axis1=-2, axis2=-1)
        ridge = float(np.min(problem.rows * problem.zeta**2 / np.maximum(diag.mean(axis=-1), 1e-300)))
        found = pairwise_frank_wolfe(problem, start, max_iter=PAIRWISE_ITER if ridge < 1e-6 else 20 * PAIRWISE_ITER)
        assert found.converged is not None
        rest = np.flatnonzero(~found.converged)
        if rest.size == 0:
            return found
        sub = SimplexProblem(
            problem.gram if problem.gram.ndim == 2 else problem.gram[rest],
            problem.cross[rest],
            problem.target_ss[rest],
            problem.rows[rest],
            problem.zeta,
            problem.allowed[rest],
        )
        # start the active set on the coordinates that carry weight (the rest enter again if they must)
        rough = found.weights[rest]
        polished = simplex_qp_exact(sub, np.where(rough > 1e-3 * rough.max(axis=1, keepdims=True), rough, 0.0))
        x = found.weights.copy()
        x[rest] = polished.weights
        iterations = found.iterations.copy()
        iterations[rest] += polished.iterations
        return WeightSolution(x, iterations, problem.objective(x), np.ones(x.shape[0], dtype=np.bool_))
    first = frank_wolfe(problem, start, min_decrease, max_iter_pre_sparsify)
    second = frank_wolfe(problem, sparsify(first.weights), min_decrease, max_iter)
    return WeightSolution(second.weights, first.iterations + second.iterations, second.objective)


def _standardise(predictors: Array) -> Array:
    scale = predictors.std(axis=1, ddof=1, keepdims=True)
    scale[scale == 0] = 1.0
    return np.asarray(predictors / scale, dtype=np.float64)


def _w_given_v(donor_x: Array, treated_x: Array, v: Array) -> Array:
    root = np.sqrt(v)[:, None]
    donors = (donor_x * root).T  # donors x predictors
    target = (treated_x * root[:, 0])[None, :]
    problem = unit_problem(donors, target, zeta=0.0, intercept=False)
    # a tiny ridge keeps the KKT systems regular when there are fewer predictors than donors
    ridge = 1e-10 * max(float(np.trace(problem.gram)) / problem.gram.shape[0], 1e-300)
    return _active_set(problem.gram, 1.0, ridge, problem.cross[0], problem.allowed[0], None, 1e-12)[0]


def adh_weights(predictors: Array, outcome_pre: Array, n_donors: int, starts: int = 4) -> tuple[Array, Array, float]:
    """ADH's nested optimisation: predictor weights V, then donor weights W(V).

    ``predictors``: (k predictors x units), donors first then the treated unit (or the treated average) last;
    ``outcome_pre``: (units x periods used for the fit), same order. V lives on the simplex (parametrised as
    |z| / sum |z|, as Synth does) and minimises the mean squared pre-period outcome gap of W(V); Nelder-Mead from
    the equal weights and from each predictor's univariate fit, the best kept. Returns (W, V, loss).
    """
    x = _standardise(predictors)
    donor_x, treated_x = x[:, :n_donors], x[:, n_donors]
    donor_y, treated_y = outcome_pre[:n_donors], outcome_pre[n_donors]
    k = x.shape[0]

    def loss_of(v: Array) -> float:
        w = _w_given_v(donor_x, treated_x, v)
        return float(np.mean((treated_y - w @ donor_y) ** 2))

    def objective(z: npt.NDArray[np.float64]) -> float:
        a = np.abs(z)
        total = a.sum()
        return loss_of(a / total) if total > 0 else np.inf

    initials = [np.full(k, 1.0 / k)]
    # regression-based start (as Synth): squared coefficients of the outcome on the predictors across donors
    design = np.column_stack([np.ones(n_donors), donor_x.T])
    coef = np.linalg.lstsq(design, donor_y.mean(axis=1), rcond=None)[0][1:] ** 2
    if coef.sum() > 0:
        initials.append(coef / coef.sum())
    initials.extend(np.eye(k)[i] * 0.5 + 0.5 / k for i in range(min(k, max(starts - len(initials), 0))))
    best_v, best_loss = initials[0], np.inf
    for v0 in initials:
        found = optimize.minimize(
            objective, v0, method="Nelder-Mead", options={"maxiter": 400 * k, "xatol": 1e-8, "fatol": 1e-12}
        )
        a = np.abs(found.x)
        v = a / a.sum()
        value = loss_of(v)
        if value < best_loss:
            best_v, best_loss = v, value
    return _w_given_v(donor_x, treated_x, best_v), best_v, best_loss
