"""Issue 18, item 7: a pre-registration from a guided session is filled from what the session established, the
user answers the items still open, and an incomplete plan is frozen only when the user says so.

Every item filled from the session says where it came from; nothing the session did not settle is filled."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from assistant.agent.brief import Brief
from assistant.agent.conversation import Conversation
from assistant.agent.guided import GuidedBackend
from assistant.agent.session import SessionStore, load_session
from assistant.launch import EXAMPLES
from assistant.prereg import PlanDocument, StudyPlan, assemble, freeze, render, session_facts, verify
from assistant.prereg.commands import prereg_command
from assistant.prereg.models import FreezeStamp, ItemAnswer
from assistant.prereg.session_plan import draft, freeze_plan, open_items, record_answer
from assistant.prereg.tool import PreregState, answer_item
from tools.data import Catalog
from tools.errors import ToolError

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "examples" / "data"
DID = {"dataset": "staggered_rollout", "outcome": "weekly_orders", "unit": "region", "time": "month",
       "cohort": "launch_month"}  # fmt: skip
RECOMMEND = {"can_randomize": False, "assignment": "rollout_by_group_over_time", "has_pre_period_data": True}
#: The brief a guided session ends with (the six slots confirmed, one why answered).
BRIEF = Brief.model_validate(
    {
        "intervention": {"value": "Regional launch of express delivery", "status": "confirmed"},
        "outcome": {"value": "weekly orders per region", "status": "confirmed", "guardrails": []},
        "population": {"value": "all regions", "status": "confirmed"},
        "unit": {"value": "regions", "status": "confirmed"},
        "counterfactual": {"value": "regions not yet launched", "status": "confirmed"},
        "decision": {"value": "roll out everywhere if weekly orders rise", "status": "confirmed"},
        "why_chain": [{"question": "Why make this change?", "answer": "Slow delivery loses orders."}],
    }
)
#: What neither the guided interview nor the DiD tools settle: the user answers these.
UNSETTLED = ["hypotheses", "exclusions", "duration_stopping", "outliers_missing"]


def catalog() -> Catalog:
    examples = Catalog()
    for name, file_name in EXAMPLES.items():
        if (DATA / file_name).is_file():
            examples.add(DATA / file_name, name)
    return examples


def did_session(store: SessionStore | None = None, *, refute: bool = True) -> Conversation:
    """A session that ran what the guided mode runs on the staggered rollout: recommend_method, diff_in_diff and
    (optionally) its refute battery, through the one run path."""
    data = catalog()
    chat = Conversation(GuidedBackend(catalog=data), catalog=data, store=store)
    chat.brief = BRIEF
    ignore = lambda event: None  # noqa: E731
    assert chat.run_tool("recommend_method", RECOMMEND, ignore) is not None
    assert chat.run_tool("diff_in_diff", DID, ignore) is not None
    if refute:  # the checks the user agreed to (the full battery is the slow guided test's)
        challenge = {"target": {"tool": "diff_in_diff", "request": DID}, "checks": ["pre_trends", "placebo_time"]}
        assert chat.run_tool("refute", challenge, ignore) is not None
    return chat


def statuses(document: PlanDocument) -> dict[str, str]:
    return {item.key: item.status for item in document.prereg.items}


def missing(document: PlanDocument) -> list[str]:
    return [key for key, status in statuses(document).items() if status in ("missing", "unconfirmed")]


# -- filled from the session -------------------------------------------------------------------------------------


@pytest.mark.slow
def test_item7_a_guided_did_session_leaves_only_what_it_never_asked_missing() -> None:
    """The guided mode itself (GuidedBackend with a Conversation and a catalog) on the bundled staggered rollout:
    before the fix 8 of 21 items were complete; now only the four nobody answered stay open."""
    data = catalog()
    backend = GuidedBackend(catalog=data)
    chat = Conversation(backend, catalog=data)
    backend.opening()
    answers = [
        "The change under study", "It should help users", "the metric", "eligible users", "users",
        "comparable users without it", "ship if the metric rises", "a drop in the guardrails would change our mind",
        "no", "region by region over time", "yes", "ok", "ok", "yes",
    ]  # fmt: skip
    for answer in answers:
        chat.send(answer, lambda event: None)
    assert [run.name for run in chat.runs if run.ok] == ["recommend_method", "diff_in_diff", "refute"]
    document = draft(chat)
    assert document.prereg.completeness.sentence() == "17 of 21 items complete (4 missing)"
    assert missing(document) == UNSETTLED
    refute = chat.runs[-1].outcome
    robustness = document.prereg.item("robustness").value or ""
    assert [line.split(":")[0] for line in robustness.splitlines()] == [c.name for c in refute.checks]  # type: ignore[union-attr]


def test_item7_every_item_the_session_settled_is_filled_and_says_where_it_came_from() -> None:
    chat = did_session()
    document = draft(chat)
    assert document.prereg.completeness.sentence() == "17 of 21 items complete (4 missing)"
    assert missing(document) == UNSETTLED
    item = document.prereg.item
    dataset = chat.catalog.get("staggered_rollout")
    did = chat.runs[1].outcome
    # assignment: what recommend_method was told, in its own words, and the design it chose
    assert item("assignment").value == (
        "Not randomized: groups switched on at different dates ('rollout_by_group_over_time').\n"
        "The outcome is measured for the same units before the change: yes.\n"
        "Design: difference-in-differences (recommend_method's first choice)."
    )
    assert "from this session: your answers to recommend_method" in item("assignment").source
    # the model, covariates, clustering and inference: the diff_in_diff request as it ran
    assert (item("method").value or "").startswith(
        "diff_in_diff, estimator auto, control group never_treated; outcome 'weekly_orders', unit 'region', "
        "time 'month', cohort 'launch_month'."
    )
    assert item("covariates").value == "None."
    assert item("inference").value == "Cluster-robust standard errors clustered by 'region'."
    assert item("alpha_correction").value == "Significance level 0.05."
    for key in ("method", "covariates", "inference", "alpha_correction", "primary_metric", "quality_checks"):
        assert item(key).source.endswith("from this session: the diff_in_diff run (its request)"), key
    # the data: name, rows and hash from the catalog; observations from the result
    assert f"dataset 'staggered_rollout', {dataset.n_rows:,} rows, SHA-256 {dataset.sha256}" in (
        item("data_status").value or ""
    )
    assert item("sample_size").value == (
        f"The data at hand: dataset 'staggered_rollout', {dataset.n_rows:,} rows; the diff_in_diff analysis used "
        f"{did.n_obs:,} observations."  # type: ignore[union-attr]
    )
    # the robustness checks: those the refute run ran
    refute = chat.runs[2].outcome
    assert document.prereg.plan.robustness_checks == tuple(c.name for c in refute.checks)  # type: ignore[union-attr]
    assert "the checks the refute run ran" in item("robustness").source
    # the document records the analysis as planned, field by field, so later runs are checked against it
    planned = document.prereg.plan.analysis
    assert planned is not None and planned.method == "diff_in_diff"
    assert {k: planned.stated()[k] for k in DID} == DID and planned.covariates == ()


def test_item7_nothing_is_filled_that_the_session_did_not_establish() -> None:
    assert not session_facts([])
    data = catalog()
    chat = Conversation(GuidedBackend(catalog=data), catalog=data)
    chat.brief = BRIEF
    ignore = lambda event: None  # noqa: E731
    failed = chat.run_tool("diff_in_diff", {**DID, "outcome": "no_such_column"}, ignore)
    assert failed is not None and not failed.ok
    chat.run_tool("recommend_method", RECOMMEND, ignore)
    facts = session_facts(chat.runs, chat.catalog)
    assert set(facts.fields) == {"assignment"}  # a failed analysis establishes nothing
    before = statuses(draft(chat))
    assert before["method"] == before["data_status"] == before["sample_size"] == "missing"
    assert before["robustness"] == "missing"
    # a refute of another tool's analysis is not this plan's robustness checks
    without = did_session(refute=False)
    rdd = {"dataset": "paywall_cutoff", "outcome": "converted_30d", "running": "credits_used", "cutoff": 10}
    other = without.run_tool("refute", {"target": {"tool": "rdd", "request": rdd}, "checks": ["density_test"]}, ignore)
    assert other is not None and other.ok
    assert statuses(draft(without))["robustness"] == "unconfirmed"  # the battery proposed, not agreed
    assert draft(without).prereg.plan.robustness_checks is None


def test_item7_the_plan_as_written_and_the_users_answers_win_over_the_session() -> None:
    chat = did_session(refute=False)
    chat.prereg.plan = StudyPlan(assignment="Regions chose their own launch month.")
    answer_item(chat.prereg, "data_status", "Data exist; only the launch team has seen them.")
    document = draft(chat)
    assert document.prereg.item("assignment").value == "Regions chose their own launch month."
    assert "from this session" not in document.prereg.item("assignment").source
    assert document.prereg.item("data_status").value == "Data exist; only the launch team has seen them."
    assert document.prereg.item("data_status").source.startswith("your answer; ")


# -- the user answers the open items -----------------------------------------------------------------------------


def test_item7_open_items_carry_their_question_and_how_to_answer_them() -> None:
    chat = did_session()
    items = open_items(chat)
    assert [i.key for i in items] == UNSETTLED
    first = items[0]
    assert first.question == "What do you expect the change to do to the primary metric, and in which direction?"
    assert first.how == "/prereg answer hypotheses <your answer>"
    listed, kind = prereg_command(chat, "missing")
    assert kind == "note" and listed.startswith("Still open (4):")
    for item in items:
        assert f"[{item.key}] ({item.status}): {item.question}" in listed and f"Answer: {item.how}" in listed
    shown, _ = prereg_command(chat, "")
    assert "## How to answer the open items" in shown and "hypotheses, exclusions, duration_stopping" in shown


def test_item7_answers_complete_the_plan_and_resume_keeps_them(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "session.jsonl")
    chat = did_session(store)
    item = record_answer(chat, "hypotheses", "Weekly orders rise after a region launches.")
    assert (item.status, item.value, item.source.split(";")[0]) == (
        "complete", "Weekly orders rise after a region launches.", "your answer"
    )  # fmt: skip
    text, kind = prereg_command(chat, "answer duration-stopping: The data end in December; analysed once.")
    assert kind == "note" and text.startswith("Recorded for 'Duration and stopping rule' (complete). 2 items")
    text, _ = prereg_command(chat, "answer exclusions none: every region is kept")
    text, _ = prereg_command(chat, "answer Outliers_Missing No capping; rows with a missing outcome are dropped.")
    assert text.endswith("Every item is answered: /prereg freeze freezes the plan.")
    assert draft(chat).prereg.completeness.sentence() == "21 of 21 items complete"
    # a later answer to the same item replaces the earlier one
    record_answer(chat, "hypotheses", "Weekly orders rise by launch.")
    assert chat.prereg.plan.answer("hypotheses") == "Weekly orders rise by launch."
    assert [a.key for a in chat.prereg.plan.item_answers].count("hypotheses") == 1
    assert "Weekly orders rise by launch." in chat.sources  # the user's words back what is quoted from them
    assert draft(chat).prereg.plan.hypothesis == "Weekly orders rise by launch."  # a one-field item fills its field
    # resume: the session file holds the answers with the plan, and the runs; the draft is the same
    loaded = load_session(store.path)
    assert loaded.prereg is not None and loaded.prereg.plan == chat.prereg.plan
    resumed = Conversation(GuidedBackend(catalog=chat.catalog), catalog=chat.catalog, store=store,
                           messages=loaded.messages, brief=loaded.brief)  # fmt: skip
    resumed.brief = BRIEF
    assert render(draft(resumed)) == render(draft(chat))
    assert draft(resumed).prereg.item("duration_stopping").value == "The data end in December; analysed once."


def test_item7_a_wrong_answer_is_refused_in_the_users_words_and_nothing_is_stored() -> None:
    chat = did_session(refute=False)
    before = chat.prereg.plan
    cases: Mapping[str, tuple[str, str]] = {
        "answer nosuch something": ("There is no pre-registration item 'nosuch'.", "Use one of: question, "),
        "answer hypotheses": ("The answer is empty.", "hypotheses <answer>"),
        "answer hypotheses " + "x" * 3_089: ("That answer is 3,089 characters long; an item holds at most 2,000.",
                                             "Shorten it"),
        "answer method use OLS": ("'Statistical model and test' is already filled (source: plan.analysis; from "
                                  "this session: the diff_in_diff run (its request)).", "Answer one of the open "),
        "answer": ("Usage: /prereg answer ITEM your answer.", ""),
    }  # fmt: skip
    for command, (message, hint) in cases.items():
        text, kind = prereg_command(chat, command)
        assert kind == "error" and text.startswith(message) and hint in text, (command, text)
    assert chat.prereg.plan == before


# -- freezing asks first when items are open ---------------------------------------------------------------------


def test_item7_freeze_lists_the_open_items_and_freezes_only_when_confirmed(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "session.jsonl")
    chat = did_session(store)
    text, kind = prereg_command(chat, "freeze")
    assert kind == "error" and chat.prereg.frozen is None
    assert text.startswith("Not frozen: 4 items are still open.\n- Hypotheses and direction (missing): What do you")
    assert "answer with: /prereg answer outliers_missing <your answer>" in text
    assert text.endswith("or freeze the plan as it is with '/prereg freeze anyway': the frozen document will list "
                         "them as open.")  # fmt: skip
    assert prereg_command(chat, "freeze maybe")[1] == "error" and chat.prereg.frozen is None
    with pytest.raises(ToolError) as refused:
        freeze_plan(chat)
    assert refused.value.code == "prereg_incomplete"

    text, kind = prereg_command(chat, "freeze anyway")
    assert kind == "note" and "17 of 21 items complete (4 missing). It was frozen with 4 items open" in text
    frozen = chat.prereg.frozen
    assert frozen is not None and verify(frozen)
    assert frozen.freeze is not None and list(frozen.freeze.missing_items) == UNSETTLED
    assert "Frozen incomplete, with these items open at freezing — missing: Hypotheses and direction, " in render(
        frozen
    )
    assert json.loads(render(frozen, "json"))["freeze"]["missing_items"] == UNSETTLED
    assert frozen.prereg.plan.dataset_sha256 == chat.catalog.get("staggered_rollout").sha256
    # the frozen plan is in the session file, and cannot be answered any more
    loaded = load_session(store.path)
    assert loaded.prereg is not None and loaded.prereg.frozen == frozen
    assert prereg_command(chat, "answer hypotheses late")[0].startswith("The plan was frozen at ")
    assert prereg_command(chat, "missing")[0] == "The plan is frozen: nothing more can be answered."


def test_item7_a_complete_plan_freezes_without_asking() -> None:
    chat = did_session()
    for key in UNSETTLED:
        record_answer(chat, key, f"The answer for {key}.")
    text, kind = prereg_command(chat, "freeze")
    assert kind == "note" and text.startswith("Plan frozen at ") and "items open" not in text
    frozen = chat.prereg.frozen
    assert frozen is not None and frozen.freeze is not None
    assert frozen.freeze.missing_items == frozen.freeze.unconfirmed_items == ()
    assert "missing_items" not in json.loads(render(frozen, "json"))["freeze"]


def test_item7_the_frozen_session_plan_checks_the_analysis_run_again() -> None:
    """The plan frozen from a session holds the analysis as it ran: running it again is checked against it (an
    empty plan had no analysis, so /run showed no plan check), and a changed setting is a deviation."""
    chat = did_session(refute=False)
    freeze_plan(chat, anyway=True)
    ignore = lambda event: None  # noqa: E731
    same = chat.run_tool("diff_in_diff", DID, ignore)
    assert same is not None and same.plan_check is not None
    assert [d.field for d in same.plan_check.deviations] == []
    changed = chat.run_tool("diff_in_diff", {**DID, "alpha": 0.1}, ignore)
    assert changed is not None and changed.plan_check is not None
    assert [(d.field, d.planned, d.executed) for d in changed.plan_check.deviations] == [("alpha", "0.05", "0.1")]


def test_item7_write_prereg_sees_what_the_session_established() -> None:
    chat = did_session()
    result: dict[str, Any] = chat.prereg.write(chat.brief, '{"freeze": false}', chat.catalog, runs=chat.runs)
    assert [m["item"] for m in result["missing"]] == UNSETTLED


def test_item7_documents_frozen_before_keep_their_bytes_and_hash() -> None:
    """The new fields are written only when they hold something: a plan without answers and a stamp without open
    items serialise as before, so plans frozen earlier still verify."""
    assert "item_answers" not in StudyPlan().model_dump(mode="json")
    stamp = FreezeStamp(frozen_at="2026-01-01T00:00:00Z", content_hash="sha256:0")
    assert set(stamp.model_dump(mode="json")) == {"frozen_at", "content_hash", "software"}
    prereg = assemble(BRIEF, StudyPlan())
    document = freeze(prereg, software={})
    assert verify(document) and verify(PlanDocument.model_validate_json(render(document, "json")))
    answered = StudyPlan(item_answers=(ItemAnswer(key="robustness", text="None."),))
    assert answered.model_dump(mode="json")["item_answers"] == [{"key": "robustness", "text": "None."}]
    assert assemble(BRIEF, answered).item("robustness").status == "complete"


def test_item7_state_level_answer_item_for_the_guided_hook() -> None:
    state = PreregState()
    assert answer_item(state, "Existing data", "Nothing collected yet.") == "data_status"
    assert state.plan.item_answers == (ItemAnswer(key="data_status", text="Nothing collected yet."),)
    assert state.draft(BRIEF).item("data_status").value == "Nothing collected yet."


def test_item7_a_users_own_export_castle_fills_the_same_items(tmp_path: Path) -> None:
    """A public panel nobody here wrote (Cheng & Hoekstra's castle-doctrine states, as a CSV export), run the way
    the app's /run runs it: the items its runs settle are filled; the brief's, never run, stay open."""
    from tests.public_data import write_public

    data = Catalog()
    data.add(write_public("castle", tmp_path), "castle")
    chat = Conversation(GuidedBackend(catalog=data), catalog=data)
    request = {"dataset": "castle", "outcome": "l_homicide", "unit": "sid", "time": "year", "treatment": "post"}
    ignore = lambda event: None  # noqa: E731
    chat.run_tool("recommend_method", RECOMMEND, ignore)
    run = chat.run_tool("diff_in_diff", request, ignore)
    assert run is not None and run.ok
    document = draft(chat)
    settled = ("assignment", "data_status", "sample_size", "quality_checks", "covariates", "method", "inference",
               "alpha_correction")  # fmt: skip
    assert {key: statuses(document)[key] for key in settled} == dict.fromkeys(settled, "complete")
    assert statuses(document)["intervention"] == statuses(document)["primary_metric"] == "missing"  # never asked
    assert f"{data.get('castle').n_rows:,} rows" in (document.prereg.item("data_status").value or "")
    method = document.prereg.item("method").value or ""
    assert "outcome 'l_homicide', unit 'sid', time 'year', treatment 'post'" in method
