"""Chaos: the chat engine against a scripted, misbehaving OpenAI-compatible server over real HTTP.

A ``ThreadingHTTPServer`` on 127.0.0.1 plays one scripted reply per request — cut streams, streams without
``[DONE]``, chunks cut mid-JSON, HTML and ``{"hello": "world"}`` bodies, a model that always calls tools,
``Retry-After``, stalls, 429/500 — to a :class:`Conversation` with the real :class:`OpenAIBackend` and an explicit
``httpx.Client`` (real sockets, no mock). Whatever the server does: no exception escapes, every turn is kept, the
history stays valid (every call answered once, ids unique, arguments JSON), partial text is kept and marked
incomplete, and every wait is short, announced and cancellable. Timeouts and waits are scaled down (0.4 s read
timeout, ``Retry-After`` of a fraction of a second), so the whole file runs in seconds.

Covers RELIABILITY.md N1, N4 to N7, L8, L9, L13 and U3 over the wire; issue 16 items 4, 17, 18, 19.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from assistant.agent.backends import OpenAIBackend, OpenAISettings
from assistant.agent.conversation import Conversation, Done, Event, Failed, Notice, TextDelta, ToolFinished
from tests.assistant.agent.conftest import chunk, text_stream, tool_call_stream
from tests.assistant.test_run_path import assert_valid_history

READ_TIMEOUT = 0.4
Reply = Callable[[BaseHTTPRequestHandler], None]


class ScriptedServer:
    """An OpenAI-compatible server that answers each request with the next scripted reply (500 when none is left)
    and records every request body it received."""

    def __init__(self) -> None:
        self.replies: list[Reply] = []
        self.requests: list[dict[str, Any]] = []
        self.release = threading.Event()  # ends every stall at teardown
        self.clients: list[httpx.Client] = []  # closed at teardown: no socket is left for the garbage collector
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return None

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                server.requests.append(json.loads(body))
                reply = server.replies.pop(0) if server.replies else raw(500, '{"error": {"message": "no script"}}')
                self.close_connection = True
                with contextlib.suppress(OSError):  # the client hung up (a cancel): nothing more to send
                    reply(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_port}/v1"

    def script(self, *replies: Reply) -> None:
        self.replies.extend(replies)


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    scripted = ScriptedServer()
    scripted.thread.start()
    yield scripted
    scripted.release.set()
    for thread in threading.enumerate():  # a cancelled turn's reader ends once its stall is released
        if thread.name == "whyscope-model":
            thread.join(5)
    for client in scripted.clients:
        client.close()
    scripted.httpd.shutdown()
    scripted.httpd.server_close()


def backend_for(server: ScriptedServer, *, timeout: float = READ_TIMEOUT) -> OpenAIBackend:
    settings = OpenAISettings(
        model="chaos-model", api_key="sk-test-not-a-real-key", base_url=server.base_url, timeout=timeout
    )
    client = httpx.Client(trust_env=False)  # real sockets, no proxy
    server.clients.append(client)
    return OpenAIBackend(settings, http_client=client)


# -- replies ---------------------------------------------------------------------------------------------------


def _head(handler: BaseHTTPRequestHandler, status: int, content_type: str, headers: Mapping[str, str]) -> None:
    handler.send_response(status)
    handler.send_header("content-type", content_type)
    for name, value in headers.items():
        handler.send_header(name, value)


def _events(chunks: Sequence[Mapping[str, Any] | bytes]) -> bytes:
    return b"".join(c if isinstance(c, bytes) else f"data: {json.dumps(c)}\n\n".encode() for c in chunks)


def stream(chunks: Sequence[Mapping[str, Any] | bytes], *, done: bool = True, tail: bytes = b"") -> Reply:
    """An event stream read to the connection's close (no length): bytes among ``chunks`` are sent as they are,
    and ``tail`` after the events."""

    def reply(handler: BaseHTTPRequestHandler) -> None:
        _head(handler, 200, "text/event-stream", {"connection": "close"})
        handler.end_headers()
        handler.wfile.write(_events(chunks) + (b"data: [DONE]\n\n" if done else b"") + tail)

    return reply


def chunked_cut(chunks: Sequence[Mapping[str, Any]], tail: bytes) -> Reply:
    """A chunked event stream whose last chunk is cut and the connection dropped (an incomplete chunked read)."""

    def reply(handler: BaseHTTPRequestHandler) -> None:
        _head(handler, 200, "text/event-stream", {"transfer-encoding": "chunked"})
        handler.end_headers()
        body = _events(chunks)
        handler.wfile.write(b"%x\r\n%s\r\n" % (len(body), body))
        handler.wfile.write(b"%x\r\n%s" % (len(tail) + 40, tail))  # promises 40 bytes more than it sends
        handler.wfile.flush()

    return reply


def stall(server: ScriptedServer, chunks: Sequence[Mapping[str, Any]], hold: float = 5.0) -> Reply:
    """Sends ``chunks``, then nothing for ``hold`` seconds (or until the test ends)."""

    def reply(handler: BaseHTTPRequestHandler) -> None:
        _head(handler, 200, "text/event-stream", {"connection": "close"})
        handler.end_headers()
        handler.wfile.write(_events(chunks))
        handler.wfile.flush()
        server.release.wait(hold)

    return reply


def raw(status: int, body: str, content_type: str = "application/json", **headers: str) -> Reply:
    def reply(handler: BaseHTTPRequestHandler) -> None:
        data = body.encode()
        _head(handler, status, content_type, {"content-length": str(len(data)), **headers})
        handler.end_headers()
        handler.wfile.write(data)

    return reply


def error(status: int, **headers: str) -> Reply:
    return raw(status, json.dumps({"error": {"message": f"scripted {status}", "type": "test"}}), **headers)


# -- checks ----------------------------------------------------------------------------------------------------


def talk(conversation: Conversation, text: str) -> tuple[Done, list[Event]]:
    events: list[Event] = []
    done = conversation.send(text, events.append)
    return done, events


def assert_sound(messages: Sequence[Mapping[str, Any]]) -> None:
    """Valid for any Chat Completions server: calls answered, ids unique, arguments JSON, no empty messages."""
    assert_valid_history(messages)
    ids = [c["id"] for m in messages for c in m.get("tool_calls") or []]
    assert len(ids) == len(set(ids)), f"duplicate tool-call ids: {ids}"
    for message in messages:
        for call in message.get("tool_calls") or []:
            assert isinstance(json.loads(call["function"]["arguments"]), dict)
        if message["role"] == "assistant" and not message.get("tool_calls"):
            assert str(message.get("content") or "").strip(), "an empty assistant message was kept"


def notices(events: Sequence[Event]) -> list[str]:
    return [e.message for e in events if isinstance(e, Notice)]


def failures(events: Sequence[Event]) -> list[Failed]:
    return [e for e in events if isinstance(e, Failed)]


def words(*pieces: str) -> list[dict[str, Any]]:
    """Text chunks with no finish: the start of an answer."""
    return [chunk({"role": "assistant", "content": ""}), *[chunk({"content": p}) for p in pieces]]


# -- the chaos session -----------------------------------------------------------------------------------------


def test_a_session_through_every_fault_keeps_every_turn(server: ScriptedServer) -> None:
    """One conversation, one fault per turn: nothing escapes, every turn stays, the history stays valid."""
    power = '{"metric": "proportion", "baseline": 0.1, "mde": 0.1, "mde_kind": "relative"}'
    always_calls = tool_call_stream(("call_1_0", "power", power))  # the same id every time
    server.script(
        chunked_cut(words("The first ", "half of "), b'data: {"choices": [{"index": 0, "delta": {"cont'),
        stream(text_stream("Finished, ", "without DONE."), done=False),
        stream(words("Ended ", "without a finish."), done=False),
        stream(words("Cut in the ", "middle."), done=False, tail=b'data: {"choices": [{"index": 0, "del'),
        raw(200, "<html><body><h1>502 Bad Gateway</h1>\x1b]52;c;ZXZpbA==\x07</body></html>", "text/html"),
        raw(200, '{"hello": "world"}'),
        stream([chunk({"content": "Mal"}), b"data: {not json}\n\n", chunk({"content": "formed"}, "stop")]),
        stall(server, words("Stalled ", "here.")),
        *[stream(always_calls)] * 3,  # ignores tools=[] on the final round too
        error(429, **{"retry-after": "0.1"}),
        stream(text_stream("After the wait.")),
        error(500, **{"retry-after-ms": "5"}),
        error(502, **{"retry-after-ms": "5"}),
        error(503, **{"retry-after-ms": "5"}),
        stream(text_stream("Back.")),
    )
    conversation = Conversation(backend_for(server), max_rounds=2)
    started = time.monotonic()
    results = [talk(conversation, f"message {n}") for n in range(12)]
    elapsed = time.monotonic() - started

    cut, no_done, no_finish, mid_json, html, hello, malformed, stalled, tools, limited, down, back = results
    # a cut stream keeps its text, marked incomplete; so does a chunk cut mid-JSON and a stall (N6)
    for (done, events), kept in (
        (cut, "The first half of "),
        (no_finish, "Ended without a finish."),
        (mid_json, "Cut in the middle."),
        (stalled, "Stalled here."),
    ):
        assert done.text == kept and not done.complete
        assert any("incomplete" in n for n in notices(events)), notices(events)
        assert not failures(events)  # not "Cannot reach …": the server was reached and cut the answer
    assert "closed in the middle" in notices(cut[1])[0]
    assert "without finishing" in notices(no_finish[1])[0]
    assert "broke off in the middle of a message" in notices(mid_json[1])[0]
    assert f"sent nothing for {READ_TIMEOUT:g} s" in notices(stalled[1])[0]
    # a finish_reason without [DONE] is a finished answer
    assert no_done[0].text == "Finished, without DONE." and no_done[0].complete
    # non-completions say what the server sent, sanitised (N7), and save nothing
    for (done, events), shown in ((html, "<html><body><h1>502 Bad Gateway</h1>"), (hello, '{"hello": "world"}')):
        (failure,) = failures(events)
        assert failure.kind == "bad_response" and "HTTP 200" in failure.message and shown in failure.message
        assert "\x1b" not in failure.message and "\x07" not in failure.message
        assert done.text == "" and not done.complete
    # a malformed event is skipped and named; the rest of the answer arrives, marked incomplete
    assert malformed[0].text == "Malformed" and not malformed[0].complete
    assert any("not JSON objects" in n and "{not json}" in n for n in notices(malformed[1]))
    # a model that always calls tools: the final round's calls are answered, not run, and the turn ends
    assert [f.kind for f in failures(tools[1])] == ["round_limit"]
    finished = [e for e in tools[1] if isinstance(e, ToolFinished)]
    assert [(e.name, e.error["code"] if e.error else None) for e in finished] == [
        ("power", None),
        ("power", None),
        ("power", "round_limit"),
    ]
    assert len({e.call_id for e in finished}) == 3 and finished[0].call_id == "call_1_0"  # reused ids renamed
    assert "tools" not in server.requests[10]  # the final request offered none
    # Retry-After is honoured, announced, and short waits stay short (N4); 5xx retried twice, then reported (N5)
    assert limited[0].text == "After the wait." and any("Rate limited by 127.0.0.1" in n for n in notices(limited[1]))
    assert [f.kind for f in failures(down[1])] == ["server_error"] and "503" in failures(down[1])[0].message
    assert len([n for n in notices(down[1]) if "retrying in" in n]) == 2
    assert back[0].text == "Back." and back[0].complete
    # every turn is kept, the history is valid for any server, and so was every request the server received
    assert [m["content"] for m in conversation.messages if m["role"] == "user"] == [f"message {n}" for n in range(12)]
    assert_sound(conversation.messages)
    for request in server.requests:
        assert_sound(request["messages"])
    assert len(server.requests) == 17
    assert elapsed < 6, f"the chaos session took {elapsed:.1f} s"


def test_tool_arguments_sent_as_an_object_are_read(server: ScriptedServer) -> None:
    arguments = {"metric": "proportion", "baseline": 0.1, "mde": 0.1, "mde_kind": "relative"}
    call = {"index": 0, "id": "c1", "type": "function", "function": {"name": "power", "arguments": arguments}}
    server.script(
        stream([chunk({"role": "assistant", "tool_calls": [call]}), chunk({}, "tool_calls")]),
        stream(text_stream("Sized.")),
    )
    conversation = Conversation(backend_for(server))
    done, events = talk(conversation, "size it")
    (finished,) = [e for e in events if isinstance(e, ToolFinished)]
    assert finished.error is None and finished.result is not None and finished.result["n_per_arm"] > 0
    assert done.text == "Sized." and not failures(events)
    assert json.loads(conversation.messages[2]["tool_calls"][0]["function"]["arguments"]) == arguments


def test_a_whole_completion_body_is_read(server: ScriptedServer) -> None:
    """A server that ignores ``stream`` and answers with one JSON completion still gives its answer."""
    body = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "Whole."}, "finish_reason": "stop"}]}
    server.script(raw(200, json.dumps(body)))
    done, events = talk(Conversation(backend_for(server)), "hi")
    assert done.text == "Whole." and done.complete and [e.text for e in events if isinstance(e, TextDelta)]


def test_a_long_retry_after_is_reported_at_once(server: ScriptedServer) -> None:
    server.script(error(429, **{"retry-after": "3600"}))
    started = time.monotonic()
    done, events = talk(Conversation(backend_for(server)), "hi")
    (failure,) = failures(events)
    assert failure.kind == "rate_limited" and "asks to wait 3600 s" in failure.message
    assert time.monotonic() - started < 2 and len(server.requests) == 1 and not done.complete


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param(lambda s: error(429, **{"retry-after": "30"}), id="retry-wait"),
        pytest.param(lambda s: stall(s, [], hold=30), id="silent-server"),
        pytest.param(lambda s: stall(s, words("Half ", "an answer")), id="stalled-stream"),
    ],
)
def test_cancel_ends_any_wait_within_a_second(server: ScriptedServer, reply: Callable[[ScriptedServer], Reply]) -> None:
    """U3/N4: Esc during a retry wait, a silent server or a stalled stream ends the turn at once; the next works."""
    server.script(reply(server))
    conversation = Conversation(backend_for(server, timeout=20.0))
    threading.Timer(0.3, conversation.cancel.set).start()
    started = time.monotonic()
    done, events = talk(conversation, "wait")
    assert time.monotonic() - started < 1.5
    assert not done.complete and "Cancelled." in notices(events)
    assert_sound(conversation.messages)
    if done.text:  # a stalled stream keeps what it had, marked
        assert conversation.messages[-1]["content"].startswith("Half an answer")
        assert "[incomplete answer: cancelled by the user]" in conversation.messages[-1]["content"]
    server.script(stream(text_stream("Next.")))
    assert talk(conversation, "again")[0].text == "Next."


def test_a_refused_connection_is_retried_then_explained() -> None:
    """N1: nothing listening: two announced retries, then "Cannot reach" with the host (never the password)."""
    with ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler) as probe:
        port = probe.server_port  # a port that was free a moment ago; closed now
    settings = OpenAISettings(model="m", api_key="sk-test-not-a-real-key", base_url=f"http://u:pw@127.0.0.1:{port}/v1")
    backend = OpenAIBackend(settings, http_client=httpx.Client(trust_env=False))
    done, events = talk(Conversation(backend), "hello?")
    (failure,) = failures(events)
    assert failure.kind == "unreachable" and f"127.0.0.1:{port}" in failure.message
    assert "pw" not in failure.message + " ".join(notices(events))
    assert len([n for n in notices(events) if n.startswith("Cannot reach")]) == 2 and not done.complete
