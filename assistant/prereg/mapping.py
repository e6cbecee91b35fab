"""Each item of the pre-registration: its section, label, the question that fills it, and where the OSF
Preregistration template and AsPredicted ask for it.

OSF Preregistration (Bowman et al. 2016/2020): Study information · Design plan · Sampling plan · Variables ·
Analysis plan · Other. AsPredicted's questions: 1 data collected? 2 hypothesis 3 dependent variable 4 conditions
5 analyses 6 outliers and exclusions 7 sample size 8 other.
"""

from __future__ import annotations

from dataclasses import dataclass

from assistant.prereg.models import Section

__all__ = ["ASPREDICTED", "ASPREDICTED_SHORT", "ITEMS", "SECTION_TITLES", "ItemSpec", "spec"]

SECTION_TITLES: dict[Section, str] = {
    "study_information": "Study information",
    "design_plan": "Design plan",
    "sampling_plan": "Sampling plan",
    "variables": "Variables",
    "analysis_plan": "Analysis plan",
    "other": "Other",
}

ASPREDICTED: dict[int, str] = {
    1: "Have any data been collected for this study already?",
    2: "What's the main question being asked or hypothesis being tested?",
    3: "Describe the key dependent variable(s) specifying how they will be measured.",
    4: "How many and which conditions will participants be assigned to?",
    5: "Specify exactly which analyses you will conduct to examine the main question/hypothesis.",
    6: "Describe exactly how outliers will be defined and handled, and your precise rule(s) for excluding "
    "observations.",
    7: "How many observations will be collected or what will determine sample size?",
    8: "Anything else you would like to pre-register?",
}
ASPREDICTED_SHORT: dict[int, str] = {
    1: "1 Data collected?",
    2: "2 Hypothesis",
    3: "3 Dependent variable",
    4: "4 Conditions",
    5: "5 Analyses",
    6: "6 Outliers and exclusions",
    7: "7 Sample size",
    8: "8 Other",
}


@dataclass(frozen=True)
class ItemSpec:
    key: str
    section: Section
    label: str
    question: str
    osf: str
    aspredicted: tuple[int, ...]
    source: str


ITEMS: tuple[ItemSpec, ...] = (
    ItemSpec(
        "question", "study_information", "Research question and rationale",
        "Why does this change matter: what problem does it solve, and what would change your mind?",
        "Study information: Description", (2,), "brief.why_chain",
    ),
    ItemSpec(
        "hypotheses", "study_information", "Hypotheses and direction",
        "What do you expect the change to do to the primary metric, and in which direction?",
        "Study information: Hypotheses", (2,), "plan.hypothesis; direction from the planned primary metric",
    ),
    ItemSpec(
        "counterfactual", "design_plan", "Comparison (counterfactual)",
        "What would the units have experienced without the change, and who stands in for that?",
        "Design plan: Study design", (4,), "brief.counterfactual",
    ),
    ItemSpec(
        "unit", "design_plan", "Unit of assignment",
        "What gets assigned to the change: users, sessions, accounts, markets?",
        "Design plan: Study design", (4,), "brief.unit",
    ),
    ItemSpec(
        "assignment", "design_plan", "Assignment and randomization",
        "How do units get the change: randomized (how, in what split) or not (then what decides who gets it)?",
        "Design plan: Randomization", (4,), "plan.assignment; planned split",
    ),
    ItemSpec(
        "data_status", "sampling_plan", "Existing data",
        "Have any outcome data been collected or looked at yet?",
        "Sampling plan: Existing data", (1,), "plan.data_status",
    ),
    ItemSpec(
        "population", "sampling_plan", "Population",
        "Which users, accounts or markets are eligible?",
        "Sampling plan: Data collection procedures", (7,), "brief.population",
    ),
    ItemSpec(
        "exclusions", "sampling_plan", "Exclusions (population filter)",
        "Which rows are excluded from the analysis (employees, bots, test accounts), by what rule?",
        "Analysis plan: Data exclusion", (6,), "plan.population_filter",
    ),
    ItemSpec(
        "sample_size", "sampling_plan", "Sample size and its rationale",
        "How many units will be analysed, and why that many? (The power tool answers this for an experiment.)",
        "Sampling plan: Sample size; Sample size rationale", (7,), "power result, or plan.sample_size",
    ),
    ItemSpec(
        "duration_stopping", "sampling_plan", "Duration and stopping rule",
        "How long will data be collected, and is the analysis run once at the end (fixed horizon) or "
        "sequentially?",
        "Sampling plan: Stopping rule", (7,), "plan.duration or power result; plan.stopping",
    ),
    ItemSpec(
        "quality_checks", "sampling_plan", "Data-quality checks",
        "Will you run an A/A test or other data-quality checks before the analysis?",
        "Sampling plan: Data collection procedures", (8,), "the analysis method's checks; plan.quality_checks",
    ),
    ItemSpec(
        "intervention", "variables", "Intervention (manipulated variable)",
        "What exactly changes, and for whom?",
        "Variables: Manipulated variables", (4,), "brief.intervention",
    ),
    ItemSpec(
        "primary_metric", "variables", "Primary metric and estimand",
        "Which single metric decides success, and how is it measured?",
        "Variables: Measured variables", (3,), "brief.outcome; plan.analysis",
    ),
    ItemSpec(
        "guardrails", "variables", "Guardrails and their margins",
        "Which metrics must not get worse, and how much harm is acceptable?",
        "Variables: Measured variables", (3, 8), "brief.outcome.guardrails; plan.analysis (margins)",
    ),
    ItemSpec(
        "covariates", "variables", "Covariates and variance reduction",
        "Which pre-treatment covariates enter the analysis (CUPED, adjustment)?",
        "Variables: Indices; Analysis plan: Statistical models", (5,), "plan.analysis",
    ),
    ItemSpec(
        "method", "analysis_plan", "Statistical model and test",
        "Which analysis will answer the question (method and its settings)?",
        "Analysis plan: Statistical models", (5,), "plan.analysis",
    ),
    ItemSpec(
        "inference", "analysis_plan", "Standard errors",
        "At what level are units independent (for standard errors)?",
        "Analysis plan: Statistical models", (5,), "plan.analysis",
    ),
    ItemSpec(
        "alpha_correction", "analysis_plan", "Inference criteria and multiple testing",
        "What significance level, and which correction for several metrics or arms?",
        "Analysis plan: Inference criteria", (5,), "plan.analysis (alpha, correction) or the power result",
    ),
    ItemSpec(
        "outliers_missing", "analysis_plan", "Outliers and missing data",
        "How are outliers handled (capping rule), and what happens to rows with missing values?",
        "Analysis plan: Transformations; Missing data", (6,), "plan.outliers, plan.missing_data, winsorize",
    ),
    ItemSpec(
        "robustness", "analysis_plan", "Robustness checks",
        "Which robustness checks will you run (placebo, subsets, sensitivity)?",
        "Analysis plan: Statistical models", (8,), "plan.robustness_checks",
    ),
    ItemSpec(
        "decision_rule", "analysis_plan", "Decision rule",
        "What will you do with each possible result: ship, don't ship, iterate?",
        "Analysis plan: Inference criteria", (5, 8), "brief.decision; plan.analysis.decision_rule",
    ),
)  # fmt: skip

_BY_KEY = {item.key: item for item in ITEMS}


def spec(key: str) -> ItemSpec:
    return _BY_KEY[key]
