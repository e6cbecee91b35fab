"""Trust the system before the result: A/A tests, observed and simulated from real data.

Modules: ``models`` (request and result), ``units`` (the per-unit sums an analysis needs, from rows or from the
randomisation unit's rows), ``simulate`` (re-randomisation: arm moments of many random splits from one matrix
product per block of units, and ab_test's own test on each split), ``tool`` (``aa_test``: the observed A/A, the
simulations, the verdict and the words), ``spec`` (the registration).
"""

from typing import TYPE_CHECKING, Any

from tools.aa_test.models import AaTestRequest, AaTestResult

if TYPE_CHECKING:
    from tools.aa_test.tool import aa_test

__all__ = ["AaTestRequest", "AaTestResult", "aa_test"]


def __getattr__(name: str) -> Any:
    # the function pulls in numpy, pandas and scipy; the models do not, so listing tools stays light
    if name == "aa_test":
        from tools.aa_test import tool

        return tool.aa_test
    raise AttributeError(f"module 'tools.aa_test' has no attribute {name!r}")
