"""Pre-registration documents, and the check of an executed analysis against its frozen plan.

- :func:`assemble` builds a :class:`PreRegistration` from a brief, a study plan and a power result, inventing
  nothing: missing items carry the question that would fill them, and the document states its completeness.
- :func:`freeze` stamps it with a content hash and a UTC time (:class:`PlanDocument`); :func:`render` writes
  Markdown, standalone HTML or JSON.
- :func:`check_deviations` compares a frozen plan with an executed analysis (:class:`Execution`) and labels each
  analysis confirmatory or exploratory.
- :mod:`assistant.prereg.plans` derives the analysis plans from the registered requests (:data:`PLANS`, one per
  tool with ``plans=True``); :func:`planned_request` is the request a frozen plan runs (its nulls left out).
- :mod:`assistant.prereg.tool` holds the ``write_prereg`` conversation tool; :mod:`assistant.prereg.files` the
  brief-file loading and safe writing the command line and the app share.
"""

from assistant.prereg.assemble import assemble
from assistant.prereg.deviations import (
    COMPARISONS,
    AnalysisLabel,
    Deviation,
    DeviationReport,
    Execution,
    FieldRule,
    check_deviations,
)
from assistant.prereg.freeze import content_hash, freeze, verify
from assistant.prereg.models import (
    AbTestPlan,
    AnalysisPlan,
    DiffInDiffPlan,
    Item,
    PlanDocument,
    PreRegistration,
    PreregSource,
    PropensityPlan,
    RddPlan,
    StudyPlan,
)
from assistant.prereg.plans import PLAN_TOOLS, PLANS, PlanBase, planned_request
from assistant.prereg.render import render

__all__ = [
    "COMPARISONS",
    "PLANS",
    "PLAN_TOOLS",
    "AbTestPlan",
    "AnalysisLabel",
    "AnalysisPlan",
    "Deviation",
    "DeviationReport",
    "DiffInDiffPlan",
    "Execution",
    "FieldRule",
    "Item",
    "PlanBase",
    "PlanDocument",
    "PreRegistration",
    "PreregSource",
    "PropensityPlan",
    "RddPlan",
    "StudyPlan",
    "assemble",
    "check_deviations",
    "content_hash",
    "freeze",
    "planned_request",
    "render",
    "verify",
]
