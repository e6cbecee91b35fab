"""The guided mode proposes an experiment's guardrails and its cluster column from the brief (issue 25).

Two journeys where "ok" at the column question used to give "Decision: ship" against the data: the brief's guardrail
("page load time") never reached ab_test, so a +9% slower page shipped; and whole workspaces were randomized but the
rows (members) were analysed as independent, so an inconclusive lift shipped at p = 0.007. Now the proposal carries
``guardrails=Page Load (ms) (better if lower)`` and ``cluster=Workspace`` with their reasons, the user can change
them in words, and the decision is ab_test's own. Driven by step, as tests/assistant/agent/test_guided_own_data.py.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy import stats

from assistant.agent.conversation import Conversation, Done, Event, ToolFinished
from assistant.agent.guided import GuidedBackend
from assistant.agent.guided_columns import propose
from assistant.agent.guided_revise import read_changes
from assistant.agent.guided_state import Step
from assistant.prereg.session_plan import draft
from tools.ab_test.spec import SPEC as AB_SPEC
from tools.ab_test.spec import guardrail_direction, guided_request
from tools.data import Catalog
from tools.data.profile import profile_frame

DATA = Path(__file__).resolve().parents[3] / "assistant" / "eval" / "data"
SEARCH = DATA / "guardrail_breach_export.csv"
EDITOR = DATA / "cluster_workspaces_export.csv"
GUIDE = AB_SPEC.guide
assert GUIDE is not None


@dataclass
class Session:
    backend: GuidedBackend
    conversation: Conversation
    events: list[Event] = field(default_factory=list)
    turns: list[tuple[Step | None, str, Done]] = field(default_factory=list)

    def send(self, answer: str) -> Done:
        step = self.backend.state.pending
        done = self.conversation.send(answer, self.events.append)
        self.turns.append((step, answer, done))
        return done

    def asked(self, step: Step) -> str:
        """The first reply that left the guided mode waiting at ``step``."""
        for index, (_, _, done) in enumerate(self.turns):
            following = self.turns[index + 1][0] if index + 1 < len(self.turns) else self.backend.state.pending
            if following is step:
                return done.text
        raise AssertionError(f"{step} was never asked:\n{self.transcript()}")

    def reply_to(self, step: Step) -> str:
        return next(done.text for at, _, done in self.turns if at is step)

    def request(self, name: str) -> dict[str, Any]:
        started = [e for e in self.events if getattr(e, "name", None) == name and hasattr(e, "arguments")]
        assert started, f"{name} was never called:\n{self.transcript()}"
        arguments = json.loads(started[-1].arguments)
        assert isinstance(arguments, dict)
        return arguments

    def result(self, name: str) -> dict[str, Any]:
        runs = [e for e in self.events if isinstance(e, ToolFinished) and e.name == name]
        assert runs and runs[-1].error is None and runs[-1].result is not None, self.transcript()
        return runs[-1].result

    def transcript(self) -> str:
        return "\n".join(f">> [{step}] {answer}\n{done.text}" for step, answer, done in self.turns)


def drive(catalog: Catalog, script: Mapping[Step, str | Sequence[str]], max_turns: int = 50) -> Session:
    """Answer by the step the guided mode waits at until the script has nothing left for it; no number or claim
    of any reply may go unbacked."""
    backend = GuidedBackend(catalog=catalog)
    session = Session(backend, Conversation(backend, catalog=catalog))
    backend.opening()
    queues = {key: [value] if isinstance(value, str) else list(value) for key, value in script.items()}
    for _ in range(max_turns):
        step = backend.state.pending
        if step is None or not queues.get(step):
            break
        session.send(queues[step].pop(0))
    flagged = [(c.text, c.reason) for _, _, done in session.turns for c in done.claims]
    unverified = [done.unverified for _, _, done in session.turns if done.unverified]
    assert not flagged and not unverified, (flagged, unverified, session.transcript())
    return session


def attached(path: Path, name: str) -> Catalog:
    catalog = Catalog()
    catalog.add(path, name)
    return catalog


def search_script(columns: str | Sequence[str] = "ok") -> dict[Step, str | Sequence[str]]:
    """The guardrail_breach scenario's user: more purchases wanted, and the page must not get slower."""
    return {
        Step.INTERVENTION: "a new AI-ranked search on our shop",
        Step.WHY_INTERVENTION: "shoppers do not find what they search for and leave",
        Step.OUTCOME: "the purchase rate (Purchased); guardrails: page load time",
        Step.POPULATION: "every visitor who uses the search",
        Step.UNIT: "visitors",
        Step.COUNTERFACTUAL: "bucket A, the visitors on the current search",
        Step.DECISION: "roll it out if purchases go up and the page does not get slower",
        Step.WHY_DECISION: "a slower page loses customers over time",
        Step.CAN_RANDOMIZE: "yes",
        Step.INTERFERENCE: "no",
        Step.AA_OFFER: "no",
        Step.METRIC_KIND: "skip",
        Step.DATASET: "ok",
        Step.COLUMNS: columns,
        Step.SPLIT: "even",
        Step.REFUTE_OFFER: "no",
        Step.WHOM_OFFER: "no",
    }


