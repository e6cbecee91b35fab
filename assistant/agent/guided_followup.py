"""The guided mode's follow-up analyses: after an analysis ran, a tool that asks the next question of the same data.

A registered tool names the analyses it follows (``ToolSpec.follows``: heterogeneity follows an A/B test and a
propensity analysis — "for whom did it work?"). Once the analysis ran (and its robustness checks, when the user
wanted them), the guided mode offers the follow-up with its columns already chosen from the analysis's own request:
the same outcome and treatment, and as the traits the effect may vary with, the propensity analysis's covariates or,
after an A/B test, the columns the data's profile proposes (no ID, no arm, no metric, nothing named as measured after
the change). The user accepts, changes the list as ``role=columns``, or declines. No statistics here: the tool checks
the columns and says what is wrong.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from assistant.agent.answers import read_yes_no
from assistant.agent.guided_analysis import describe_roles, parse_roles, propose_roles
from assistant.agent.guided_state import HELP, WHY_ASKED, Step
from tools.errors import ToolError
from tools.registry import TOOLS
from tools.spec import ToolSpec, as_list

__all__ = [
    "FOLLOW_UPS",
    "FollowUp",
    "Offer",
    "asks_for_whom",
    "asks_what_is_needed",
    "follow_up_for",
    "propose",
    "read_offer",
    "said_back",
    "what_it_takes",
    "what_would_help",
]

#: The follow-up tool of each analysis tool (from the specs' ``follows``; the first registered wins).
FOLLOW_UPS: dict[str, ToolSpec] = {}
for _spec in TOOLS:
    for _tool in _spec.follows:
        FOLLOW_UPS.setdefault(_tool, _spec)

#: What a user says to ask for the heterogeneity follow-up in their own words, at any point after the analysis.
_FOR_WHOM = re.compile(
    r"\bfor whom\b|\bwhom\b|\bwho (?:benefit|gain|respond)s?\b|\bwhich (?:users|customers|segments?|groups?)\b"
    r"|\bhelps? (?:the )?most\b|\bsegment\w*|\bheterogen\w*|\buplift\b|\btarget\w*|\bsubgroups?\b",
    re.I,
)
#: Column names of a period (never proposed as the metric by default).
_PERIOD = re.compile(r"(^|_)(day|date|week|month|year|quarter|period|time|hour)s?(_|$)", re.I)
#: How many traits the offer proposes at most (the user can add more).
MAX_PROPOSED = 10


#: What a user says to ask what the design (or an identifiable effect) would take: "what would we need?".
_WHAT_NEEDED = re.compile(
    r"\bwhat (?:would|do|does|will|should|could|did) (?:we|i|you|it|that|this)(?: \w+){0,3} need\b"
    r"|\bwhat (?:data|else)(?: \w+){0,3} needs?\b|\bwhat (?:is|'s) needed\b|\bwhat would (?:help|make it)\b",
    re.I,
)
#: At most this many items of a recommendation's lists are said (the tool's result holds them all).
MAX_LISTED = 4


def asks_what_is_needed(text: str) -> bool:
    """Whether the user asks what the design needs, or what would make the effect identifiable."""
    return bool(_WHAT_NEEDED.search(text))


def _listed(lead: str, items: Any) -> str:
    shown = [str(item) for item in (items or [])[:MAX_LISTED] if str(item).strip()]
    return f"{lead}\n\n" + "\n".join(f"- {item}" for item in shown) if shown else ""


def what_would_help(result: Mapping[str, Any]) -> str:
    """recommend_method's changes that would make the effect identifiable, as a short list, when it answered that
    it is not ("" otherwise): the honest "no" says what would turn it into a yes."""
    if result.get("identifiable") is not False:
        return ""
    return _listed("What would make the effect identifiable:", result.get("what_would_help"))


def what_it_takes(result: Mapping[str, Any]) -> str:
    """The recommended design's data and identifying assumptions, as short lists ("" when the top answer is that
    no design identifies the effect): for a user who only wants the recommendation, what to ask for."""
    ranked = [r for r in result.get("recommendations") or [] if isinstance(r, Mapping)]
    top = ranked[0] if ranked else {}
    if not top or top.get("method") == "not_identifiable":
        return ""
    parts = [
        _listed("What it needs:", top.get("data_needed")),
        _listed("What it rests on:", top.get("assumptions")),
    ]
    return "\n\n".join(part for part in parts if part)


def asks_for_whom(text: str) -> bool:
    """Whether the user asks for whom the change works (the heterogeneity follow-up)."""
    return bool(_FOR_WHOM.search(text))


def follow_up_for(tool: str | None) -> ToolSpec | None:
    """The follow-up offered after ``tool``'s analysis, if any."""
    return FOLLOW_UPS.get(tool or "")


