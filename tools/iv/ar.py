"""The Anderson-Rubin test and its exact inversion into a confidence set.

For a hypothesised effect ``b``, the AR test regresses ``outcome - b * treatment`` on the instruments and the
covariates and tests that the instruments' coefficients are zero. Those coefficients are ``g(b) = pi_y - b pi_d``
(reduced form minus ``b`` times first stage) with covariance ``V(b) = V_yy - b (V_yd + V_yd') + b^2 V_dd``, where the
``V`` blocks are the joint covariance of the two regressions' coefficients with the requested standard errors
(classical, HC1 or CR1): the statistic is ``W(b) = g(b)' V(b)^{-1} g(b)``, reported as ``W / k`` against
``F(k, df)``. With classical errors this is exactly the textbook AR F statistic; with robust or clustered ones it
is the robust Wald test of the reduced form (as ``statsmodels``' ``f_test`` after an HC1 or cluster fit).

The set ``{b : W(b) <= c}`` is found exactly:

* one instrument: ``(pi_y - b pi_d)^2 <= c V(b)`` is a quadratic inequality in ``b``, solved in closed form;
* several: ``W(b) <= c`` holds exactly when ``c V(b) - g(b) g(b)'`` is positive semi-definite (a Schur complement),
  so the set's ends are the real roots of ``det(c V(b) - g(b) g(b)')``, a quadratic eigenvalue problem solved by
  linearisation (``scipy.linalg.eig``). Each root is then refined by bracketing (``brentq`` on ``c - W(b)``
  between the neighbouring test points) and every piece between roots is classified by ``W`` at its midpoint.

As ``b`` goes to either infinity, ``W(b)`` tends to the first stage's Wald statistic ``pi_d' V_dd^{-1} pi_d``: the
set is unbounded exactly when the first stage does not reject at the same level (Dufour 1997).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import linalg, optimize

from tools.iv.fit import Covariances
from tools.iv.models import ARKind

__all__ = ["ARSet", "ar_set", "ar_statistic"]

FloatArray = NDArray[np.float64]

#: An eigenvalue whose imaginary part is below this share of its modulus (plus one) is real.
IMAGINARY_TOLERANCE = 1e-7


@dataclass(frozen=True)
class ARSet:
    """The confidence set as disjoint intervals (None for an infinite end), in increasing order."""

    kind: ARKind
    intervals: list[tuple[float | None, float | None]]


def ar_statistic(b: float, pi_y: FloatArray, pi_d: FloatArray, cov: Covariances) -> float:
    """The Wald statistic ``W(b)`` (not divided by the number of instruments)."""
    g = pi_y - b * pi_d
    v = cov.yy - b * (cov.yd + cov.yd.T) + b * b * cov.dd
    if g.size == 1:
        return float(g[0] ** 2 / v[0, 0]) if v[0, 0] > 0 else math.inf
    try:
        return float(g @ linalg.solve(v, g, assume_a="pos"))
    except (linalg.LinAlgError, ValueError):
        return float(g @ linalg.pinvh(v) @ g)


def _limit(pi_d: FloatArray, cov: Covariances) -> float:
    """``W(b)`` as ``b`` goes to plus or minus infinity: the first stage's Wald statistic."""
    return float(pi_d @ linalg.pinvh(cov.dd) @ pi_d)


def _kind(intervals: list[tuple[float | None, float | None]]) -> ARKind:
    if not intervals:
        return "empty"
    if len(intervals) > 1:
        return "union"
    lower, upper = intervals[0]
    return "bounded" if lower is not None and upper is not None else "unbounded"


def _one_instrument(pi_y: float, pi_d: float, cov: Covariances, critical: float) -> ARSet:
    """``a b^2 - 2 h b + c0 <= 0``, the closed form for one instrument."""
    v_yy, v_yd, v_dd = float(cov.yy[0, 0]), float(cov.yd[0, 0]), float(cov.dd[0, 0])
    a = pi_d * pi_d - critical * v_dd
    h = pi_y * pi_d - critical * v_yd
    c0 = pi_y * pi_y - critical * v_yy
    scale = max(abs(pi_d * pi_d), abs(critical * v_dd), np.finfo(float).tiny)
    if abs(a) <= 1e-14 * scale:  # the first stage sits exactly at the critical value: a half-line
        if h == 0:
            return ARSet("unbounded", [(None, None)]) if c0 <= 0 else ARSet("empty", [])
        end = c0 / (2 * h)
        return ARSet("unbounded", [(end, None)] if h > 0 else [(None, end)])
    discriminant = h * h - a * c0
    if discriminant < 0:  # never zero: inside everywhere (a < 0) or nowhere (a > 0)
        return ARSet("unbounded", [(None, None)]) if a < 0 else ARSet("empty", [])
    root = math.sqrt(discriminant)
    q = h + math.copysign(root, h) if h != 0 else root
    if q == 0:  # h = 0 and discriminant = 0: a single point
        first = second = 0.0
    else:
        first, second = sorted((q / a, c0 / q))
    if a > 0:
        return ARSet("bounded", [(first, second)])
    if first == second:
        return ARSet("unbounded", [(None, None)])
    return ARSet("union", [(None, first), (second, None)])


