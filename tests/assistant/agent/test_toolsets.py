"""Design tools join the request once the conversation reaches them."""

from __future__ import annotations

from assistant.agent.toolsets import ALWAYS, offered
from tools.registry import tool_names

REGISTERED = tool_names()


def test_the_first_request_offers_the_scoping_tools_only() -> None:
    assert offered([{"role": "user", "content": "We changed the checkout button."}], REGISTERED) == [
        "power",
        "ab_test",
        "recommend_method",
    ]
    assert set(ALWAYS) <= set(REGISTERED)


def test_naming_a_design_offers_its_tool_and_refute() -> None:
    said = [{"role": "user", "content": "We rolled out the fraud model region by region."}]
    assert offered(said, REGISTERED) == ["power", "ab_test", "diff_in_diff", "refute", "recommend_method"]
    cutoff = [{"role": "user", "content": "Users get the paywall after a cutoff of free queries."}]
    assert "rdd" in offered(cutoff, REGISTERED)
    # the English "did" is not a design, and a word inside another word does not count
    assert offered([{"role": "user", "content": "What did it do? To be candid, we just launched it."}], REGISTERED) == [
        "power",
        "ab_test",
        "recommend_method",
    ]


def test_a_recommendation_and_an_earlier_call_offer_their_tools() -> None:
    from assistant.agent.runner import ToolRunner

    runner = ToolRunner()
    run = runner.run("recommend_method", {"assignment": "self_selected"})  # a real result: propensity is possible
    proposed = {r.tool: r.suitability for r in run.outcome.recommendations}  # type: ignore[union-attr]
    assert proposed.get("propensity") in ("recommended", "possible") and "rdd" not in proposed
    messages = [
        {"role": "user", "content": "Users chose it."},
        {"role": "assistant", "content": "", "tool_calls": [{"id": "1", "function": {"name": "recommend_method"}}]},
        {"role": "tool", "tool_call_id": "1", "content": run.for_model()},
    ]
    assert "propensity" not in offered(messages, REGISTERED)  # the words alone do not bring it in
    names = offered(messages, REGISTERED, runner.runs)
    assert "propensity" in names and "refute" in names and "rdd" not in names
    # a call the model only attempted does not open the gate (it was refused); a run does (e.g. the user's /run)
    called = [{"role": "assistant", "content": None, "tool_calls": [{"id": "2", "function": {"name": "rdd"}}]}]
    assert "rdd" not in offered(called, REGISTERED)
    ran = ToolRunner()
    ran.run("rdd", "{}")
    assert "rdd" in offered(called, REGISTERED, ran.runs)
    failed = ToolRunner()
    failed.run("recommend_method", "not json {")
    assert offered([], REGISTERED, failed.runs) == ["power", "ab_test", "recommend_method"]
