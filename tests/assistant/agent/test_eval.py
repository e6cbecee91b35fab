"""``whyscope eval``: scenario files, the simulated user, the runner's scores and the command (issue 25).

The shipped suite itself runs with the guided mode in ``test_eval_suite.py``; here the runner is checked on small
scenarios with scripted backends: a model that answers without a tool (the SmolLM2 case), a model that calls the
tools over the real OpenAI protocol (respx), one that sends malformed calls, and a backend that crashes."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import respx

from assistant.agent.backends import AssistantTurn, OpenAIBackend, OpenAISettings
from assistant.agent.conversation import system_prompt
from assistant.agent.stream import ToolCallDraft
from assistant.cli import main
from assistant.eval.report import table, to_json
from assistant.eval.runner import SimulatedUser, _subset, run_scenario, run_suite
from assistant.eval.scenario import ScenarioError, load_scenario, load_scenarios
from tests.assistant.agent.conftest import BASE_URL, sse, text_stream, tool_call_stream

RECOMMEND = {
    "can_randomize": True,
    "assignment": "random",
    "has_pre_period_data": None,
    "pre_periods": None,
    "treated_units": None,
    "control_units": None,
    "observed_confounders": None,
    "interference": False,
    "goal": None,
}
AB_TEST = {"dataset": "checkout", "arm_column": "arm", "metrics": [{"name": "converted", "kind": "binary"}]}

SCENARIO = """
name = "{name}"
title = "A PM with a finished checkout test"
persona = "Product manager."
covers = ["ab_test"]
guided = true
data = ["checkout"]
opening = "Did the new checkout raise conversion?"
max_turns = 4
fallback = ["The data are attached as 'checkout'."]

[[reply]]
when = "which metric"
say = "converted"

[expect]
slots = []
design = "ab_test"

[[expect.call]]
tool = "ab_test"
args = {{ dataset = "checkout", metrics = [{{ name = "converted" }}] }}

[[expect.no_call]]
tool = "diff_in_diff"
"""


def write(folder: Path, text: str, name: str = "mini") -> Path:
    path = folder / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


class Scripted:
    """A backend that answers each call with the next turn of a script (then repeats the last one)."""

    name = "scripted"

    def __init__(self, turns: Sequence[AssistantTurn]) -> None:
        self.turns = list(turns)
        self.requests: list[list[Mapping[str, Any]]] = []

    def complete(
        self, messages: Sequence[Mapping[str, Any]], tools: Sequence[Mapping[str, Any]], on_text: Callable[[str], None]
    ) -> AssistantTurn:
        self.requests.append(list(messages))
        turn = self.turns.pop(0) if len(self.turns) > 1 else self.turns[0]
        if turn.text:
            on_text(turn.text)
        return turn


# -- scenario files ------------------------------------------------------------------------------------------------


def test_a_scenario_file_reads_with_its_rules_and_expectations(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, SCENARIO.format(name="mini")))
    assert scenario.name == "mini" and scenario.data == ("checkout",) and scenario.max_turns == 4
    assert scenario.reply[0].when == "which metric" and scenario.reply[0].times == 1
    assert scenario.expect.call[0].args == {"dataset": "checkout", "metrics": [{"name": "converted"}]}
    assert scenario.expect.slots == () and scenario.folder == tmp_path


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda t: t.replace('name = "mini"', 'name = "other"'), "name the file other.toml"),
        (lambda t: t.replace('when = "which metric"', 'when = "which (metric"'), "reply.0.when"),
        (lambda t: t.replace("slots = []", 'slots = ["outcomes"]'), "unknown slot(s) outcomes"),
        (lambda t: t.replace("max_turns = 4", "max_turns = 4\nmood = 'calm'"), "mood: Extra inputs"),
        (lambda t: t.replace('covers = ["ab_test"]', "covers = []"), "covers"),
        (lambda t: t.replace('opening = "', 'opening = """'), "cannot be read"),
    ],
)
def test_a_broken_scenario_file_is_named_with_what_is_wrong(
    tmp_path: Path, change: Callable[[str], str], problem: str
) -> None:
    path = write(tmp_path, change(SCENARIO.format(name="mini")))
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert str(caught.value).startswith("mini.toml: ") and problem in str(caught.value)


