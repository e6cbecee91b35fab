"""The assign tool's arithmetic: hashed uniforms, exact counts per arm, and the Mahalanobis imbalance.

A unit's position comes from its id and the salt only, as experimentation platforms do it (a hash, not a random
generator's stream): ``u = first 53 bits of SHA-256("<salt>:<id>") / 2^53``, uniform on [0, 1). Within a stratum the
units are sorted by ``u`` (ties, which need a SHA-256 collision on 53 bits, by id) and the first ``n_1`` go to the
first arm, the next ``n_2`` to the second, and so on: exact counts per arm, the same assignment whatever the row order
or the other columns of the file. The counts are ``floor(n share)`` per arm; the ``n - sum floor`` units left go to
arms drawn without replacement with probability proportional to the fractional parts, by a generator seeded from the
hash of the salt and the stratum (so over many strata each arm's expected count is close to ``n share``).

Imbalance (Morgan & Rubin 2012, generalised to K arms): ``M = sum_a n_a (xbar_a - xbar)' S^+ (xbar_a - xbar)`` with
``S`` the covariates' sample covariance (n - 1); with two arms it is M&R's ``n_1 n_0 / n (xbar_1 - xbar_0)' S^-1
(xbar_1 - xbar_0)``. Under complete randomisation M is approximately chi-square with rank(S) x (K - 1) degrees of
freedom. Rerandomisation keeps the first draw with ``M <= a``, ``a`` the chi-square p_a-quantile; each covariate's
mean difference then has its variance multiplied by ``v_a = P(chi2_{df+2} <= a) / P(chi2_df <= a)`` (M&R Theorem 3.1).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from scipy import stats

__all__ = [
    "allocate",
    "arm_counts",
    "draw_salt",
    "mahalanobis",
    "unit_uniforms",
    "variance_reduction",
]

_BITS = 53


def draw_salt(salt: str, draw: int) -> str:
    """The salt of draw ``draw`` (1-based): the salt itself first, then ``salt#2``, ``salt#3``, ..."""
    return salt if draw == 1 else f"{salt}#{draw}"


def unit_uniforms(salt: str, ids: Sequence[str]) -> NDArray[np.float64]:
    """Each id's uniform on [0, 1): the first 53 bits of SHA-256 of ``"<salt>:<id>"`` (UTF-8) over 2^53."""
    shift = 256 - _BITS
    scale = float(2**_BITS)
    return np.array(
        [(int.from_bytes(hashlib.sha256(f"{salt}:{i}".encode()).digest(), "big") >> shift) / scale for i in ids],
        dtype=np.float64,
    )


def _seed(salt: str, stratum: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{salt}|stratum|{stratum}".encode()).digest()[:8], "big")


def arm_counts(n: int, shares: Sequence[float], salt: str, stratum: str) -> NDArray[np.int64]:
    """Units per arm in a stratum of ``n``: ``floor(n share)`` each, the remainder to arms drawn (without
    replacement, in proportion to the fractional parts) from a generator seeded by the salt and the stratum."""
    exact = n * np.asarray(shares, dtype=np.float64)
    base = np.floor(exact + 1e-9).astype(np.int64)
    left = n - int(base.sum())
    if left > 0:
        fraction = np.clip(exact - base, 0.0, None)
        if fraction.sum() <= 0:  # rounding only: spread over every arm
            fraction = np.ones_like(fraction)
        rng = np.random.default_rng(_seed(salt, stratum))
        extra = rng.choice(len(base), size=left, replace=False, p=fraction / fraction.sum())
        base[extra] += 1
    return base


def allocate(
    ids: Sequence[str], groups: NDArray[np.int64], labels: Sequence[str], shares: Sequence[float], salt: str
) -> NDArray[np.int64]:
    """The arm (index into ``shares``) of every randomised unit: within each group (stratum code), units sorted by
    their hashed uniform get the arms in order, in the counts of :func:`arm_counts`. ``labels`` name the groups."""
    u = unit_uniforms(salt, ids)
    key = np.asarray(ids, dtype=object)
    arms = np.empty(len(ids), dtype=np.int64)
    for code, label in enumerate(labels):
        members = np.flatnonzero(groups == code)
        order = sorted(members.tolist(), key=lambda i: (u[i], key[i]))
        counts = arm_counts(len(members), shares, salt, label)
        arms[order] = np.repeat(np.arange(len(shares)), counts)
    return arms


def mahalanobis(x: NDArray[np.float64], arms: NDArray[np.int64], n_arms: int) -> tuple[float, int]:
    """``(M, df)``: the K-arm Mahalanobis imbalance of the rows of ``x`` (complete cases) and its chi-square degrees
    of freedom, rank(S) x (arms with units - 1); ``(0.0, 0)`` without covariates."""
    if x.shape[1] == 0 or len(x) < 2:
        return 0.0, 0
    covariance = np.atleast_2d(np.cov(x, rowvar=False, ddof=1))
    inverse = np.linalg.pinv(covariance)
    rank = int(np.linalg.matrix_rank(covariance))
    centre = x.mean(axis=0)
    total = 0.0
    present = 0
    for a in range(n_arms):
        rows = x[arms == a]
        if len(rows) == 0:
            continue
        present += 1
        d = rows.mean(axis=0) - centre
        total += len(rows) * float(d @ inverse @ d)
    return total, rank * max(present - 1, 0)


def variance_reduction(threshold: float, df: int) -> float:
    """Morgan & Rubin's (2012, Theorem 3.1) ``v_a = P(chi2_{df+2} <= a) / P(chi2_df <= a)``."""
    return float(stats.chi2.cdf(threshold, df + 2) / stats.chi2.cdf(threshold, df))