@dataclass
class FollowUp:
    """A follow-up proposed on the analysis's data: the roles (the analysis's outcome and treatment, the traits),
    or why it cannot run on this analysis (``reason``)."""

    tool: str
    dataset: str
    roles: dict[str, Any] = field(default_factory=dict)
    reason: str = ""
    #: What the offer says of the roles it proposed from the brief (the A/A check's unit), with the offer.
    note: str = ""

    @property
    def runnable(self) -> bool:
        return not self.reason

    def question(self) -> str:
        """The offer, with the columns proposed and how to change them."""
        if not self.runnable:
            return self.reason
        if self.tool == "aa_test":
            return self._check_question()
        modifiers = ", ".join(as_list(self.roles.get("effect_modifiers") or [])) or "(none found: name some)"
        kind = (
            "the randomized comparison"
            if self.roles.get("randomized", "yes") != "no"
            else "the opt-in comparison, adjusted for the same covariates"
        )
        return (
            f"Do you want to know for whom it works best? I would estimate how the effect on "
            f"'{self.roles.get('outcome')}' varies with: {modifiers} (columns of '{self.dataset}', {kind}). "
            "Only traits measured before the change belong here. The answer rests on a test of whether the effect "
            "varies at all, the effect in fifths of users ranked by predicted effect, and the gain of targeting, "
            "never on slicing until a segment lights up.\n\n"
            "Reply 'yes' to run it, change the traits (effect_modifiers=a, b) or name subgroups you chose in "
            "advance (subgroups=plan), or 'no'."
        )

    def _check_question(self) -> str:
        kind = self.roles.get("kind") or "continuous"
        cluster = self.roles.get("cluster")
        per = f", per '{cluster}'" if cluster else ""
        note = f" {self.note}" if self.note else ""
        return (
            f"Before sizing the experiment: do you want an A/A check that your metric behaves? I would split "
            f"'{self.dataset}' at random many times, as an experiment would, and analyse each split the way the "
            f"experiment will be analysed (metric '{self.roles.get('metric')}', {kind}{per}).{note} With no change "
            "between the halves, a sound analysis calls about alpha of the splits significant; far more means the "
            "analysis counts units that are not independent (sessions of one user) or strains on a heavy tail.\n\n"
            "Reply 'yes' to run it, change it (dataset=NAME; metric=COLUMN; cluster=USER_COLUMN), or 'no'."
        )

    def request(self) -> dict[str, Any]:
        """The follow-up tool's request, built by its own guide."""
        from tools.registry import get_tool

        guide = get_tool(self.tool).guide
        assert guide is not None
        return guide.build(self.dataset, self.roles)