def test_an_unknown_scenario_name_lists_the_known_ones(tmp_path: Path) -> None:
    write(tmp_path, SCENARIO.format(name="mini"))
    with pytest.raises(ScenarioError, match=r"No scenario named nope\. Known: mini"):
        load_scenarios(["nope"], tmp_path)


# -- the simulated user ----------------------------------------------------------------------------------------------


def test_the_user_answers_the_question_the_message_ends_on(tmp_path: Path) -> None:
    text = SCENARIO.format(name="mini").replace(
        '[[reply]]\nwhen = "which metric"\nsay = "converted"',
        '[[reply]]\nwhen = "a/a check"\nsay = "no"\n\n[[reply]]\nwhen = "split"\nsay = "even"\ntimes = 2'
        '\n\n[[reply]]\nwhen = "which metric"\nsay = "converted"',
    )
    user = SimulatedUser(load_scenario(write(tmp_path, text)))
    # the last paragraph no rule matches; in the one before, "a/a check" is written before "split" and wins
    assert user.reply("Do you want an A/A check? I would split the data.\n\nReply yes or no.") == "no"
    assert user.reply("Was the split planned?") == "even"
    # earlier paragraphs matter only when the later ones match nothing
    assert user.reply("The split was even.\n\nWhich metric should I use?") == "converted"
    assert user.reply("Was the split planned?") == "even"  # times = 2
    assert user.reply("Was the split planned?") == "The data are attached as 'checkout'."  # rules used up: fallback
    assert user.reply("Anything else?") is None  # nothing left to say


@pytest.mark.parametrize(
    ("expected", "actual", "matches"),
    [
        ({"dataset": "Checkout"}, {"dataset": "checkout", "alpha": 0.05}, True),
        ({"metrics": [{"name": "converted"}]}, {"metrics": [{"name": "revenue"}, {"name": "converted"}]}, True),
        ({"metrics": [{"name": "converted"}]}, {"metrics": [{"name": "revenue"}]}, False),
        ({"looks": 5}, {"looks": 5.0}, True),
        ({"randomized": True}, {"randomized": 1}, False),
        ({"dataset": "checkout"}, "not json", False),
        ({}, {"anything": 1}, True),
    ],
)
def test_expected_arguments_match_as_a_subset(expected: Any, actual: Any, matches: bool) -> None:
    assert _subset(expected, actual) is matches


# -- the runner's scores ---------------------------------------------------------------------------------------------


def test_a_model_that_answers_without_a_tool_fails_on_every_count(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, SCENARIO.format(name="mini")))
    model = Scripted([AssistantTurn(text="Yes, checkout conversion went up by 5%.", finish_reason="stop")])
    score = run_scenario(scenario, lambda catalog: model, "smollm")
    assert not score.passed and score.turns == 2  # the opening, then the fallback; then the user has nothing left
    assert score.stopped == "the simulated user had no answer to the last message"
    assert score.unverified_numbers == ["5%", "5%"]
    assert score.design is None and score.calls_missing == ['ab_test({"dataset": "checkout", "metrics": [{"name": '
                                                            '"converted"}]})']  # fmt: skip
    assert any(p.startswith("design: expected ab_test, got no recommend_method") for p in score.problems)
    assert score.tools_called == [] and score.model_calls == 2
    assert score.sent_chars > 0 and score.tokens == round((score.sent_chars + score.received_chars) / 4)


