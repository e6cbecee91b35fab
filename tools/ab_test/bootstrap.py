"""Bootstrap intervals for an A/B difference: percentile and BCa, resampling within arm (and by randomized unit).

Each arm is resampled on its own (the design fixed the arms' sizes: a stratified bootstrap), whole randomized units
at a time when rows are finer (a cluster bootstrap), with ``numpy.random.default_rng(seed)``: one independent stream
per arm (``Generator.spawn``), so the draws do not depend on how they are chunked. The statistic is the difference,
treatment minus control, of means (row means; with clusters the mean over rows), ratios (sum y / sum d) or q-th
quantiles (the ``ceil(n q)``-th smallest row), and the relative difference ``t / c - 1``.

Intervals: the percentile interval, and Efron's (1987) BCa with the bias correction ``z0`` from the share of
replicates below the estimate (ties count half) and the acceleration from the jackknife (delete one unit, within its
arm; the multi-sample form of Davison & Hinkley 1997, section 5.3.2, as in ``scipy.stats.bootstrap``). End points
are order statistics of the replicates at ``(B + 1) p`` interpolated on the normal scale (Davison & Hinkley, eq. 5.8; R
``boot``'s ``norm.inter``). The p-value inverts the same interval: the level at which its end point reaches 0.

Memory: replicates are drawn in chunks of at most :data:`CHUNK_CELLS` resampled rows (about 16 MB per temporary
array), so memory is O(rows + replicates) whatever the number of replicates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special

from tools.ab_test.quantiles import quantile_position
from tools.errors import ToolError
from tools.results import Estimate, zero_error

__all__ = [
    "BootstrapComparison",
    "BootstrapInterval",
    "bootstrap_interval",
    "interval_from_replicates",
    "order_statistic",
    "resample_indices",
]

BootstrapStatistic = Literal["mean", "ratio", "quantile"]
BootstrapMethod = Literal["bca", "percentile"]
Alternative = Literal["two-sided", "larger", "smaller"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: Resampled cells (replicates x units, or replicates x rows for quantiles) per chunk: 2^21 x 8 bytes = 16 MB.
CHUNK_CELLS = 1 << 21
#: Fewest replicates accepted; BCa's tails need about 1,000 (Efron & Tibshirani 1993, section 14.3).
MIN_REPLICATES = 200
#: Fewest randomized units per arm a bootstrap is run on.
MIN_UNITS = 10
#: The largest share of replicates that may be undefined (a resample whose denominator or control value is 0).
MAX_UNDEFINED_SHARE = 0.01


@dataclass(frozen=True)
class BootstrapInterval:
    """A bootstrap interval: ``std_error`` is the replicates' standard deviation; ``bias_correction`` (z0) and
    ``acceleration`` (a) are BCa's (0 for the percentile interval); ``replicates`` counts the finite ones used;
    ``p_larger`` is the one-sided p-value for a difference above 0 (the interval inverted), whatever the alternative:
    a guardrail's one-sided harm test reads it."""

    estimate: float
    std_error: float
    ci_lower: float
    ci_upper: float
    p_value: float
    alpha: float
    method: BootstrapMethod
    bias_correction: float
    acceleration: float
    replicates: int
    p_larger: float = math.nan

    def to_estimate(self) -> Estimate:
        """The interval as the shared ``Estimate`` (what a ``Comparison`` carries)."""
        return Estimate(
            estimate=self.estimate,
            std_error=self.std_error,
            ci_lower=self.ci_lower,
            ci_upper=self.ci_upper,
            p_value=self.p_value,
            alpha=self.alpha,
        )


@dataclass(frozen=True)
class BootstrapComparison:
    """Treatment minus control (``absolute``) and ``t / c - 1`` (``relative``, None when the control value is 0),
    each with its bootstrap interval; the arms' values; what was resampled."""

    statistic: BootstrapStatistic
    q: float | None
    control_value: float
    treatment_value: float
    absolute: BootstrapInterval
    relative: BootstrapInterval | None
    n_control_units: int
    n_treatment_units: int
    clustered: bool
    seed: int
    replicates_drawn: int
    method: str


