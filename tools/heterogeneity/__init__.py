"""For whom did it work: the conditional average treatment effect with tests that hold under cross-fitting — the
heterogeneity tool (registered in ``spec``).

Modules: ``models`` (request and result), ``inputs`` (validation, encoding), ``learners`` (cross-fitted nuisance
models, doubly robust scores, DR-learner and T-learner), ``inference`` (BLP, GATES, CLAN on one split; the median
rule over splits), ``targeting`` (gains of treating the top share, the Qini curve and coefficient), ``subgroups``
(pre-specified subgroups with Holm, interaction tests), ``report`` (checks and words), ``tool`` (``heterogeneity``,
``analyse``).
"""

from typing import TYPE_CHECKING, Any

from tools.heterogeneity.models import HeterogeneityRequest, HeterogeneityResult

if TYPE_CHECKING:
    from tools.heterogeneity.tool import analyse, heterogeneity

__all__ = ["HeterogeneityRequest", "HeterogeneityResult", "analyse", "heterogeneity"]


def __getattr__(name: str) -> Any:
    # the functions pull in numpy, pandas, scipy and scikit-learn; the models do not, so listing tools stays light
    if name in ("heterogeneity", "analyse"):
        from tools.heterogeneity import tool

        return getattr(tool, name)
    raise AttributeError(f"module 'tools.heterogeneity' has no attribute {name!r}")
