"""Analysis of randomized experiments (A/B and A/B/n tests), from rows or from dashboard numbers.

Modules: ``models`` (request and result), ``inputs`` (validation; rows and summaries to per-arm moments, the
general path), ``rows`` and ``engine`` (the fast one-pass path over a frame), ``parquet`` (the same blocks
streamed from a large Parquet file not read into memory), ``ids`` (the repeated-ID check, memoized per
dataset), ``stats`` (moments, estimators, tests), ``binary`` (two-proportion score tests and intervals,
Fisher's exact test), ``decision`` (corrections, guardrail tests, verdicts, the decision), ``exposure`` (with
``exposure_column``: the complier average causal effect beside the ITT), ``novelty`` (with
``exposure_time_column``: the effect by exposure period, a trend test, early against late; ``novelty_report`` its
words), ``monitoring`` (a sequential plan's look or always-valid confidence sequences for the primary comparisons),
``report`` (warnings and the summary sentence), ``tool`` (the function the registry calls).
"""

from typing import TYPE_CHECKING, Any

from tools.ab_test.models import AbTestRequest, AbTestResult

if TYPE_CHECKING:
    from tools.ab_test.tool import ab_test

__all__ = ["AbTestRequest", "AbTestResult", "ab_test"]


def __getattr__(name: str) -> Any:
    # the function pulls in pandas; the models do not, so listing tools and their schemas stays light
    if name == "ab_test":
        from tools.ab_test.tool import ab_test

        return ab_test
    raise AttributeError(name)
