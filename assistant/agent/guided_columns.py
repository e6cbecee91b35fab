"""The guided mode's column proposal from the data: which column plays which role, and why, in a few words.

Each role name has a rule on what its column holds (:mod:`tools.data.profile`): an arm or an opt-in is a 0/1 (or
two-level) column; an outcome is the brief's metric, else a numeric column that is nothing else; a unit repeats
over the periods so that unit x period is unique; a period is an integer period, a date or a period string; a
DiD treatment turns on within units and stays on; a running variable is continuous; covariates are the numeric
columns left that are no role, no ID and not named as measured after the treatment — at most the guide's
``rest_cap`` of them. Names break ties (the role's words). No statistics: the tool checks the columns.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from assistant.agent.guided_revise import said_direction, said_quantile
from tools.ab_test.spec import guardrail_direction
from tools.data.names import head_word, singular
from tools.data.profile import ColumnProfile, FrameProfile, constant_within, turns_on, unit_period_unique
from tools.spec import Guide

__all__ = [
    "COMMON_WORDS",
    "GROUPING_WORDS",
    "Proposal",
    "UnitColumn",
    "dataset_unit_column",
    "direction_words",
    "metric_column",
    "propose",
    "repeats",
    "tokens",
    "unit_column",
]

#: Name words per role name, tried after a guide's own ``words`` for the role.
COMMON_WORDS: dict[str, tuple[str, ...]] = {
    "arm": ("arm", "variant", "group", "bucket", "treatment", "treat", "condition", "cohort"),
    "unit": (
        "unit",
        "region",
        "market",
        "store",
        "country",
        "state",
        "city",
        "account",
        "user_id",
        "customer_id",
        "id",
    ),
    "time": ("period", "month", "week", "date", "day", "year", "quarter", "time"),
    "cohort": ("cohort", "first_treated", "first_period", "adoption", "adopted_", "launch_", "rollout_", "start_"),
    "treatment": ("treated", "treatment", "treat", "opted_in", "opt_in", "enabled", "adopted", "launched", "uses_"),
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
#: Words of a randomized unit that groups people (the brief's "whole workspaces"): a column named so whose values
#: repeat across rows is the cluster to count.
GROUPING_WORDS = frozenset(
    {
        "workspace", "team", "market", "store", "shop", "school", "class", "classroom", "city", "region", "country",
        "account", "company", "organization", "organisation", "org", "household", "family", "clinic", "hospital",
        "ward", "village", "district", "branch", "office", "site", "tenant", "cluster", "group", "restaurant",
        "seller", "merchant", "driver", "channel", "server", "zone", "area", "cohort", "campus", "practice",
    }
)  # fmt: skip
POST_TREATMENT = re.compile(r"post|after|during|outcome|result|since", re.I)
ID_NAME = re.compile(r"(^|_)(id|uuid|key)$", re.I)
PRE_PERIOD = re.compile(r"(^|_)(pre|before|baseline|prior|lag)(_|$)", re.I)
_STOPWORDS = {"per", "the", "and", "for", "with", "from", "each", "all", "our", "their", "its"}


def tokens(text: str) -> set[str]:
    """The words of a name or a sentence (lower case, longer than two letters, no stop words)."""
    return {t for t in re.split(r"[^a-z0-9]+", text.lower()) if len(t) > 2 and t not in _STOPWORDS}


@dataclass
class Proposal:
    """Roles proposed for a dataset, each with the few words that say why, and the numbers those words show."""

    roles: dict[str, Any] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)
    #: What else the user should know (columns left out of a capped list).
    notes: list[str] = field(default_factory=list)
    #: The numbers the reasons show, by column (for the conversation's provenance check).
    facts: dict[str, Any] = field(default_factory=dict)

    def take(self, role: str, column: str, profile: ColumnProfile, why: str = "") -> None:
        self.roles[role] = column
        self.reasons[role] = f"{column}: {profile.describe()}" + (f" ({why})" if why else "")
        self.facts[column] = profile.facts()

    @property
    def taken(self) -> set[str]:
        items = [c for v in self.roles.values() for c in (v if isinstance(v, list) else [v])]
        return {str(c.get("column")) if isinstance(c, Mapping) else c for c in items if isinstance(c, str | Mapping)}


def _named(role: str, column: str, guide: Guide | None) -> int:
    """How well the column's name fits the role: 2 exact word, 1 containing one, 0 not at all."""
    words = (*(guide.words.get(role, ()) if guide is not None else ()), *COMMON_WORDS.get(role, (role,)))
    name = column.lower()
    if any(name == w for w in words):
        return 2
    return 1 if any(len(w) > 2 and w in name for w in words) else 0


