"""Power and sample size for A/B and A/B/n tests on a proportion or a mean.

Means use the exact two-sample t-test power (noncentral t), so Cohen's d = 0.5 at alpha = 0.05 and 80%
power gives 64 per group, as G*Power and R's ``power.t.test`` do. Proportions use the normal
approximation with the pooled variance under H0 and the unpooled variance under H1 (R's
``power.prop.test``, statsmodels' ``power_proportions_2indep``). Cluster randomisation enters through the
design effect, CUPED through the variance it removes, several treatment arms through Bonferroni.

Quasi-experiments (``design``: a difference-in-differences, a regression discontinuity or a synthetic control) are
sized by seeded simulation, with the Monte Carlo error and a closed form beside it.

Modules: ``models`` (request and result), ``formulas`` (the equations and solvers), ``report`` (checks,
method and summary text), ``tool`` (the function the registry calls); ``quasi`` (the quasi-experimental designs),
``quasi_models``, ``quasi_did``, ``quasi_rdd``, ``quasi_synth`` (each design's simulation and closed form),
``quasi_sim`` (the shared test and solvers), ``quasi_report`` (their checks and text).
"""

from typing import TYPE_CHECKING, Any

from tools.power.models import PowerCurvePoint, PowerRequest, PowerResult

if TYPE_CHECKING:
    from tools.power.tool import power

__all__ = ["PowerCurvePoint", "PowerRequest", "PowerResult", "power"]


def __getattr__(name: str) -> Any:
    # the solver pulls in scipy; the models do not, so the registry and the app start fast
    if name == "power":
        from tools.power.tool import power

        return power
    raise AttributeError(name)
