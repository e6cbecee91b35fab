"""The plot data: raw mean treatment (first stage) and outcome (reduced form) by instrument value.

A two-valued instrument gives two bins, the Wald picture (the outcome's gap over the take-up gap is the Wald
estimate); an instrument with at most ``MAX_BINS`` values gets one bin per value; otherwise ``MAX_BINS`` bins at
quantiles of the instrument (or, with several instruments, of the combined instrument: their first-stage linear
combination). Quantile edges come from a strided sample of at most
``EDGE_SAMPLE`` rows, so a million rows bin in a few milliseconds; the means are over every row.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from tools.iv.models import MAX_BINS, IVBin

__all__ = ["EDGE_SAMPLE", "bins"]

FloatArray = NDArray[np.float64]

EDGE_SAMPLE = 200_000


def bins(
    values: FloatArray, treatment: FloatArray, outcome: FloatArray, levels: tuple[float, float] | None
) -> list[IVBin]:
    """Means of the treatment and the outcome per bin of ``values``; ``levels`` are a two-valued instrument's."""
    if levels is not None:
        index = (values == levels[1]).astype(np.intp)
    else:
        sample = values[:: max(1, len(values) // EDGE_SAMPLE)]
        distinct = np.unique(sample)
        if len(distinct) <= MAX_BINS and np.isin(values, distinct).all():
            # few values: one bin per value (quantile edges would merge a rare value into its neighbour)
            index = np.searchsorted(distinct, values)
        else:
            edges = np.unique(np.quantile(sample, np.linspace(0.0, 1.0, MAX_BINS + 1)[1:-1]))
            index = np.searchsorted(edges, values, side="right")
    size = int(index.max()) + 1
    counts = np.bincount(index, minlength=size)
    sums = [np.bincount(index, weights=v, minlength=size) for v in (values, treatment, outcome)]
    return [
        IVBin(
            instrument_value=float(sums[0][j] / counts[j]),
            n=int(counts[j]),
            treatment_mean=float(sums[1][j] / counts[j]),
            outcome_mean=float(sums[2][j] / counts[j]),
        )
        for j in range(size)
        if counts[j] > 0
    ]
