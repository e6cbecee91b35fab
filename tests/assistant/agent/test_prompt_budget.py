"""The first request stays small: system prompt plus every tool schema within the budget (issue: <= 6,000 tokens).

No tokenizer ships offline (tiktoken downloads its vocabulary at run time), so the budget is checked in
characters at a conservative 3.5 characters per token for JSON-heavy text (OpenAI's rule of thumb is 4).
"""

from __future__ import annotations

import json

from assistant.agent.conversation import system_prompt
from assistant.schemas import all_tool_schemas, update_brief_schema, write_prereg_schema

TOKEN_BUDGET = 6_000
CHARS_PER_TOKEN = 3.5


def first_request_chars() -> int:
    tools = [*all_tool_schemas(), update_brief_schema(), write_prereg_schema()]
    return len(system_prompt()) + sum(len(json.dumps(t, separators=(",", ":"))) for t in tools)


def test_first_request_fits_the_token_budget() -> None:
    chars = first_request_chars()
    assert chars / CHARS_PER_TOKEN <= TOKEN_BUDGET, f"{chars} characters ≈ {chars / CHARS_PER_TOKEN:.0f} tokens"


def test_the_system_prompt_holds_the_scoping_and_method_guides() -> None:
    text = system_prompt()
    assert "Never compute" in text and "six slots" in text and "recommend_method" in text
    assert not any(ch.isdigit() and ch not in "123456" for ch in text)  # no example numbers for the model to copy
