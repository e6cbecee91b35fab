"""The guided mode's analysis step: which attached dataset and which of its columns play which role.

After ``recommend_method`` picks a design that whyscope can run on data (difference-in-differences,
propensity scores, regression discontinuity), the guided mode proposes a dataset and a role for each column
from their names, shows the proposal, and lets the user accept it or correct any part as ``role=column``.
No statistics here: the proposal only names columns, and the tool checks them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["ANALYSES", "Analysis", "analysis_for", "parse_roles", "request_for", "suggest_dataset", "suggest_roles"]


@dataclass(frozen=True)
class Analysis:
    """One runnable design: its tool, the roles it needs, and how to ask for them."""

    tool: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    dataset_words: tuple[str, ...]
    question: str


ANALYSES: dict[str, Analysis] = {
    "ab_test": Analysis(
        tool="ab_test",
        required=("arm", "metric"),
        optional=("kind", "covariate", "cluster"),
        dataset_words=("experiment", "ab", "checkout", "test", "exp"),
        question="Which column holds each unit's arm (control or treatment), and which holds the primary metric? "
        "Say 'kind=binary' for a 0/1 metric (converted or not) or 'kind=continuous' (revenue, minutes); a "
        "pre-period value of the metric as 'covariate' sharpens the estimate (CUPED); if rows are finer than the "
        "randomized unit (sessions of users), name the unit's column as 'cluster'.",
    ),
    "diff_in_diff": Analysis(
        tool="diff_in_diff",
        required=("outcome", "unit", "time"),
        optional=("cohort", "treatment"),
        dataset_words=("rollout", "staggered", "panel", "region", "market"),
        question="Which columns hold the outcome, the unit (region, market, store), the period, and either "
        "the first period each unit was treated ('cohort', empty or 0 for never treated) or a 0/1 "
        "'treatment' flag per row?",
    ),
    "propensity": Analysis(
        tool="propensity",
        required=("outcome", "treatment", "covariates"),
        optional=(),
        dataset_words=("opt", "toggle", "agent", "feature", "observational"),
        question="Which columns hold the outcome, the treatment (who opted in), and the covariates — the "
        "traits measured BEFORE anyone opted in that drive both opting in and the outcome (usage history, "
        "tenure, plan)? Leave out anything measured after the choice: it would hide part of the effect.",
    ),
    "rdd": Analysis(
        tool="rdd",
        required=("outcome", "running", "cutoff"),
        optional=("side", "fuzzy", "covariates"),
        dataset_words=("cutoff", "threshold", "paywall", "tier", "score"),
        question="Which column holds the outcome, which holds the running variable (the score the cutoff "
        "applies to), what is the cutoff value, and are the treated units above or below it ('side')? If not "
        "everyone past the cutoff got the treatment, name the 0/1 take-up column as 'fuzzy'; traits fixed before "
        "the cutoff applied can be given as 'covariates' (checked for a jump that should not be there).",
    ),
}

_WORDS: dict[str, tuple[str, ...]] = {
    "arm": ("arm", "variant", "group", "bucket", "treatment", "condition", "cohort"),
    "unit": ("unit", "region", "market", "store", "country", "city", "account", "user_id", "customer_id", "id"),
    "time": ("period", "month", "week", "date", "day", "year", "quarter", "time"),
    "cohort": ("cohort", "first_treated", "first_period", "adoption", "adopted_", "launch_", "rollout_", "start_"),
    "treatment": ("treated", "treatment", "opted_in", "opt_in", "enabled", "adopted", "launched", "uses_", "took"),
    "running": ("score", "running", "credits", "queries", "points", "usage", "used", "distance", "margin"),
    "outcome": (
        "outcome",
        "converted",
        "conversion",
        "completion",
        "revenue",
        "orders",
        "tasks",
        "retention",
        "retained",
        "y",
    ),
}
_POST_TREATMENT = re.compile(r"post|after|during|outcome|result|since", re.I)
_ID = re.compile(r"(^|_)(id|uuid|key)$", re.I)
_PRE_PERIOD = re.compile(r"(^|_)(pre|before|baseline|prior)(_|$)", re.I)
_BINARY = re.compile(r"convert|click|retain|retention|churn|purchas|signup|signed_up|success|^is_|^has_|flag", re.I)

#: Designs run by another design's tool (a cluster-randomized test is an A/B test with a cluster column).
ANALYSIS_OF = {"cluster_ab_test": "ab_test"}


def analysis_for(method: str | None) -> Analysis | None:
    """The guided analysis that runs ``method`` (None when there is none)."""
    return ANALYSES.get(ANALYSIS_OF.get(method or "", method or ""))


def suggest_dataset(method: str, names: Sequence[str]) -> str | None:
    """The attached dataset whose name fits the design best; the only one if there is one."""
    if not names:
        return None
    if len(names) == 1:
        return names[0]
    analysis = analysis_for(method)
    words = analysis.dataset_words if analysis is not None else ()
    scored = [(sum(w in name.lower() for w in words), -i, name) for i, name in enumerate(names)]
    best = max(scored)
    return best[2] if best[0] > 0 else None


_STOPWORDS = {"per", "the", "and", "for", "with", "from", "each", "all"}


def _tokens(text: str) -> set[str]:
    return {t for t in re.split(r"[^a-z0-9]+", text.lower()) if len(t) > 2 and t not in _STOPWORDS}


def _match(role: str, columns: Sequence[str], taken: set[str]) -> str | None:
    """The first column named exactly like one of the role's words, else the first containing one."""
    free = [c for c in columns if c not in taken and not (role == "outcome" and _PRE_PERIOD.search(c))]
    for exact in (True, False):
        for word in _WORDS[role]:
            for column in free:
                name = column.lower()
                if name == word or (not exact and len(word) > 2 and word in name):
                    return column
    return None