def propose(spec: ToolSpec, analysis_tool: str, request: Mapping[str, Any], result: Mapping[str, Any],
            dataset: Any) -> FollowUp:  # fmt: skip
    """The follow-up ``spec`` on the analysis (``analysis_tool`` with ``request`` gave ``result``) on ``dataset``
    (the catalog's)."""
    name = str(request.get("dataset") or getattr(dataset, "name", ""))
    follow = FollowUp(spec.name, name)
    if analysis_tool == "propensity":
        covariates = as_list(request.get("covariates") or [])
        follow.roles = {
            "outcome": request.get("outcome"),
            "treatment": request.get("treatment"),
            "effect_modifiers": covariates,
            "covariates": covariates,
            "randomized": "no",
        }
        if request.get("treated_value") not in (None, ""):
            follow.roles["treated_value"] = request["treated_value"]
        return follow
    arms = [str(a) for a in result.get("arms") or []]
    metrics = [m for m in request.get("metrics") or [] if isinstance(m, Mapping)]
    if len(arms) != 2:
        follow.reason = (
            f"The experiment has {len(arms)} arms; the analysis of for whom it works compares two. Run it on the "
            "control and one treatment arm (a file filtered to them)."
        )
        return follow
    if not metrics or metrics[0].get("denominator") or metrics[0].get("kind") not in (None, "binary", "continuous"):
        follow.reason = (
            "The primary metric is a ratio of two columns; the analysis of for whom it works needs one value per "
            "unit (compute the ratio per unit first)."
        )
        return follow
    primary = metrics[0]
    outcome = str(primary.get("column") or primary.get("name"))
    arm = str(request.get("arm_column"))
    control = str(result.get("control_arm") or "")
    treated = next((a for a in arms if a != control), arms[-1])
    used = {arm, *(str(m.get(k)) for m in metrics for k in ("name", "column", "denominator") if m.get(k))}
    for key in ("cluster", "exposure_column", "exposure_time_column"):
        if request.get(key):
            used.add(str(request[key]))
    modifiers: list[str] = []
    try:
        proposal = propose_roles("heterogeneous_effects", dataset, outcome)
        modifiers = [c for c in as_list(proposal.roles.get("effect_modifiers") or []) if c not in used]
    except (ToolError, AssertionError, AttributeError):
        modifiers = []
    labelled = set(arms) not in ({"0", "1"}, {"False", "True"})
    modifiers = _traits(dataset, arm, treated if labelled else None, modifiers)
    follow.roles = {
        "outcome": outcome,
        "treatment": arm,
        "effect_modifiers": modifiers[:MAX_PROPOSED],
        "randomized": "yes",
    }
    if labelled:
        follow.roles["treated_value"] = treated
    return follow


def _traits(dataset: Any, arm: str, treated: str | None, columns: list[str]) -> list[str]:
    """``columns`` without those the treatment sets (one value in one arm only: an incentive's amount), which the
    tool would refuse as effect modifiers."""
    from tools.data.columns import treated_indicator
    from tools.heterogeneity.inputs import set_by_treatment

    try:
        frame = dataset.frame
        mask, _ = treated_indicator(frame[arm], arm, treated)
        set_by = {name for name, _ in set_by_treatment(frame, mask, columns)}
    except (ToolError, KeyError, AttributeError, ValueError):
        return columns
    return [c for c in columns if c not in set_by]


def propose_check(
    spec: ToolSpec, catalog: Any, metric: str, dataset: str | None = None, unit: str = ""
) -> FollowUp | None:
    """The A/A check ``spec`` (aa_test) on the attached data before sizing: the dataset that fits best (the user's
    own files first; ``dataset`` when named), the brief's metric as a column and its kind, and the column of the
    brief's ``unit`` when the rows are finer than it (:func:`unit_role`). None when no dataset fits or none holds a
    metric column."""
    from assistant.agent.guided_analysis import is_example, suggest_dataset

    if catalog is None:
        return None
    names = [d.name for d in catalog]
    own = [d.name for d in catalog if not is_example(d)]
    name = dataset if dataset in names else suggest_dataset("aa_check", names, own)
    if name is None:
        return None
    attached = next(d for d in catalog if d.name == name)
    found = metric_of(attached, metric)
    if found is None:
        return None
    check = FollowUp(spec.name, name, {"metric": found, "kind": kind_of(attached, found)})
    unit_role(check, attached, unit)
    return check