def test_a_model_that_calls_the_tools_over_the_openai_protocol_passes(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, SCENARIO.format(name="mini")))
    with respx.mock(base_url=BASE_URL, assert_all_mocked=True) as router:
        route = router.post("/chat/completions")
        route.side_effect = [
            sse(tool_call_stream(("call_1", "recommend_method", RECOMMEND))),
            sse(tool_call_stream(("call_2", "ab_test", AB_TEST))),
            sse(text_stream("Decision: inconclusive. ", "The difference is not significant.")),
        ]
        settings = OpenAISettings(model="m", api_key="sk-test-not-a-real-key", base_url=BASE_URL)
        score = run_scenario(scenario, lambda catalog: OpenAIBackend(settings), "m")
        assert route.call_count == 3
    assert score.passed, score.problems
    assert score.design == "ab_test" and score.tools_called == ["recommend_method", "ab_test"]
    assert score.stopped == "every expected call succeeded" and score.turns == 1
    assert score.schema_errors == score.retries == score.loops == 0
    assert score.model_calls == 3 and score.tokens > 1000  # the tool schemas alone are thousands of characters


def test_malformed_calls_and_retries_are_counted_and_a_recovered_run_passes(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, SCENARIO.format(name="mini")))

    def call(name: str, arguments: Any, call_id: str) -> AssistantTurn:
        text = arguments if isinstance(arguments, str) else json.dumps(arguments)
        return AssistantTurn(tool_calls=[ToolCallDraft(call_id, name, text)], finish_reason="tool_calls")

    model = Scripted(
        [
            call("recommend_method", RECOMMEND, "c1"),
            call("ab_test", {**AB_TEST, "arm_column": "group"}, "c2"),  # no such column: the tool refuses
            call("ab_test", {**AB_TEST, "alpha": "five"}, "c3"),  # invalid arguments
            call("ab_test", AB_TEST, "c4"),
            AssistantTurn(text="Decision: inconclusive.", finish_reason="stop"),
        ]
    )
    score = run_scenario(scenario, lambda catalog: model, "m")
    assert score.passed, score.problems
    assert score.schema_errors == 1 and score.retries == 2 and score.loops == 0
    assert score.tools_called == ["recommend_method", "ab_test", "ab_test", "ab_test"]


def test_a_forbidden_call_and_a_forbidden_claim_fail_the_scenario(tmp_path: Path) -> None:
    forbid = 'design = "ab_test"\nclaims = ["\\\\bship it\\\\b"]'
    text = SCENARIO.format(name="mini").replace('design = "ab_test"', forbid)
    scenario = load_scenario(write(tmp_path, text))
    did = {"dataset": "checkout", "unit_column": "user_id", "time_column": "sessions", "treatment_column": "arm",
           "outcome_column": "revenue"}  # fmt: skip
    model = Scripted(
        [
            AssistantTurn(tool_calls=[ToolCallDraft("c0", "diff_in_diff", json.dumps(did))]),
            AssistantTurn(tool_calls=[ToolCallDraft("c1", "recommend_method", json.dumps(RECOMMEND))]),
            AssistantTurn(tool_calls=[ToolCallDraft("c2", "ab_test", json.dumps(AB_TEST))]),
            AssistantTurn(text="Ship it!", finish_reason="stop"),
        ]
    )
    score = run_scenario(scenario, lambda catalog: model, "m")
    assert not score.passed
    assert score.calls_forbidden == ["diff_in_diff"] and score.schema_errors == 1  # refused: not offered yet
    assert "'Ship it': the scenario forbids it" in score.claims


def test_a_crashing_backend_is_scored_and_the_suite_goes_on(tmp_path: Path) -> None:
    first = load_scenario(write(tmp_path, SCENARIO.format(name="first"), "first"))
    second = load_scenario(write(tmp_path, SCENARIO.format(name="second").replace("guided = true", "guided = false"),
                                 "second"))  # fmt: skip

    def broken(catalog: Any) -> Any:
        raise RuntimeError("no backend today")

    scores = run_suite([first, second], broken, "broken")
    assert [s.passed for s in scores] == [False, False]
    assert scores[0].problems[0] == "crashed: RuntimeError: no backend today" and scores[0].stopped == "crashed"
    guided = run_suite([first, second], broken, "guided", guided=True)
    assert guided[1].ran is False and guided[1].stopped == "not meant for guided"
    shown = table(guided)
    assert re.search(r"^second +n/a", shown, re.M) and "guided: 0 of 1 scenarios passed, 1 not meant for it" in shown
    payload = json.loads(to_json(scores))
    assert payload["scenarios"][0]["problems"] == ["crashed: RuntimeError: no backend today"]


