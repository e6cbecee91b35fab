"""Small-model mode (issue 25): the setting and its precedence, the context window read from the server's model list
(every server shape, and every way that can fail), and a conversation that sends the short prompt and fewer tools,
brings a tool in when the conversation reaches it, and still refuses a tool it did not offer.

Everything is offline: respx answers ``GET /models`` and ``POST /chat/completions``; the request bodies it captured
are what the assertions read."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

import prompts
from assistant.agent.backends import OpenAIBackend, OpenAISettings
from assistant.agent.conversation import Conversation, Event, ToolFinished, system_prompt
from assistant.cli import build_parser
from assistant.config import Settings, config_file, load_settings
from assistant.launch import SMALL_CONTEXT, context_from_models, detect_context_window, prepare, small_model_mode
from tests.assistant.agent.conftest import BASE_URL, sse, text_stream, tool_call_stream

SIX_SLOTS = ("intervention", "outcome", "population", "unit", "counterfactual", "decision")
LLAMA_CPP = {
    "object": "list",
    "data": [{"id": "/models/SmolLM2-135M.gguf", "object": "model", "meta": {"n_ctx_train": 8192, "n_vocab": 49152}}],
}
VLLM = {
    "object": "list",
    "data": [
        {"id": "other-model", "object": "model", "max_model_len": 131072},
        {"id": "test-model", "object": "model", "max_model_len": 4096},
    ],
}
LM_STUDIO = {"object": "list", "data": [{"id": "qwen2.5-7b-instruct", "type": "llm", "max_context_length": 32768}]}
OLLAMA = {"object": "list", "data": [{"id": "llama3.1:8b", "object": "model", "created": 0, "owned_by": "library"}]}


# -- the setting ---------------------------------------------------------------------------------------------------


def write_config(text: str) -> None:
    path = config_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_the_flag_beats_the_variable_which_beats_the_file() -> None:
    write_config("small_model = false\ncontext_window = 32768\n")
    from_file = load_settings(environ={})
    assert (from_file.small_model, from_file.small_model_from, from_file.context_window) == (
        False,
        "config.toml",
        32768,
    )
    from_env = load_settings(environ={"WHYSCOPE_SMALL_MODEL": "1"})
    assert (from_env.small_model, from_env.small_model_from) == (True, "WHYSCOPE_SMALL_MODEL")
    assert load_settings(environ={"WHYSCOPE_SMALL_MODEL": "Off"}).small_model is False
    from_flag = load_settings(environ={"WHYSCOPE_SMALL_MODEL": "1"}, small_model=False, context_window=8192)
    assert (from_flag.small_model, from_flag.small_model_from, from_flag.context_window) == (
        False,
        "--no-small-model",
        8192,
    )
    assert load_settings(environ={}, small_model=True).small_model_from == "--small-model"


def test_nothing_set_leaves_the_mode_to_the_context_window() -> None:
    settings = load_settings(environ={})
    assert (settings.small_model, settings.small_model_from, settings.context_window, settings.warnings) == (
        None,
        "",
        None,
        (),
    )


def test_values_that_make_no_sense_are_reported_and_ignored() -> None:
    write_config('small_model = "yes please"\ncontext_window = -5\n')
    settings = load_settings(environ={"WHYSCOPE_SMALL_MODEL": "maybe"})
    assert settings.small_model is None and settings.context_window is None
    assert len(settings.warnings) == 3
    assert "WHYSCOPE_SMALL_MODEL='maybe'" in settings.warnings[0] and "use 1" in settings.warnings[0]
    assert "small_model = true" in settings.warnings[1]
    assert "context_window" in settings.warnings[2] and "whole number of tokens" in settings.warnings[2]
    # an unusable flag is reported and the file's value is read instead; a boolean is not a number of tokens
    write_config("context_window = true\n")
    assert load_settings(environ={}, context_window=4096).context_window == 4096
    flagged = load_settings(environ={}, context_window=0)
    assert flagged.context_window is None and any("--context-window" in w for w in flagged.warnings)


def test_the_command_line_takes_the_flags_on_the_app_and_on_chat() -> None:
    parser = build_parser()
    assert (parser.parse_args([]).small_model, parser.parse_args([]).context_window) == (None, None)
    assert parser.parse_args(["--small-model"]).small_model is True
    args = parser.parse_args(["chat", "--no-small-model", "--context-window", "8192"])
    assert (args.small_model, args.context_window) == (False, 8192)


# -- the context window the server reports -------------------------------------------------------------------------


@pytest.fixture
def server() -> Iterator[respx.MockRouter]:
    """A mocked model server: only the routes a test adds answer; any other request fails."""
    with respx.mock(base_url=BASE_URL, assert_all_mocked=True, assert_all_called=False) as router:
        yield router


@pytest.mark.parametrize(
    ("payload", "model", "expected"),
    [
        (LLAMA_CPP, "whatever-the-user-set", 8192),  # llama.cpp: the one model it runs, under its file name
        ({"data": [{"id": "m", "meta": {"n_ctx": 4096, "n_ctx_train": 131072}}]}, "x", 4096),  # what runs, first
        (VLLM, "test-model", 4096),  # vLLM: the configured model's entry among several
        (VLLM, "not-listed", None),  # several entries and none is the model: unknown
        (LM_STUDIO, "qwen2.5-7b-instruct", 32768),
        (OLLAMA, "llama3.1:8b", None),  # no length in the list
        ({"data": [{"id": "m", "max_model_len": True}]}, "m", None),  # a boolean is not a length
        ({"data": [{"id": "m", "max_model_len": -1}]}, "m", None),
        ({"data": [{"id": "m", "max_model_len": 10**12}]}, "m", None),
        ({"data": [{"id": "m", "max_model_len": "8192"}]}, "m", None),
        ({"data": [{"id": "m", "meta": "n_ctx=8192"}]}, "m", None),
        ({"data": "none"}, "m", None),
        ({"data": [None, 3, "m"]}, "m", None),
        ([LLAMA_CPP], "m", None),
        (None, "m", None),
    ],
)
def test_the_context_length_is_read_where_each_server_puts_it(payload: Any, model: str, expected: int | None) -> None:
    assert context_from_models(payload, model) == expected


def test_detection_asks_the_models_endpoint_once_with_the_key(server: respx.MockRouter) -> None:
    route = server.get("/models").respond(200, json=LLAMA_CPP)
    assert detect_context_window(BASE_URL + "/", "sk-test-not-a-real-key", "m") == 8192
    assert route.call_count == 1
    request = route.calls[0].request
    assert str(request.url) == BASE_URL + "/models"
    assert request.headers["authorization"] == "Bearer sk-test-not-a-real-key"


@pytest.mark.parametrize(
    "reply",
    [
        httpx.Response(404, json={"error": {"message": "not found"}}),
        httpx.Response(500, text="oops"),
        httpx.Response(200, text="{not json"),
        httpx.Response(200, text="<html><body>502 Bad Gateway</body></html>"),
        httpx.Response(200, text="[" * 5000 + "]" * 5000),  # nested past any JSON of ours
        httpx.Response(200, content=b"\xff\xfe\x00garbage"),
        httpx.ReadTimeout("timed out"),
        httpx.ConnectError("connection refused"),
    ],
)
def test_a_failed_detection_is_unknown_never_an_error(server: respx.MockRouter, reply: Any) -> None:
    route = server.get("/models")
    if isinstance(reply, Exception):
        route.side_effect = reply
    else:
        route.return_value = reply
    assert detect_context_window(BASE_URL, "sk-test-not-a-real-key", "m") is None
    assert route.call_count == 1  # asked once, never retried


def test_a_model_list_is_read_as_json_whatever_its_content_type(server: respx.MockRouter) -> None:
    listed = json.dumps({"data": [{"id": "m", "max_model_len": 8192}]})
    server.get("/models").respond(200, text=listed, headers={"content-type": "text/plain"})
    assert detect_context_window(BASE_URL, None, "m") == 8192


def test_a_model_list_larger_than_the_cap_is_not_read(
    server: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("assistant.launch.DETECT_MAX_BYTES", 100)
    padded = {"data": [{"id": "m", "max_model_len": 8192, "description": "x" * 200}]}
    server.get("/models").respond(200, json=padded)
    assert detect_context_window(BASE_URL, None, "m") is None


def test_an_unmocked_or_refused_probe_does_not_stop_start_up(server: respx.MockRouter) -> None:
    """No route for /models: respx refuses the request (as a dead server would fail it); start-up goes on."""
    assert detect_context_window(BASE_URL, "sk-test-not-a-real-key", "m") is None


def remote(**changes: Any) -> Settings:
    return Settings(model="test-model", base_url=BASE_URL, api_key="sk-test-not-a-real-key", **changes)


def test_a_small_reported_window_turns_small_mode_on_and_says_why(server: respx.MockRouter) -> None:
    server.get("/models").respond(200, json=LLAMA_CPP)
    said: list[str] = []
    assert small_model_mode(remote(), said.append) is True
    assert said == [
        "[note] small-model mode (a short prompt and fewer tools per request): the server reports a context of 8,192 "
        "tokens (--no-small-model, or small_model = false in config.toml, turns it off)."
    ]


def test_a_large_or_unknown_window_keeps_normal_mode_silently(server: respx.MockRouter) -> None:
    route = server.get("/models")
    said: list[str] = []
    route.return_value = httpx.Response(200, json={"data": [{"id": "test-model", "max_model_len": SMALL_CONTEXT + 1}]})
    assert small_model_mode(remote(), said.append) is False
    route.return_value = httpx.Response(200, json=OLLAMA)
    assert small_model_mode(remote(), said.append) is False
    route.return_value = httpx.Response(404)
    assert small_model_mode(remote(), said.append) is False
    assert said == [] and route.call_count == 3
    route.return_value = httpx.Response(200, json={"data": [{"id": "test-model", "max_model_len": SMALL_CONTEXT}]})
    assert small_model_mode(remote(), said.append) is True  # the threshold itself is small


def test_asked_refused_configured_or_guided_modes_ask_the_server_nothing(server: respx.MockRouter) -> None:
    route = server.get("/models").respond(200, json=LLAMA_CPP)
    said: list[str] = []
    assert small_model_mode(remote(small_model=True, small_model_from="--small-model"), said.append) is True
    assert said == ["[note] small-model mode (a short prompt and fewer tools per request): asked for by --small-model."]
    assert small_model_mode(remote(small_model=False), said.append) is False  # refused, whatever the window
    assert small_model_mode(remote(context_window=65536), said.append) is False  # configured: the server is not asked
    assert small_model_mode(remote(context_window=4096), said.append) is True
    assert "the configured context window is 4,096 tokens" in said[-1]
    assert small_model_mode(Settings(offline=True, small_model=True), said.append) is False  # no model, no mode
    assert route.call_count == 0 and len(said) == 2


def test_prepare_carries_the_mode_to_the_launch(server: respx.MockRouter) -> None:
    server.get("/models").respond(200, json=LLAMA_CPP)
    said: list[str] = []
    launch = prepare(remote(), [], False, said.append)
    assert launch.store is not None
    launch.store.close()
    assert launch.small_model is True and any(line.startswith("[note] small-model mode") for line in said)
    guided = prepare(Settings(offline=True), [], False, said.append)
    assert guided.store is not None
    guided.store.close()
    assert guided.small_model is False


# -- the conversation ----------------------------------------------------------------------------------------------


@pytest.fixture
def chat(server: respx.MockRouter) -> respx.Route:
    return server.post("/chat/completions")


def backend() -> OpenAIBackend:
    return OpenAIBackend(
        OpenAISettings(model="test-model", api_key="sk-test-not-a-real-key", base_url=BASE_URL),
        http_client=httpx.Client(),
    )


def body(route: respx.Route, call: int) -> dict[str, Any]:
    return dict(json.loads(route.calls[call].request.content))


def tool_names(sent: dict[str, Any]) -> list[str]:
    return [tool["function"]["name"] for tool in sent.get("tools", [])]


def first_request_chars(sent: dict[str, Any]) -> int:
    """What the first request spends before the conversation: the system prompt and the tool schemas, as sent."""
    system = sent["messages"][0]["content"]
    return len(system) + sum(len(json.dumps(tool, separators=(",", ":"))) for tool in sent["tools"])


def send(conversation: Conversation, text: str) -> list[Event]:
    events: list[Event] = []
    conversation.send(text, events.append)
    return events


def test_small_mode_sends_the_short_prompt_and_two_tools(chat: respx.Route) -> None:
    chat.side_effect = [sse(text_stream("What changes, and for whom?"))] * 2
    send(Conversation(backend(), small_model=True), "We changed the checkout button; did it work?")
    send(Conversation(backend()), "We changed the checkout button; did it work?")
    small, normal = body(chat, 0), body(chat, 1)
    assert small["messages"][0] == {"role": "system", "content": prompts.load("system_small").strip()}
    assert tool_names(small) == ["recommend_method", "update_brief"]
    assert normal["messages"][0]["content"] == system_prompt()
    assert tool_names(normal) == ["power", "ab_test", "recommend_method", "update_brief"]  # write_prereg: once scoped
    assert first_request_chars(small) <= 8_000 < first_request_chars(normal)


def test_a_mentioned_tool_joins_the_next_request(chat: respx.Route) -> None:
    chat.side_effect = [sse(text_stream("Tell me more."))] * 2
    conversation = Conversation(backend(), small_model=True)
    send(conversation, "We rolled out the fraud model region by region.")
    send(conversation, "What power would a test of the new checkout have?")
    assert tool_names(body(chat, 0)) == ["diff_in_diff", "refute", "recommend_method", "update_brief"]
    assert tool_names(body(chat, 1)) == ["power", "diff_in_diff", "refute", "recommend_method", "update_brief"]


def test_a_recommendation_brings_in_the_experiment_tools(chat: respx.Route) -> None:
    arguments = {"can_randomize": True, "assignment": "random"}
    chat.side_effect = [
        sse(tool_call_stream(("call_1", "recommend_method", arguments))),
        sse(text_stream("An A/B test fits; shall we size it?")),
    ]
    conversation = Conversation(backend(), small_model=True)
    send(conversation, "We can still randomize who sees the new checkout.")
    assert tool_names(body(chat, 0)) == ["recommend_method", "update_brief"]
    later = tool_names(body(chat, 1))
    assert {"power", "ab_test", "recommend_method", "update_brief"} <= set(later)
    assert "write_prereg" not in later and "diff_in_diff" not in later
    assert [run.name for run in conversation.runs] == ["recommend_method"]


def test_write_prereg_joins_once_the_six_slots_are_confirmed(chat: respx.Route) -> None:
    updates = [
        (f"call_{slot}", "update_brief", {"slot": slot, "value": f"the {slot}", "status": "confirmed"})
        for slot in SIX_SLOTS
    ]
    chat.side_effect = [sse(tool_call_stream(*updates)), sse(text_stream("The brief is complete."))]
    conversation = Conversation(backend(), small_model=True)
    send(conversation, "Here is everything about the checkout change.")
    assert "write_prereg" not in tool_names(body(chat, 0))
    assert conversation.brief.complete
    assert tool_names(body(chat, 1))[-2:] == ["update_brief", "write_prereg"]


@pytest.mark.parametrize(
    ("name", "arguments"),
    [
        ("power", {"metric": "proportion", "baseline": 0.1, "mde": 0.1, "mde_kind": "relative"}),
        ("write_prereg", {}),
    ],
)
def test_the_phase_gate_refuses_a_tool_small_mode_did_not_offer(
    chat: respx.Route, name: str, arguments: dict[str, Any]
) -> None:
    chat.side_effect = [sse(tool_call_stream(("call_1", name, arguments))), sse(text_stream("Let us scope first."))]
    conversation = Conversation(backend(), small_model=True)
    events = send(conversation, "We changed the checkout button.")
    (finished,) = [e for e in events if isinstance(e, ToolFinished)]
    assert getattr(finished.outcome, "code", None) == "not_offered"
    assert conversation.runs == [] and conversation.prereg.plan == type(conversation.prereg.plan)()  # nothing ran
    answer = json.loads(body(chat, 1)["messages"][-1]["content"])
    assert answer["error"]["code"] == "not_offered"
    assert "recommend_method, update_brief" in answer["error"]["hint"]  # what this request did offer


def test_whyscope_chat_in_small_mode(chat: respx.Route, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from assistant.chat import run_chat

    chat.side_effect = [sse(text_stream("What changes, and for whom?"))]
    out = io.StringIO()
    settings = load_settings(small_model=True)
    assert run_chat(settings, [], False, io.StringIO("We changed the checkout button.\n"), out) == 0
    assert "[note] small-model mode (a short prompt and fewer tools per request): asked for by --small-model." in (
        out.getvalue()
    )
    assert body(chat, 0)["messages"][0]["content"] == system_prompt(small=True)
    assert tool_names(body(chat, 0)) == ["recommend_method", "update_brief"]