@dataclass(frozen=True)
class _Arm:
    """One arm ready to resample: per unit sums (y, d) or, for quantiles, its rows sorted with their unit codes."""

    n_units: int
    y: FloatArray  # per unit: sum of y (mean, ratio); per sorted row: the value (quantile)
    d: FloatArray  # per unit: sum of d, or rows (mean with clusters), or 1
    unit_of_row: IntArray | None  # quantile: each sorted row's unit code
    value: float


def _arm(
    values: ArrayLike,
    denominator: ArrayLike | None,
    clusters: ArrayLike | None,
    statistic: BootstrapStatistic,
    q: float | None,
    label: str,
) -> _Arm:
    y = np.asarray(values, dtype=np.float64).ravel()
    d = None if denominator is None else np.asarray(denominator, dtype=np.float64).ravel()
    if not np.all(np.isfinite(y)) or (d is not None and not np.all(np.isfinite(d))):
        raise ToolError(
            "non_finite_values",
            f"The {label} arm has missing or infinite values.",
            "Drop or fill the rows without a value before the analysis.",
        )
    if d is not None and len(d) != len(y):
        raise ValueError("values and denominator differ in length")
    if clusters is None:
        codes = np.arange(len(y), dtype=np.int64)
        n_units = len(y)
    else:
        ids = np.asarray(clusters).ravel()
        if len(ids) != len(y):
            raise ValueError("values and clusters differ in length")
        _, inverse = np.unique(ids, return_inverse=True)
        codes = inverse.astype(np.int64).ravel()
        n_units = int(codes.max()) + 1 if len(codes) else 0
    if n_units < MIN_UNITS:
        raise ToolError(
            "too_few_units",
            f"The {label} arm has {n_units} randomized units; a bootstrap needs at least {MIN_UNITS}.",
            "Collect more units, or use the analytic interval.",
        )
    if statistic == "quantile":
        assert q is not None
        order = np.argsort(y, kind="stable")
        ordered, unit_of_row = y[order], codes[order]
        value = float(ordered[int(quantile_position(len(y), q))])
        return _Arm(n_units, ordered, np.bincount(codes, minlength=n_units).astype(np.float64), unit_of_row, value)
    if clusters is None:
        y_u, d_u = y, (np.ones_like(y) if d is None else d)
    else:
        y_u = np.bincount(codes, weights=y, minlength=n_units).astype(np.float64)
        d_u = np.bincount(codes, weights=np.ones_like(y) if d is None else d, minlength=n_units).astype(np.float64)
    total_d = float(d_u.sum())
    if total_d == 0:
        raise ToolError("zero_denominator", f"The {label} arm's denominator sums to 0.", "Check the denominator.")
    return _Arm(n_units, y_u, d_u, None, float(y_u.sum()) / total_d)


def resample_indices(n_units: list[int], replicates: int, seed: int) -> list[IntArray]:
    """The resampled unit indices per arm, ``replicates x n`` each: exactly the draws :func:`bootstrap_interval`
    makes with this seed (one ``spawn``-ed stream per arm, drawn row by row), for checking against other software."""
    streams = np.random.default_rng(seed).spawn(len(n_units))
    return [stream.integers(0, n, size=(replicates, n)) for stream, n in zip(streams, n_units, strict=True)]


