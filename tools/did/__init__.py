"""Difference-in-differences on panels, right under staggered rollouts.

Modules: ``models`` (request and result), ``panel`` (validation; the panel on integer codes), ``periods`` and
``adoptions`` (periods written as text; who was treated when, given unit by unit), ``within`` (two-way
demeaning, least squares, CRV1 with fixest's small-sample correction), ``twfe`` (static TWFE, event study,
pre-trend F test), ``cs`` (Callaway-Sant'Anna group-time effects, aggregations, influence functions), ``drdid``
(a cell with covariates: doubly robust, IPW or regression), ``checks`` (diagnostics, method and summary text),
``tool`` (``diff_in_diff``, ``headline``, ``event_study_fit``).
"""

from typing import TYPE_CHECKING, Any

from tools.did.models import DiffInDiffRequest, DiffInDiffResult

if TYPE_CHECKING:
    from tools.did.tool import diff_in_diff, event_study_fit, headline
    from tools.did.twfe import EventStudyFit

__all__ = ["DiffInDiffRequest", "DiffInDiffResult", "EventStudyFit", "diff_in_diff", "event_study_fit", "headline"]


def __getattr__(name: str) -> Any:
    # the functions pull in numpy, pandas and scipy; the models do not, so listing tools and their schemas stays light
    if name in ("diff_in_diff", "event_study_fit", "headline"):
        from tools.did import tool

        return getattr(tool, name)
    if name == "EventStudyFit":
        from tools.did.twfe import EventStudyFit

        return EventStudyFit
    raise AttributeError(name)