def metric_column(metric: str, columns: Sequence[str], exclude: Collection[str] = ()) -> str | None:
    """The column the brief's metric names: written out in it ("l_homicide, the log homicide rate"), else the
    column sharing the most words with it."""
    text = metric.lower()
    free = [c for c in columns if c not in exclude]
    logged = bool(_LOG_WORDS.search(text))
    for column in sorted(free, key=len, reverse=True):
        if re.search(rf"(?<![\w]){re.escape(column.lower())}(?![\w])", text):
            if logged and not _LOG_PREFIX.match(column):  # "log homicide rate": l_homicide, when there is one
                return next((c for c in free if c.lower() in (f"l_{column}", f"ln_{column}", f"log_{column}")), column)
            return column
    wanted = tokens(metric)
    if not wanted:
        return None
    candidates = [c for c in free if not ID_NAME.search(c) and not PRE_PERIOD.search(c)]

    def score(column: str) -> float:
        # "log homicide rate" names l_homicide, "homicide rate" names homicide: a log prefix breaks the tie
        overlap = len(tokens(column) & wanted)
        return overlap + (0.5 if bool(_LOG_PREFIX.match(column)) == logged else 0.0) if overlap else 0.0

    best = max(candidates, key=score, default=None)
    return best if best is not None and tokens(best) & wanted else None


_LOG_WORDS = re.compile(r"\b(?:log|logs|logged|ln|logarithm\w*)\b")
_LOG_PREFIX = re.compile(r"(?i)^(?:l|ln|log)_")


def _usable_outcome(p: ColumnProfile) -> bool:
    return p.numeric and not p.year_like and p.kind not in ("id", "constant")


def propose(
    guide: Guide,
    frame: pd.DataFrame,
    profile: FrameProfile,
    metric: str = "",
    cutoff: float | None = None,
    *,
    guardrails: Sequence[str] = (),
    unit: str = "",
    clustered: bool = False,
) -> Proposal:
    """The roles ``guide`` asks for, proposed from the data (``metric``: the brief's primary metric; ``cutoff``: an
    RD's cutoff when the user gave it; ``guardrails``: the brief's guardrails; ``unit``: the brief's unit of
    assignment; ``clustered``: the design randomizes whole clusters)."""
    proposal = Proposal()
    columns = list(profile.columns)
    outcome_role = "metric" if guide.experiment else "outcome"
    found = metric_column(metric, columns) if metric else None
    if found is not None and _usable_outcome(profile[found]):
        proposal.take(outcome_role, found, profile[found], "the brief's metric")
    if guide.experiment:
        _experiment(proposal, guide, profile)
        if "cluster" in guide.roles:
            _cluster(proposal, profile, unit, clustered)
        if "guardrails" in guide.roles and guardrails:
            _guardrails(proposal, profile, guardrails)
    else:
        rules: dict[str, Callable[[Proposal, Guide, pd.DataFrame, FrameProfile], None]] = {
            "time": _time,
            "unit": _unit,
            "cohort": _cohort,
            "treatment": _treatment,
            "instruments": _instruments,
            "running": lambda p, g, f, prof: _running(p, g, prof, cutoff),
        }
        wanted = [r for r in ("time", "unit") if r in guide.roles] + [
            r for r in (*guide.suggest, *(r for group in guide.one_of for r in group)) if r not in ("time", "unit")
        ]
        for role in dict.fromkeys(wanted):
            if any(role in group and any(proposal.roles.get(o) for o in group) for group in guide.one_of):
                continue
            if role in rules:
                rules[role](proposal, guide, frame, profile)
    if outcome_role not in proposal.roles:
        _fallback_outcome(proposal, outcome_role, guide, profile)
    if guide.rest_as is not None:
        _rest(proposal, guide, frame, profile)
    for role, value in guide.defaults.items():
        proposal.roles.setdefault(role, value)
    return proposal


