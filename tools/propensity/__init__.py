"""The propensity tool: the effect of a self-selected (opt-in) treatment from observational data.

Modules: ``models`` (request and result), ``terms`` (the covariate grammar, parsed without eval), ``inputs``
(validation and the design matrix), ``logit`` (the propensity model by Newton's method), ``weighting`` (IPW and
AIPW with sandwich standard errors), ``matching`` (nearest neighbours on the score by sorting, Abadie-Imbens
standard errors), ``diagnostics`` (balance, overlap, histogram), ``report`` (checks and words), ``tool`` (the
functions: ``propensity``, ``headline`` and ``design``).
"""

from typing import TYPE_CHECKING, Any

from tools.propensity.models import PropensityRequest, PropensityResult

if TYPE_CHECKING:
    from tools.propensity.inputs import PropensityDesign
    from tools.propensity.tool import design, headline, propensity

__all__ = ["PropensityDesign", "PropensityRequest", "PropensityResult", "design", "headline", "propensity"]


def __getattr__(name: str) -> Any:
    # the functions pull in pandas and scipy; the models do not, so listing tools and their schemas stays light
    if name in ("propensity", "headline", "design"):
        from tools.propensity import tool

        return getattr(tool, name)
    if name == "PropensityDesign":
        from tools.propensity.inputs import PropensityDesign

        return PropensityDesign
    raise AttributeError(name)
