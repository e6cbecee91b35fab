"""Regression discontinuity: sharp and fuzzy RD at rdrobust's standard, with its diagnostics and plot data.

Modules: ``models`` (request and result), ``inputs`` (validation, missing values, sorting), ``local`` (kernel
windows, nearest-neighbour variance, local polynomial fits), ``bandwidth`` (the mserd / msetwo and
cerrd / certwo selectors), ``estimate`` (conventional and robust bias-corrected inference on plain arrays, the point
estimate at the MSE-optimal bandwidths and the robust interval at the CER-optimal ones), ``density`` (the
Cattaneo-Jansson-Ma manipulation test), ``diagnostics`` (covariates, placebo cutoffs, bandwidth sensitivity),
``plot`` (the RD plot's data), ``report`` (words), ``tool`` (the functions the registry and the refute tool call).
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tools.rdd.models import RddRequest, RddResult
    from tools.rdd.tool import density_test, headline, rdd, rdd_at_cutoff

__all__ = ["RddRequest", "RddResult", "density_test", "headline", "rdd", "rdd_at_cutoff"]


def __getattr__(name: str) -> Any:
    # Everything loads on first use: the models need pydantic, the functions numpy and pandas, and the estimator
    # core (tools.rdd.estimate) needs numpy alone, so a numpy-only caller pays for nothing else.
    if name in ("RddRequest", "RddResult"):
        from tools.rdd import models

        return getattr(models, name)
    if name in ("rdd", "headline", "density_test", "rdd_at_cutoff"):
        from tools.rdd import tool

        return getattr(tool, name)
    raise AttributeError(name)