def unit_role(check: FollowUp, dataset: Any, unit: str) -> None:
    """The brief's unit in the A/A check, when a column of the data names it and repeats across rows (members of
    workspaces, sessions of users): an experiment assigns that unit, so the splits must too. A unit that groups
    people ("whole workspaces"), or one aa_test would not find by itself, is passed as the cluster, and the splits
    are analysed per unit; an ID aa_test finds by itself (user_id) is left to it, which shows the analysis per row
    beside the analysis per unit. Either way the offer says which column and why."""
    from assistant.agent.guided_columns import dataset_unit_column

    metric = str(check.roles["metric"])
    found = dataset_unit_column([dataset], check.dataset, unit, exclude=(metric,))
    if found is None:
        return
    column = found.column
    if found.grouping or _found_by_aa_test(dataset, metric) != column:
        check.roles["cluster"] = column
        check.note = (
            f"Its splits assign whole '{column}' values and analyse per '{column}': the brief's unit is {found.word}, "
            f"and '{column}' repeats across the rows, so rows of one {found.one} are not independent."
        )
    else:
        check.note = (
            f"'{column}' (the brief's unit, {found.word}) repeats across the rows: the splits assign its values, as "
            f"the experiment will, and the check shows the analysis per row beside the analysis per {found.one}."
        )


def _found_by_aa_test(dataset: Any, metric: str) -> str | None:
    """The column aa_test would take as the repeated unit on its own (its own rule,
    :func:`tools.aa_test.units.repeated_unit`), or None (also when the data cannot be read)."""
    from tools.aa_test.units import repeated_unit

    try:
        return repeated_unit(dataset.frame, used={metric})
    except ToolError:
        return None


def metric_of(dataset: Any, metric: str) -> str | None:
    """The column of ``dataset`` that holds the brief's ``metric`` (by name), else its first numeric column that is
    no ID, no period and not constant; None when there is none (or the data cannot be read)."""
    from assistant.agent.guided_columns import ID_NAME, metric_column
    from tools.data.profile import profile_dataset

    try:
        profile = profile_dataset(dataset)
    except ToolError:
        return None

    def usable(name: str) -> bool:
        p = profile[name]
        return p.numeric and not p.year_like and p.kind not in ("id", "constant") and not ID_NAME.search(name)

    columns = list(profile.columns)
    found = metric_column(metric, columns) if metric else None
    if found is not None and usable(found):
        return found
    stems = {word[:5] for word in re.findall(r"[a-z]+", metric.lower()) if len(word) >= 5}
    for name in columns:  # "checkout conversion" -> converted: a shared word stem
        if usable(name) and stems & {word[:5] for word in re.findall(r"[a-z]+", name.lower()) if len(word) >= 5}:
            return name
    return next((c for c in columns if usable(c) and not _PERIOD.search(c)), None)


def kind_of(dataset: Any, column: str) -> str:
    """'binary' for a 0/1 column, else 'continuous' (from the data's profile)."""
    from tools.data.profile import profile_dataset

    try:
        profile = profile_dataset(dataset)
    except ToolError:
        return "continuous"
    return "binary" if column in profile and profile[column].kind == "binary" else "continuous"


@dataclass
class Offer:
    """What the answer to the offer says: run (``accept``), decline, or ask again with ``say``."""

    accept: bool = False
    decline: bool = False
    say: str = ""


def read_offer(answer: str, follow: FollowUp, step: Step = Step.WHOM_OFFER) -> Offer:
    """The answer to an offer (the follow-up's, or the A/A check's at ``step``): yes, no, changed roles (run with
    them), or a question back."""
    design = "aa_check" if follow.tool == "aa_test" else "heterogeneous_effects"
    changed = parse_roles(answer, design) if follow.runnable else {}
    if changed:
        follow.roles.update(changed)
        return Offer(accept=True)
    if not follow.runnable:
        return Offer(decline=True)
    reading = read_yes_no(answer)
    if reading.kind == "answer":
        return Offer(accept=bool(reading.value), decline=not reading.value)
    if step is Step.WHOM_OFFER and asks_for_whom(answer):
        return Offer(accept=True)
    if reading.kind == "why":
        return Offer(say=f"{WHY_ASKED[step]}\n\n{follow.question()}")
    if reading.kind in ("meaning", "dont_know"):
        return Offer(say=f"{WHY_ASKED[step]} {HELP[step]}\n\n{follow.question()}")
    return Offer(say=f"I did not catch that. {follow.question()}")


def said_back(follow: FollowUp) -> str:
    """The roles the follow-up runs with, said back before it runs."""
    return f"Running it with {describe_roles(follow.roles)}."