def _replicate_values(arm: _Arm, stream: np.random.Generator, replicates: int, q: float | None) -> FloatArray:
    """The arm's statistic on each of ``replicates`` resamples, drawn from ``stream`` chunk by chunk."""
    out = np.empty(replicates)
    width = arm.n_units if arm.unit_of_row is None else max(arm.n_units, len(arm.y))
    chunk = max(1, CHUNK_CELLS // width)
    rank_of_unit, k_iid = None, 0
    if arm.unit_of_row is not None and len(arm.y) == arm.n_units and q is not None:
        rank_of_unit = np.argsort(arm.unit_of_row)
        k_iid = int(quantile_position(arm.n_units, q))
    with np.errstate(divide="ignore", invalid="ignore"):
        for start in range(0, replicates, chunk):
            b = min(chunk, replicates - start)
            idx = stream.integers(0, arm.n_units, size=(b, arm.n_units))
            if arm.unit_of_row is None:
                out[start : start + b] = arm.y[idx].sum(axis=1) / arm.d[idx].sum(axis=1)
                continue
            assert q is not None
            if rank_of_unit is not None:  # one row per unit: the quantile's row is a k-th smallest sorted position
                positions = np.partition(rank_of_unit[idx], k_iid, axis=1)[:, k_iid]
                out[start : start + b] = arm.y[positions]
                continue
            offsets = (np.arange(b, dtype=np.int64) * arm.n_units)[:, None]
            counts = np.bincount((idx + offsets).ravel(), minlength=b * arm.n_units).reshape(b, arm.n_units)
            cumulative = np.cumsum(counts[:, arm.unit_of_row], axis=1)
            target = quantile_position(cumulative[:, -1], q) + 1  # the rank (1-based) of the quantile's row
            positions = np.count_nonzero(cumulative < target[:, None], axis=1)
            out[start : start + b] = arm.y[positions]
    return out


def _jackknife_values(arm: _Arm, q: float | None) -> FloatArray:
    """The arm's statistic with each unit left out in turn (all of a unit's rows together)."""
    if arm.unit_of_row is None:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.asarray((arm.y.sum() - arm.y) / (arm.d.sum() - arm.d), dtype=np.float64)
    assert q is not None
    total = len(arm.y)
    rows = arm.d.astype(np.int64)  # rows per unit
    # each unit's sorted positions, unit by unit (positions ascending within a unit: a stable sort by unit)
    keys = np.sort(arm.unit_of_row * total + np.arange(total, dtype=np.int64))
    starts = np.concatenate(([0], np.cumsum(rows)[:-1]))
    units = np.arange(arm.n_units, dtype=np.int64)
    rank = quantile_position(total - rows, q)  # 0-based rank of the quantile among the rows left
    position = rank.copy()
    # The quantile without unit u is the first row p (not u's) with p - (u's rows at or before p) >= rank: iterate
    # p <- rank + (u's rows at or before p), which rises to that fixed point in at most (u's rows + 1) steps.
    for _ in range(int(rows.max()) + 1):
        before = np.searchsorted(keys, units * total + position, side="right") - starts
        new = rank + before
        if np.array_equal(new, position):
            break
        position = new
    return np.asarray(arm.y[np.minimum(position, total - 1)], dtype=np.float64)


def order_statistic(replicates: FloatArray, probabilities: FloatArray) -> FloatArray:
    """Bootstrap quantiles at ``probabilities``: the ``(B + 1) p``-th order statistic, interpolated on the normal
    quantile scale between neighbours (Davison & Hinkley 1997, eq. 5.8; R ``boot``'s ``norm.inter``)."""
    t = np.sort(replicates)
    count = len(t)
    rank = (count + 1) * probabilities
    k = np.trunc(rank).astype(np.int64)
    out = np.empty(len(probabilities))
    for i, (p, r, j) in enumerate(zip(probabilities, rank, k, strict=True)):
        if j <= 0:
            out[i] = t[0]
        elif j >= count:
            out[i] = t[-1]
        elif j == r:
            out[i] = t[j - 1]
        else:
            z, z_lo, z_hi = special.ndtri([p, j / (count + 1), (j + 1) / (count + 1)])
            out[i] = t[j - 1] + (z - z_lo) / (z_hi - z_lo) * (t[j] - t[j - 1])
    return out


def _tail_probabilities(alpha: float, alternative: str) -> FloatArray:
    """The levels of the lower and upper end: two-sided alpha/2 each; one-sided alpha on the side tested (the
    other end is the two-sided one, as the analytic intervals report it)."""
    low = alpha if alternative == "larger" else alpha / 2
    high = 1 - alpha if alternative == "smaller" else 1 - alpha / 2
    return np.array([low, high])


def interval_from_replicates(
    replicates: FloatArray,
    estimate: float,
    *,
    method: BootstrapMethod,
    influence: FloatArray | None = None,
    alpha: float = 0.05,
    alternative: str = "two-sided",
    null: float = 0.0,
) -> BootstrapInterval:
    """Percentile or BCa interval and p-value from finite replicates of a statistic.

    ``influence`` (BCa): the jackknife influence values of all units, each arm's divided by its number of units,
    so that the acceleration is ``sum(L^3) / (6 sum(L^2)^1.5)`` (what R ``boot.ci(..., L = influence)`` computes).
    ``z0 = ndtri(share of replicates below the estimate)``, ties counting half. The p-value is the level at which
    the interval's end point reaches ``null``: with ``G`` the share of replicates below it, ``v = ndtri(G) - z0``,
    ``p_larger = ndtr(v / (1 + a v) - z0)`` (``G`` itself for the percentile interval), bounded below by the
    resolution of ``B`` replicates (``G`` kept within ``[0.5 / B, 1 - 0.5 / B]``).
    """
    t = replicates
    count = len(t)
    if method == "bca":
        if influence is None:
            raise ValueError("BCa needs the influence values")
        below = (np.count_nonzero(t < estimate) + 0.5 * np.count_nonzero(t == estimate)) / count
        z0 = float(special.ndtri(below))
        scale = float(np.sum(influence**2))
        a = float(np.sum(influence**3)) / (6 * scale**1.5) if scale > 0 else 0.0
    else:
        z0, a = 0.0, 0.0
    if not math.isfinite(z0):
        raise ToolError(
            "bootstrap_degenerate",
            "Every bootstrap replicate lies on one side of the estimate, so BCa's bias correction is infinite.",
            "Use bootstrap_method 'percentile', or the analytic interval.",
        )
    z = special.ndtri(_tail_probabilities(alpha, alternative))
    levels = special.ndtr(z0 + (z0 + z) / (1 - a * (z0 + z)))
    low, high = (float(v) for v in order_statistic(t, levels))
    raw_share = float(np.count_nonzero(t < null) + 0.5 * np.count_nonzero(t == null)) / count
    share = min(max(raw_share, 0.5 / count), 1 - 0.5 / count)
    v = float(special.ndtri(share)) - z0
    u = v / (1 + a * v) if 1 + a * v > 0 else math.copysign(math.inf, v)
    p_larger = float(special.ndtr(u - z0))
    p = {"larger": p_larger, "smaller": 1 - p_larger}.get(alternative, min(1.0, 2 * min(p_larger, 1 - p_larger)))
    return BootstrapInterval(
        estimate=estimate,
        std_error=float(np.std(t, ddof=1)),
        ci_lower=low,
        ci_upper=high,
        p_value=p,
        alpha=alpha,
        method=method,
        bias_correction=z0,
        acceleration=a,
        replicates=count,
        p_larger=p_larger,
    )


def _influence(jack_control: FloatArray, jack_treatment: FloatArray) -> FloatArray:
    """Jackknife influence values of a two-arm statistic, each arm's ``(n - 1)(mean - t_(-i))`` over its n."""
    parts = []
    for jack in (jack_control, jack_treatment):
        n = len(jack)
        parts.append((n - 1) * (jack.mean() - jack) / n)
    return np.concatenate(parts)


def _finite(values: FloatArray, what: str) -> FloatArray:
    keep = np.isfinite(values)
    if np.count_nonzero(~keep) > MAX_UNDEFINED_SHARE * len(values):
        raise ToolError(
            "bootstrap_undefined",
            f"The {what} is undefined in {np.count_nonzero(~keep)} of {len(values)} bootstrap resamples (a "
            "denominator or control value of 0).",
            "Use the analytic interval, or a metric whose denominator is rarely 0.",
        )
    return values[keep]


def bootstrap_interval(
    control: ArrayLike,
    treatment: ArrayLike,
    *,
    statistic: BootstrapStatistic = "mean",
    control_denominator: ArrayLike | None = None,
    treatment_denominator: ArrayLike | None = None,
    q: float | None = None,
    control_clusters: ArrayLike | None = None,
    treatment_clusters: ArrayLike | None = None,
    method: BootstrapMethod = "bca",
    replicates: int = 2000,
    seed: int = 0,
    alpha: float = 0.05,
    alternative: str = "two-sided",
) -> BootstrapComparison:
    """Bootstrap intervals of treatment minus control and of ``t / c - 1``, resampling within each arm.

    Parameters
    ----------
    control, treatment
        The metric per row (the numerator for ratios).
    statistic
        ``mean`` (of rows), ``ratio`` (sum of values over sum of denominators) or ``quantile`` (``q``-th).
    control_denominator, treatment_denominator
        ``ratio``: the denominator per row.
    q
        ``quantile``: 0 < q < 1.
    control_clusters, treatment_clusters
        The randomized unit per row when rows are finer: whole units are resampled (both arms, or neither).
    method
        ``bca`` (Efron 1987) or ``percentile``.
    replicates, seed
        Resamples per arm (at least :data:`MIN_REPLICATES`) and the seed of ``numpy.random.default_rng``.
    alpha, alternative
        As the request's; the interval matches the test (one-sided: the side tested at alpha).

    Raises
    ------
    ToolError
        ``non_finite_values``, ``too_few_units``, ``too_few_replicates``, ``zero_denominator``,
        ``bootstrap_undefined``, ``bootstrap_degenerate`` (no spread among replicates, or all on one side).
    """
    if statistic == "ratio" and (control_denominator is None or treatment_denominator is None):
        raise ValueError("statistic 'ratio' needs both arms' denominators")
    if statistic == "quantile" and (q is None or not 0 < q < 1):
        raise ToolError("invalid_quantile", f"The quantile {q} is not between 0 and 1.", "Give q as 0.5 or 0.95.")
    if (control_clusters is None) != (treatment_clusters is None):
        raise ValueError("give cluster ids for both arms or for neither")
    if replicates < MIN_REPLICATES:
        raise ToolError(
            "too_few_replicates",
            f"{replicates} bootstrap replicates are too few for a {1 - alpha:.0%} interval.",
            f"Use at least {MIN_REPLICATES}; 2000 or more for BCa.",
        )
    q_used = q if statistic == "quantile" else None
    arms = [
        _arm(control, control_denominator, control_clusters, statistic, q_used, "control"),
        _arm(treatment, treatment_denominator, treatment_clusters, statistic, q_used, "treatment"),
    ]
    streams = np.random.default_rng(seed).spawn(2)
    c_star, t_star = (_replicate_values(arm, s, replicates, q_used) for arm, s in zip(arms, streams, strict=True))
    c0, t0 = arms[0].value, arms[1].value
    jack_c, jack_t = (_jackknife_values(arm, q_used) for arm in arms) if method == "bca" else (None, None)

    def build(
        star: FloatArray, estimate: float, jc: FloatArray | None, jt: FloatArray | None, what: str
    ) -> BootstrapInterval:
        finite = _finite(star, what)
        if zero_error(float(np.std(finite)), estimate, c0, t0):
            raise ToolError(
                "bootstrap_degenerate",
                f"The bootstrap replicates of the {what} do not vary, so there is no interval to report.",
                "Check that the metric varies within the arms, or use the analytic interval.",
            )
        influence = None if jc is None or jt is None else _influence(_finite(jc, what), _finite(jt, what))
        return interval_from_replicates(
            finite, estimate, method=method, influence=influence, alpha=alpha, alternative=alternative
        )

    with np.errstate(divide="ignore", invalid="ignore"):
        absolute = build(
            t_star - c_star,
            t0 - c0,
            None if jack_c is None else t0 - jack_c,
            None if jack_t is None else jack_t - c0,
            "difference",
        )
        relative = None
        if c0 != 0:
            relative = build(
                t_star / c_star - 1,
                t0 / c0 - 1,
                None if jack_c is None else t0 / jack_c - 1,
                None if jack_t is None else jack_t / c0 - 1,
                "relative difference",
            )
    clustered = control_clusters is not None
    what = {"mean": "means", "ratio": "ratios (sum / sum)", "quantile": f"{q_used or 0:g} quantiles"}[statistic]
    text = (
        f"Bootstrap ({'BCa' if method == 'bca' else 'percentile'}, {replicates} resamples, seed {seed}) of the "
        f"difference of {what}, resampling {'whole randomized units' if clustered else 'rows'} within each arm"
        + ("; acceleration from the delete-one-unit jackknife" if method == "bca" else "")
        + "; p-value from inverting the interval."
    )
    return BootstrapComparison(
        statistic=statistic,
        q=q_used,
        control_value=c0,
        treatment_value=t0,
        absolute=absolute,
        relative=relative,
        n_control_units=arms[0].n_units,
        n_treatment_units=arms[1].n_units,
        clustered=clustered,
        seed=seed,
        replicates_drawn=replicates,
        method=text,
    )
