"""The LLM protocol faults of RELIABILITY.md (L1-L15, X5) and issue 16's protocol items, against scripted backends,
respx and the stream reader itself: whatever a model or server sends, no exception escapes, nothing refused stays in
the history, and every tool call is answered under a unique id.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assistant.agent.backends import AssistantTurn, BackendError, OpenAIBackend, retry_after
from assistant.agent.conversation import Conversation, Done, Event, Failed, Notice, ToolFinished
from assistant.agent.session import SessionStore, load_session
from assistant.agent.sse import ResponseReader
from assistant.agent.stream import StreamAccumulator, ToolCallDraft
from assistant.agent.tool_calls import MAX_CALLS_PER_MESSAGE, PLACEHOLDER
from tests.assistant.agent.conftest import error_response, sse, text_stream, tool_call_stream
from tests.assistant.agent.test_chaos_http import assert_sound

POWER = '{"metric": "proportion", "baseline": 0.1, "mde": 0.1, "mde_kind": "relative"}'


class Scripted:
    """Plays back turns; keeps the messages and the offered tool names of every request."""

    name = "scripted"

    def __init__(self, *turns: AssistantTurn) -> None:
        self.turns = list(turns)
        self.sent: list[list[dict[str, Any]]] = []
        self.offered: list[list[str]] = []

    def complete(
        self, messages: Sequence[dict[str, Any]], tools: Sequence[Mapping[str, Any]], on_text: Callable[[str], None]
    ) -> AssistantTurn:
        self.sent.append(json.loads(json.dumps(list(messages))))
        self.offered.append([t["function"]["name"] for t in tools])
        turn = self.turns.pop(0) if self.turns else AssistantTurn(text="ok", finish_reason="stop")
        on_text(turn.text)
        return turn


def calls(*pairs: tuple[str, str], ids: Sequence[str] = ()) -> AssistantTurn:
    drafts = [
        ToolCallDraft(id=ids[i] if i < len(ids) else f"c{i}", name=name, arguments=arguments)
        for i, (name, arguments) in enumerate(pairs)
    ]
    return AssistantTurn(tool_calls=drafts, finish_reason="tool_calls")


def say(text: str) -> AssistantTurn:
    return AssistantTurn(text=text, finish_reason="stop")


def talk(conversation: Conversation, text: str) -> tuple[Done, list[Event]]:
    events: list[Event] = []
    return conversation.send(text, events.append), events


def finished(events: Sequence[Event]) -> list[ToolFinished]:
    return [e for e in events if isinstance(e, ToolFinished)]


def codes(events: Sequence[Event]) -> list[str | None]:
    return [e.error["code"] if e.error else None for e in finished(events)]


# -- item 4 / L6: the final round ------------------------------------------------------------------------------


def test_calls_in_the_final_round_are_answered_not_run_and_the_turn_ends() -> None:
    """A server that ignores ``tools=[]`` once raised ``AssertionError: unreachable``."""
    backend = Scripted(*[calls(("power", POWER), ids=["same"])] * 3)
    conversation = Conversation(backend, max_rounds=2)
    done, events = talk(conversation, "size it")
    assert codes(events) == [None, None, "round_limit"]
    assert [f.kind for f in events if isinstance(f, Failed)] == ["round_limit"] and not done.complete
    assert backend.offered[-1] == [] and len(conversation.runs) == 2  # the third call never ran
    assert_sound(conversation.messages)
    assert talk(conversation, "and now?")[0].text == "ok"  # the conversation goes on


def test_an_interrupted_turn_leaves_no_call_unanswered() -> None:
    """Ctrl-C (or a bug) in the middle of a tool run: the calls made so far are answered before it propagates."""

    class Interrupting(Scripted):
        def complete(self, messages: Sequence[dict[str, Any]], *args: Any) -> AssistantTurn:
            if messages[-1]["role"] == "tool":
                raise KeyboardInterrupt
            return super().complete(messages, *args)

    conversation = Conversation(Interrupting(calls(("power", POWER), ("power", POWER))))
    with pytest.raises(KeyboardInterrupt):
        talk(conversation, "size it")
    assert_sound(conversation.messages)


# -- item 2: unique ids ------------------------------------------------------------------------------------------


def test_a_reused_tool_call_id_is_renamed_and_answered_under_its_new_name() -> None:
    earlier = {"id": "call_1_0", "type": "function", "function": {"name": "power", "arguments": POWER}}
    resumed: list[dict[str, Any]] = [
        {"role": "user", "content": "earlier"},
        {"role": "assistant", "content": None, "tool_calls": [earlier]},
        {"role": "tool", "tool_call_id": "call_1_0", "content": "{}"},
    ]
    backend = Scripted(calls(("power", POWER), ("update_brief", "{}"), ids=["call_1_0", "call_1_0"]), say("ok"))
    conversation = Conversation(backend, messages=resumed)
    _, events = talk(conversation, "again")
    ids = [e.call_id for e in finished(events)]
    assert "call_1_0" not in ids and len(set(ids)) == 2
    sent = backend.sent[-1]
    assert [m["tool_call_id"] for m in sent if m["role"] == "tool"][1:] == ids  # each answer under its new id
    assert_sound(sent)


# -- X5 / item 14: the phase gate --------------------------------------------------------------------------------


def test_a_tool_not_offered_in_this_request_is_refused_and_nothing_runs() -> None:
    refute = '{"target_tool": "ab_test", "request": {}}'
    backend = Scripted(calls(("refute", refute), ("power", POWER)), say("ok"))
    conversation = Conversation(backend)
    _, events = talk(conversation, "Is our A/B result real?")
    assert "refute" not in backend.offered[0] and "power" in backend.offered[0]
    refused, _ = finished(events)
    assert refused.error is not None and refused.error["code"] == "not_offered"
    assert "not available yet" in refused.error["message"] and "power" in refused.error["hint"]
    assert [r.name for r in conversation.runs] == ["power"]  # refute never ran, nor was recorded
    assert "refute" not in backend.offered[1]  # a refused call does not open the gate
    assert_sound(conversation.messages)


# -- item 16 / L1: refused arguments leave the history -----------------------------------------------------------


def test_refused_arguments_are_not_kept_in_the_history_nor_the_session(tmp_path: Path) -> None:
    huge = json.dumps({"metric": "proportion", "note": "x" * 1_000_000})
    deep = "[" * 5000 + "]" * 5000
    backend = Scripted(
        calls(("power", huge), ("power", deep), ("update_brief", '{"slot": "unit"'), ("power", "[1, 2]")),
        say("ok"),
        say("still ok"),
    )
    store = SessionStore(tmp_path / "session.jsonl")
    conversation = Conversation(backend, store=store)
    _, events = talk(conversation, "size it")
    assert codes(events) == ["invalid_json"] * 4
    messages = [e.error["message"] for e in finished(events) if e.error]
    assert "1,000,0" in messages[0] and "nested more than" in messages[1] and '\'{"slot": "unit"\'' in messages[2]
    assert "not an object" in messages[3]
    kept = [c["function"]["arguments"] for c in conversation.messages[2]["tool_calls"]]
    assert kept == [PLACEHOLDER] * 4
    talk(conversation, "and?")
    assert max(len(json.dumps(request)) for request in backend.sent[1:]) < 60_000  # no 1 MB request after the first
    store.close()
    assert (tmp_path / "session.jsonl").stat().st_size < 60_000
    resumed = load_session(tmp_path / "session.jsonl").messages
    assert all(len(json.dumps(m)) < 20_000 for m in resumed)


def test_malformed_arguments_are_repaired_at_most_twice() -> None:
    """L1: the model sees ``invalid_json`` (with the start of what it sent); after two repairs the turn stops."""
    backend = Scripted(*[calls(("power", '{"metric": "propor'), ids=[f"m{i}"]) for i in range(4)])
    done, events = talk(Conversation(backend), "size it")
    assert codes(events) == ["invalid_json"] * 3
    assert [e.kind for e in events if isinstance(e, Failed)] == ["malformed_tool_calls"] and not done.complete
    assert len(backend.sent) == 3


# -- item 20 (part): parallel calls per message ------------------------------------------------------------------


def test_at_most_eight_calls_run_per_message_and_every_call_is_answered() -> None:
    many = [("power", POWER.replace("0.1,", f"0.{10 + i},", 1)) for i in range(50)]
    backend = Scripted(calls(*many), say("ok"))
    conversation = Conversation(backend)
    _, events = talk(conversation, "size them all")
    results = codes(events)
    assert results[:MAX_CALLS_PER_MESSAGE] == [None] * MAX_CALLS_PER_MESSAGE
    assert results[MAX_CALLS_PER_MESSAGE:] == ["too_many_calls"] * (50 - MAX_CALLS_PER_MESSAGE)
    assert len(conversation.runs) == MAX_CALLS_PER_MESSAGE
    assert "had 50" in str(finished(events)[-1].error)
    assert_sound(conversation.messages)


# -- L10, L11, L15: refusals, text that looks like a call, a context too long ------------------------------------


def test_a_refusal_is_shown_once_and_not_retried() -> None:
    backend = Scripted(AssistantTurn(refusal="I can't help with that.", finish_reason="stop"))
    done, events = talk(Conversation(backend), "hi")
    assert "I can't help with that." in [e.message for e in events if isinstance(e, Notice)]
    assert len(backend.sent) == 1 and not done.complete


def test_json_in_text_is_never_run_as_a_call() -> None:
    text = '{"name": "power", "arguments": ' + POWER + "}"
    done, events = talk(Conversation(Scripted(say(text))), "size it")
    assert done.text == text and not finished(events)


def test_a_context_too_long_drops_the_oldest_whole_turns_once(llm: respx.Route, backend: OpenAIBackend) -> None:
    """L15: a 400 context_length_exceeded drops the oldest turns (calls with their answers) and retries once."""
    message = "This model's maximum context length is 8192 tokens"
    too_long = httpx.Response(400, json={"error": {"message": message, "code": "context_length_exceeded"}})
    llm.side_effect = [
        sse(tool_call_stream(("a", "power", json.loads(POWER)))),
        sse(text_stream("Sized.")),
        sse(text_stream("Second.")),
        too_long,
        sse(text_stream("Third.")),
    ]
    conversation = Conversation(backend)
    talk(conversation, "first " + "x" * 5000)
    talk(conversation, "second")
    done, events = talk(conversation, "third")
    assert done.text == "Third." and any("oldest 1 turn" in e.message for e in events if isinstance(e, Notice))
    retried = json.loads(llm.calls[-1].request.content)["messages"]
    assert [m["content"] for m in retried if m["role"] == "user"] == ["second", "third"]
    assert_sound(retried)


# -- L12, N2, N3: what the server refuses ------------------------------------------------------------------------


def test_parallel_tool_calls_is_dropped_once_for_servers_that_reject_it(llm: respx.Route) -> None:
    from assistant.agent.backends import OpenAISettings
    from tests.assistant.agent.conftest import BASE_URL

    settings = OpenAISettings(model="m", api_key="sk-test-not-a-real-key", base_url=BASE_URL, parallel_tool_calls=False)
    llm.side_effect = [error_response(400, "parallel_tool_calls is not supported"), sse(text_stream("ok"))]
    done, _ = talk(Conversation(OpenAIBackend(settings, http_client=httpx.Client())), "hi")
    assert done.text == "ok" and "parallel_tool_calls" not in json.loads(llm.calls[1].request.content)


# -- the stream reader and the accumulator never raise for what a server sends -----------------------------------

_KEYS = st.sampled_from(["choices", "delta", "content", "tool_calls", "function", "arguments", "index", "id", "name"])
_CHUNK = st.recursive(
    st.none() | st.booleans() | st.integers(-2, 2) | st.sampled_from(["", "x", "{", "call_1"]),
    lambda children: st.dictionaries(_KEYS, children, max_size=3) | st.lists(children, max_size=2),
    max_leaves=10,
)


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.dictionaries(_KEYS, _CHUNK, max_size=3), max_size=6))
def test_the_accumulator_takes_any_chunk(chunks: list[dict[str, Any]]) -> None:
    accumulator = StreamAccumulator()
    for chunk in chunks:
        assert isinstance(accumulator.add(chunk), str)
    assert all(isinstance(c.arguments, str) and isinstance(c.id, str) for c in accumulator.finished_calls())


_LINE = st.one_of(
    st.just(""),
    st.just("data: [DONE]"),
    st.builds(lambda v: "data: " + json.dumps(v), _CHUNK),
    st.builds(lambda t: "data: " + t, st.text(max_size=20)),
    st.text(max_size=20),
    st.sampled_from(["event: error", ": keep-alive", "<html>", '{"hello": "world"}']),
)


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_LINE, max_size=8), st.sampled_from(["end", "cut", "stall"]))
def test_the_reader_gives_a_turn_or_a_backend_error_for_any_body(lines: list[str], ending: str) -> None:
    """N7/L13: any body is an answer (perhaps marked incomplete) or a BackendError that names the server."""
    endings: dict[str, tuple[str, Any]] = {
        "end": ("end", None),
        "cut": ("error", httpx.RemoteProtocolError("peer closed connection")),
        "stall": ("error", httpx.ReadTimeout("timed out")),
    }
    items = [("head", (200, "text/event-stream")), *(("line", line) for line in lines), endings[ending]]
    reader = ResponseReader("llm.test", 1.0, lambda text: None, lambda text: None)
    try:
        turn = reader.read(iter(items))
    except BackendError as error:
        assert "llm.test" in error.message and error.kind in (
            "bad_response", "server_error", "timeout", "connection_lost"
        )  # fmt: skip
    else:
        assert isinstance(turn, AssistantTurn)
        if ending != "end":  # a cut or a stall: marked, unless the answer had finished before it
            assert turn.incomplete or reader.done or turn.finish_reason is not None


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after": "60"}, 60.0),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, None),  # in the past: negative, ignored
        ({"retry-after": "soon"}, None),
        ({"retry-after": "nan"}, None),
        ({"retry-after": "inf"}, None),
        ({}, None),
    ],
)
def test_retry_after_is_read_in_every_form(headers: dict[str, str], seconds: float | None) -> None:
    assert retry_after(headers) == seconds


# -- the app (item 4, item 5 part) --------------------------------------------------------------------------------


def test_the_tool_card_shows_deeply_nested_arguments_as_text() -> None:
    from assistant.tui.widgets.tool_card import _short

    deep = "[" * 5000 + "]" * 5000
    assert _short(deep) == deep[:299] + "…"
    assert _short('{"a": 1, "b": null}') == '{"a": 1}'
    assert _short("[1, 2]") == "[1, 2]"


async def test_the_app_frees_its_input_after_a_failed_turn_and_never_drops_a_message() -> None:
    import threading

    from assistant.tui.app import WhyscopeApp
    from assistant.tui.widgets.chat_input import ChatInput
    from assistant.tui.widgets.messages import NoticeMessage
    from tests.waiting import wait_for

    gate = threading.Event()

    class Held(Scripted):
        def complete(self, *args: Any) -> AssistantTurn:
            gate.wait(10)
            return super().complete(*args)

    app = WhyscopeApp(Held(say("first"), say("second")))
    async with app.run_test() as pilot:
        box = app.query_one(ChatInput)
        box.value = "one"
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.busy, "the turn to start")
        box.value = "two"
        await pilot.press("enter")  # while busy: queued (shown as such) and sent when the turn ends, never dropped
        await wait_for(pilot, lambda: [text for text, _ in app.queued] == ["two"], "the message to be queued")
        assert box.value == ""
        gate.set()
        await wait_for(pilot, lambda: not app.busy and not app.queued, "both turns to end")
        assert [m["content"] for m in app.session.messages if m["role"] == "user"] == ["one", "two"]

        def broken(text: str, emit: Any) -> Any:
            raise RuntimeError("a bug")

        app.session.send = broken  # type: ignore[method-assign]
        box.value = "three"
        await pilot.press("enter")

        def failed() -> bool:
            return not app.busy and "bug in whyscope" in str(list(app.query(NoticeMessage))[-1].render())

        await wait_for(pilot, failed, "the failure to be shown and the input freed")
