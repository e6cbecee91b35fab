"""Pre-registration documents, and the check of an executed analysis against its frozen plan.

- :func:`assemble` builds a :class:`PreRegistration` from a brief, a study plan and a power result, inventing
  nothing: missing items carry the question that would fill them, and the document states its completeness.
- :func:`freeze` stamps it with a content hash and a UTC time (:class:`PlanDocument`); :func:`render` writes
  Markdown, standalone HTML or JSON.
- :func:`check_deviations` compares a frozen plan with an executed analysis (:class:`Execution`) and labels each
  analysis confirmatory or exploratory.
- :mod:`assistant.prereg.plans` derives the analysis plans from the registered requests (:data:`PLANS`, one per
  tool with ``plans=True``); :func:`planned_request` is the request a frozen plan runs (its nulls left out). A tool
  in :data:`SECONDARY_TOOLS` (heterogeneity) plans a secondary analysis, beside the primary one
  (``StudyPlan.secondary_analyses``).
- :mod:`assistant.prereg.tool` holds the ``write_prereg`` conversation tool and :func:`answer_item` (the user's
  answer to an open item); :mod:`assistant.prereg.files` the brief-file loading and safe writing the command line
  and the app share.
- :mod:`assistant.prereg.session_facts` reads what a session's tool runs established (the analysis as it ran, the
  assignment, the refute checks, the data); :mod:`assistant.prereg.session_plan` is a conversation's draft, its open
  items, the user's answers and the freeze that asks first (what ``/prereg`` and the guided mode call).
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
    ItemAnswer,
    PlanDocument,
    PreRegistration,
    PreregSource,
    PropensityPlan,
    RddPlan,
    StudyPlan,
)
from assistant.prereg.plans import PLAN_TOOLS, PLANS, SECONDARY_TOOLS, PlanBase, planned_request
from assistant.prereg.render import render
from assistant.prereg.session_facts import SessionFacts, session_facts

__all__ = [
    "COMPARISONS",
    "PLANS",
    "PLAN_TOOLS",
    "SECONDARY_TOOLS",
    "AbTestPlan",
    "AnalysisLabel",
    "AnalysisPlan",
    "Deviation",
    "DeviationReport",
    "DiffInDiffPlan",
    "Execution",
    "FieldRule",
    "Item",
    "ItemAnswer",
    "PlanBase",
    "PlanDocument",
    "PreRegistration",
    "PreregSource",
    "PropensityPlan",
    "RddPlan",
    "SessionFacts",
    "StudyPlan",
    "assemble",
    "check_deviations",
    "content_hash",
    "freeze",
    "planned_request",
    "render",
    "session_facts",
    "verify",
]