def _fallback_outcome(proposal: Proposal, role: str, guide: Guide, profile: FrameProfile) -> None:
    free = [c for c, p in profile.columns.items() if c not in proposal.taken and _usable_outcome(p)]
    free = [c for c in free if not PRE_PERIOD.search(c) and not ID_NAME.search(c)]
    if not free:
        return
    # a name that says outcome first, then a measurement (float) before a count or a flag
    order = {"float": 0, "integer": 1, "binary": 2}
    best = min(free, key=lambda c: (-_named("outcome", c, guide), order.get(profile[c].kind, 3), free.index(c)))
    proposal.take(role, best, profile[best], "the first numeric column that is no other role: check it")


def _two_level(proposal: Proposal, role: str, guide: Guide, profile: FrameProfile) -> str | None:
    """The 0/1 (or two-level) column fitting ``role`` best: by name, then the most even split."""
    free = [c for c, p in profile.columns.items() if c not in proposal.taken and p.two_levels]
    if not free:
        return None

    def balance(column: str) -> float:
        counts = profile[column].counts
        return min(counts) / max(sum(counts), 1) if counts else 0.0

    return max(free, key=lambda c: (_named(role, c, guide), balance(c), -free.index(c)))


def _experiment(proposal: Proposal, guide: Guide, profile: FrameProfile) -> None:
    arm = _two_level(proposal, "arm", guide, profile)
    if arm is not None:
        proposal.take("arm", arm, profile[arm], "two groups")
    if "metric" not in proposal.roles:
        _fallback_outcome(proposal, "metric", guide, profile)
    metric = proposal.roles.get("metric")
    if metric is None:
        return
    kind = "binary" if profile[metric].kind == "binary" else "continuous"
    proposal.roles["kind"] = kind
    pre = next(
        (
            c
            for c in profile.columns
            if PRE_PERIOD.search(c) and tokens(c) - {"pre", "prior", "baseline"} <= tokens(metric)
        ),
        None,
    )
    if pre is not None and kind == "continuous" and profile[pre].numeric:
        proposal.take("covariate", pre, profile[pre], "the metric before the experiment")


def _unit_words(unit: str) -> tuple[list[str], list[str]]:
    """The brief's unit's words as said ("workspaces") and in the singular ("workspace"), in its order."""
    said = [w for w in re.split(r"[^a-z0-9]+", unit.lower()) if len(w) > 2 and w not in _STOPWORDS]
    return said, [singular(w) for w in said]


def _grouping(unit: str, words: Sequence[str]) -> bool:
    """Whether the brief's unit groups people: one of its words names a grouping, or it says "whole"."""
    return any(w in GROUPING_WORDS for w in words) or bool(re.search(r"\b(?:whole|entire)\b", unit, re.I))


def repeats(profile: ColumnProfile) -> bool:
    """Whether a column could name a unit coarser than the rows: values that repeat across rows, more than two of
    them, and not a flag, a date, a period or a measurement (a float)."""
    return (
        not profile.two_levels
        and profile.kind not in ("constant", "date", "period", "empty", "float")
        and 2 < profile.n_unique < profile.rows
    )


@dataclass(frozen=True)
class UnitColumn:
    """The column that names the brief's unit in data whose rows are finer than it (sessions of users, members of
    workspaces): its name, the unit's word that named it as the user wrote it, and whether the unit groups people
    (a cluster: "whole workspaces")."""

    column: str
    word: str
    grouping: bool

    @property
    def one(self) -> str:
        """The unit's word in the singular ("user"), to say "per user"."""
        return singular(self.word)