# -- the command -----------------------------------------------------------------------------------------------------


def test_eval_lists_runs_and_writes_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, SCENARIO.format(name="mini"))
    assert main(["eval", "--folder", str(tmp_path), "--list"]) == 0
    assert capsys.readouterr().out == "mini  [guided; ab_test]  A PM with a finished checkout test\n"
    out = tmp_path / "scores.json"
    code = main(["eval", "--offline", "--folder", str(tmp_path), "--json", str(out)])
    printed = capsys.readouterr()
    assert "[eval] mini: FAIL" in printed.err  # the guided mode asks its own questions: these rules do not answer them
    assert code == 1 and "guided: 0 of 1 scenarios passed" in printed.out
    saved = json.loads(out.read_text(encoding="utf-8"))
    assert saved["backend"] == "guided" and saved["scenarios"][0]["turns"] == 3
    assert saved["scenarios"][0]["stopped"] == "the simulated user had no answer to the last message"
    assert saved["scenarios"][0]["transcript"][0]["content"].startswith("Guided mode")
    assert main(["eval", "--offline", "--folder", str(tmp_path), "--json", str(out)]) == 2  # never overwrites


def test_eval_without_a_model_says_how_to_get_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.setenv("OPENAI_BASE_URL", "https://api.example.com/v1")
    assert main(["eval", "--scenario", "checkout_ab"]) == 2
    err = capsys.readouterr().err
    assert "No model to evaluate" in err and "--offline" in err and "--base-url" in err


def test_eval_refuses_an_unknown_scenario_and_a_missing_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["eval", "--offline", "--scenario", "no_such_scenario"]) == 2
    assert "No scenario named no_such_scenario. Known: " in capsys.readouterr().err
    assert main(["eval", "--offline", "--folder", str(tmp_path / "nowhere")]) == 2
    assert "is not a folder of scenario files" in capsys.readouterr().err


def test_small_model_mode_sends_the_short_prompt_and_fewer_tools(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, SCENARIO.format(name="mini")))
    sizes = {}
    for small in (False, True):
        model = Scripted([AssistantTurn(text="Which metric should show it worked?", finish_reason="stop")])
        score = run_scenario(scenario, lambda catalog, m=model: m, "m", small_model=small)  # type: ignore[misc]
        sizes[small] = score.sent_chars
        system = model.requests[0][0]["content"]
        assert system.startswith(system_prompt(small=small)) and "\u27e6checkout\u27e7" in system  # + the data
    assert sizes[True] < sizes[False] / 2  # a third of the characters per request, or less


def test_a_pre_registration_left_open_fails_a_scenario_that_needs_it(tmp_path: Path) -> None:
    text = SCENARIO.format(name="mini").replace('design = "ab_test"', 'design = "ab_test"\nprereg_complete = true')
    scenario = load_scenario(write(tmp_path, text))
    assert scenario.expect.prereg_complete
    model = Scripted(
        [
            AssistantTurn(tool_calls=[ToolCallDraft("c1", "recommend_method", json.dumps(RECOMMEND))]),
            AssistantTurn(tool_calls=[ToolCallDraft("c2", "ab_test", json.dumps(AB_TEST))]),
            AssistantTurn(text="Decision: inconclusive.", finish_reason="stop"),
        ]
    )
    score = run_scenario(scenario, lambda catalog: model, "m")
    assert not score.passed and "hypotheses" in score.prereg_open
    assert any(p.startswith("pre-registration items left open: ") for p in score.problems)