def suggest_roles(method: str, columns: Sequence[str], metric: str = "") -> dict[str, Any]:
    """A proposal of ``role -> column`` from column names (and the brief's primary metric for the outcome)."""
    roles: dict[str, Any] = {}
    taken: set[str] = set()
    wanted = _tokens(metric)
    candidates = [c for c in columns if not _ID.search(c) and not _PRE_PERIOD.search(c)]
    by_metric = max(candidates, key=lambda c: len(_tokens(c) & wanted), default=None) if wanted else None
    if by_metric is not None and _tokens(by_metric) & wanted:
        roles["outcome"] = by_metric
    elif found := _match("outcome", columns, taken):
        roles["outcome"] = found
    taken |= set(roles.values())
    if ANALYSIS_OF.get(method, method) == "ab_test":
        return _experiment_roles(roles.get("outcome"), columns, taken)
    needed = {
        "diff_in_diff": ("unit", "time", "cohort"),
        "propensity": ("treatment",),
        "rdd": ("running",),
    }.get(method, ())
    for role in needed:
        if found := _match(role, columns, taken):
            roles[role] = found
            taken.add(found)
    if method == "diff_in_diff" and "cohort" not in roles and (found := _match("treatment", columns, taken)):
        roles["treatment"] = found
        taken.add(found)
    if method == "propensity":
        covariates = [c for c in columns if c not in taken and not _POST_TREATMENT.search(c) and not _ID.search(c)]
        if covariates:
            roles["covariates"] = covariates
    if method == "rdd":
        roles["side"] = "above"
    return roles


def _experiment_roles(metric: str | None, columns: Sequence[str], taken: set[str]) -> dict[str, Any]:
    roles: dict[str, Any] = {}
    if found := _match("arm", columns, taken):
        roles["arm"] = found
        taken.add(found)
    if metric is not None:
        roles["metric"] = metric
        roles["kind"] = "binary" if _BINARY.search(metric) else "continuous"
        pre = next((c for c in columns if _PRE_PERIOD.search(c) and _tokens(c) - {"pre"} <= _tokens(metric)), None)
        if pre is not None and roles["kind"] == "continuous":
            roles["covariate"] = pre
    return roles


def merge_roles(
    method: str, proposed: Mapping[str, Any], given: Mapping[str, Any], columns: Sequence[str]
) -> dict[str, Any]:
    """The proposal corrected by the user's ``role=value`` pairs. A new experiment metric brings its own kind and
    pre-period covariate (unless given too); a DiD's cohort and treatment exclude each other."""
    roles = dict(proposed)
    if "cohort" in given:
        roles.pop("treatment", None)
    if "treatment" in given and method == "diff_in_diff":
        roles.pop("cohort", None)
    if ANALYSIS_OF.get(method, method) == "ab_test" and "metric" in given:
        roles.pop("kind", None)
        roles.pop("covariate", None)
        fresh = _experiment_roles(str(given["metric"]), columns, set())
        roles.update({k: v for k, v in fresh.items() if k in ("kind", "covariate")})
    roles.update(given)
    return roles