def unit_column(unit: str, profile: FrameProfile, exclude: Collection[str] = ()) -> UnitColumn | None:
    """The column the brief's ``unit`` names ("users": user_id; "whole workspaces": Workspace) when its values repeat
    across rows, so that the unit is coarser than the rows; the unit's first such word wins. None when no column is
    named so, or each row is its own unit."""
    said, words = _unit_words(unit)
    free = [c for c, p in profile.columns.items() if c not in exclude and repeats(p)]
    heads = {c: head_word(c) for c in free}
    for place, word in enumerate(words):
        found = next((c for c in free if heads[c] == word), None)
        if found is not None:
            return UnitColumn(found, said[place], _grouping(unit, words))
    return None


def dataset_unit_column(catalog: Any, name: str, unit: str, exclude: Collection[str] = ()) -> UnitColumn | None:
    """:func:`unit_column` on the attached dataset ``name`` (None when it is not attached or cannot be read)."""
    from tools.data.profile import profile_dataset
    from tools.errors import ToolError

    dataset = next((d for d in catalog or () if d.name == name), None)
    if dataset is None or not unit.strip():
        return None
    try:
        profile = profile_dataset(dataset)
    except ToolError:
        return None
    return unit_column(unit, profile, exclude)


def _cluster(proposal: Proposal, profile: FrameProfile, unit: str, clustered: bool) -> None:
    """The cluster column when whole groups were randomized (a cluster design, or a brief's unit that names a
    grouping: "whole workspaces", "teams"): the column that names the unit (:func:`unit_column`)."""
    _, words = _unit_words(unit)
    if not (clustered or _grouping(unit, words)) or proposal.roles.get("cluster"):
        return
    found = unit_column(unit, profile, exclude=proposal.taken)
    if found is not None:
        reason = f"{found.word} were randomized as a whole: count them, not rows"
        proposal.take("cluster", found.column, profile[found.column], reason)


def direction_words(direction: str) -> str:
    """A guardrail's good direction as the proposal says it (and the user can write back). Said as a condition:
    "lower is better" would read to the claim check (:mod:`assistant.agent.claims`) as a finding that it is lower."""
    return "better if lower" if direction == "decrease" else "better if higher"


_DIRECTION_WORDS = {
    "lower", "higher", "less", "more", "fewer", "smaller", "larger", "bigger", "better", "good", "wanted", "when",
    "decrease", "increase", "decreasing", "increasing",
}  # fmt: skip


def _guardrails(proposal: Proposal, profile: FrameProfile, guardrails: Sequence[str]) -> None:
    """The brief's guardrails matched to columns the way its metric is (their words against the columns' names),
    each with its kind (from what it holds) and which change is good (from its words, stated so the user can
    correct it); a guardrail no column matches is said, never guessed."""
    items: list[dict[str, str]] = []
    columns = list(profile.columns)
    unmatched: list[str] = []
    for whole in guardrails:
        guardrail, quantile = said_quantile(whole)  # "page_load_ms (p95, better if lower)": a quantile guardrail
        said = said_direction(guardrail)
        if said is not None and not tokens(guardrail) - _DIRECTION_WORDS:  # "lower is better", split off its metric
            if items:
                items[-1]["direction"] = said
            continue
        taken = proposal.taken | {i["column"] for i in items}
        found = metric_column(guardrail, columns, exclude=taken)
        if found is None or not _usable_outcome(profile[found]):
            unmatched.append(guardrail)
            continue
        kind = quantile or ("binary" if profile[found].kind == "binary" else "continuous")
        direction = said or guardrail_direction(guardrail, found)
        items.append({"column": found, "direction": direction, "kind": kind})
        proposal.facts[found] = profile[found].facts()
    if items:
        proposal.roles["guardrails"] = items
        shown = "; ".join(f"{i['column']}: {profile[i['column']].describe()}" for i in items)
        first = items[0]
        other = direction_words("increase" if first["direction"] == "decrease" else "decrease")
        proposal.reasons["guardrails"] = (
            f"guardrails: {shown} (the brief's; to correct a direction, say 'guardrails={first['column']} ({other})')"
        )
    if unmatched:
        names = ", ".join(f"'{g}'" for g in unmatched)
        proposal.notes.append(
            f"No column matches the brief's guardrail {names}: name its column with 'add guardrail NAME', or leave "
            "it out."
        )


