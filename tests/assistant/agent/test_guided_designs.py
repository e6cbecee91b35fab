"""The guided mode beyond experiments: it recommends the design, proposes the example dataset and its columns,
runs the analysis on real data and offers the robustness battery — with no number of its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.agent.conversation import Conversation, Done, Event, ToolFinished, ToolProgress
from assistant.agent.guided import GuidedBackend
from assistant.launch import EXAMPLES
from tools.data import Catalog
from tools.registry import tool_names

DATA = Path(__file__).resolve().parents[3] / "examples" / "data"
SCOPING = [
    "The change under study",
    "It should help users",
    "the metric",
    "eligible users",
    "users",
    "comparable users without it",
    "ship if the metric rises",
    "a drop in the guardrails would change our mind",
    "no",  # cannot randomize
]


def catalog() -> Catalog:
    examples = Catalog()
    for name, file_name in EXAMPLES.items():
        if (DATA / file_name).is_file():
            examples.add(DATA / file_name, name)
    return examples


def converse(answers: list[str]) -> tuple[list[Event], list[Done]]:
    data = catalog()
    backend = GuidedBackend(catalog=data)
    conversation = Conversation(backend, catalog=data)
    backend.opening()
    events: list[Event] = []
    return events, [conversation.send(answer, events.append) for answer in answers]


def finished(events: list[Event], name: str) -> ToolFinished:
    return next(e for e in events if isinstance(e, ToolFinished) and e.name == name)


@pytest.mark.skipif("rdd" not in tool_names(), reason="rdd not registered")
def test_a_cutoff_runs_the_rd_design_on_the_paywall_example() -> None:
    answers = [*SCOPING, "by a score cutoff", "yes", "ok"]
    events, dones = converse(answers)
    assert "Which attached dataset" in dones[-2].text and "'paywall_cutoff'" in dones[-2].text
    proposal = dones[-1].text
    assert "outcome=" in proposal and "running=credits_used" in proposal and "Still needed: cutoff" in proposal
    events, dones = converse([*answers, "outcome=converted_30d; cutoff=10", "no"])
    rdd = finished(events, "rdd")
    assert rdd.error is None and rdd.result is not None
    assert rdd.result["cutoff"] == 10 and rdd.result["outcome"] == "converted_30d"
    assert rdd.result["summary"] in dones[-2].text
    assert "robustness checks" in dones[-2].text
    assert "scoping is complete" in dones[-1].text
    assert all(d.unverified == () and d.claims == () for d in dones)


@pytest.mark.skipif("rdd" not in tool_names(), reason="rdd not registered")
def test_a_column_the_tool_rejects_is_asked_for_again_with_the_tools_words() -> None:
    # a name that is no column is caught before the tool runs, with the closest names
    events, dones = converse([*SCOPING, "by a score cutoff", "yes", "ok", "outcome=no_such_column; cutoff=10"])
    assert not any(isinstance(e, ToolFinished) and e.name == "rdd" for e in events)
    assert "There is no column 'no_such_column'" in dones[-1].text
    # a column the tool itself refuses: its own words, and the columns question again
    answers = [*SCOPING, "by a score cutoff", "yes", "ok", "outcome=user_id; cutoff=10"]
    events, dones = converse(answers)
    error = finished(events, "rdd").error
    assert error is not None and error["code"] == "non_numeric_column"
    assert error["message"] in dones[-1].text and "Which column holds the outcome" in dones[-1].text


@pytest.mark.skipif("propensity" not in tool_names(), reason="propensity not registered")
def test_an_opt_in_runs_the_propensity_analysis_on_the_agent_mode_example() -> None:
    answers = [*SCOPING, "users opt in themselves", "yes", "ok"]
    _, dones = converse(answers)
    proposal = dones[-1].text
    assert "leave out anything measured after the choice" in proposal.lower()
    assert "treatment=opted_in" in proposal and "sessions_post" not in proposal.split("Proposed")[1]
    events, dones = converse([*answers, "outcome=task_completion", "no"])
    result = finished(events, "propensity").result
    assert result is not None and result["treatment"] == "opted_in"
    assert "sessions_post" not in result["covariates"]
    assert result["summary"] in dones[-2].text
    assert all(d.unverified == () and d.claims == () for d in dones)


@pytest.mark.skipif("diff_in_diff" not in tool_names(), reason="diff_in_diff not registered")
def test_a_staggered_rollout_runs_callaway_santanna_on_the_rollout_example() -> None:
    answers = [*SCOPING, "region by region over time", "yes", "ok"]
    _, dones = converse(answers)
    assert "'staggered_rollout'" in dones[-2].text
    proposal = dones[-1].text
    assert "unit=region; time=month; cohort=launch_month" in proposal
    events, dones = converse([*answers, "ok", "no"])
    result = finished(events, "diff_in_diff").result
    assert result is not None and result["estimator"] == "callaway_santanna"
    assert result["summary"] in dones[-2].text and result["pretrend"]["status"] == "pass"
    assert all(d.unverified == () and d.claims == () for d in dones)


def test_one_market_runs_synthetic_did_on_the_market_launch_example() -> None:
    """Issue 19's done-when: a new user runs the bundled one-market example end to end with natural answers."""
    answers = [*SCOPING, "only one market got it", "yes"]
    _, dones = converse(answers)
    assert "synthetic control" in dones[-1].text and "Reply 'ok' to use 'market_launch'" in dones[-1].text
    _, dones = converse([*answers, "ok"])
    proposal = dones[-1].text
    assert "outcome=orders_per_1k_users; time=week; unit=market; treatment=assistant_live" in proposal
    events, dones = converse([*answers, "ok", "ok"])
    run = finished(events, "synthetic_control")
    assert run.error is None and run.result is not None
    result = run.result
    assert result["estimator"] == "synthetic_did" and result["n_donors"] == 29
    assert result["effect"]["ci_lower"] < 3.0 < result["effect"]["ci_upper"]  # the generator's true +3.0
    assert result["summary"] in dones[-1].text and "in 'market_07' by" in result["summary"]
    assert all(d.unverified == () and d.claims == () for d in dones)


