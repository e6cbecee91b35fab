"""Synthetic control, synthetic difference-in-differences and DiD for a few treated units: the statistics core.

Works on a units x periods outcome matrix (donors first, treated units last; the first ``n_pre`` periods before the
change). Modules: ``weights`` (the simplex weight solvers: synthdid's Frank-Wolfe, an exact pairwise Frank-Wolfe /
active-set solver, ADH's nested predictor weights), ``estimators`` (``fit`` and the batched placebo refits),
``inference`` (in-space placebos with the RMSPE-ratio rank test and the SDID placebo variance, jackknife, bootstrap).
Not yet a registered tool: the request/result models and the wrapper come later.
"""

from tools.synth.estimators import ESTIMATORS, DonorPlacebos, Estimator, Penalties, SynthFit, fit, fit_donor_placebos
from tools.synth.inference import Interval, Placebo, bootstrap, jackknife, placebo
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
    "bootstrap",
    "fit",
    "fit_donor_placebos",
    "jackknife",
    "placebo",
]