def _time(proposal: Proposal, guide: Guide, frame: pd.DataFrame, profile: FrameProfile) -> None:
    rank = {"integer": 2, "date": 1, "period": 1}
    free = [
        c
        for c, p in profile.columns.items()
        if c not in proposal.taken
        and p.kind in rank
        and (p.kind != "integer" or _named("time", c, guide) or p.year_like)
    ]
    if not free:
        return
    ordered = sorted(free, key=lambda c: (-min(_named("time", c, guide), 1), -rank[profile[c].kind], free.index(c)))
    chosen = next(  # the first period column some unit column forms a panel with
        (c for c in ordered if _unit_for(proposal, guide, frame, profile, c) is not None), ordered[0]
    )
    column = profile[chosen]
    proposal.take("time", chosen, column)
    if column.kind == "integer" and column.minimum is not None and column.maximum is not None:
        low, high = int(column.minimum), int(column.maximum)
        proposal.reasons["time"] = f"{chosen}: {column.n_unique:,} periods, from {low} to {high}"


def _unit_candidates(proposal: Proposal, guide: Guide, profile: FrameProfile, time: str | None) -> list[str]:
    kinds = ("integer", "category", "text")
    free = [
        c
        for c, p in profile.columns.items()
        if c not in proposal.taken and c != time and p.kind in kinds and not p.year_like and p.n_unique < p.rows
    ]
    return sorted(free, key=lambda c: (-_named("unit", c, guide), profile[c].kind == "integer", free.index(c)))


def _unit_for(proposal: Proposal, guide: Guide, frame: pd.DataFrame, profile: FrameProfile, time: str) -> str | None:
    return next(
        (c for c in _unit_candidates(proposal, guide, profile, time) if unit_period_unique(frame, c, time)), None
    )


def _unit(proposal: Proposal, guide: Guide, frame: pd.DataFrame, profile: FrameProfile) -> None:
    time = proposal.roles.get("time")
    if time is not None:
        found = _unit_for(proposal, guide, frame, profile, time)
        if found is not None:
            proposal.take("unit", found, profile[found], f"one row per {found} and {time}")
            proposal.reasons["unit"] = f"{found}: {profile[found].n_unique:,} units, one row per {found} and {time}"
        return
    candidates = _unit_candidates(proposal, guide, profile, None)
    if candidates:
        proposal.take("unit", candidates[0], profile[candidates[0]], "repeated rows of one unit")


def _cohort(proposal: Proposal, guide: Guide, frame: pd.DataFrame, profile: FrameProfile) -> None:
    unit = proposal.roles.get("unit")
    for column, p in profile.columns.items():
        if column in proposal.taken or _named("cohort", column, guide) == 0 or p.kind in ("binary", "id", "text"):
            continue
        if unit is None or constant_within(frame, unit, column):
            proposal.take("cohort", column, p, "the first treated period, one per unit")
            return


def _treatment(proposal: Proposal, guide: Guide, frame: pd.DataFrame, profile: FrameProfile) -> None:
    unit, time = proposal.roles.get("unit"), proposal.roles.get("time")
    free = [c for c, p in profile.columns.items() if c not in proposal.taken and p.kind == "binary" and p.numeric]
    if unit is None or time is None:  # without a panel: an opt-in (propensity), by name then balance
        found = _two_level(proposal, "treatment", guide, profile)
        if found is not None:
            proposal.take("treatment", found, profile[found], "two groups")
        return
    switching = {c: turns_on(frame, unit, time, c) for c in free}
    switching = {c: n for c, n in switching.items() if n}
    if not switching:
        return
    best = max(switching, key=lambda c: (_named("treatment", c, guide), switching[c], -free.index(c)))
    units = f"{switching[best]} unit" + ("s" if switching[best] != 1 else "")
    proposal.take("treatment", best, profile[best], f"turns on in {units} and stays on")
    proposal.facts[best] = {**proposal.facts[best], "switching_units": switching[best]}