def test_one_market_said_in_words_when_no_column_says_it() -> None:
    """A file without the 0/1 column: 'market_07 from week 41' becomes the request's adoptions."""
    answers = [*SCOPING, "only one market got it", "yes", "ok", "treatment is none"]
    _, dones = converse(answers)
    assert dones[-1].text
    events, dones = converse([*SCOPING, "only one market got it", "yes", "ok", "market_07 from week 41", "ok"])
    run = finished(events, "synthetic_control")
    assert run.error is None and run.result is not None, dones[-1].text
    assert "'market_07'" in run.result["method"] and run.result["n_treated_units"] == 1


INVITE = [*SCOPING, "a random half got an invite to try it, using it was optional"]


def test_an_invite_runs_instrumental_variables_on_the_invite_example() -> None:
    """Issue 20's done-when: the bundled invite example end to end; the answer reads the ITT, the complier share
    and the LATE in plain words. The generator's true effect on users is +2.97 (examples/generate_invite.py); the
    naive users-vs-non-users gap +7.31."""
    _, dones = converse(INVITE)
    assert "instrumental variables" in dones[-1].text and "Reply 'ok' to use 'agent_mode_invite'" in dones[-1].text
    _, dones = converse([*INVITE, "ok"])
    assert "outcome=tasks_completed; treatment=used_agent_mode; instruments=invited" in dones[-1].text
    events, dones = converse([*INVITE, "ok", "ok"])
    run = finished(events, "instrumental_variables")
    assert run.error is None and run.result is not None
    result = run.result
    assert result["estimand"] == "LATE" and result["one_sided_noncompliance"] is True
    assert result["effect"]["ci_lower"] < 2.97 < result["effect"]["ci_upper"] < result["ols"]["estimate"]
    said = dones[-1].text
    assert result["summary"] in said
    for words in ("intention to treat", "the compliers' share", "(the LATE)"):
        assert words in said
    assert all(d.unverified == () and d.claims == () for d in dones)


@pytest.mark.skipif("refute" not in tool_names(), reason="refute not registered")
def test_accepting_the_offer_runs_the_designs_battery_with_progress() -> None:
    answers = [*SCOPING, "by a score cutoff", "yes", "ok", "outcome=converted_30d; cutoff=10", "yes"]
    events, dones = converse(answers)
    refute = finished(events, "refute")
    assert refute.error is None and refute.result is not None
    assert refute.result["target_tool"] == "rdd"
    assert [c["name"] for c in refute.result["checks"]] == [
        "density_test",
        "covariate_continuity",
        "placebo_cutoff",
        "bandwidth_sensitivity",
    ]
    assert refute.result["summary"] in dones[-1].text and "scoping is complete" in dones[-1].text
    progress = [e for e in events if isinstance(e, ToolProgress) and e.call_id == refute.call_id]
    assert progress and progress[-1].done == progress[-1].total == 4
    assert all(d.unverified == () and d.claims == () for d in dones)


