"""The guided mode's analysis step: which attached dataset and which of its columns play which role.

After ``recommend_method`` picks a design that whyscope can run on data (difference-in-differences,
propensity scores, regression discontinuity), the guided mode proposes a dataset and a role for each column
from their names, shows the proposal, and lets the user accept it or correct any part as ``role=column``.
No statistics here: the proposal only names columns, and the tool checks them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tools.registry import TOOLS
from tools.spec import Guide

__all__ = ["ANALYSES", "Analysis", "analysis_for", "parse_roles", "request_for", "suggest_dataset", "suggest_roles"]


@dataclass(frozen=True)
class Analysis:
    """One runnable design: its tool and that tool's guide (the roles it needs, how to ask for them)."""

    tool: str
    guide: Guide

    @property
    def required(self) -> tuple[str, ...]:
        return self.guide.required

    @property
    def optional(self) -> tuple[str, ...]:
        return self.guide.optional

    @property
    def dataset_words(self) -> tuple[str, ...]:
        return self.guide.dataset_words

    @property
    def question(self) -> str:
        return self.guide.question


#: Every registered tool with a guide, by tool name (from the registry: a new tool's spec brings its guide).
ANALYSES: dict[str, Analysis] = {spec.name: Analysis(spec.name, spec.guide) for spec in TOOLS if spec.guide is not None}

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

#: recommend_method's designs run by a tool of another name (a cluster-randomized test is an A/B test with a cluster
#: column), from the specs' ``designs``.
ANALYSIS_OF = {design: spec.name for spec in TOOLS for design in spec.designs if design != spec.name}


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


def _match(role: str, columns: Sequence[str], taken: set[str], guide: Guide | None = None) -> str | None:
    """The first column named exactly like one of the role's words, else the first containing one."""
    free = [c for c in columns if c not in taken and not (role == "outcome" and _PRE_PERIOD.search(c))]
    words = (guide.words.get(role) if guide is not None else None) or _WORDS.get(role, (role,))
    for exact in (True, False):
        for word in words:
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
    analysis = analysis_for(method)
    if analysis is None:
        return roles
    guide = analysis.guide
    if guide.experiment:
        return _experiment_roles(roles.get("outcome"), columns, taken)
    for role in guide.suggest:
        if any(role in group and roles.get(other) for group in guide.one_of for other in group):
            continue  # another role of its group is already proposed
        if found := _match(role, columns, taken, guide):
            roles[role] = found
            taken.add(found)
    for group in guide.one_of:  # none of the group proposed yet: try the others, in order
        for role in group:
            if any(roles.get(r) for r in group):
                break
            if found := _match(role, columns, taken, guide):
                roles[role] = found
                taken.add(found)
    if guide.rest_as is not None:
        rest = [c for c in columns if c not in taken and not _POST_TREATMENT.search(c) and not _ID.search(c)]
        if rest:
            roles[guide.rest_as] = rest
    roles.update(guide.defaults)
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
    analysis = analysis_for(method)
    guide = analysis.guide if analysis is not None else None
    for group in guide.one_of if guide is not None else ():
        if any(role in given for role in group):
            for role in group:
                if role not in given:
                    roles.pop(role, None)
    if guide is not None and guide.experiment and "metric" in given:
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
        if role in analysis.guide.lists:
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
    for group in analysis.guide.one_of:
        if not any(roles.get(role) for role in group):
            missing.append(" or ".join(group))
    return missing


def request_for(method: str, dataset: str, roles: Mapping[str, Any]) -> dict[str, Any]:
    """The tool request for ``method`` on ``dataset`` with the chosen columns (defaults for the rest), built by the
    tool's own guide."""
    analysis = analysis_for(method)
    if analysis is None:
        raise ValueError(f"no guided analysis for {method!r}")
    return analysis.guide.build(dataset, roles)
