"""The first request stays small: system prompt plus the tool schemas it offers within the budget (issue: <= 6,000
tokens). Design tools join later requests (assistant.agent.toolsets); the request that offers every tool is
reported beside it.

No tokenizer ships offline (tiktoken downloads its vocabulary at run time), so the budget is checked in
characters at a conservative 3.5 characters per token for JSON-heavy text (OpenAI's rule of thumb is 4).

The first request carries no ``write_prereg`` (it joins once a slot of the brief is filled or a pre-registration is
spoken of) and no quasi-experimental sizing in ``power`` (``design`` joins with the DiD, RDD and synthetic-control
tools): issue 26's added fields would otherwise have taken the request to 23,970 characters. Measured then:
19,998 characters (with ab_test's quantile and bootstrap fields still being added).

Small-model mode (issue 25) has a budget of its own: its first request (the short prompt, ``recommend_method`` and
``update_brief``) within 8,000 characters, about 2,300 tokens, so an 8k-token model keeps most of its window for
the conversation. Measured when it was set: normal 20,999 characters (about 6,000 tokens), small 5,518 (about
1,580).
"""

from __future__ import annotations

import json
from typing import Any

from assistant.agent.backends import AssistantTurn
from assistant.agent.conversation import Conversation, system_prompt
from assistant.schemas import all_tool_schemas, update_brief_schema, write_prereg_schema

TOKEN_BUDGET = 6_000
CHARS_PER_TOKEN = 3.5
#: Small-model mode's first request, in characters of system prompt and schemas as sent.
SMALL_CHAR_BUDGET = 8_000


def request_chars(tools: list[dict[str, Any]]) -> int:
    return len(system_prompt()) + sum(len(json.dumps(t, separators=(",", ":"))) for t in tools)


def first_request_tools() -> list[dict[str, Any]]:
    """What the conversation sends with the user's first message."""
    sent: list[list[dict[str, Any]]] = []

    class Recorder:
        name = "recorder"

        def complete(self, messages: Any, tools: Any, on_text: Any) -> AssistantTurn:
            sent.append(list(tools))
            return AssistantTurn(text="ok", finish_reason="stop")

    Conversation(Recorder()).send("We changed the checkout button; did it work?", lambda event: None)
    return sent[0]


def test_first_request_fits_the_token_budget() -> None:
    tools = first_request_tools()
    names = [t["function"]["name"] for t in tools]
    assert names == ["power", "ab_test", "recommend_method", "update_brief"]
    chars = request_chars(tools)
    assert chars / CHARS_PER_TOKEN <= TOKEN_BUDGET, f"{chars} characters ≈ {chars / CHARS_PER_TOKEN:.0f} tokens"
    power = next(t for t in tools if t["function"]["name"] == "power")["function"]["parameters"]
    assert "design" not in power["properties"] and "$defs" not in power  # the quasi-experimental sizing waits


def requests_for(*messages: str) -> list[list[dict[str, Any]]]:
    """The tool schemas sent with each of the user's messages (the model answers each with text)."""
    sent: list[list[dict[str, Any]]] = []

    class Recorder:
        name = "recorder"

        def complete(self, messages: Any, tools: Any, on_text: Any) -> AssistantTurn:
            sent.append(list(tools))
            return AssistantTurn(text="ok", finish_reason="stop")

    chat = Conversation(Recorder())
    for message in messages:
        chat.send(message, lambda event: None)
    return sent


def test_write_prereg_joins_when_a_pre_registration_is_spoken_of() -> None:
    (first,) = requests_for("Help me pre-register the checkout experiment before launch.")
    assert [t["function"]["name"] for t in first][-1] == "write_prereg"


def test_powers_design_field_joins_with_a_quasi_experimental_design() -> None:
    first, second = requests_for(
        "We changed the checkout button; did it work?", "We rolled it out region by region: difference-in-differences?"
    )
    assert "diff_in_diff" not in [t["function"]["name"] for t in first]
    power = next(t for t in second if t["function"]["name"] == "power")["function"]["parameters"]
    assert "diff_in_diff" in [t["function"]["name"] for t in second]
    assert "design" in power["properties"] and "design" in power["required"] and "QuasiDesign" in power["$defs"]
    # the full schema is the pinned one: what the model is offered once the design is on the table
    from assistant.schemas import tool_schema

    assert power == tool_schema("power")["function"]["parameters"]


def test_every_registered_tool_has_a_schema_the_conversation_can_offer() -> None:
    every = [*all_tool_schemas(), update_brief_schema(), write_prereg_schema()]
    assert {t["function"]["name"] for t in every} >= {"power", "ab_test", "recommend_method", "write_prereg"}


def test_the_system_prompt_holds_the_scoping_and_method_guides() -> None:
    text = system_prompt()
    assert "Never compute" in text and "six slots" in text and "recommend_method" in text
    assert not any(ch.isdigit() and ch not in "123456" for ch in text)  # no example numbers for the model to copy


def first_request(*, small: bool) -> tuple[str, list[dict[str, Any]]]:
    """The system prompt and the tool schemas the conversation sends with the user's first message."""
    sent: list[tuple[str, list[dict[str, Any]]]] = []

    class Recorder:
        name = "recorder"

        def complete(self, messages: Any, tools: Any, on_text: Any) -> AssistantTurn:
            sent.append((messages[0]["content"], list(tools)))
            return AssistantTurn(text="ok", finish_reason="stop")

    Conversation(Recorder(), small_model=small).send("We changed the checkout button; did it work?", lambda e: None)
    return sent[0]


def sent_chars(system: str, tools: list[dict[str, Any]]) -> int:
    return len(system) + sum(len(json.dumps(t, separators=(",", ":"))) for t in tools)


def test_small_model_mode_first_request_fits_its_budget() -> None:
    system, tools = first_request(small=True)
    assert [t["function"]["name"] for t in tools] == ["recommend_method", "update_brief"]
    assert system == system_prompt(small=True)
    chars = sent_chars(system, tools)
    assert chars <= SMALL_CHAR_BUDGET, f"{chars} characters ≈ {chars / CHARS_PER_TOKEN:.0f} tokens"
    normal = sent_chars(*first_request(small=False))
    assert normal == request_chars(first_request_tools())  # the normal request is the one budgeted above
    assert chars <= normal * 0.3, f"small {chars} vs normal {normal} characters"  # the point of the mode


def test_the_small_prompt_keeps_the_rules_that_matter() -> None:
    text = system_prompt(small=True)
    assert "Never compute" in text and "six slots" in text and "one question at a time" in text
    assert all(slot in text for slot in ("intervention", "outcome", "population", "unit", "counterfactual", "decision"))
    assert "update_brief" in text and "recommend_method" in text and "⟦" in text
    assert not any(ch.isdigit() and ch not in "123456" for ch in text)  # no example numbers for the model to copy
    assert len(text) < len(system_prompt()) / 2