def _roots(pi_y: FloatArray, pi_d: FloatArray, cov: Covariances, critical: float) -> list[float]:
    """Real roots of ``det(c V(b) - g(b) g(b)')``: the quadratic eigenvalue problem
    ``(A0 + b A1 + b^2 A2) x = 0``, linearised to a generalised eigenproblem of twice the size."""
    k = pi_y.size
    a0 = critical * cov.yy - np.outer(pi_y, pi_y)
    a1 = -critical * (cov.yd + cov.yd.T) + np.outer(pi_y, pi_d) + np.outer(pi_d, pi_y)
    a2 = critical * cov.dd - np.outer(pi_d, pi_d)
    identity, zero = np.eye(k), np.zeros((k, k))
    left = np.block([[zero, identity], [-a0, -a1]])
    right = np.block([[identity, zero], [zero, a2]])
    with np.errstate(divide="ignore", invalid="ignore"):
        values = linalg.eig(left, right, right=False)
    real = [float(v.real) for v in values if np.isfinite(v) and abs(v.imag) <= IMAGINARY_TOLERANCE * (1.0 + abs(v))]
    return sorted(real)


def _several_instruments(pi_y: FloatArray, pi_d: FloatArray, cov: Covariances, critical: float) -> ARSet:
    def inside(b: float) -> float:
        return critical - ar_statistic(b, pi_y, pi_d, cov)

    roots = _roots(pi_y, pi_d, cov, critical)
    at_infinity = critical - _limit(pi_d, cov)
    if not roots:
        return ARSet("unbounded", [(None, None)]) if at_infinity >= 0 else ARSet("empty", [])
    span = max(1.0, roots[-1] - roots[0], abs(roots[0]), abs(roots[-1]))
    # test points: one left of the roots, the midpoints, one right; their sides decide each piece
    points = [roots[0] - span, *((a + b) / 2 for a, b in itertools.pairwise(roots)), roots[-1] + span]
    accepted = [inside(p) >= 0 for p in points[1:-1]]
    accepted = [at_infinity >= 0, *accepted, at_infinity >= 0]
    ends: list[float] = []
    for i, root in enumerate(roots):
        if accepted[i] == accepted[i + 1]:
            continue  # a tangency (double root): no change of side
        lo, hi = points[i], points[i + 1]
        if i == 0 or i == len(roots) - 1:  # push the outer test point until it is on the side of infinity
            outer, step = (lo, -span) if i == 0 else (hi, span)
            for _ in range(200):
                if (inside(outer) >= 0) == (at_infinity >= 0):
                    break
                outer += step
                step *= 2
            lo, hi = (outer, hi) if i == 0 else (lo, outer)
        f_lo, f_hi = inside(lo), inside(hi)
        ends.append(
            optimize.brentq(inside, lo, hi, xtol=1e-14 * max(1.0, abs(root)), rtol=4 * np.finfo(float).eps, maxiter=200)
            if f_lo * f_hi < 0
            else root
        )
    intervals: list[tuple[float | None, float | None]] = []
    start: float | None = None
    inside_now = accepted[0]
    changes = iter(ends)
    for i in range(len(roots)):
        if accepted[i] == accepted[i + 1]:
            continue
        end = next(changes)
        if inside_now:
            intervals.append((start, end))
        else:
            start = end
        inside_now = not inside_now
    if inside_now:
        intervals.append((start, None))
    return ARSet(_kind(intervals), intervals)


def ar_set(pi_y: FloatArray, pi_d: FloatArray, cov: Covariances, critical: float) -> ARSet:
    """The values ``b`` with ``W(b) <= critical`` (``critical`` on the Wald scale: k times the F quantile)."""
    if pi_y.size == 1:
        return _one_instrument(float(pi_y[0]), float(pi_d[0]), cov, critical)
    return _several_instruments(pi_y, pi_d, cov, critical)
