"""Inference on Callaway-Sant'Anna estimates and event studies: the multiplier bootstrap and simultaneous bands.

Every Callaway-Sant'Anna estimate theta has an influence function psi (units x estimates), and
theta_hat - theta ~ sum_c S_c / n with S_c the sum of psi over cluster c. The multiplier bootstrap (Callaway &
Sant'Anna 2021, Remark 10; R did's ``mboot``) redraws that sum as sum_c V_c S_c / n with i.i.d. weights V of
mean 0 and variance 1 (Mammen's two-point weights, as did, or Rademacher), one per cluster: no refit, so a
thousand draws cost one matrix product. Its standard error is did's robust one (interquartile range / 1.349).

The simultaneous band for the event study uses the sup-t critical value (Montiel Olea & Plagborg-Moller 2019):
the 1 - alpha quantile of max_e |draw_e| / se_e, so that the band covers all event-time effects jointly (with
analytic inference the draws are Gaussian with the estimated correlation). That value is on the normal scale; each
event time's band maps its level through the event time's own t(df), as its pointwise interval does.

Cost: the exact bootstrap is reps x clusters x estimates multiply-adds. Above ``MAX_EXACT_WORK`` (large panels,
where the tool must stay near a second) it is replaced by its Gaussian limit: with Gaussian weights the bootstrap
draws are exactly N(0, S'S / n^2), whose standard errors are the analytic ones, so only the band is simulated (from
that covariance, as with analytic inference). With that many clusters Mammen, Rademacher and Gaussian weights agree
to well under a percent (they differ through the third moment, an O(1 / sqrt(G)) term). The method text says which.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray
from scipy import special

from tools.did.cs import Aggregate, CsResult

__all__ = [
    "BootstrapRun",
    "band_critical",
    "band_critical_t",
    "bootstrap_cs",
    "event_band",
    "multiplier_draws",
    "robust_se",
    "sup_t_critical",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

SQRT5 = math.sqrt(5.0)
#: Mammen's weights: (1 - sqrt 5) / 2 with probability (sqrt 5 + 1) / (2 sqrt 5), else (1 + sqrt 5) / 2.
MAMMEN = ((1 - SQRT5) / 2, (1 + SQRT5) / 2, (SQRT5 + 1) / (2 * SQRT5))
#: Largest reps x clusters x estimates done with the exact weights (about 0.3 s on a loaded core).
MAX_EXACT_WORK = 300_000_000
#: Weight matrix entries generated at once (memory bound: 32 MB).
CHUNK_ENTRIES = 4_000_000
#: Draws behind the analytic sup-t critical value.
BAND_DRAWS = 10_000
#: The robust scale of did: interquartile range over that of the standard normal.
IQR_NORMAL = float(special.ndtri(0.75) - special.ndtri(0.25))


@dataclass(frozen=True)
class BootstrapRun:
    """Callaway-Sant'Anna estimates with bootstrap standard errors, and the event study's sup-t critical value."""

    cs: CsResult
    band: float | None
    exact: bool  # True: the requested weights; False: their Gaussian equivalent (large panels)


def _gaussian(rng: np.random.Generator, cov: FloatArray, reps: int) -> FloatArray:
    """Draws from N(0, cov) through the symmetric square root (cov may be singular: aggregates of the cells)."""
    values, vectors = np.linalg.eigh(cov)
    root = vectors * np.sqrt(np.clip(values, 0.0, None))
    return np.asarray(rng.standard_normal((reps, len(cov))) @ root.T, dtype=np.float64)


def multiplier_draws(sums: FloatArray, n_units: int, reps: int, weights: str, seed: int) -> FloatArray:
    """(reps x estimates) bootstrap deviations sum_c V_c S_c / n from the cluster sums S (clusters x estimates):
    one Mammen or Rademacher weight per cluster."""
    n_clusters = len(sums)
    rng = np.random.default_rng(seed)
    low, high, p_low = MAMMEN if weights == "mammen" else (-1.0, 1.0, 0.5)
    out = np.empty((reps, sums.shape[1]))
    chunk = max(1, CHUNK_ENTRIES // n_clusters)
    for start in range(0, reps, chunk):
        m = min(chunk, reps - start)
        v = np.where(rng.random((m, n_clusters)) < p_low, low, high)
        out[start : start + m] = v @ sums
    return np.asarray(out / n_units, dtype=np.float64)


def robust_se(draws: FloatArray) -> FloatArray:
    """did's bootstrap standard error, IQR / 1.349 per column; the plain standard deviation where the IQR is 0
    (a discrete bootstrap distribution with very few clusters)."""
    q75 = np.quantile(draws, 0.75, axis=0, method="inverted_cdf")
    q25 = np.quantile(draws, 0.25, axis=0, method="inverted_cdf")
    se = (q75 - q25) / IQR_NORMAL
    plain = draws.std(axis=0)
    return np.asarray(np.where(np.isfinite(se) & (se > 0), se, plain), dtype=np.float64)


def sup_t_critical(draws: FloatArray, se: FloatArray, alpha: float) -> float:
    """The 1 - alpha quantile of max_j |draw_j| / se_j over the columns with a positive standard error."""
    keep = se > 0
    if not keep.any():
        return 0.0
    stat = np.max(np.abs(draws[:, keep]) / se[keep], axis=1)
    return float(np.quantile(stat, 1 - alpha, method="inverted_cdf"))


def t_critical(df: float, alpha: float) -> float:
    return float(special.stdtrit(df, 1 - alpha / 2))


def band_critical(cov: FloatArray, alpha: float, seed: int) -> float | None:
    """Analytic sup-t critical value on the normal scale: the 1 - alpha quantile of max_j |Z_j| with Z ~ N(0, the
    correlation of ``cov``). None with fewer than two estimates with a positive variance (no band beyond the
    pointwise intervals). :func:`band_half_width` turns it into each estimate's t(df) band."""
    se = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    keep = se > 0
    if keep.sum() < 2:
        return None
    corr = cov[np.ix_(keep, keep)] / np.outer(se[keep], se[keep])
    draws = _gaussian(np.random.default_rng(seed), corr, BAND_DRAWS)
    return max(sup_t_critical(draws, np.ones(int(keep.sum())), alpha), t_critical(math.inf, alpha))