@pytest.mark.skipif("refute" not in tool_names(), reason="refute not registered")
def test_the_decision_memo_says_whether_each_estimate_survived_its_battery() -> None:
    from assistant.agent.session import export_markdown

    data = catalog()
    backend = GuidedBackend(catalog=data)
    conversation = Conversation(backend, catalog=data)
    backend.opening()
    answers = [*SCOPING, "by a score cutoff", "yes", "ok", "outcome=converted_30d; cutoff=10"]
    for answer in answers:
        conversation.send(answer, lambda event: None)
    unchallenged = export_markdown(conversation.messages, conversation.brief, conversation.runs)
    assert "## Decision memo" in unchallenged and "- **rdd**: At the cutoff 10" in unchallenged
    assert "Robustness: not checked yet" in unchallenged
    conversation.send("yes", lambda event: None)
    memo = export_markdown(conversation.messages, conversation.brief, conversation.runs).split("## Conversation")[0]
    assert "Robustness: **ROBUST**." in memo and "not checked yet" not in memo


@pytest.mark.skipif("refute" not in tool_names(), reason="refute not registered")
def test_whyscope_chat_in_guided_mode_runs_a_design_on_the_bundled_examples(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    from assistant.chat import run_chat
    from assistant.config import load_settings

    monkeypatch.setenv("WHYSCOPE_HOME", str(tmp_path))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    settings = load_settings(offline=True)
    answers = [*SCOPING, "by a score cutoff", "no", "ok", "outcome=converted_30d; cutoff=10", "yes", "thanks"]
    out = io.StringIO()
    run_chat(settings, [], False, io.StringIO("\n".join(answers) + "\n"), out)
    text = out.getvalue()
    assert "[data] paywall_cutoff: 5,000 rows" in text  # the examples are attached in the guided mode
    assert "[tool] rdd done: At the cutoff 10" in text
    assert "[progress] refute 1/4 density_test" in text and "[tool] refute done:" in text
    assert text.count("Guided mode: no language model") == 1  # the intro once, not again after the end
    lines = text.rstrip().splitlines()
    closing = next(i for i, line in enumerate(lines) if line.startswith("The scoping is complete"))
    assert "Say 'pre-register' to answer them" in "\n".join(lines[closing:])  # the plan's open items come next


EXPERIMENT = [
    "AI summaries for support agents",
    "Agents spend too long reading tickets",
    "revenue per user",
    "all support agents",
    "agents",
    "agents randomized to no summaries",
    "ship if revenue per user rises",
    "if revenue falls we would not ship",
    "yes",  # randomized
    "no",  # no interference
    "no",  # no A/A check (tests/assistant/agent/test_guided_aa.py)
    "an average",
    "25",
    "40",
    "3%",
    "yes",  # the lift, said back
    "skip",
    "no",  # no interim looks
]


def test_after_sizing_an_experiment_the_attached_one_is_analysed_with_cuped_and_challenged() -> None:
    events, dones = converse([*EXPERIMENT, "ok"])
    assert "If the experiment has already run, I can analyse it" in dones[-2].text
    assert "'checkout'" in dones[-2].text and "Say 'skip'" in dones[-2].text
    assert "Proposed from the data: arm=arm; metric=revenue; kind=continuous; covariate=pre_revenue" in dones[-1].text
    events, dones = converse([*EXPERIMENT, "ok", "ok", "yes"])
    analysis = finished(events, "ab_test").result
    assert analysis is not None and analysis["comparisons"][0]["metric"] == "revenue"
    assert analysis["comparisons"][0]["cuped"] is not None  # the pre-period covariate was used
    refute = finished(events, "refute").result
    assert refute is not None and refute["target_tool"] == "ab_test"
    assert [c["name"] for c in refute["checks"]][:2] == ["sample_ratio", "covariate_balance"]
    assert all(d.unverified == () and d.claims == () for d in dones)


def test_an_experiment_that_has_not_run_ends_the_scoping_when_skipped() -> None:
    events, dones = converse([*EXPERIMENT, "skip"])
    assert not [e for e in events if isinstance(e, ToolFinished) and e.name == "ab_test"]
    assert "scoping is complete" in dones[-1].text
    _, dones = converse([*EXPERIMENT, "ok", "metric=converted"])
    assert "metric=converted; kind=binary" not in dones[-1].text  # a new metric brings its own kind
    assert finished(_, "ab_test").result is not None


def test_a_resumed_guided_session_goes_on_where_it_stopped() -> None:
    data = catalog()
    first = GuidedBackend(catalog=data)
    conversation = Conversation(first, catalog=data)
    first.opening()
    for answer in [*SCOPING, "by a score cutoff", "no", "ok"]:
        conversation.send(answer, lambda event: None)
    # a new backend, as `--resume` builds it: the brief and the messages of the saved session
    resumed = GuidedBackend(brief=conversation.brief, history=conversation.messages, catalog=data)
    opening = resumed.opening()
    # the design facts and the recommendation are known again; the dataset choice (no tool call) is asked again
    assert opening.startswith("Welcome back") and "Which attached dataset holds the data?" in opening
    assert "Can you randomly choose" not in opening and resumed.state.design.method == "rdd"
    again = Conversation(resumed, catalog=data, messages=conversation.messages)
    again.brief = conversation.brief
    events: list[Event] = []
    again.send("ok", events.append)
    again.send("outcome=converted_30d; cutoff=10", events.append)
    assert finished(events, "rdd").result is not None
    # a finished session (the battery ran too) says so instead of starting over
    again.send("yes", events.append)
    assert finished(events, "refute").result is not None
    done = GuidedBackend(brief=again.brief, history=[*again.messages], catalog=data)
    assert "scoping is complete" in done.opening()


def test_resume_through_the_launcher_hands_the_saved_messages_to_the_guided_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from assistant.agent.session import SessionStore
    from assistant.config import load_settings
    from assistant.launch import prepare

    monkeypatch.setenv("WHYSCOPE_HOME", str(tmp_path))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    settings = load_settings(offline=True)
    launch = prepare(settings, [], False, lambda line: None, with_example=True)
    assert isinstance(launch.backend, GuidedBackend) and launch.store is not None
    conversation = Conversation(launch.backend, catalog=launch.catalog, store=launch.store)
    launch.backend.opening()
    for answer in [*SCOPING, "by a score cutoff", "no"]:
        conversation.send(answer, lambda event: None)
    assert isinstance(launch.store, SessionStore)
    resumed = prepare(settings, [], True, lambda line: None, with_example=True)
    assert isinstance(resumed.backend, GuidedBackend)
    assert resumed.backend.state.design.method == "rdd"
    assert "Which attached dataset holds the data?" in resumed.backend.opening()


@pytest.mark.skipif("rdd" not in tool_names(), reason="rdd not registered")
def test_without_refute_registered_the_analysis_ends_the_scoping_without_an_offer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from assistant.agent import guided

    monkeypatch.setattr(guided, "tool_names", lambda: [name for name in tool_names() if name != "refute"])
    events, dones = converse([*SCOPING, "by a score cutoff", "yes", "ok", "outcome=converted_30d; cutoff=10"])
    assert finished(events, "rdd").result is not None
    closing = dones[-1].text.split("The pre-registration draft")[0]  # then the plan's open items, robustness too
    assert "robustness checks" not in closing and "scoping is complete" in closing


RUNNING = [
    "AI reply suggestions in the support inbox",
    "agents reply too slowly",
    "replied: the share of customers answered within the hour",
    "support agents",
    "users",
    "users randomized to no suggestions",
    "ship if the reply rate rises",
    "complaints rising would stop us",
    "yes",  # randomized
    "no",  # no interference
    "no",  # no A/A check
    "a rate",
    "30%",
    "2 percentage points",
    "yes",  # the lift, said back
    "skip",
    "5 looks",
]


def test_five_planned_looks_then_look_two_of_the_running_experiment_says_continue() -> None:
    """Issue 21's done-when: plan five O'Brien-Fleming looks, see the maximum sample size and the looks, analyse
    look 2 of the bundled running experiment and be told to continue (a fixed-horizon test would have shipped:
    examples/generate_running.py)."""
    events, dones = converse(RUNNING)
    power = finished(events, "power").result
    assert power is not None and power["sequential"]["looks"] == 5 and power["n_total"] == 17_202
    assert power["summary"] in dones[-1].text and "maximum" in dones[-1].text
    assert "reply_suggestions" in dones[-1].text  # attached (running_experiment.csv); the user names it
    events, dones = converse([*RUNNING, "reply_suggestions", "ok"])
    run = finished(events, "ab_test")
    assert run.error is None and run.result is not None
    result = run.result
    primary = result["comparisons"][0]
    assert primary["metric"] == "replied" and primary["sequential"]["decision"] == "continue to look 3 of 5"
    assert result["decision"] == "continue" and not primary["sequential"]["crossed"]
    assert primary["p_value_raw"] < 0.05  # what a fixed-horizon test would have called significant
    assert "continue to look 3 of 5" in dones[-1].text
    assert "look 2 of 5" in dones[-1].text  # 6,882 users of the planned 17,202: look 2's data
    assert all(d.unverified == () and d.claims == () for d in dones)