def _instruments(proposal: Proposal, guide: Guide, frame: pd.DataFrame, profile: FrameProfile) -> None:
    """An instrument: a numeric column with two levels whose name says what moved the treatment (invited, offered,
    lottery); only by name — a 0/1 column chosen by balance alone would as likely be the treatment."""
    free = [c for c, p in profile.columns.items() if c not in proposal.taken and p.two_levels and p.numeric]
    named = [c for c in free if _named("instruments", c, guide)]
    if named:
        best = max(named, key=lambda c: (_named("instruments", c, guide), -named.index(c)))
        proposal.take("instruments", best, profile[best], "what moved the treatment, by its name")


def _running(proposal: Proposal, guide: Guide, profile: FrameProfile, cutoff: float | None) -> None:
    free = [
        c
        for c, p in profile.columns.items()
        if c not in proposal.taken
        and p.kind in ("float", "integer")
        and not p.year_like
        and p.n_unique >= 20
        and not ID_NAME.search(c)
    ]
    if cutoff is not None:  # values on both sides of the cutoff
        free = [c for c in free if (profile[c].minimum or 0.0) < cutoff <= (profile[c].maximum or 0.0)]
    if free:
        best = max(free, key=lambda c: (_named("running", c, guide), -free.index(c)))
        proposal.take("running", best, profile[best], "a continuous score")


def _panel_keys(proposal: Proposal, guide: Guide, frame: pd.DataFrame, profile: FrameProfile) -> set[str]:
    """The unit and period columns of a panel in the data (a state and a year): keys, not traits."""
    keys: set[str] = set()
    for column, p in profile.columns.items():
        if p.kind in ("date", "period") or p.year_like:
            unit = _unit_for(proposal, guide, frame, profile, column)
            if unit is not None:
                keys |= {column, unit}
    return keys


def _same_measure(column: str, outcome: Any) -> bool:
    """The outcome in other units or a transform of it (homicide beside l_homicide): measured when it is."""
    return isinstance(outcome, str) and column != outcome and bool(tokens(column)) and tokens(column) == tokens(outcome)


def _rest(proposal: Proposal, guide: Guide, frame: pd.DataFrame, profile: FrameProfile) -> None:
    """The covariates: numeric (or few-level) columns that are no role, no ID, no panel key, no period, not the
    outcome in another form and not named as measured after the treatment; pre-period names first; at most
    ``guide.rest_cap``."""
    assert guide.rest_as is not None
    taken = proposal.taken | _panel_keys(proposal, guide, frame, profile)
    outcome = proposal.roles.get("outcome")
    free = [
        c
        for c, p in profile.columns.items()
        if c not in taken
        and not _same_measure(c, outcome)
        and (p.numeric or (p.kind == "category" and p.n_unique <= 10))
        and p.kind not in ("constant", "id")
        and not p.year_like
        and not POST_TREATMENT.search(c)
        and not ID_NAME.search(c)
    ]
    if not free:
        return
    ordered = sorted(free, key=lambda c: (not PRE_PERIOD.search(c), free.index(c)))
    chosen = ordered[: guide.rest_cap]
    proposal.roles[guide.rest_as] = chosen
    proposal.reasons[guide.rest_as] = f"{guide.rest_as}: numeric columns that are no other role"
    left = ordered[guide.rest_cap :]
    if left:
        shown = ", ".join(left[:8]) + (", …" if len(left) > 8 else "")
        proposal.notes.append(
            f"{len(left)} more columns could be {guide.rest_as} ({shown}): I proposed the first "
            f"{len(chosen)}; add others with 'add NAME' or give the whole list as {guide.rest_as}=a, b, c."
        )
        proposal.facts["_left"] = {"left": len(left), "chosen": len(chosen)}


def reasons_text(proposal: Proposal, roles: Mapping[str, Any]) -> str:
    """The reasons of the roles still as proposed (a role the user changed has none), in the order of ``roles``."""
    lines = [
        f"- {proposal.reasons[role]}"
        for role in roles
        if role in proposal.reasons and proposal.roles.get(role) == roles.get(role)
    ]
    return "\n".join([*lines, *(f"- {note}" for note in proposal.notes)])
