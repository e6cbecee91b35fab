"""The brief's unit in the guided mode's own tool calls (defects the eval harness found), end to end through
GuidedBackend and a Conversation, answers given by the step the guided mode waits at:

- 'measure it' at the baseline on a history whose rows are finer than the brief's unit (sessions of users) measures
  per unit (metric_history's unit_column), says so, and sizes with the rows per unit and the ICC it measured;
- the A/A offer uses the brief's unit: whole workspaces are passed as the cluster (an export names the column
  "Workspace", which no *_id rule finds), a user_id that aa_test finds by itself is left to it, both said in the offer;
- the honest "no" lists what would make the effect identifiable, and "what would we need?" answers with it; a
  recommendation nothing follows says what it needs and rests on.

Every number the guided mode says comes from a tool or the user: no unverified number, no unsupported claim.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from assistant.agent.conversation import Conversation, Done, Event, ToolFinished
from assistant.agent.events import TextDelta
from assistant.agent.guided import GuidedBackend
from assistant.agent.guided_state import Step
from tests.assistant.agent.test_guided_designs import catalog
from tools.data import Catalog

EXPORT = Path(__file__).parents[3] / "assistant" / "eval" / "data" / "cluster_workspaces_export.csv"
SESSIONS = Path(__file__).parents[3] / "examples" / "data" / "checkout_sessions.csv"


def sessions() -> Catalog:
    """The bundled session history alone (one row per session, user_id repeating), as the eval attaches it."""
    data = Catalog()
    data.add(SESSIONS, "checkout_sessions")
    return data


#: A checkout experiment randomized by user, the A/A check declined, the baseline measured.
CHECKOUT: dict[Step, str | list[str]] = {
    Step.INTERVENTION: "one-click checkout",
    Step.WHY_INTERVENTION: "people abandon the checkout",
    Step.OUTCOME: "checkout conversion (the converted column)",
    Step.POPULATION: "all shoppers",
    Step.UNIT: "users",
    Step.COUNTERFACTUAL: "a random half without it",
    Step.DECISION: "ship if conversion rises",
    Step.WHY_DECISION: "a drop in order value would stop us",
    Step.CAN_RANDOMIZE: "yes",
    Step.INTERFERENCE: "no",
    Step.AA_OFFER: "no",
    Step.METRIC_KIND: "a rate",
    Step.BASELINE: "measure it",
    Step.MDE: ["5% relative", "yes"],
    Step.DAILY_UNITS: "about 3000 sessions a day",
    Step.LOOKS: "no",
}


@dataclass
class Session:
    backend: GuidedBackend
    conversation: Conversation
    events: list[Event] = field(default_factory=list)
    dones: list[Done] = field(default_factory=list)

    def runs(self, tool: str) -> list[ToolFinished]:
        return [e for e in self.events if isinstance(e, ToolFinished) and e.name == tool]

    def arguments(self, tool: str) -> list[dict[str, Any]]:
        return [
            json.loads(call["function"]["arguments"])
            for message in self.conversation.messages
            for call in message.get("tool_calls") or []
            if call["function"]["name"] == tool
        ]

    @property
    def said(self) -> str:
        """Everything said, the lines before a tool call included (streamed, not part of a turn's final answer)."""
        return "".join(e.text for e in self.events if isinstance(e, TextDelta))

    def clean(self) -> bool:
        """No number of the guided mode's own, no claim the results do not support."""
        return all(d.unverified == () and d.claims == () for d in self.dones)


def drive(script: Mapping[Step, str | list[str]], data: Catalog | None, *after: str, turns: int = 60) -> Session:
    """Answer each question by the step it asks (a list: in turn) until the guided mode waits at a step the script
    has no answer for (or asks nothing), then send ``after``."""
    backend = GuidedBackend(catalog=data)
    session = Session(backend, Conversation(backend, catalog=data))
    backend.opening()
    left = {step: list(answer) if isinstance(answer, list) else [answer] for step, answer in script.items()}
    for _ in range(turns):
        step = backend.state.pending
        if step is None or not left.get(step):
            break
        answers = left[step]
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        session.dones.append(session.conversation.send(answer, session.events.append))
    for answer in after:
        session.dones.append(session.conversation.send(answer, session.events.append))
    return session


# -- 1. the baseline measured per unit ---------------------------------------------------------------------------


def test_the_baseline_of_sessions_is_measured_per_user_and_sized_with_its_design_effect() -> None:
    data = sessions()
    session = drive(CHECKOUT, data)
    (history,) = session.arguments("metric_history")
    assert history == {
        "dataset": "checkout_sessions",
        "metric": "converted",
        "kind": "binary",
        "unit_column": "user_id",
    }
    (run,) = session.runs("metric_history")
    measured = run.result
    assert measured is not None and measured["n_units"] is not None and measured["rows_per_unit"] > 1
    said = session.said
    assert "per user: 'user_id' names the brief's unit (users)" in said
    assert measured["summary"] in said and "Per user (the unit the experiment assigns, 'user_id')" in said
    assert "counts rows grouped by 'user_id'" in said  # the daily units are asked as rows too
    sizing = session.backend.state.sizing
    figures = measured["power_request"]
    assert sizing.baseline == measured["baseline"] and sizing.unit_column == "user_id"
    assert (sizing.cluster_size, sizing.icc) == (figures["cluster_size"], figures["icc"])
    (power,) = session.arguments("power")
    assert (power["cluster_size"], power["icc"], power["baseline"]) == (
        figures["cluster_size"],
        figures["icc"],
        measured["baseline"],
    )
    (sized,) = session.runs("power")
    assert sized.result is not None
    np.testing.assert_allclose(sized.result["design_effect"], measured["design_effect"], rtol=1e-9)
    assert sized.result["design_effect"] > 1  # sessions of one user are correlated: more rows than if independent
    assert session.clean()
    resumed = GuidedBackend(brief=session.conversation.brief, history=session.conversation.messages, catalog=data)
    assert resumed.state.sizing.unit_column == "user_id"
    assert (resumed.state.sizing.cluster_size, resumed.state.sizing.icc) == (figures["cluster_size"], figures["icc"])


def test_a_unit_no_repeating_column_names_is_measured_per_row() -> None:
    """Rows that are the unit (one per user in 'checkout'), or a unit no column names: no unit_column, no design
    effect, nothing said about units."""
    script = {**CHECKOUT, Step.OUTCOME: "revenue per user", Step.METRIC_KIND: "an average"}
    session = drive(script, catalog())
    (history,) = session.arguments("metric_history")
    assert history["dataset"] == "checkout" and "unit_column" not in history
    assert session.backend.state.sizing.cluster_size is None and session.backend.state.sizing.unit_column is None
    assert "Per user" not in session.said and "grouped by" not in session.said
    (power,) = session.arguments("power")
    assert power.get("cluster_size") is None and power.get("icc") is None
    session = drive({**CHECKOUT, Step.UNIT: "sessions"}, sessions())
    (history,) = session.arguments("metric_history")
    assert history["dataset"] == "checkout_sessions" and "unit_column" not in history
    assert session.clean()


# -- 2. the A/A offer uses the brief's unit ----------------------------------------------------------------------


WORKSPACES: dict[Step, str | list[str]] = {
    **CHECKOUT,
    Step.INTERVENTION: "a new collaborative editor",
    Step.WHY_INTERVENTION: "teams drop off when editing together is clumsy",
    Step.OUTCOME: "members active in the last 7 days (the Active Last 7 Days column)",
    Step.POPULATION: "all workspaces on the team plan and their members",
    Step.UNIT: "whole workspaces: every member of a workspace gets the same editor",
    Step.COUNTERFACTUAL: "the workspaces randomized to keep the old editor",
    Step.INTERFERENCE: "yes, members of one workspace edit the same documents",
    Step.AA_OFFER: "yes",
}


def workspace_export() -> Catalog:
    data = Catalog()
    data.add(EXPORT, "editor_test")
    return data


def test_the_aa_offer_passes_whole_workspaces_as_the_cluster_with_its_reason() -> None:
    session = drive({**WORKSPACES, Step.AA_OFFER: "why?"}, workspace_export())
    offer = session.dones[-1].text
    assert session.backend.state.pending is Step.AA_OFFER
    assert "metric 'Active Last 7 Days', binary, per 'Workspace'" in offer
    assert "the brief's unit is workspaces, and 'Workspace' repeats across the rows" in offer
    session = drive(WORKSPACES, workspace_export())
    (request,) = session.arguments("aa_test")
    assert request["cluster_column"] == "Workspace" and request["dataset"] == "editor_test"
    (run,) = session.runs("aa_test")
    found = run.result
    assert found is not None and found["cluster_column"] == "Workspace" and found["repeated_unit"] is None
    head = found["simulated"][0]
    assert head["analysed_per"] == "Workspace" and head["randomised_by"] == "Workspace"
    rate = head["false_positive_rate"]
    assert rate["ci_lower"] <= 0.05 <= rate["ci_upper"] and found["verdict"] == "trustworthy"  # as it will be analysed
    assert found["summary"] in session.said
    assert session.backend.state.check_unit == "Workspace"  # the analysis counts workspaces too
    assert session.clean()


def test_without_the_brief_s_unit_the_check_still_catches_the_workspaces() -> None:
    """A unit that names no column ("members"): the offer passes no cluster, and aa_test itself now finds the
    repeated 'Workspace' by its name, randomizes by it and names the fix."""
    session = drive({**WORKSPACES, Step.UNIT: "members"}, workspace_export())
    (request,) = session.arguments("aa_test")
    assert "cluster_column" not in request or request["cluster_column"] is None
    (run,) = session.runs("aa_test")
    found = run.result
    assert found is not None and found["repeated_unit"] == "Workspace" and found["verdict"] == "investigate"
    assert "cluster_column='Workspace'" in session.said and session.backend.state.check_unit == "Workspace"
    assert session.clean()


def test_a_user_id_aa_test_finds_itself_is_left_to_it_and_said() -> None:
    session = drive({**CHECKOUT, Step.AA_OFFER: "why?"}, sessions())
    offer = session.dones[-1].text
    assert "'user_id' (the brief's unit, users) repeats across the rows" in offer
    assert "per row beside the analysis per user" in offer and "per 'user_id')" not in offer
    session = drive({**CHECKOUT, Step.AA_OFFER: "yes"}, sessions())
    (request,) = session.arguments("aa_test")
    assert request.get("cluster_column") is None
    (run,) = session.runs("aa_test")
    assert run.result is not None and run.result["repeated_unit"] == "user_id"
    assert session.clean()


# -- 3. the honest "no", and what a recommendation takes ---------------------------------------------------------


NO_DESIGN: dict[Step, str | list[str]] = {
    Step.INTERVENTION: "the new editor for everyone",
    Step.WHY_INTERVENTION: "the old editor was slow with long notes",
    Step.OUTCOME: "notes created per user per week",
    Step.POPULATION: "all users",
    Step.UNIT: "users",
    Step.COUNTERFACTUAL: "nobody: every user got the new editor on the same day",
    Step.DECISION: "keep investing in the editor or move the team to sync",
    Step.WHY_DECISION: "no change in notes would move the team to sync",
    Step.CAN_RANDOMIZE: "no, it is already out for everyone",
    Step.ASSIGNMENT: "everyone at once, on the same day",
    Step.HAS_PRE: "no, we only started logging after the launch",
}


def recommended(session: Session) -> dict[str, Any]:
    (run,) = session.runs("recommend_method")
    assert run.result is not None
    return run.result


def test_the_honest_no_lists_what_would_help_and_answers_what_we_would_need() -> None:
    session = drive(NO_DESIGN, None, "What can we learn, and what would we need?")
    result = recommended(session)
    helps = result["what_would_help"]
    assert result["identifiable"] is False and len(helps) >= 2
    listed = "What would make the effect identifiable:\n\n" + "\n".join(f"- {h}" for h in helps)
    answer, asked = session.dones[-2].text, session.dones[-1].text
    assert result["summary"] in answer and listed in answer
    assert asked.startswith(listed) and "The scoping is complete" not in asked  # the answer, not the closing again
    assert "What it needs" not in answer  # no design to take
    assert session.clean()


def test_a_recommendation_nothing_follows_says_what_it_needs_and_rests_on() -> None:
    script: dict[Step, str | list[str]] = {
        **NO_DESIGN,
        Step.INTERVENTION: "an instant credit line for applicants scoring 650 or more",
        Step.OUTCOME: "90-day retention",
        Step.COUNTERFACTUAL: "applicants just below 650",
        Step.CAN_RANDOMIZE: "no, the credit rule is fixed by policy",
        Step.ASSIGNMENT: "by a score cutoff",
        Step.HAS_PRE: "no, they are new applicants",
    }
    # with no data attached, the design's sizing (issue 26) comes after the lists; skipped, the scoping closes
    session = drive({**script, Step.QUASI_SIZE: "skip"}, None, "what data does it need?")
    top = recommended(session)["recommendations"][0]
    assert top["method"] == "rdd" and top["data_needed"] and top["assumptions"]
    needs = "What it needs:\n\n" + "\n".join(f"- {d}" for d in top["data_needed"])
    rests = "What it rests on:\n\n" + "\n".join(f"- {a}" for a in top["assumptions"][:4])
    answer, closed, asked = session.dones[-3].text, session.dones[-2].text, session.dones[-1].text
    assert "Recommended design: regression discontinuity" in answer and needs in answer and rests in answer
    assert answer.index("Recommended design") < answer.index(needs) < answer.index("To size the regression")
    assert "The scoping is complete" in closed
    assert needs in asked and rests in asked and "The scoping is complete" not in asked
    assert session.clean()


def test_an_experiment_that_goes_on_to_sizing_is_not_told_what_it_needs() -> None:
    """Briefly: the lists come where nothing follows the recommendation; an experiment goes on to its A/A offer."""
    session = drive({**CHECKOUT, Step.AA_OFFER: "why?"}, sessions())
    said = session.said
    assert "Recommended design: a randomized A/B test" in said and "A/A check" in said
    assert "What it needs" not in said and "What would make the effect identifiable" not in said