def editor_script(columns: str | Sequence[str] = "ok") -> dict[Step, str | Sequence[str]]:
    """The cluster_workspaces scenario's user: whole workspaces were randomized, the export has a row per member."""
    return {
        Step.INTERVENTION: "a new collaborative editor",
        Step.WHY_INTERVENTION: "teams drop off when editing together is clumsy",
        Step.OUTCOME: "members active in the last 7 days (Active Last 7 Days)",
        Step.POPULATION: "all workspaces on the team plan and their members",
        Step.UNIT: "whole workspaces: every member of a workspace gets the same editor",
        Step.COUNTERFACTUAL: "the workspaces randomized to keep the old editor",
        Step.DECISION: "give it to every workspace if more members are active",
        Step.WHY_DECISION: "no change in activity would mean it is not worth its maintenance",
        Step.CAN_RANDOMIZE: "yes",
        Step.INTERFERENCE: "yes, members of one workspace edit the same documents",
        Step.AA_OFFER: "no",
        Step.METRIC_KIND: "skip",
        Step.DATASET: "ok",
        Step.COLUMNS: columns,
        Step.SPLIT: "even",
        Step.REFUTE_OFFER: "no",
        Step.WHOM_OFFER: "no",
    }


# -- guardrails: from the brief to ab_test ------------------------------------------------------------------------


def test_ok_sends_the_briefs_guardrail_and_ab_test_decides_not_to_ship(tmp_path: Path) -> None:
    session = drive(attached(SEARCH, "search_test"), search_script())
    proposal = session.asked(Step.COLUMNS)
    assert "arm=Bucket; metric=Purchased; kind=binary; guardrails=Page Load (ms) (better if lower)." in proposal
    assert "- guardrails: Page Load (ms): numbers from 176 to 1632 (the brief's; to correct a direction, say " in (
        proposal
    )
    request = session.request("ab_test")
    assert request["metrics"] == [
        {"name": "Purchased", "kind": "binary"},
        {"name": "Page Load (ms)", "kind": "continuous", "role": "guardrail", "direction": "decrease"},
    ]  # no non-inferiority margin invented: the tool's default (any significant harm)
    assert "cluster_column" not in request  # Visitor ID is one row per visitor: nothing to cluster
    result = session.result("ab_test")
    assert result["decision"] == "don't ship"
    assert session.reply_to(Step.COLUMNS).startswith("Decision: don't ship.")
    # the guardrail's comparison against an independent computation on the same rows
    frame = pd.read_csv(SEARCH)
    a = frame.loc[frame["Bucket"] == "A", "Page Load (ms)"]
    b = frame.loc[frame["Bucket"] == "B", "Page Load (ms)"]
    guard = next(c for c in result["comparisons"] if c["metric"] == "Page Load (ms)")
    assert guard["role"] == "guardrail"
    np.testing.assert_allclose(guard["absolute"]["estimate"], b.mean() - a.mean(), rtol=1e-9)
    np.testing.assert_allclose(guard["relative"]["estimate"], b.mean() / a.mean() - 1, rtol=1e-3)
    assert stats.ttest_ind(b, a, equal_var=False).pvalue < 1e-10  # the breach is no borderline call
    assert guard["absolute"]["ci_lower"] > 0


@pytest.mark.parametrize(
    ("answer", "guardrails"),
    [
        ("no guardrails", []),
        ("guardrails=Page Load (ms) (better if higher)", [("Page Load (ms)", "increase")]),
        ("the guardrail is Page Load (ms), lower is better", [("Page Load (ms)", "decrease")]),
        ("add guardrail Basket (EUR)", [("Page Load (ms)", "decrease"), ("Basket (EUR)", "increase")]),
        ("drop guardrail Page Load (ms)", []),
        ("guardrail=basket (eur)", [("Basket (EUR)", "increase")]),
    ],
)
def test_the_guardrails_change_in_words(answer: str, guardrails: list[tuple[str, str]]) -> None:
    session = drive(attached(SEARCH, "search_test"), search_script(answer))
    metrics = session.request("ab_test")["metrics"]
    assert metrics[0] == {"name": "Purchased", "kind": "binary"}
    assert [(m["name"], m["direction"]) for m in metrics[1:]] == guardrails
    assert all(m["role"] == "guardrail" and "non_inferiority_margin" not in m for m in metrics[1:])
    decision = session.result("ab_test")["decision"]
    breached = ("Page Load (ms)", "decrease") in guardrails
    assert decision == ("don't ship" if breached else "ship")


def test_a_guardrail_no_column_matches_is_said_and_never_guessed() -> None:
    script = search_script()
    script[Step.OUTCOME] = "the purchase rate (Purchased); guardrails: refunds, page load time"
    session = drive(attached(SEARCH, "search_test"), script)
    proposal = session.asked(Step.COLUMNS)
    assert "No column matches the brief's guardrail 'refunds'" in proposal
    assert "guardrails=Page Load (ms) (better if lower)." in proposal


