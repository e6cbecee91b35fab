"""The guided mode's analysis step: which attached dataset and which of its columns play which role.

After ``recommend_method`` picks a design that whyscope can run on data (an experiment, difference-in-differences,
propensity scores, regression discontinuity), the guided mode proposes a dataset — the user's own files before the
bundled examples — and a role for each column from what the columns hold (:mod:`assistant.agent.guided_columns`),
shows the proposal with its reasons, and lets the user accept it or change any part in plain words or as
``role=column`` (:mod:`assistant.agent.guided_revise`). No statistics here: the proposal only names columns, and
the tool checks them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.agent.guided_columns import (
    COMMON_WORDS,
    ID_NAME,
    POST_TREATMENT,
    Proposal,
    direction_words,
    propose,
)
from assistant.agent.guided_revise import Reading
from assistant.agent.guided_state import CLUSTER_DESIGNS
from tools.ab_test.spec import guardrail_direction
from tools.data.profile import FrameProfile, profile_dataset
from tools.errors import ToolError
from tools.registry import TOOLS
from tools.spec import Guide, as_list

__all__ = [
    "ANALYSES",
    "Analysis",
    "analysis_for",
    "apply_reading",
    "column_lists",
    "is_example",
    "parse_roles",
    "propose_roles",
    "request_for",
    "suggest_dataset",
    "suggest_roles",
]


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

#: The name-based proposal (:func:`suggest_roles`, when the data cannot be read) uses the same words and patterns as
#: the proposal from the data.
_WORDS = COMMON_WORDS
_POST_TREATMENT = POST_TREATMENT
_ID = ID_NAME
_PRE_PERIOD = re.compile(r"(^|_)(pre|before|baseline|prior)(_|$)", re.I)
_BINARY = re.compile(r"convert|click|retain|retention|churn|purchas|signup|signed_up|success|^is_|^has_|flag", re.I)

#: recommend_method's designs run by a tool of another name (a cluster-randomized test is an A/B test with a cluster
#: column), from the specs' ``designs``.
ANALYSIS_OF = {design: spec.name for spec in TOOLS for design in spec.designs if design != spec.name}


def analysis_for(method: str | None) -> Analysis | None:
    """The guided analysis that runs ``method`` (None when there is none)."""
    return ANALYSES.get(ANALYSIS_OF.get(method or "", method or ""))


def suggest_dataset(method: str, names: Sequence[str], own: Sequence[str] | None = None) -> str | None:
    """The attached dataset whose name fits the design best; the only one if there is one. ``own`` are the user's
    files among ``names`` (the rest are bundled examples): when there are any, only they are considered — an example
    is never picked over a file the user attached."""
    pool = [n for n in names if n in own] if own else list(names)
    if not pool:
        return None
    if len(pool) == 1:
        return pool[0]
    analysis = analysis_for(method)
    words = analysis.dataset_words if analysis is not None else ()
    scored = [(sum(w in name.lower() for w in words), -i, name) for i, name in enumerate(pool)]
    best = max(scored)
    return best[2] if best[0] > 0 else None


def is_example(dataset: Any) -> bool:
    """Whether a catalog dataset is one of the bundled examples (its name and its file are an example's)."""
    from assistant.launch import EXAMPLES, example_data  # (launch imports the guided mode: imported here)

    file_name = EXAMPLES.get(getattr(dataset, "name", ""))
    bundled = example_data(file_name) if file_name is not None else None
    try:
        return bundled is not None and Path(dataset.path).resolve() == bundled.resolve()
    except (OSError, TypeError, AttributeError):
        return False


_STOPWORDS = {"per", "the", "and", "for", "with", "from", "each", "all"}


def _tokens(text: str) -> set[str]:
    return {t for t in re.split(r"[^a-z0-9]+", text.lower()) if len(t) > 2 and t not in _STOPWORDS}


def _match(role: str, columns: Sequence[str], taken: set[str], guide: Guide | None = None) -> str | None:
    """The first column named exactly like one of the role's words, else the first containing one."""
    free = [c for c in columns if c not in taken and not (role == "outcome" and _PRE_PERIOD.search(c))]
    words = (*(guide.words.get(role, ()) if guide is not None else ()), *_WORDS.get(role, (role,)))
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
            if role in guide.values:  # (no column: the user says it)
                continue
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


def propose_roles(
    method: str,
    dataset: Any,
    metric: str = "",
    cutoff: float | None = None,
    *,
    guardrails: Sequence[str] = (),
    unit: str = "",
) -> Proposal:
    """Roles for ``method`` on a catalog dataset, proposed from what its columns hold (:mod:`tools.data.profile`),
    in the order of the tool's roles; the name-based proposal when the data cannot be read. An experiment's
    guardrails come from the brief's (``guardrails``), its cluster from the brief's unit (``unit``) when the design
    randomizes whole clusters or the unit names a grouping."""
    analysis = analysis_for(method)
    assert analysis is not None
    guide = analysis.guide
    try:
        frame = dataset.frame
        clustered = method in CLUSTER_DESIGNS
        profile = profile_dataset(dataset)
        proposal = propose(guide, frame, profile, metric, cutoff, guardrails=guardrails, unit=unit, clustered=clustered)
    except ToolError:  # the file changed or vanished: the tool will say so when it runs
        proposal = Proposal(roles=suggest_roles(method, list(dataset.columns), metric))
    proposal.roles = ordered_roles(guide, proposal.roles)
    return proposal


def column_lists(guide: Guide) -> list[str]:
    """The roles that hold a list of columns (covariates), not a list of values (an experiment's split)."""
    return [role for role in guide.lists if role not in guide.values]


def ordered_roles(guide: Guide, roles: Mapping[str, Any]) -> dict[str, Any]:
    """``roles`` in the order of the guide's roles (others after them)."""
    order = {role: i for i, role in enumerate(guide.roles)}
    return dict(sorted(roles.items(), key=lambda item: order.get(item[0], len(order))))


def apply_reading(
    method: str,
    roles: Mapping[str, Any],
    reading: Reading,
    columns: Sequence[str],
    profile: FrameProfile | None = None,
) -> dict[str, Any]:
    """``roles`` changed as the user asked: role values (see :func:`merge_roles`), then columns added to or dropped
    from the list role (covariates). A new experiment metric gets its kind from what it holds (``profile``)."""
    analysis = analysis_for(method)
    assert analysis is not None
    merged = merge_roles(method, roles, reading.roles, columns)
    metric = reading.roles.get("metric")
    guide = analysis.guide
    if guide.experiment and metric and "kind" not in reading.roles and profile is not None and metric in profile:
        merged["kind"] = "binary" if profile[metric].kind == "binary" else "continuous"
    for role in column_lists(guide):
        if not (reading.add or reading.drop):
            break
        current = [c for c in _items(merged.get(role)) if column_of(c) not in reading.drop]
        merged[role] = [*current, *(c for c in reading.add if column_of(c) not in {column_of(i) for i in current})]
        break
    if "guardrails" in guide.roles and merged.get("guardrails") is not None:
        merged["guardrails"] = guardrail_items(merged["guardrails"], profile, exclude=merged.get("metric"))
    return ordered_roles(analysis.guide, merged)


#: A guardrail's kind that is a quantile ("p95", "median"): kept over the kind the column's values suggest.
_QUANTILE_KIND = re.compile(r"(?i)p\d{1,2}(?:\.\d+)?|median")


def _items(value: Any) -> list[Any]:
    """A list role's items as they are (columns, or a guardrail's ``{"column", "direction", "kind"}``)."""
    if value in (None, "", []):
        return []
    return list(value) if isinstance(value, list | tuple) else as_list(value)


def column_of(item: Any) -> str:
    """The column of a list role's item (a guardrail's item is a mapping with its column)."""
    return str(item.get("column") or "") if isinstance(item, Mapping) else str(item)


def guardrail_items(value: Any, profile: FrameProfile | None, exclude: Any = None) -> list[dict[str, str]]:
    """The guardrails as ``{"column", "direction", "kind"}`` items: a direction the user said kept, else guessed from
    the column's name; the kind from what the column holds (``profile``); the primary metric and repeats left out."""
    items: list[dict[str, str]] = []
    for item in _items(value):
        column = column_of(item)
        if not column or column == exclude or any(i["column"] == column for i in items):
            continue
        given = item if isinstance(item, Mapping) else {}
        direction = str(given.get("direction") or guardrail_direction(column))
        kind = str(given.get("kind") or "")
        if profile is not None and column in profile and not _QUANTILE_KIND.fullmatch(kind):  # a quantile said stays
            kind = "binary" if profile[column].kind == "binary" else "continuous"
        items.append({"column": column, "direction": direction, "kind": kind or "continuous"})
    return items


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
    """``outcome=orders; unit=region; covariates=a, b`` — the form the user can edit and send back (a DiD's
    adoptions as ``adoptions=California from 2011Q3``)."""
    parts = []
    for role, value in roles.items():
        if value in (None, "", []):
            continue
        shown = ", ".join(_item(v) for v in value) if isinstance(value, list) else str(value)
        parts.append(f"{role}={shown}")
    return "; ".join(parts)


def _item(value: Any) -> str:
    """A list role's item: a column, an adoption ({unit, first_period, said}) as 'UNIT from PERIOD', or a guardrail
    ({column, direction, kind}) as 'COLUMN (better if lower)'."""
    if isinstance(value, Mapping) and "column" in value:
        kind = str(value.get("kind") or "")
        said = f"{kind}, " if _QUANTILE_KIND.fullmatch(kind) else ""
        return f"{value['column']} ({said}{direction_words(str(value.get('direction')))})"
    if isinstance(value, Mapping):
        return f"{value.get('unit')} from {value.get('said', value.get('first_period'))}"
    return str(value)


def missing_text(missing: Sequence[str]) -> str:
    """The roles still needed, in words: a DiD's adoptions are who was treated when, said in words."""
    return ", ".join(
        m.replace(" or adoptions", " (or who was treated when, in words)").replace("adoptions", "who was treated when")
        for m in missing
    )


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
