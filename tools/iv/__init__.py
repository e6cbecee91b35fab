"""Instrumental variables (2SLS) with the weak-instrument-robust Anderson-Rubin set: the statistics core of the
instrumental_variables tool (not registered yet).

Modules: ``models`` (request and result), ``inputs`` (validation, arrays), ``fit`` (covariates screened and
partialled out once; first stage, reduced form, 2SLS, OLS, Sargan and Hansen J with classical, HC1 or CR1 errors),
``ar`` (the Anderson-Rubin test and its exact inversion), ``plot`` (binned means for the first-stage / reduced-form
picture), ``report`` (checks and text), ``tool`` (``instrumental_variables``, ``headline``).
"""

from typing import TYPE_CHECKING, Any

from tools.iv.models import InstrumentalVariablesRequest, InstrumentalVariablesResult

if TYPE_CHECKING:
    from tools.iv.tool import headline, instrumental_variables

__all__ = ["InstrumentalVariablesRequest", "InstrumentalVariablesResult", "headline", "instrumental_variables"]


def __getattr__(name: str) -> Any:
    # the functions pull in numpy, pandas and scipy; the models do not, so listing tools and their schemas stays light
    if name in ("headline", "instrumental_variables"):
        from tools.iv import tool

        return getattr(tool, name)
    raise AttributeError(f"module 'tools.iv' has no attribute {name!r}")
