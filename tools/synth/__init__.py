"""Synthetic control, synthetic difference-in-differences, DiD and the interrupted time series for a change that
reached one or a few units at one date: the ``synthetic_control`` tool.

Works on a units x periods outcome matrix (donors first, treated units last; the first ``n_pre`` periods before the
change). Modules: ``models`` (request and result), ``panel`` (validation; the balanced matrix), ``weights`` (the
simplex weight solvers: synthdid's Frank-Wolfe, an exact pairwise Frank-Wolfe / active-set solver, ADH's nested
predictor weights), ``estimators`` (``fit`` and the batched placebo refits), ``inference`` (in-space placebos with
the RMSPE-ratio rank test and the SDID placebo variance, jackknife, bootstrap), ``its`` (the interrupted time
series), ``report`` (checks, method and summary text), ``tool`` (``synthetic_control``, ``headline``), ``spec``.

The statistics pull in numpy and scipy and are imported on first use, so listing tools and their schemas stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from tools.synth.models import SyntheticControlRequest, SyntheticControlResult

if TYPE_CHECKING:
    from tools.synth.estimators import (
        ESTIMATORS,
        DonorPlacebos,
        Estimator,
        Penalties,
        SynthFit,
        fit,
        fit_donor_placebos,
    )
    from tools.synth.inference import Interval, Placebo, bootstrap, jackknife, placebo
    from tools.synth.tool import synthetic_control
    from tools.synth.weights import Solver

__all__ = [
    "ESTIMATORS",
    "DonorPlacebos",
    "Estimator",
    "Interval",
    "Penalties",
    "Placebo",
    "Solver",
    "SynthFit",
    "SyntheticControlRequest",
    "SyntheticControlResult",
    "bootstrap",
    "fit",
    "fit_donor_placebos",
    "jackknife",
    "placebo",
    "synthetic_control",
]

_HOMES = {
    **dict.fromkeys(
        ("ESTIMATORS", "DonorPlacebos", "Estimator", "Penalties", "SynthFit", "fit", "fit_donor_placebos"),
        "estimators",
    ),
    **dict.fromkeys(("Interval", "Placebo", "bootstrap", "jackknife", "placebo"), "inference"),
    "Solver": "weights",
    "synthetic_control": "tool",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(f"tools.synth.{_HOMES[name]}"), name)
    raise AttributeError(name)