def test_an_unknown_guardrail_column_is_refused_with_the_closest() -> None:
    reading = read_changes("guardrails=Page Lode", GUIDE, ["Bucket", "Purchased", "Page Load (ms)"])
    assert reading.roles == {}
    assert reading.unknown and reading.unknown[0][0] == "Page Lode"


def test_guardrail_directions_from_their_words() -> None:
    decrease = ["page load time", "Latency p95", "checkout errors", "refunds", "complaints", "churn", "Support Tickets"]
    increase = ["revenue per visitor", "Basket (EUR)", "retention", "returning visitors"]
    assert [guardrail_direction(n) for n in decrease] == ["decrease"] * len(decrease)
    assert [guardrail_direction(n) for n in increase] == ["increase"] * len(increase)
    request = guided_request("d", {"arm": "arm", "metric": "m", "guardrails": ["m", "Errors", "Errors"]})
    assert request["metrics"][1:] == [
        {"name": "Errors", "kind": "continuous", "role": "guardrail", "direction": "decrease"}
    ]


def test_a_brief_without_guardrails_proposes_none() -> None:
    script = search_script()
    script[Step.OUTCOME] = "the purchase rate (Purchased)"
    session = drive(attached(SEARCH, "search_test"), script)
    assert "Proposed from the data: arm=Bucket; metric=Purchased; kind=binary.\n" in session.asked(Step.COLUMNS)
    assert session.request("ab_test")["metrics"] == [{"name": "Purchased", "kind": "binary"}]


def test_the_preregistration_plans_the_guardrail() -> None:
    session = drive(attached(SEARCH, "search_test"), search_script())
    document = draft(session.conversation)
    planned = document.prereg.plan.analysis
    assert planned is not None and planned.method == "ab_test"
    metrics = planned.stated()["metrics"]
    guard = [m for m in metrics if m.get("role") == "guardrail"]
    assert [(m["name"], m["direction"]) for m in guard] == [("Page Load (ms)", "decrease")]


# -- the cluster column of a cluster-randomized test --------------------------------------------------------------


def test_ok_analyses_whole_workspaces_per_workspace() -> None:
    session = drive(attached(EDITOR, "editor_test"), editor_script())
    assert session.backend.state.design.method == "cluster_ab_test"
    proposal = session.asked(Step.COLUMNS)
    assert "cluster=Workspace" in proposal
    assert "- Workspace: text, 120 values (workspaces were randomized as a whole: count them, not rows)" in proposal
    request = session.request("ab_test")
    assert request["cluster_column"] == "Workspace"
    assert request["arm_column"] == "Editor Version"
    result = session.result("ab_test")
    assert result["decision"] != "ship"
    primary = next(c for c in result["comparisons"] if c["metric"] == "Active Last 7 Days")
    assert primary["absolute"]["ci_lower"] < 0 < primary["absolute"]["ci_upper"]
    # per workspace, as randomized: against OLS with standard errors clustered by workspace (statsmodels), where
    # the rows taken as independent members would call the lift significant
    frame = pd.read_csv(EDITOR).assign(treated=lambda f: (f["Editor Version"] == "new").astype(int))
    frame = frame.rename(columns={"Active Last 7 Days": "active"})
    groups = pd.factorize(frame["Workspace"])[0]
    clustered = smf.ols("active ~ treated", frame).fit(cov_type="cluster", cov_kwds={"groups": groups})
    np.testing.assert_allclose(primary["absolute"]["estimate"], clustered.params["treated"], rtol=1e-9)
    np.testing.assert_allclose(primary["absolute"]["p_value"], clustered.pvalues["treated"], rtol=0.05)
    assert clustered.pvalues["treated"] > 0.05 > smf.ols("active ~ treated", frame).fit().pvalues["treated"]


def test_the_cluster_proposal_can_be_replaced_in_words() -> None:
    session = drive(attached(EDITOR, "editor_test"), editor_script("cluster=Member"))
    assert session.request("ab_test")["cluster_column"] == "Member"


def _frame(**columns: Any) -> pd.DataFrame:
    return pd.DataFrame(columns)


def test_a_grouping_unit_names_its_repeating_column_and_only_that() -> None:
    rng = np.random.default_rng(25)
    n = 300
    frame = _frame(
        user_id=[f"u{i}" for i in range(n)],
        team_id=[f"t{i // 10}" for i in range(n)],
        arm=np.repeat([0, 1], n // 2),
        converted=rng.integers(0, 2, n),
    )
    profile = profile_frame(frame)

    def cluster(unit: str, clustered: bool = False) -> Any:
        return propose(GUIDE, frame, profile, "converted", unit=unit, clustered=clustered).roles.get("cluster")

    assert cluster("whole teams") == "team_id"  # a grouping word: *_id of it
    assert cluster("teams", clustered=True) == "team_id"
    assert cluster("users") is None  # not a grouping, and user_id does not repeat
    assert cluster("users", clustered=True) is None  # user_id is one row per user: nothing to count
    assert cluster("whole markets") is None  # no column of that name: never guessed