def describe_roles(roles: Mapping[str, Any]) -> str:
    """``outcome=orders; unit=region; covariates=a, b`` — the form the user can edit and send back."""
    parts = []
    for role, value in roles.items():
        shown = ", ".join(value) if isinstance(value, list) else str(value)
        parts.append(f"{role}={shown}")
    return "; ".join(parts)


def parse_roles(text: str, method: str) -> dict[str, Any]:
    """``role=value`` pairs from the user's answer (separated by ';', ',' or new lines; covariates take a
    comma-separated list). Unknown roles are ignored."""
    analysis = analysis_for(method)
    assert analysis is not None
    known = (*analysis.required, *analysis.optional)
    pattern = re.compile(r"\b(" + "|".join(known) + r")\s*[=:]", re.I)
    marks = list(pattern.finditer(text))
    roles: dict[str, Any] = {}
    for i, mark in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        raw = text[mark.end() : end].strip().strip(";").strip()
        role = mark.group(1).lower()
        if role == "covariates":
            roles[role] = [c.strip() for c in re.split(r"[,;\n]", raw) if c.strip()]
        else:  # a cutoff may be written with thousands separators (1,000)
            separators = r"[;\n]" if role == "cutoff" else r"[,;\n]"
            roles[role] = re.split(separators, raw)[0].strip().strip("'\"")
    return roles


def missing_roles(method: str, roles: Mapping[str, Any]) -> list[str]:
    """The required roles without a value (for DiD: cohort or treatment, one of them)."""
    analysis = analysis_for(method)
    assert analysis is not None
    missing = [role for role in analysis.required if not roles.get(role)]
    if method == "diff_in_diff" and not roles.get("cohort") and not roles.get("treatment"):
        missing.append("cohort or treatment")
    return missing


def request_for(method: str, dataset: str, roles: Mapping[str, Any]) -> dict[str, Any]:
    """The tool request for ``method`` on ``dataset`` with the chosen columns (defaults for the rest)."""
    if ANALYSIS_OF.get(method, method) == "ab_test":
        kind = str(roles.get("kind") or "continuous").lower()
        metric: dict[str, Any] = {
            "name": roles["metric"],
            "kind": "binary" if kind.startswith("b") else "continuous",
        }
        if roles.get("covariate"):
            metric["covariate_column"] = roles["covariate"]
        experiment: dict[str, Any] = {"dataset": dataset, "arm_column": roles["arm"], "metrics": [metric]}
        if roles.get("cluster"):
            experiment["cluster_column"] = roles["cluster"]
        return experiment
    if method == "diff_in_diff":
        request: dict[str, Any] = {
            "dataset": dataset,
            "outcome": roles["outcome"],
            "unit": roles["unit"],
            "time": roles["time"],
        }
        if roles.get("cohort"):
            request["cohort"] = roles["cohort"]
        else:
            request["treatment"] = roles["treatment"]
        return request
    if method == "propensity":
        return {
            "dataset": dataset,
            "outcome": roles["outcome"],
            "treatment": roles["treatment"],
            "covariates": list(_as_list(roles["covariates"])),
        }
    if method == "rdd":
        side = str(roles.get("side") or "above").lower()
        request = {
            "dataset": dataset,
            "outcome": roles["outcome"],
            "running": roles["running"],
            "cutoff": _cutoff(roles["cutoff"]),
            "treatment_side": "below" if side.startswith("b") else "above",
        }
        if roles.get("fuzzy"):
            request["fuzzy"] = roles["fuzzy"]
        if roles.get("covariates"):
            request["covariates"] = list(_as_list(roles["covariates"]))
        return request
    raise ValueError(f"no guided analysis for {method!r}")


def _as_list(value: Any) -> Iterable[str]:
    return value if isinstance(value, list) else [c.strip() for c in str(value).split(",") if c.strip()]


def _cutoff(value: Any) -> float:
    text = str(value).replace(",", "").strip()
    match = re.search(r"[-+]?\d*\.?\d+(?:[eE][-+]?\d+)?", text)
    if match is None:
        raise ValueError(f"the cutoff {value!r} is not a number")
    return float(match.group(0))