def band_critical_t(critical: float, df: float) -> float:
    """An estimate's band critical value: the t(df) quantile at the band's normal-scale level Phi(critical), so that
    an estimate with few degrees of freedom gets a band as much wider as its pointwise t interval is (one common df
    for all would let the event time with the fewest, e.g. two treated clusters, widen every band)."""
    return float(special.stdtrit(df, float(special.ndtr(critical))))


def bootstrap_cs(cs: CsResult, reps: int, weights: str, seed: int, alpha: float) -> BootstrapRun:
    """``cs`` with every standard error (cells and aggregates) replaced by the multiplier bootstrap's, and the
    bootstrap sup-t critical value of the event study (never below the largest pointwise t critical value); for
    panels too large for the exact bootstrap, its Gaussian limit (``exact`` False: see the module docstring)."""
    assert cs.influence is not None
    named: list[Aggregate] = [cs.simple, *cs.dynamic.values(), *cs.group.values()]
    named += [a for a in (cs.dynamic_overall, cs.group_overall) if a is not None]
    n_cells = cs.influence.shape[1]
    if reps * cs.n_clusters * (n_cells + len(named)) > MAX_EXACT_WORK:
        return BootstrapRun(cs, event_band(cs, alpha, seed), exact=False)
    columns = [a.influence for a in named if a.influence is not None]
    sums = cs.cluster_sums(np.column_stack([cs.influence, *columns]))
    draws = multiplier_draws(sums, cs.n_units, reps, weights, seed)
    se = robust_se(draws)
    by_id = {id(a): float(s) for a, s in zip(named, se[n_cells:], strict=True)}

    def swap(a: Aggregate) -> Aggregate:
        return replace(a, std_error=by_id[id(a)])

    events = list(cs.dynamic)
    event_cols = n_cells + 1 + np.arange(len(events))
    band = None
    if len(events) >= 2:
        sup = sup_t_critical(draws[:, event_cols], se[event_cols], alpha)
        band = max(sup, t_critical(math.inf, alpha))
    out = replace(
        cs,
        std_error=se[:n_cells],
        simple=swap(cs.simple),
        dynamic={e: swap(a) for e, a in cs.dynamic.items()},
        group={g: swap(a) for g, a in cs.group.items()},
        dynamic_overall=None if cs.dynamic_overall is None else swap(cs.dynamic_overall),
        group_overall=None if cs.group_overall is None else swap(cs.group_overall),
    )
    return BootstrapRun(out, band, exact=True)


def event_band(cs: CsResult, alpha: float, seed: int) -> float | None:
    """Analytic sup-t critical value of Callaway-Sant'Anna's event study (see :func:`band_critical`)."""
    if len(cs.dynamic) < 2:
        return None
    return band_critical(cs.covariance(list(cs.dynamic.values())), alpha, seed)
